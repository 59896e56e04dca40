"""Switchboard directory: import time and search latency per keystroke, server-side and in the TUI.

    python bench/directory.py [--persons 14000] [--orgs 24] [--absences 12] [--queries 600]
                              [--tui-keystrokes 60] [--no-tui] [--seed 1]

Generated (seeded): `--orgs` organisations, each with a three-level unit tree, `--persons` persons
spread over them (names with diacritics: Øyvind, Dvořák, IJsselmeer …, titles, subjects, desk and
mobile numbers, substitutes) written as one units CSV and one persons CSV, and about `--absences`
absences per person over a year (vacations, sick days, meetings, lunches).

Figures (one per line, `name: value [unit]`):
  import_*        full import of both files into an empty database, and the index build
  absences_*      inserting the year of absences, and reloading the service
  p50/p95/p99/max server-side search per keystroke: DirectoryService.search() (index lookup,
                  ranking and row building with absence and cover), for every prefix of what an
                  operator types (a family name, a given + family name, a unit word, a subject, a
                  number). Headline: `p99: <value> ms`.
  tui_*           keystroke to rows, end to end: `cc-console server` in its own process (as deployed)
                  and the console in this one, over the websocket; each key handed to
                  the directory screen as the terminal driver hands it over, until that query's rows
                  are in the results table and its visible lines are rendered (Textual's headless
                  mode does not paint, so the bench renders the table's lines itself). Pilot's own
                  settling waits after a key press are not timed: an operator's terminal has none.
                  Headline: `tui_p99: <value> ms` (the target is under 50 ms at 14,000 persons).
  cli_search_*    `cc-console directory search` as a new process: asking the running server, and
                  with --db on the database file (which builds the index itself).
"""
from __future__ import annotations

import argparse
import asyncio
import csv
import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cc_console.server.directory import DirectoryService, DirectoryStore, default_path

GIVEN = ["Øyvind", "Kari", "Ola", "Åse", "Antonín", "Jiří", "Zoë", "Anneke", "Sjoerd", "Hélène", "José", "Björn",
         "Ingrid", "Per", "Marit", "Lars", "Nils", "Siri", "Eirik", "Tove", "Anders", "Hanne", "Jan", "Line",
         "Mette", "Ørjan", "Ståle", "Kjersti", "Émile", "Łukasz", "Małgorzata", "Dagný", "Þórunn", "Bjørg"]
FAMILY = ["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen",
          "Karlsen", "Dvořák", "Novák", "Svoboda", "IJsselmeer", "van der Berg", "de Vries", "Bakker", "Müller",
          "Østby", "Aasen", "Brække", "Sæther", "Haugen", "Berg", "Lund", "Strand", "Dahl", "Moen", "Bråthen",
          "Ødegård", "Kowalski", "Wiśniewski", "Lefèvre", "García", "Jónsdóttir", "Nordmann", "Solberg", "Grøtte"]
TITLES = ["Rådgiver", "Seniorrådgiver", "Saksbehandler", "Seksjonssjef", "Avdelingsdirektør", "Konsulent",
          "Jurist", "Arkivar", "Ingeniør", "Controller", "Sekretær", "Direktør"]
SUBJECTS = ["building permits", "byggesak", "property tax", "eiendomsskatt", "noise", "parking", "schools",
            "kindergarten", "barnehage", "water", "vann og avløp", "waste", "renovasjon", "zoning", "reguleringsplan",
            "social services", "NAV", "health", "helse", "culture", "kultur", "sports", "idrett", "roads", "veg"]
UNIT_WORDS = ["Plan", "Bygg", "Eiendom", "Helse", "Kultur", "Skole", "Barnehage", "Vann", "Avløp", "Renovasjon",
              "Samferdsel", "Økonomi", "Personal", "IT", "Arkiv", "Juridisk", "Miljø", "Næring", "Sosial", "Idrett"]


