"""Reports over a year of a 700,000-calls-a-year switchboard.

    python bench/reports.py [--calls 700000] [--days 365] [--agents 60] [--runs 50] [--db PATH] [--seed 1]
                            [--reference] [--single]

Generates the year as real store events (call.entered, call.queued, call.offered, call.connected,
call.completed, call.abandoned, call.overflow, call.callback..., agent.state with wrap-up),
written into a SQLite store (SQLiteStore's schema, bulk inserted), builds the reports' read model
(`<db>.reports`, the incremental refresh the server runs) from nothing in a child process (its own CPU
time and peak RSS), then times:

  first_build_*   the read model's first build (split across worker processes, one per core: the number of
                  workers, the peak RSS of the parent and of each worker, the largest and their sum, the parts'
                  and the merge's time; `--single` builds in one process, as before, for comparison); its
                  floors: only reading and decoding every event, and DuckDB's pass over the raw events
  day_15min_*     a busy day's 15-minute interval report, `--runs` times (the headline p99)
  year_by_month_* the whole year by month (queue figures per month), `--year-runs` runs
  year_tenant_*, year_agents_*: the year by tenant, the year's agent report, likewise
  year_by_day_*   the year by day (once)
  floor_*         plain SQL: one sum over the read model's own day rows by month, and one count over
                  the raw events by month; each year figure's ratio to the first is printed beside it

Reports sum the read model's per-15-minute aggregates (path "auto"). With --reference the same year
reports are also computed call by call (path "calls", the previous way: every per-call row loaded)
and the figures are checked identical.

Output: one figure per line (`name: value [unit]`); the headline, last, is `p99: <value> ms` (the busy
day's 15-minute report). Times are wall clock and CPU (time.process_time: this process only, so a loaded
machine shows in wall, not in CPU); the load average is printed beside them. Memory: RSS (current and
peak) after each phase, and the Python heap peak while computing (tracemalloc).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cc_console.server.acd.config import Queue, RoutingConfig  # noqa: E402
from cc_console.server.reports import params_from, run  # noqa: E402
from cc_console.server.reports.cache import ReportCache  # noqa: E402
from cc_console.server.store import SQLiteStore  # noqa: E402

QUEUES = [("support", "acme"), ("sales", "acme"), ("billing", "globex"), ("night", "globex"), ("vip", "initech")]


def generate(db: Path, calls: int, days: int, agents: int, seed: int) -> tuple[int, float]:
    rnd = random.Random(seed)
    store = SQLiteStore(db)
    store.close()
    con = sqlite3.connect(str(db), isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    per_day = calls / days
    rows: list[tuple] = []
    n_events = 0
    free_at = [0.0] * agents
    dumps = json.dumps
    cid_n = 0
    con.execute("BEGIN")
    for day in range(days):
        d0 = start + day * 86400
        weekday = datetime.fromtimestamp(d0, UTC).weekday()
        n = int(per_day * (1.25 if weekday < 5 else 0.4) + 0.5)
        arrivals = sorted(d0 + 7 * 3600 + rnd.betavariate(2, 2.5) * 12 * 3600 for _ in range(n))
        for t in arrivals:
            cid_n += 1
            cid = f"c{cid_n:08d}"
            q, _ = QUEUES[rnd.randrange(len(QUEUES))]
            call = {"id": cid, "queue": q, "caller": f"06{rnd.randrange(10**8):08d}", "state": "entering",
                    "stage": "announcement", "agent": None}
            if rnd.random() < 0.1:
                call["category"] = rnd.choice(["billing", "outage", "sales"])
            ev = [(t, "call.entered", None, {"did": "5000"})]
            r = rnd.random()
            if r < 0.02:
                ev.append((t + rnd.uniform(1, 8), "call.abandoned", None,
                           {"by": "caller", "stage": "announcement", "wait": 3.0}))
            else:
                ev.append((t, "call.queued", None, {"stage": "queue", "position": 1}))
                wait = rnd.expovariate(1 / 25)
                if r < 0.12:
                    ev.append((t + wait, "call.abandoned", None, {"by": "caller", "stage": "queue", "wait": wait}))
                elif r < 0.14:
                    ev.append((t + wait, "call.callback", None, {"callback": cid}))
                    ev.append((t + wait + 5, "call.ended", None, {"by": "system", "outcome": "callback"}))
                else:
                    a = min(range(agents), key=lambda i: free_at[i])
                    ag = f"agent{a:03d}"
                    ta = max(t + wait, free_at[a])
                    wait = ta - t
                    talk = rnd.expovariate(1 / 170)
                    wrap = 10.0
                    ev.append((ta, "call.offered", ag, {"agent": ag}))
                    ev.append((ta, "call.connected", ag, {"agent": ag, "wait": wait}))
                    ev.append((ta + talk, "call.completed", ag, {"by": "caller", "talk": talk}))
                    free_at[a] = ta + talk + wrap
                    rows.append((ta, "agent.state", None, ag, None,
                                 dumps({"from": "ready", "call": cid, "agent": {"id": ag, "state": "on_call"}})))
                    rows.append((ta + talk, "agent.state", None, ag, None,
                                 dumps({"from": "on_call", "call": cid, "agent": {"id": ag, "state": "wrap_up"}})))
                    rows.append((ta + talk + wrap, "agent.state", None, ag, None,
                                 dumps({"from": "wrap_up", "agent": {"id": ag, "state": "ready"}})))
            for ts, kind, ag, data in ev:
                c = dict(call, agent=ag) if ag else call
                rows.append((ts, kind, cid, ag, q, dumps({**data, "call": c})))
        if len(rows) > 200_000 or day == days - 1:
            rows.sort(key=lambda r: r[0])
            con.executemany("INSERT INTO events(ts, kind, call_id, agent_id, queue, data) VALUES (?,?,?,?,?,?)", rows)
            n_events += len(rows)
            rows = []
    con.execute("COMMIT")
    con.close()
    return n_events, start


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def rss_now() -> float:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


def rss_peak() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    def __enter__(self) -> Clock:
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.w
        self.cpu = time.process_time() - self.c


def timed(n: int, f) -> tuple[list[float], list[float], object]:
    walls, cpus, r = [], [], None
    for _ in range(n):
        with Clock() as c:
            r = f()
        walls.append(c.wall)
        cpus.append(c.cpu)
    return walls, cpus, r


def heap_peak(f) -> float:
    tracemalloc.start()
    f()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def build_child(db: Path, single: bool = False, split_min: int | None = None) -> None:
    """The first build of the read model, alone in this process (the parent reads its rusage)."""
    rp = Path(str(db) + ".reports")
    for suffix in ("", "-wal", "-shm"):
        Path(str(rp) + suffix).unlink(missing_ok=True)
    if split_min is not None:
        from cc_console.server.reports import split_build
        split_build.MIN_EVENTS = split_min
    cache = ReportCache(db)
    cache.split = not single
    cache.refresh()
    st = cache.split_stats
    cache.close()
    print(json.dumps({"parent_peak_rss": rss_peak(), "workers": st.workers if st else 1,
                      "parts": st.parts if st else 1,
                      "worker_peak_rss": sorted(st.peak_rss_mib.values()) if st else [],
                      "parts_wall": st.parts_wall_s if st else None, "part_cpu": st.part_cpu_s if st else [],
                      "part_wall": st.part_wall_s if st else [],
                      "merge_wall": st.merge_wall_s if st else None, "merge_cpu": st.merge_cpu_s if st else None,
                      "index_wall": st.index_wall_s if st else None,
                      "folded_again": st.folded_again if st else 0, "spans_across": st.spans_across if st else 0}))


def first_build(db: Path, single: bool = False, split_min: int | None = None) -> tuple[float, float, float, dict]:
    """(wall s, cpu s, peak RSS MiB, what the build said) of a child process that builds the read model from
    nothing; the CPU time includes its worker processes' (a split build: they are its children)."""
    t = time.perf_counter()
    child = subprocess.Popen([sys.executable, __file__, "--build-only", "--db", str(db)]
                             + (["--single"] if single else [])
                             + (["--split-min", str(split_min)] if split_min is not None else []),
                             stdout=subprocess.PIPE, text=True)
    out = child.stdout.read() if child.stdout else ""
    _, status, ru = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"the read model's build failed ({child.returncode})")
    return time.perf_counter() - t, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024, json.loads(
        out.strip().splitlines()[-1])


