"""What a standby's forwarding costs: the same REST requests sent to the active node and through the standby.

    python bench/ha_forward.py [--requests 300] [--concurrency 1]

Two `cc-console server` processes (an active node and its standby, docs/high-availability.md) on
a test PostgreSQL cluster started for the run (tests/pg_cluster.py: the store and the lease), ARI
at a closed port. The client (this process) signs in once and sends each kind of request
``--requests`` times, ``--concurrency`` at a time, first to the active node, then to the standby,
which forwards it: a write (``POST /api/v1/commands/ping``, the dispatch's cheapest command) and a
read of the engine's live state (``GET /api/v1/agents``).

Output: one figure per line, per kind and door, p50 and p99 in ms; the headline is the forwarded
write's p50 minus the direct one's (``forward_overhead_p50``).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-secret-pass"


def config(folder: Path, name: str, port: int, lease: str, store: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f"""
[store]
url = "{store}"
[server]
port = {port}
db_path = "{folder / 'cc.sqlite3'}"
queue_log_path = "{folder / 'queue_log'}"
api_rate = 100000.0
api_burst = 100000
[pbx]
http_port = 9
[[queues]]
name = "support"
dids = ["5000"]
[ha]
lease_url = "{lease}"
node = "{name}"
key = "bench-ha-forward"
internal_url = "http://127.0.0.1:{port}"
secret = "bench-pair-secret"
poll = 0.1
""")
    return path


async def role(base: str) -> str:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as r:
            ha = (await r.json()).get("ha") or {}
            return str(ha.get("role", "")) + ("+" if ha.get("active") else "")
    except aiohttp.ClientError:
        return ""


async def until(base: str, want: str) -> None:
    async with asyncio.timeout(60):
        while await role(base) != want:
            await asyncio.sleep(0.1)


async def timed(http: aiohttp.ClientSession, method: str, url: str, n: int, concurrency: int) -> list[float]:
    took: list[float] = []
    left = iter(range(n))

    async def worker() -> None:
        for _ in left:
            t = time.perf_counter()
            async with http.request(method, url, json={} if method == "POST" else None) as r:
                await r.read()
                assert r.status == 200, r.status
            took.append((time.perf_counter() - t) * 1000)
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return sorted(took)


async def main(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(ROOT))
    from cc_console.server.auth import Auth
    from cc_console.server.store import PostgresStore
    from tests.pg_cluster import free_port, start_cluster

    cluster = start_cluster()
    procs: list[asyncio.subprocess.Process] = []
    try:
        store_url = cluster.create_database("cc")
        store = PostgresStore(store_url, local="/nonexistent")
        Auth(store).add_user("bench1", PASSWORD, "agent", queues=["support"])
        store.close()
        folder = Path(tempfile.mkdtemp(prefix="cc-bench-ha-"))
        exe = Path(sys.executable).with_name("cc-console")
        ports = {"a": free_port(), "b": free_port()}
        bases = {k: f"http://127.0.0.1:{p}" for k, p in ports.items()}
        log = (folder / "servers.log").open("ab")
        for name in ("a", "b"):
            cfg = config(folder, name, ports[name], cluster.dsn(), store_url)
            procs.append(await asyncio.create_subprocess_exec(
                str(exe), "server", "--config", str(cfg), stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, "CC_CONSOLE_CONFIG": str(cfg)}))
            await until(bases[name], "active" if name == "a" else "standby+")
        async with aiohttp.ClientSession() as http, http.post(
                f"{bases['a']}/api/v1/commands/login", json={"username": "bench1", "password": PASSWORD}) as r:
            token = (await r.json())["token"]
        p50: dict[str, float] = {}
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            kinds = (("write", "POST", "/api/v1/commands/ping"), ("engine_read", "GET", "/api/v1/agents"))
            for kind, method, path in kinds:
                for door, base in (("direct", bases["a"]), ("forwarded", bases["b"])):
                    await timed(http, method, base + path, 20, 1)  # warm up
                    took = await timed(http, method, base + path, args.requests, args.concurrency)
                    p50[f"{kind}_{door}"] = statistics.median(took)
                    print(f"{kind}_{door}_p50: {statistics.median(took):.2f} ms")
                    print(f"{kind}_{door}_p99: {took[int(len(took) * 0.99) - 1]:.2f} ms")
        print(f"forward_overhead_p50: {p50['write_forwarded'] - p50['write_direct']:.2f} ms")
        return 0
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            await p.wait()
        cluster.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--concurrency", type=int, default=1)
    raise SystemExit(asyncio.run(main(ap.parse_args())))