def generate(n_persons: int, n_orgs: int, seed: int, tmp: Path) -> tuple[Path, Path, list[dict[str, str]]]:
    rnd = random.Random(seed)
    units_path, persons_path = tmp / "units.csv", tmp / "persons.csv"
    units: list[tuple[str, str, str, str]] = []  # tenant, id, name, parent
    leaves: dict[str, list[str]] = {}
    for o in range(n_orgs):
        tenant = f"org{o:02d}"
        kind = rnd.choice(['kommune', 'direktorat', 'etat', 'departement'])
        units.append((tenant, "root", f"Organisasjon {o} {kind}", ""))
        for d in range(rnd.randint(4, 8)):
            dep = f"d{d}"
            units.append((tenant, dep, f"{rnd.choice(UNIT_WORDS)}avdelingen", "root"))
            for s in range(rnd.randint(2, 5)):
                sec = f"{dep}s{s}"
                units.append((tenant, sec, f"Seksjon for {rnd.choice(UNIT_WORDS).lower()}", dep))
                leaves.setdefault(tenant, []).append(sec)
    with units_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["tenant", "id", "name", "parent"])
        w.writerows(units)
    persons: list[dict[str, str]] = []
    per_org: dict[str, list[str]] = {}
    for i in range(n_persons):
        tenant = f"org{i % n_orgs:02d}"
        pid = f"e{i:05d}"
        per_org.setdefault(tenant, []).append(pid)
        persons.append({"tenant": tenant, "id": pid, "given_name": rnd.choice(GIVEN), "family_name": rnd.choice(FAMILY),
                        "title": rnd.choice(TITLES), "unit": rnd.choice(leaves[tenant]),
                        "desk": f"+47 2{rnd.randint(0, 9)} {rnd.randint(10, 99)} {rnd.randint(10, 99)} "
                                f"{rnd.randint(10, 99)}",
                        "mobile": f"+47 9{rnd.randint(0, 9)}{rnd.randint(0, 9)} {rnd.randint(10, 99)} "
                                  f"{rnd.randint(100, 999)}",
                        "email": f"{pid}@{tenant}.example", "location": f"Bygg {rnd.randint(1, 9)}",
                        "subjects": ";".join(rnd.sample(SUBJECTS, rnd.randint(0, 3))), "substitutes": ""})
    for p in persons:
        p["substitutes"] = ";".join(rnd.sample(per_org[p["tenant"]], 2))
    with persons_path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(persons[0]))
        w.writeheader()
        w.writerows(persons)
    return units_path, persons_path, persons


def absences(persons: list[dict[str, str]], per_person: int, start: float, seed: int) -> list[dict]:
    rnd = random.Random(seed + 1)
    out = []
    kinds = [("vacation", 5 * 86400), ("sick", 86400), ("meeting", 3600), ("lunch", 1800), ("course", 2 * 86400),
             ("travel", 86400)]
    for p in persons:
        for _ in range(rnd.randint(per_person // 2, per_person * 3 // 2)):
            kind, length = rnd.choice(kinds)
            s = start + rnd.randint(0, 365 * 86400)
            out.append({"id": f"{p['id']}-{len(out)}", "tenant": p["tenant"], "person": p["id"], "type": kind,
                        "start": float(s), "until": float(s + length), "message": "", "substitute": "",
                        "source": "manual", "created_by": "bench", "created": start})
    return out


def keystroke_queries(persons: list[dict[str, str]], n: int, seed: int) -> list[str]:
    """Every prefix of what operators type, query by query."""
    rnd = random.Random(seed + 2)
    out: list[str] = []
    while len(out) < n:
        p = rnd.choice(persons)
        kind = rnd.random()
        if kind < 0.45:
            text = p["family_name"]
        elif kind < 0.75:
            text = f"{p['given_name']} {p['family_name']}"
        elif kind < 0.85:
            text = rnd.choice(SUBJECTS)
        elif kind < 0.93:
            text = rnd.choice(UNIT_WORDS).lower()
        else:
            text = "".join(c for c in p["desk"] if c.isdigit())[-6:]
        out += [text[:k] for k in range(1, len(text) + 1)]
    return out[:n]


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q / 100 * len(s)))]


