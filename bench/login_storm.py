"""Shift start: N consoles sign in with their password at the same moment.

    python bench/login_storm.py [--logins 500] [--workers 2] [--addresses 1]

The server runs in this process: a real `Server` (aiohttp gateway, SQLite store in a temp dir)
whose ARI websocket points at a closed port, with N agents whose password hashes have the
current argon2id parameters. N websocket connections (from `--addresses` loopback addresses,
127.0.3.1 and up) connect first, then all send `login` at once; each login's time is from its
send to its response. The clients share this process and its event loop with the server: they do
little (one frame out, one in), and the password checks run on the server's hashing threads.

With `--flood M`, M bad sign-ins (unknown users, wrong passwords) from `--flood-addresses`
other loopback addresses (127.0.4.x) are sent first; once they are under way, the N consoles sign
in, and `p99` is theirs: how long a real sign-in waits during a flood. `flood_refused` counts the
bad sign-ins refused early (rate limited) rather than queued.

Output: one figure per line; the headline is `p99: <value> ms` per login.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "bench-secret-pass"


async def main(args: argparse.Namespace) -> int:
    from cc_console.config import QueueSettings, Settings, load_settings
    from cc_console.server.app import Server
    from cc_console.server.auth import hash_password

    tmp = Path(tempfile.mkdtemp(prefix="cc-login-storm-"))
    base = load_settings(tmp / "none.toml")
    s = Settings(pbx=base.pbx, server=base.server, queues=[QueueSettings(name="support", dids=["5000"])])
    s.server.port = 0
    s.server.db_path = str(tmp / "cc.sqlite3")
    s.server.queue_log_path = str(tmp / "queue_log")
    s.server.login_hash_workers = args.workers
    s.pbx.http_port = 9  # no Asterisk: nothing here needs it
    srv = Server(s)
    one_hash = hash_password(PASSWORD)  # the same hash for every agent: building 500 would take a while
    for i in range(args.logins):
        srv.store.add_user({"username": f"agent{i:04d}", "name": f"Agent {i}", "role": "agent",
                            "password_hash": one_hash, "device": "", "answer_mode": "console",
                            "queues": ["support"], "created": time.time()})
    await srv.start()
    try:
        conns = []
        for i in range(args.logins):
            local = f"127.0.3.{1 + i % args.addresses}"
            conns.append(await websockets.connect(srv.url, local_addr=(local, 0), max_size=None))

        async def login(i: int, ws) -> tuple[float, bool]:
            t0 = time.perf_counter()
            await ws.send(json.dumps({"v": 1, "type": "req", "id": "l", "cmd": "login",
                                      "args": {"username": f"agent{i:04d}", "password": PASSWORD}}))
            while True:
                msg = json.loads(await ws.recv())
                if msg["type"] == "res":
                    return time.perf_counter() - t0, bool(msg["ok"])

        async def bad(j: int) -> str:
            local = f"127.0.4.{1 + j % args.flood_addresses}"
            async with websockets.connect(srv.url, local_addr=(local, 0)) as ws:
                await ws.send(json.dumps({"v": 1, "type": "req", "id": "b", "cmd": "login",
                                          "args": {"username": f"intruder{j}", "password": "wrong-password"}}))
                while True:
                    msg = json.loads(await ws.recv())
                    if msg["type"] == "res":
                        return msg["error"]["code"]

        flood = [asyncio.create_task(bad(j)) for j in range(args.flood)]
        while args.flood and srv.auth.pool.queued < min(args.flood // 2, 500):
            await asyncio.sleep(0.01)  # the flood is queued for its password checks
        t0, cpu0 = time.perf_counter(), time.process_time()
        results = await asyncio.wait_for(asyncio.gather(*(login(i, ws) for i, ws in enumerate(conns))),
                                         args.timeout)
        total, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        flood_codes = await asyncio.gather(*flood)
        for ws in conns:
            await ws.close()
    finally:
        await srv.stop()
    times = sorted(t for t, _ in results)

    def pct(p: float) -> float:
        return times[min(len(times) - 1, int(round(p / 100 * (len(times) - 1))))] * 1000

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"logins: {args.logins}")
    print(f"workers: {args.workers}")
    print(f"addresses: {args.addresses}")
    print(f"failed: {sum(not ok for _, ok in results)}")
    print(f"total: {total:.2f} s")
    # CPU of this process (server, hashing threads, clients) while the sign-ins ran: on a busy
    # machine `total` grows with the load, this much less.
    print(f"cpu: {cpu:.2f} s")
    print(f"p50: {pct(50):.0f} ms")
    print(f"p99: {pct(99):.0f} ms")
    print(f"max: {times[-1] * 1000:.0f} ms")
    print(f"peak_rss: {rss:.0f} MiB")
    if args.flood:
        print(f"flood: {args.flood}")
        print(f"flood_refused: {sum(c == 'rate_limited' for c in flood_codes)}")
    return 0 if all(ok for _, ok in results) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--logins", type=int, default=500)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--addresses", type=int, default=1)
    ap.add_argument("--flood", type=int, default=0)
    ap.add_argument("--flood-addresses", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=300)
    sys.path.insert(0, str(ROOT))
    sys.exit(asyncio.run(main(ap.parse_args())))