def floor_read_decode(db: Path) -> tuple[float, float]:
    """What any build does at least: read every event and decode the fields the fold needs."""
    from cc_console.server.reports.decode import decode
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    with Clock() as c:
        cur = con.execute("SELECT seq, ts, kind, call_id, agent_id, queue, data FROM events ORDER BY seq")
        while rows := cur.fetchmany(100_000):
            for r in rows:
                decode(r[6])
    con.close()
    return c.wall, c.cpu


def floor_duckdb(db: Path) -> tuple[float, float, int] | None:
    """DuckDB's own pass over the raw events (when duckdb is installed: `pip install -e '.[dev]'`): read
    every event as JSON, decode the fields the fold reads and sum them per queue, 15-minute slot and kind.
    DuckDB reads no SQLite file without an extension it would download, so the events are first written
    once, untimed, as JSON lines beside the store (kept for the next run). (wall s, cpu s, groups)."""
    try:
        import duckdb
    except ImportError:
        return None
    lines = Path(str(db) + ".events.jsonl")
    if not lines.exists():
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        tmp = lines.with_suffix(".part")
        with open(tmp, "w") as f:
            cur = con.execute("SELECT seq, ts, kind, call_id, agent_id, queue, data FROM events ORDER BY seq")
            dumps = json.dumps
            while rows := cur.fetchmany(100_000):
                f.writelines(f'{{"seq":{r[0]},"ts":{r[1]!r},"kind":{dumps(r[2])},"call_id":{dumps(r[3])},'
                             f'"agent_id":{dumps(r[4])},"queue":{dumps(r[5])},"data":{r[6] or "null"}}}\n'
                             for r in rows)
        con.close()
        tmp.rename(lines)
    con = duckdb.connect()
    cols = ("{seq: 'BIGINT', ts: 'DOUBLE', kind: 'VARCHAR', call_id: 'VARCHAR', agent_id: 'VARCHAR', "
            "queue: 'VARCHAR', data: 'STRUCT(call JSON, agent JSON, wait DOUBLE, talk DOUBLE, hold DOUBLE, "
            "stage VARCHAR, \"to\" VARCHAR, \"when\" VARCHAR, why VARCHAR)'}")
    with Clock() as c:
        n = con.execute(
            "SELECT COUNT(*) FROM (SELECT coalesce(data.call->>'queue', queue) AS q, data.agent->>'state' AS st, "
            "floor(ts / 900) AS slot, kind, "
            f"COUNT(*), SUM(data.wait), SUM(data.talk), SUM(data.hold), COUNT(DISTINCT call_id) "
            f"FROM read_json('{lines}', format = 'newline_delimited', columns = {cols}) GROUP BY ALL)").fetchone()[0]
    con.close()
    return c.wall, c.cpu, n