def start_server(db: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    """`cc-console server` in its own process, as deployed (the console is another process)."""
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cfg = tmp / "bench.toml"
    cfg.write_text(f'[server]\nport = {port}\ndb_path = "{db}"\nqueue_log_path = "{tmp / "queue_log"}"\n'
                   '[pbx]\nhttp_port = 9\n')  # no Asterisk: ARI stays down, on purpose
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_CONSOLE_")}
    proc = subprocess.Popen([sys.executable, "-m", "cc_console.cli", "server", "--config", str(cfg)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 300  # the index of 14,000 persons and a year of absences loads first
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"ws://127.0.0.1:{port}/ws"
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                raise SystemExit("the server did not start") from None
            time.sleep(0.2)


async def tui_bench(db: Path, queries: list[str], tmp: Path) -> list[float]:
    from textual import events
    from textual.geometry import Region

    from cc_console.client import ConsoleClient
    from cc_console.screens.directory import DirectoryScreen
    from cc_console.server.auth import Auth
    from cc_console.server.store import SQLiteStore
    from cc_console.tui import CCConsoleApp
    from cc_console.widgets.directory_results import DirectoryResults
    store = SQLiteStore(db)
    Auth(store).add_user("op1", "bench-password", "agent", name="Operator")
    store.close()
    proc, url = await asyncio.to_thread(start_server, db, tmp)
    client = ConsoleClient(url, reconnect=False)
    await client.connect()
    await client.login("op1", "bench-password")
    times: list[float] = []
    try:
        app = CCConsoleApp(client=client, keymap={})
        async with app.run_test(size=(140, 40)) as pilot:
            while not client.state.me:
                await pilot.pause(0.01)
            screen = DirectoryScreen()
            app.push_screen(screen)
            await pilot.pause()
            table = screen.query_one("#directory-results", DirectoryResults)
            driver = app._driver
            assert driver is not None
            for q in queries:
                if len(q) == 1:
                    while screen.query_text:
                        await pilot.press("backspace")
                    while screen._searching:  # the searches the clearing started are not the next key's
                        await asyncio.sleep(0.001)
                    await pilot.pause()
                char = q[-1]
                key = events.Key("space" if char == " " else char, char)
                key.set_sender(app)
                t0 = time.perf_counter()
                driver.send_message(key)
                while screen.rendered_query != q:
                    await asyncio.sleep(0.0005)
                table.render_lines(Region(0, 0, table.size.width, table.size.height))
                times.append((time.perf_counter() - t0) * 1000)
                await pilot.pause()
        await client.close()
        cli_times = await asyncio.to_thread(cli_search, url, db)
        print(f"cli_search_server_s: {statistics.median(cli_times[:-1]):.2f} s  (`cc-console directory search` "
              "asking the running server; median of 5, a new process each)")
        print(f"cli_search_local_s: {cli_times[-1]:.2f} s  (the same with --db: builds the index itself)")
    finally:
        await client.close()
        proc.terminate()
        await asyncio.to_thread(proc.wait, 30)
    return times


def cli_search(url: str, db: Path) -> list[float]:
    """Wall time of `cc-console directory search` (process start included): five times asking the
    server, then once on the database file."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("CC_CONSOLE_")},
           "CC_CONSOLE_PASSWORD": "bench-password"}
    cmd = [sys.executable, "-m", "cc_console.cli", "directory", "search", "hansen"]
    out = []
    for args in [["--url", url, "--user", "op1"]] * 5 + [["--db", str(default_path(db))]]:
        t0 = time.perf_counter()
        r = subprocess.run(cmd + args, env=env, capture_output=True, text=True)
        out.append(time.perf_counter() - t0)
        if r.returncode != 0 or "Hansen" not in r.stdout:
            raise SystemExit(f"cc-console directory search failed: {r.stderr[-300:]}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=14000)
    ap.add_argument("--orgs", type=int, default=24)
    ap.add_argument("--absences", type=int, default=12, help="absences per person over the year (average)")
    ap.add_argument("--queries", type=int, default=3000, help="keystrokes timed server-side")
    ap.add_argument("--tui-keystrokes", type=int, default=60)
    ap.add_argument("--no-tui", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cc-dir-bench-") as d:
        tmp = Path(d)
        units_path, persons_path, persons = generate(args.persons, args.orgs, args.seed, tmp)
        db = tmp / "cc.sqlite3"
        now = time.time()
        svc = DirectoryService(DirectoryStore(default_path(db)), clock=lambda: now)
        t0 = time.perf_counter()
        report = svc.import_files(units=units_path.read_bytes(), persons=persons_path.read_bytes(), full=True)
        import_s = time.perf_counter() - t0
        assert not report.persons.rejected and len(report.persons.added) == args.persons, report.text()
        print(f"persons: {args.persons}")
        print(f"organisations: {args.orgs}")
        print(f"import_s: {import_s:.2f} s  (both files, full, including the index build)")
        t0 = time.perf_counter()
        svc.reload()
        print(f"index_build_ms: {(time.perf_counter() - t0) * 1000:.0f} ms")
        rows = absences(persons, args.absences, now - 30 * 86400, args.seed)
        t0 = time.perf_counter()
        svc.store.insert_absences(rows)
        print(f"absences: {len(rows)}")
        print(f"absences_insert_s: {time.perf_counter() - t0:.2f} s")
        t0 = time.perf_counter()
        svc.reload()
        print(f"reload_with_absences_ms: {(time.perf_counter() - t0) * 1000:.0f} ms")

        queries = keystroke_queries(persons, args.queries, args.seed)
        for q in queries[:200]:  # warm up (1–2 letter prefix caches, as a running server has)
            svc.search(q, limit=30)
        times, hits = [], 0
        for q in queries:
            t0 = time.perf_counter_ns()
            res = svc.search(q, limit=30)
            times.append((time.perf_counter_ns() - t0) / 1e6)
            hits += bool(res)
        print(f"keystrokes: {len(times)}")
        print(f"with_results: {hits / len(times) * 100:.1f} %")
        print(f"p50: {statistics.median(times):.3f} ms")
        print(f"p95: {pct(times, 95):.3f} ms")
        print(f"p99: {pct(times, 99):.3f} ms")
        print(f"max: {max(times):.3f} ms")
        svc.store.close()

        if not args.no_tui:
            tq = keystroke_queries(persons, args.tui_keystrokes, args.seed + 7)
            # This process is the console now: it must not carry the server's 14,000 persons and
            # year of absences, which every full garbage collection would walk (the server is
            # another process, as deployed).
            del svc, rows, persons, queries
            gc.collect()
            tt = asyncio.run(tui_bench(db, tq, tmp))
            print(f"tui_keystrokes: {len(tt)}")
            print(f"tui_p50: {statistics.median(tt):.1f} ms  (key press to rows rendered)")
            print(f"tui_p99: {pct(tt, 99):.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
