"""Chat at scale: --chats concurrent webchats handled by --agents agents; message delivery from the
visitor to the agent's console and back, and the server's memory.

    python bench/chat.py [--agents 100] [--chats 1000] [--seconds 20] [--interval 5] [--capacity 10]

Ours: a real `Server` in this process (aiohttp, the chat capability with its SQLite file, the real
CallEngine and gateway; its ARI points at a closed port, no Asterisk is needed), with --agents agent
users (one password hash, copied: argon2 per user would only slow the set-up). The visitors and the
agents run in a child process (this file with --client-worker), so that the server's RSS is the
server's alone:

* each agent is a console on /ws (the console protocol): it logs in, logs into its queue, accepts
  every chat.offer at once and answers every visitor message with `chat.send` "echo <text>";
* each visitor is a widget on /chat/ws: it starts a chat, waits for its agent, then writes a
  message every --interval seconds (the visitors' first messages spread over one interval) for
  --seconds, each with a unique text, and takes the time (time.monotonic) when it sends it and when
  the agent's echo arrives on its socket.

Delivery = echo read by the visitor - message sent: visitor -> server -> the agent's console ->
`chat.send` -> server -> visitor, two hops through the server and the console's turnaround. The
agents' capacity (--capacity chats each) must hold every chat: agents x capacity >= chats.

Output: one figure per line (`name: value [unit]`): chats accepted, messages, lost (sent and never
echoed by the end), set-up time, delivery p50/p90/p99/max, server RSS (now and peak) and CPU over
the measured phase (and the client process's: when it nears 100 % the clients, not the server, set
the pace), the load average; the headline, last, is `p99: <value> ms`.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PASSWORD = "bench-pass-1"


# -- the child: agents and visitors ---------------------------------------------------------------------
async def _agent(url: str, user: str, ready: asyncio.Event, stop: asyncio.Event) -> None:
    import aiohttp
    ids = iter(range(1, 1 << 62))
    async with aiohttp.ClientSession() as http, http.ws_connect(url, max_msg_size=0) as ws:
        async def req(cmd: str, args: dict[str, Any]) -> None:
            await ws.send_str(json.dumps({"v": 1, "type": "req", "id": str(next(ids)), "cmd": cmd, "args": args}))
        await req("login", {"username": user, "password": PASSWORD})
        logged = False
        async for msg in ws:
            f = json.loads(msg.data)
            if f.get("type") == "res" and not logged:
                if not f.get("ok"):
                    raise SystemExit(f"{user}: login refused: {f}")
                logged = True
                await req("agent.login", {})
                ready.set()
            elif f.get("type") == "event":
                ev, d = f["event"], f["data"]
                if ev == "chat.offer":
                    await req("chat.accept", {"id": d["id"]})
                elif ev == "chat.message" and d["message"]["sender"] == "visitor":
                    await req("chat.send", {"id": d["id"], "text": "echo " + d["message"]["text"]})
            if stop.is_set():
                break


async def _visitor(base: str, i: int, args: argparse.Namespace, out: dict[str, Any], go: asyncio.Event) -> None:
    import aiohttp
    sent: dict[str, float] = {}
    async with aiohttp.ClientSession() as http, http.ws_connect(base + "/chat/ws") as ws:
        await ws.send_str(json.dumps({"op": "start", "name": f"Visitor {i}"}))
        accepted = asyncio.Event()

        async def read() -> None:
            async for msg in ws:
                f = json.loads(msg.data)
                if f["op"] == "agent":
                    accepted.set()
                elif f["op"] == "message" and f["message"]["sender"] == "agent":
                    text = f["message"]["text"]
                    t0 = sent.pop(text[5:], None) if text.startswith("echo ") else None
                    if t0 is not None:
                        out["lat"].append(time.monotonic() - t0)
        reader = asyncio.create_task(read())
        await accepted.wait()
        out["accepted"] += 1
        await go.wait()
        await asyncio.sleep(args.interval * (i % 1000) / 1000)  # spread the first messages over one interval
        end = time.monotonic() + args.seconds
        n = 0
        while time.monotonic() < end:
            n += 1
            text = f"v{i} m{n}"
            sent[text] = time.monotonic()
            out["sent"] += 1
            await ws.send_str(json.dumps({"op": "say", "text": text}))
            await asyncio.sleep(args.interval)
        deadline = time.monotonic() + 5
        while sent and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        out["lost"] += len(sent)
        reader.cancel()


async def _client_worker(args: argparse.Namespace) -> None:
    base = args.url
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in range(args.agents)]
    agents = [asyncio.create_task(_agent(base.replace("http", "ws") + "/ws", f"agent{k:03}", readies[k], stop))
              for k in range(args.agents)]
    t0 = time.monotonic()
    await asyncio.gather(*(r.wait() for r in readies))
    logins = time.monotonic() - t0
    out: dict[str, Any] = {"lat": [], "sent": 0, "lost": 0, "accepted": 0}
    go = asyncio.Event()
    sem = asyncio.Semaphore(100)  # open the visitors' sockets a hundred at a time

    async def one(i: int) -> None:
        async with sem:
            pass
        await _visitor(base, i, args, out, go)
    visitors = [asyncio.create_task(one(i)) for i in range(args.chats)]
    while out["accepted"] < args.chats and time.monotonic() - t0 < 120:
        await asyncio.sleep(0.1)
    setup = time.monotonic() - t0
    print(json.dumps({"phase": "measuring", "accepted": out["accepted"]}), flush=True)
    cpu0, w0 = time.process_time(), time.monotonic()
    go.set()
    await asyncio.gather(*visitors, return_exceptions=True)
    out["cpu"] = 100 * (time.process_time() - cpu0) / max(1e-9, time.monotonic() - w0)
    stop.set()
    for a in agents:
        a.cancel()
    print(json.dumps({"phase": "done", "logins": logins, "setup": setup, **out}), flush=True)


# -- the parent: the server ----------------------------------------------------------------------------
def _rss_mib() -> tuple[float, float]:
    now = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
    return now, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pct(vals: list[float], p: float) -> float:
    if not vals:
        return float("nan")
    return vals[min(len(vals) - 1, int(p / 100 * len(vals)))]


async def _run(args: argparse.Namespace) -> int:
    import logging

    from cc_console.config import QueueSettings, Settings, load_settings
    from cc_console.server.app import Server
    from cc_console.server.auth import hash_password
    from cc_console.server.store import SQLiteStore
    logging.basicConfig(level=logging.ERROR)
    if args.agents * args.capacity < args.chats:
        print(f"--agents x --capacity ({args.agents * args.capacity}) must hold --chats ({args.chats})")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-chat-"))
    db = tmp / "cc.sqlite3"
    store = SQLiteStore(db)
    h = hash_password(PASSWORD)
    for k in range(args.agents):
        store.add_user({"username": f"agent{k:03}", "name": f"Agent {k}", "role": "agent", "password_hash": h,
                        "device": f"PJSIP/{2000 + k}", "answer_mode": "console", "queues": ["support"],
                        "created": time.time()})
    store.close()
    base_settings = load_settings(tmp / "none.toml")
    s = Settings(pbx=base_settings.pbx, server=base_settings.server,
                 queues=[QueueSettings(name="support", dids=["5000"])])
    s.server.port = 0
    s.server.db_path = str(db)
    s.server.queue_log_path = str(tmp / "queue_log")
    s.pbx.http_port = 9  # no Asterisk: the chat path needs none
    # every visitor comes from 127.0.0.1 here: the per-address limit would stop the bench, not a person
    s.sections["chat"] = {"capacity": {"call": 1, "chat": args.capacity}, "ring_timeout": 60.0,
                          "starts_per_minute": 10 * args.chats}
    server = Server(s)
    await server.start()
    rss_start, _ = _rss_mib()
    try:
        child = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--client-worker", "--url", f"http://127.0.0.1:{server.port}",
            "--agents", str(args.agents), "--chats", str(args.chats), "--seconds", str(args.seconds),
            "--interval", str(args.interval), stdout=asyncio.subprocess.PIPE, limit=1 << 26)  # the latencies: one line
        assert child.stdout is not None
        measuring = json.loads(await child.stdout.readline())
        rss_setup, _ = _rss_mib()
        cpu0, t0 = time.process_time(), time.monotonic()
        peak = rss_setup
        done_line = asyncio.ensure_future(child.stdout.readline())
        while not done_line.done():
            peak = max(peak, _rss_mib()[0])
            await asyncio.wait([done_line], timeout=0.5)
        cpu = 100 * (time.process_time() - cpu0) / max(1e-9, time.monotonic() - t0)
        done = json.loads(done_line.result())
        await child.wait()
        rss_end, rss_max = _rss_mib()
    finally:
        await server.stop()
    lat = sorted(x * 1000 for x in done["lat"])
    figures = [
        ("agents", args.agents), ("chats", args.chats), ("chats_accepted", measuring["accepted"]),
        ("agent_logins", f"{done['logins']:.1f} s"), ("setup", f"{done['setup']:.1f} s"),
        ("messages", done["sent"]), ("echoed", len(lat)), ("lost", done["lost"]),
        ("delivery_p50", f"{_pct(lat, 50):.1f} ms"), ("delivery_p90", f"{_pct(lat, 90):.1f} ms"),
        ("delivery_max", f"{lat[-1] if lat else float('nan'):.1f} ms"),
        ("server_rss_start", f"{rss_start:.1f} MiB"), ("server_rss_with_chats", f"{rss_setup:.1f} MiB"),
        ("server_rss_peak", f"{max(peak, rss_end):.1f} MiB"), ("server_cpu", f"{cpu:.0f} %"),
        ("clients_cpu", f"{done['cpu']:.0f} %"),
        ("loadavg", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ("p99", f"{_pct(lat, 99):.1f} ms"),
    ]
    for name, value in figures:
        print(f"{name}: {value}")
    return 0 if done["lost"] == 0 and measuring["accepted"] == args.chats else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--chats", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--interval", type=float, default=5.0)
    ap.add_argument("--capacity", type=int, default=10)
    ap.add_argument("--client-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", default="", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.client_worker:
        asyncio.run(_client_worker(args))
        return 0
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
