"""Contact synchronisation: a bulk load of a million contacts over REST, then caller lookup latency.

    python bench/contacts_sync.py [--contacts 1000000] [--lookups 10000] [--seed 1] [--keep DIR]

A real `cc-console server` process (no Asterisk needed) on a temporary database; the records
(seeded: names, two phone numbers each, address, customer number, status) are generated as they
are sent, streamed as NDJSON to POST /api/v1/crm/contacts/bulk, so neither side holds the file.

Figures (one per line, `name: value [unit]`):
  load_seconds, load_rate     the whole upload until the server answered (records a second)
  server_peak_rss             the server process's peak resident memory (VmHWM) over its life
  db_size                     the contacts database after the load
  reload_seconds              the same file sent again (idempotent: the count stays the same)
  lookup_p50/p99/max          caller identification afterwards: ContactsService.search(number=...)
                              on the loaded database for --lookups numbers in the formats callers
                              arrive in (+420…, 00420…, national), one in ten unknown. Headline:
                              `lookup_p99: <value> ms`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from cc_console.server.api.clients import ApiClients
from cc_console.server.api.clients import default_path as api_db

GIVEN = ["Jan", "Petr", "Jana", "Marie", "Tomáš", "Lucie", "Jiří", "Eva", "Pavel", "Anna", "Martin", "Hana"]
FAMILY = ["Novák", "Svoboda", "Novotný", "Dvořák", "Černý", "Procházka", "Kučera", "Veselý", "Horák", "Němec"]
CITIES = ["Praha", "Brno", "Ostrava", "Plzeň", "Liberec", "Olomouc"]


def phone(i: int) -> str:
    return f"+420 6{i // 1000000 % 10}{i // 10000 % 100:02d} {i // 100 % 100:02d}{i % 100:02d} 1"


def record(i: int, rnd: random.Random) -> dict[str, str]:
    return {"external_id": f"INS-{i:07d}", "first_name": rnd.choice(GIVEN), "last_name": rnd.choice(FAMILY),
            "phone": phone(i), "mobile": f"+420 7{i:08d}", "street": f"Ulice {i % 500}",
            "city": rnd.choice(CITIES), "postcode": f"{10000 + i % 89999}", "customer_number": f"C{i:08d}",
            "status": "active", "email": f"client{i}@example.org"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def upload(port: int, token: str, n: int, seed: int) -> tuple[float, dict[str, int]]:
    async def body():
        rnd = random.Random(seed)
        buf: list[str] = []
        for i in range(n):
            buf.append(json.dumps(record(i, rnd), ensure_ascii=False))
            if len(buf) == 1000:
                yield ("\n".join(buf) + "\n").encode()
                buf = []
        if buf:
            yield ("\n".join(buf) + "\n").encode()
    t0 = time.perf_counter()
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with aiohttp.ClientSession(timeout=timeout) as http, http.post(
            f"http://127.0.0.1:{port}/api/v1/crm/contacts/bulk", data=body(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}) as r:
        out = await r.json(content_type=None)
        if r.status != 200:
            raise SystemExit(f"load refused: {r.status} {out}")
    return time.perf_counter() - t0, out


async def wait_up(port: int, proc: subprocess.Popen[bytes]) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit("the server exited; see its log")
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit("the server did not come up")


def lookups(db: Path, n: int, total: int, seed: int) -> list[float]:
    from cc_console.server.contacts import ContactsService, ContactsStore
    from cc_console.server.contacts import default_path as contacts_db

    class _Engine:
        store = None
        clock = staticmethod(time.time)
    svc = ContactsService(_Engine(), ContactsStore(contacts_db(db)))
    rnd = random.Random(seed + 1)
    times = []
    for k in range(n):
        i = rnd.randrange(total)
        digits = phone(i).replace(" ", "")
        number = [digits, "00" + digits[1:], digits[4:]][k % 3] if k % 10 else f"+4209{k:08d}"
        t0 = time.perf_counter()
        found = svc.search(number=number)
        times.append((time.perf_counter() - t0) * 1000)
        if k % 10 and not any(c["id"] == f"INS-{i:07d}" for c in found):
            raise SystemExit(f"lookup of {number} did not find INS-{i:07d}")
    svc.store.close()
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--contacts", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", help="keep the database in this folder")
    a = ap.parse_args()
    folder = Path(a.keep or tempfile.mkdtemp(prefix="cc-contacts-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "cc.sqlite3"
    token = ApiClients(api_db(db)).add("insurer", "admin")
    port = free_port()
    config = folder / "config.toml"
    config.write_text(f'[server]\nport = {port}\ndb_path = "{db}"\nqueue_log_path = "{folder / "queue_log"}"\n'
                      "[pbx]\nhttp_port = 9\n")
    exe = Path(sys.executable).with_name("cc-console")
    log = (folder / "server.log").open("ab")
    proc = subprocess.Popen([str(exe), "server", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "CC_CONSOLE_CONFIG": str(config)})
    try:
        asyncio.run(wait_up(port, proc))
        secs, out = asyncio.run(upload(port, token, a.contacts, a.seed))
        if out.get("upserted") != a.contacts:
            raise SystemExit(f"load answered {out}")
        print(f"contacts: {a.contacts}")
        print(f"load_seconds: {secs:.1f} s")
        print(f"load_rate: {a.contacts / secs:.0f} records/s")
        again, out2 = asyncio.run(upload(port, token, a.contacts, a.seed))
        print(f"reload_seconds: {again:.1f} s")
        print(f"server_peak_rss: {peak_rss_mib(proc.pid):.0f} MiB")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    from cc_console.server.contacts import default_path as contacts_db
    size = contacts_db(db).stat().st_size + sum(p.stat().st_size for p in folder.glob("*.contacts.sqlite3-wal"))
    print(f"db_size: {size / 2**20:.0f} MiB")
    times = sorted(lookups(db, a.lookups, a.contacts, a.seed))
    print(f"lookups: {len(times)}")
    print(f"lookup_p50: {statistics.median(times):.3f} ms")
    print(f"lookup_p99: {times[int(len(times) * 0.99) - 1]:.3f} ms")
    print(f"lookup_max: {times[-1]:.3f} ms")
    if not a.keep:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