def floor_duckdb_child(db: Path) -> tuple[float, float, int] | None:
    """floor_duckdb in a child process: DuckDB's memory stays out of this process's peak RSS."""
    r = subprocess.run([sys.executable, __file__, "--duckdb-floor-only", "--db", str(db)], capture_output=True,
                       text=True, check=True)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    return None if out is None else tuple(out)  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=700_000, help="calls in the generated year")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", type=Path, default=None, help="reuse/keep this store (generated if missing)")
    ap.add_argument("--year-runs", type=int, default=5)
    ap.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--single", action="store_true",
                    help="build the read model in one process (as before the split build), for comparison")
    ap.add_argument("--split-min", type=int, default=None,
                    help="split the first build from this many events (default: the read model's own threshold)")
    ap.add_argument("--duckdb-floor-only", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--reference", action="store_true",
                    help="also compute the year reports call by call (slow, GBs for 700k calls) and compare")
    a = ap.parse_args()
    if a.build_only:
        build_child(a.db, a.single, a.split_min)
        return
    if a.duckdb_floor_only:
        print(json.dumps(floor_duckdb(a.db)))
        return
    tmp = None
    if a.db is None:
        tmp = tempfile.TemporaryDirectory()
        db = Path(tmp.name) / "cc.sqlite3"
    else:
        db = a.db
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    if not db.exists():
        with Clock() as c:
            n, start = generate(db, a.calls, a.days, a.agents, a.seed)
        print(f"generate: {c.wall:.1f} s wall, {c.cpu:.1f} s cpu")
        print(f"events: {n}")
    print(f"db_size: {os.path.getsize(db) / 2**20:.0f} MiB")
    cfg = RoutingConfig(queues={q: Queue(q, tenant=t) for q, t in QUEUES})
    print(f"load_average_before_build: {os.getloadavg()[0]:.1f}")
    wall, cpu, peak, said = first_build(db, a.single, a.split_min)
    print(f"first_build: {wall:.1f} s wall, {cpu:.1f} s cpu (load {os.getloadavg()[0]:.1f})")
    print(f"first_build_seconds: {wall:.1f}")
    print(f"first_build_workers: {said['workers']} ({said['parts']} parts)")
    peaks = [said["parent_peak_rss"], *said["worker_peak_rss"]]
    print(f"first_build_peak_rss: {max(peaks):.0f} MiB")
    print(f"first_build_peak_rss_sum: {sum(peaks):.0f} MiB (parent {said['parent_peak_rss']:.0f}, workers "
          f"{', '.join(f'{x:.0f}' for x in said['worker_peak_rss']) or 'none'})")
    if said["parts_wall"] is not None:
        print(f"first_build_parts: {said['parts_wall']:.1f} s wall, cpu per part "
              f"{', '.join(f'{x:.1f}' for x in said['part_cpu'])} s, wall per part "
              f"{', '.join(f'{x:.1f}' for x in said['part_wall'])} s (the first built by the parent)")
        print(f"first_build_merge: {said['merge_wall']:.1f} s wall, {said['merge_cpu']:.1f} s cpu, of which the "
              f"indexes {said['index_wall']:.1f} s wall ({said['folded_again']} calls folded again, "
              f"{said['spans_across']} agent states across parts)")
    print(f"load_average_after_build: {os.getloadavg()[0]:.1f}")
    fw, fc = floor_read_decode(db)
    print(f"floor_read_decode_events: {fw:.1f} s wall, {fc:.1f} s cpu")
    print(f"first_build_cpu_ratio_to_floor: {cpu / fc:.2f}")
    duck = floor_duckdb_child(db)
    if duck is None:
        print("floor_duckdb: not installed (the floor is the plain decode above)")
    else:
        dw, dc, groups = duck
        print(f"floor_duckdb_events: {dw:.1f} s wall, {dc:.1f} s cpu ({groups} groups: every event's JSON read, "
              "summed per queue, slot and kind)")
        print(f"first_build_wall_ratio_to_duckdb: {wall / dw:.2f}")
        print(f"first_build_cpu_ratio_to_duckdb: {cpu / dc:.2f}")
    print(f"load_average_after_floors: {os.getloadavg()[0]:.1f}")
    cache = ReportCache(db)
    with Clock() as c:
        cache.refresh()
    print(f"refresh_nothing_new: {c.wall * 1000:.2f} ms wall, {c.cpu * 1000:.2f} ms cpu")
    for t in ("segs", "qagg", "qhist", "atime", "acalls", "amiss", "ahist", "hcum"):
        print(f"rows_{t}: {cache.db.execute(f'SELECT COUNT(*) FROM {t}').fetchone()[0]}")
    print(f"read_model_size: {os.path.getsize(cache.cache_path) / 2**20:.0f} MiB")
    print(f"rss_after_open: {rss_now():.0f} MiB (peak {rss_peak():.0f} MiB)")

    with Clock() as c:
        x = 0
        for i in range(1_000_000):
            x += i
    print(f"cpu_calibration_1M_loop: {c.wall * 1000:.0f} ms wall, {c.cpu * 1000:.0f} ms cpu "
          "(about 40 ms on an idle core)")
    print(f"load_average: {os.getloadavg()[0]:.1f}")
    day0 = start + 86400 * min(a.days - 1, 9)  # a Wednesday in January: a busy weekday

    last_day = start + 86400 * (a.days - 1)
    live = sqlite3.connect(str(db), isolation_level=None)
    extra = [0]

    def one_call() -> None:  # a refresh during the day: one call answered, completed and wrapped up since
        extra[0] += 1
        t, ag = last_day + 20 * 3600 + extra[0] * 60, f"agent{extra[0] % a.agents:03d}"
        cid = f"x{os.getpid()}-{time.time_ns()}"  # a store reused by --db keeps earlier runs' calls
        call = {"id": cid, "queue": "support", "caller": "0600000000", "state": "entering", "agent": None}
        ev = [(t, "call.entered", cid, None, {"did": "5000", "call": call}),
              (t, "call.queued", cid, None, {"stage": "queue", "call": call}),
              (t + 7, "call.offered", cid, ag, {"agent": ag, "call": call}),
              (t + 7, "call.connected", cid, ag, {"agent": ag, "wait": 7.0, "call": call}),
              (t + 7, "agent.state", None, ag, {"call": cid, "agent": {"id": ag, "state": "on_call"}}),
              (t + 40, "call.completed", cid, ag, {"talk": 33.0, "call": call}),
              (t + 40, "agent.state", None, ag, {"call": cid, "agent": {"id": ag, "state": "wrap_up"}}),
              (t + 50, "agent.state", None, ag, {"agent": {"id": ag, "state": "ready"}})]
        live.executemany("INSERT INTO events(ts, kind, call_id, agent_id, queue, data) VALUES (?,?,?,?,?,?)",
                         [(ts, k, c, g, "support" if c else None, json.dumps(d)) for ts, k, c, g, d in ev])
        with Clock() as c:
            cache.refresh()
        walls.append(c.wall)
        cpus.append(c.cpu)
    walls, cpus = [], []
    for _ in range(10):
        one_call()
    live.close()
    print(f"refresh_one_new_call_p50: {pct(walls, 50) * 1000:.1f} ms wall, {pct(cpus, 50) * 1000:.1f} ms cpu "
          "(fold it, recompute its slot, day and blocks; adds 10 calls to the store's last day)")

    def day_report(path: str = "auto"):
        return run(cache, cfg, params_from("interval", day0, day0 + 86400, tz="UTC", interval="15"), path=path)
    walls, cpus, r = timed(a.runs, day_report)
    offered_day = sum(row[r.columns.index("offered")] for row in r.rows)
    print(f"day_15min_rows: {len(r.rows)}")
    print(f"day_15min_offered: {offered_day}")
    print(f"day_15min_p50: {pct(walls, 50) * 1000:.2f} ms wall, {pct(cpus, 50) * 1000:.2f} ms cpu")
    print(f"day_15min_max: {max(walls) * 1000:.2f} ms wall, {max(cpus) * 1000:.2f} ms cpu")
    print(f"day_15min_heap_peak: {heap_peak(day_report):.1f} MiB")
    headline = pct(walls, 99) * 1000
    print(f"day_15min_p99_cpu: {pct(cpus, 99) * 1000:.2f} ms")

    year = (start, start + a.days * 86400)

    def year_month(path: str = "auto"):
        return run(cache, cfg, params_from("interval", *year, tz="UTC", interval="month"), path=path)

    def year_month_paris(path: str = "auto"):  # month edges at 23:00/22:00 UTC: partial days from slot rows
        return run(cache, cfg, params_from("interval", *year, tz="Europe/Paris", interval="month"), path=path)

    def year_agents(path: str = "auto"):
        return run(cache, cfg, params_from("agent", *year, tz="UTC"), path=path)

    def year_tenant(path: str = "auto"):
        return run(cache, cfg, params_from("tenant", *year, tz="UTC"), path=path)

    def year_day(path: str = "auto"):
        return run(cache, cfg, params_from("interval", *year, tz="UTC", interval="day"), path=path)

    con = cache.db
    mon = "strftime('%Y-%m', t * 86400, 'unixepoch')"

    def floor_daily():  # one SQL sum over the read model's own day rows, by month
        return con.execute(f"SELECT {mon}, SUM(received), SUM(answered), SUM(abandoned), SUM(talk) FROM qagg "
                           "WHERE lvl = 1 AND t >= ? AND t < ? GROUP BY 1",
                           (int(year[0] // 86400), int(year[1] // 86400))).fetchall()

    raw = sqlite3.connect(f"file:{Path(db).resolve()}?mode=ro", uri=True)  # the event store itself

    def floor_events():  # one count over the raw events, by month
        return raw.execute("SELECT strftime('%Y-%m', ts, 'unixepoch'), COUNT(*) FROM events "
                                "WHERE kind = 'call.entered' AND ts >= ? AND ts < ? GROUP BY 1", year).fetchall()

    walls, cpus, _ = timed(a.year_runs, floor_daily)
    floor_ms = pct(walls, 50) * 1000
    print(f"floor_sql_daily_rows_by_month_p50: {floor_ms:.2f} ms wall, {pct(cpus, 50) * 1000:.2f} ms cpu")
    walls, cpus, _ = timed(1, floor_events)
    print(f"floor_sql_raw_events_by_month: {walls[0] * 1000:.0f} ms wall, {cpus[0] * 1000:.0f} ms cpu")
    results = {}
    for name, f in (("year_by_month", year_month), ("year_tenant", year_tenant), ("year_agents", year_agents)):
        walls, cpus, results[name] = timed(a.year_runs, f)
        print(f"{name}_p50: {pct(walls, 50) * 1000:.1f} ms wall, {pct(cpus, 50) * 1000:.1f} ms cpu")
        print(f"{name}_max: {max(walls) * 1000:.1f} ms wall, {max(cpus) * 1000:.1f} ms cpu")
        print(f"{name}_ratio_to_floor: {pct(walls, 50) * 1000 / floor_ms:.1f}")
    ym, ya, yt = results["year_by_month"], results["year_agents"], results["year_tenant"]
    print(f"year_by_month_rows: {len(ym.rows)}")
    print(f"year_by_month_offered: {sum(row[ym.columns.index('offered')] for row in ym.rows)}")
    print(f"year_by_month_heap_peak: {heap_peak(year_month):.1f} MiB")
    print(f"year_agents_heap_peak: {heap_peak(year_agents):.1f} MiB")
    walls, cpus, _ = timed(a.year_runs, year_month_paris)
    print(f"year_by_month_paris_p50: {pct(walls, 50) * 1000:.1f} ms wall, {pct(cpus, 50) * 1000:.1f} ms cpu")
    walls, cpus, yd = timed(1, year_day)
    print(f"year_by_day: {walls[0]:.3f} s wall, {cpus[0]:.3f} s cpu ({len(yd.rows)} rows)")
    print(f"rss_after_reports: {rss_now():.0f} MiB (peak {rss_peak():.0f} MiB)")
    if a.reference:
        same = True
        for name, f, got in (("year_by_month", year_month, ym), ("year_agents", year_agents, ya),
                             ("year_tenant", year_tenant, yt), ("day_15min", day_report, None)):
            with Clock() as c:
                ref = f("calls")
            ok = got is None or ref.rows == got.rows
            if got is None:
                ok = ref.rows == f().rows
            same = same and ok
            print(f"reference_{name}: {c.wall:.3f} s wall, {c.cpu:.3f} s cpu, identical: {ok}")
        print(f"reference_identical: {same}")
        print(f"rss_after_reference: {rss_now():.0f} MiB (peak {rss_peak():.0f} MiB)")
    print(f"max_rss: {rss_peak():.0f} MiB")
    print(f"load_average_end: {os.getloadavg()[0]:.1f}")
    print(f"p99: {headline:.2f} ms")
    cache.close()
    if tmp:
        tmp.cleanup()


if __name__ == "__main__":
    main()
