"""Fan-out: one ARI event in, one websocket frame out, to N connected consoles; beside the floor.

    python bench/fanout.py [--clients 500] [--rate 20] [--seconds 10] [--warmup 2] [--no-floor]

Ours: a real `Server` in this process (aiohttp gateway, SQLite store in a temp dir, real
CallEngine) whose ARI client has its REST calls replaced by no-op stubs and whose ARI websocket is
never started. The driver feeds synthetic ARI events straight into `engine.on_event`: a StasisStart
(args inbound,5000) with a fresh channel id and caller number, then half an interval later a
ChannelDestroyed for that channel so the call ends and the state stays bounded. Before the
consoles connect, --fixed-calls calls go through with no console at all: their CPU per call is
the fixed cost (`fixed_cpu_per_call`).

The floor: a minimal aiohttp websocket broadcast (`ws.send_str` to each client in turn) of the very
frames our server published at each step of the timeline, to the same number of consoles, on the
same timeline, after ours. No engine, no store, no per-console sequence or audience check.

The consoles run in a child process (this file with --client-worker): N websocket connections
driven by the `websockets` sans-I/O protocol on plain asyncio transports (cheap per frame, so the
client process does not become what is measured), offering permessage-deflate like ConsoleClient
unless --compression none. One logs in with the password (argon2, slow); the others `resume` with
its token. Each records time.monotonic() (CLOCK_MONOTONIC, shared by all processes on Linux) on
receiving the `call.update` frame of each call, matched by caller number. An event's time is when
the timeline says it arrives: if the server falls behind, the wait counts (as it would in the ARI
socket). Latency = receive time - that time; it includes the engine's work, the fan-out and the
client's receive path (the client process shares the machine's two cores). `lost_frames` counts
call.update frames a console should have had and never got.

Output: one figure per line, ours, then the floor's and the ratios (ours / floor); the headline,
last, is `p99: <value> ms`, event due -> call.update read by the consoles, over all of them.
Everything is on loopback, bounded in count and time, and stops by itself. --profile FILE writes a
cProfile (CPU time) of our server over the measured phase.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from websockets.frames import Frame, Opcode
from websockets.http11 import Response

USERNAME = "benchsup"
PASSWORD = "bench-secret-pass"
DID = "5000"
MEASURED_PREFIX = "9"  # caller numbers of measured calls; warm-up calls start with "8"
WARMUP_PREFIX = "8"


# =================================================================================================
# client side (child process): N consoles
# =================================================================================================
class _Console(asyncio.Protocol):
    """One console connection: websockets' sans-I/O protocol on a plain asyncio transport.

    The asyncio client of `websockets` wakes a task per frame; at 500 consoles x 4 frames per call
    that costs the client process more than the server spends, and the benchmark would measure the
    client. Here a frame is parsed inside data_received and the receive time is taken on entry,
    before any parsing: it is when the bytes reached this process's event loop.
    """

    def __init__(self, url: str, compression: bool, sink: _Sink) -> None:
        from websockets.client import ClientProtocol
        from websockets.extensions.permessage_deflate import enable_client_permessage_deflate
        from websockets.uri import parse_uri

        self.proto = ClientProtocol(parse_uri(url), max_size=2**22,
                                    extensions=enable_client_permessage_deflate(None) if compression else None)
        self.proto.send_request(self.proto.connect())
        self.sink = sink
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.setup: asyncio.Queue[dict[str, Any]] = asyncio.Queue()  # frames until the snapshot
        self.live = False  # after the snapshot: event frames go to the sink
        self.closed = asyncio.Event()
        self.seen: set[str] = set()
        self._frag = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self._flush()

    def data_received(self, data: bytes) -> None:
        t = time.monotonic()
        proto = self.proto
        proto.receive_data(data)
        for ev in proto.events_received():
            if isinstance(ev, Frame):
                if ev.opcode is Opcode.TEXT and ev.fin:
                    self._text(t, bytes(ev.data))
                elif ev.opcode is Opcode.TEXT or (ev.opcode is Opcode.CONT and self._frag):
                    self._frag += ev.data
                    if ev.fin:
                        self._text(t, bytes(self._frag))
                        self._frag.clear()
            elif isinstance(ev, Response) and not self.opened.done():
                if proto.handshake_exc is not None:
                    self.opened.set_exception(proto.handshake_exc)
                else:
                    self.opened.set_result(None)
        self._flush()  # pongs, close replies

    def _text(self, t: float, raw: bytes) -> None:
        sink = self.sink
        sink.frames += 1
        if not self.live:
            self.setup.put_nowait(json.loads(raw))
            return
        if b'"event":"call.update"' not in raw:
            return
        caller = json.loads(raw)["data"]["caller"]
        if caller in self.seen:
            sink.dups += 1
            return
        self.seen.add(caller)
        if caller.startswith(MEASURED_PREFIX):
            sink.measured += 1
        lst = sink.recv.get(caller)
        if lst is None:
            sink.recv[caller] = [t]
        else:
            lst.append(t)

    def send_text(self, text: str) -> None:
        self.proto.send_text(text.encode())
        self._flush()

    def _flush(self) -> None:
        if self.transport is None:
            return
        for chunk in self.proto.data_to_send():
            if chunk:
                self.transport.write(chunk)
            elif self.transport.can_write_eof():
                self.transport.write_eof()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(exc or ConnectionError("closed during the handshake"))
        if not self.sink.stopping:
            self.sink.disconnects += 1
        self.closed.set()


class _Sink:
    def __init__(self) -> None:
        self.recv: dict[str, list[float]] = {}  # caller -> receive times, one per console
        self.frames = 0
        self.measured = 0  # call.update frames of measured calls
        self.dups = 0
        self.disconnects = 0
        self.stopping = False


async def _client_worker(args: argparse.Namespace) -> None:
    from urllib.parse import urlsplit

    from cc_console.protocol import encode, request

    loop = asyncio.get_running_loop()
    u = urlsplit(args.url)
    sink = _Sink()
    sem = asyncio.Semaphore(50)
    consoles: list[_Console] = []

    async def open_console(cmd: str, cargs: dict[str, Any]) -> str:
        async with sem:
            _, c = await loop.create_connection(lambda: _Console(args.url, args.compression == "deflate", sink),
                                                u.hostname, u.port)
            consoles.append(c)
            await c.opened
            c.send_text(encode(request("r1", cmd, cargs)))
            token = ""
            while True:  # the reply, then the snapshot
                frame = await c.setup.get()
                if frame.get("type") == "res":
                    if not frame.get("ok"):
                        raise RuntimeError(f"{cmd} refused: {frame}")
                    token = frame["result"]["token"]
                elif frame.get("type") == "snapshot":
                    c.live = True
                    return token

    async def open_all() -> None:
        # The first console logs in (argon2, slow); the others resume with its token.
        token = await open_console("login", {"username": args.user, "password": args.password})
        await asyncio.gather(*(open_console("resume", {"token": token}) for _ in range(args.clients - 1)))

    await asyncio.wait_for(open_all(), args.timeout)
    cpu_ready = _cpu()
    print(f"READY {len(consoles)}", flush=True)

    line = await asyncio.wait_for(loop.run_in_executor(None, sys.stdin.readline), args.timeout + 3600)
    # "DONE <expected> <drain seconds>": wait for late frames until all are in or the drain time is up.
    _, expected, drain = line.split()
    deadline = time.monotonic() + float(drain)
    while sink.measured < int(expected) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    sink.stopping = True
    out = {"clients": len(consoles), "frames": sink.frames, "dups": sink.dups,
           "disconnects": sink.disconnects, "recv": sink.recv, "cpu": _cpu() - cpu_ready,
           "cmd": line.strip()}
    Path(args.out).write_text(json.dumps(out))
    print("RESULTS", flush=True)
    for c in consoles:
        if c.transport is not None:
            c.transport.close()


# =================================================================================================
# server side (this process): Server + driver
# =================================================================================================
def _rss_mib() -> tuple[float, float]:
    cur = peak = 0.0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return cur, peak


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def _pct(sorted_vals: list[float], p: float) -> float:
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def _stub_ari(ari: Any) -> None:
    """No Asterisk: every REST call is an instant no-op; the websocket is never started."""
    async def none(*a: Any, **k: Any) -> None:
        return None

    async def empty(*a: Any, **k: Any) -> list[Any]:
        return []
    for name in ("info", "get_channel", "answer", "hangup", "originate", "create_bridge",
                 "destroy_bridge", "add_channel", "start_moh", "stop_moh"):
        setattr(ari, name, none)
    for name in ("request", "channels", "bridges"):
        setattr(ari, name, empty)
    ari.start = lambda: None


def _event(kind: str, channel_id: str, caller: str) -> dict[str, Any]:
    ch = {"id": channel_id, "name": f"PJSIP/trunk-{channel_id}", "state": "Ring",
          "caller": {"number": caller, "name": ""},
          "dialplan": {"context": "cc-inbound", "exten": DID, "priority": 1}}
    if kind == "StasisStart":
        return {"type": "StasisStart", "application": "cc-console", "args": ["inbound", DID], "channel": ch}
    return {"type": "ChannelDestroyed", "application": "cc-console", "cause": 16, "cause_txt": "Normal Clearing",
            "channel": {**ch, "state": "Up"}}


def _plan(args: argparse.Namespace) -> list[tuple[float, str, str, str]]:
    """The timeline: call i starts at i*interval, its ChannelDestroyed half an interval later."""
    n_warm = int(round(args.warmup * args.rate))
    n_meas = int(round(args.seconds * args.rate)) if args.events is None else args.events
    interval = 1.0 / args.rate
    plan: list[tuple[float, str, str, str]] = []
    for i in range(n_warm + n_meas):
        caller = (WARMUP_PREFIX if i < n_warm else MEASURED_PREFIX) + f"{i:07d}"
        cid = f"bench-{os.getpid()}-{i}"
        plan.append((i * interval, "StasisStart", cid, caller))
        plan.append(((i + 0.5) * interval, "ChannelDestroyed", cid, caller))
    plan.sort(key=lambda p: p[0])
    return plan


async def _drive(args: argparse.Namespace, url: str, plan: list[tuple[float, str, str, str]],
                 inject: Callable[[int, str, str], Awaitable[None]], sessions: Callable[[], list[Any]],
                 sent_out: dict[str, float], profile: str = "") -> dict[str, Any]:
    """Connect the consoles (a child process), play the timeline through `inject`, collect receipts.

    An event's time is when the plan says it arrives, not when the driver got round to it: if the
    server falls behind, the events wait as they would in the ARI socket, and that wait counts."""
    out_file = Path(tempfile.mkdtemp(prefix="cc-bench-")) / "client-results.json"
    child = await asyncio.create_subprocess_exec(
        sys.executable, os.path.abspath(__file__), "--client-worker", "--url", url,
        "--clients", str(args.clients), "--user", USERNAME, "--password", PASSWORD,
        "--out", str(out_file), "--compression", args.compression, "--timeout", str(args.timeout),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert child.stdin and child.stdout
    try:
        t_conn = time.monotonic()
        line = await asyncio.wait_for(child.stdout.readline(), args.timeout + 5)
        if not line.startswith(b"READY"):
            raise RuntimeError(f"client process failed to get ready (exit {await child.wait()})")
        t_ready = time.monotonic()
        if len(sessions()) != args.clients:
            raise RuntimeError(f"server sees {len(sessions())} consoles, expected {args.clients}")

        # Sampled every 50 ms: bytes waiting in the consoles' socket buffers, and event-loop lag.
        samples: dict[str, float] = {"queued": 0, "lag": 0.0}

        async def sampler() -> None:
            while True:
                t = time.monotonic()
                await asyncio.sleep(0.05)
                samples["lag"] = max(samples["lag"], time.monotonic() - t - 0.05)
                q = sum(tr.get_write_buffer_size() for tr in sessions() if tr is not None)
                samples["queued"] = max(samples["queued"], q)
        sampling = asyncio.create_task(sampler())
        profiler = None
        injected: dict[str, float] = {}
        on_event_ms: list[float] = []  # time inside inject (StasisStart)
        cpu0 = wall0 = 0.0
        t0 = time.monotonic() + 0.05
        for i, (at, kind, _cid, caller) in enumerate(plan):
            due = t0 + at
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            measured = caller.startswith(MEASURED_PREFIX)
            if measured and not injected and kind == "StasisStart":
                cpu0, wall0 = _cpu(), time.monotonic()
                if profile:
                    # CPU time, not wall time: on a shared machine wall time is mostly other people's work.
                    profiler = cProfile.Profile(time.process_time)
                    profiler.enable()
            t = time.monotonic()
            await inject(i, kind, caller)
            if measured and kind == "StasisStart":
                injected[caller] = due
                on_event_ms.append((time.monotonic() - t) * 1000)
        await asyncio.sleep(1.0 / args.rate)  # the last event's fan-out, within the measured window
        cpu1, wall1 = _cpu(), time.monotonic()
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        rss, rss_peak = _rss_mib()
        sampling.cancel()
        sessions_left = len(sessions())
        child.stdin.write(f"DONE {len(injected) * args.clients} {args.drain}\n".encode())
        await child.stdin.drain()
        line = await asyncio.wait_for(child.stdout.readline(), args.drain + 60)
        if not line.startswith(b"RESULTS"):
            raise RuntimeError(f"client process failed (exit {await child.wait()})")
        res = json.loads(out_file.read_text())
    finally:
        if child.returncode is None:
            try:
                await asyncio.wait_for(child.wait(), 15)
            except TimeoutError:
                child.kill()
                await child.wait()
        if out_file.exists():
            out_file.unlink()
        out_file.parent.rmdir()
    lat = sorted((t_out - t_in) * 1000 for caller, t_in in injected.items() for t_out in res["recv"].get(caller, ()))
    out = sorted((sent_out[c] - t) * 1000 for c, t in injected.items() if c in sent_out)
    window = wall1 - wall0
    return {"connect_s": t_ready - t_conn, "events": len(injected), "expected": len(injected) * args.clients,
            "received": len(lat), "dups": res["dups"],
            "disconnects": res["disconnects"] + args.clients - sessions_left, "out": out, "lat": lat,
            "on_event_ms": sorted(on_event_ms), "queued": samples["queued"], "lag": samples["lag"],
            "rss": rss, "rss_peak": rss_peak, "cpu": 100 * (cpu1 - cpu0) / window if window else 0.0,
            "cpu_per_call": 1000 * (cpu1 - cpu0) / max(1, len(injected)),
            "client_cpu": 100 * res["cpu"] / (time.monotonic() - t_ready)}


async def _run_ours(args: argparse.Namespace, plan: list[tuple[float, str, str, str]],
                    frames: list[list[bytes]]) -> dict[str, Any]:
    """cc-console's server. Records, per timeline step, the event tails it published (the floor
    sends the same ones)."""
    from cc_console import heap
    from cc_console.config import QueueSettings, Settings, load_settings
    from cc_console.server.app import Server
    from cc_console.server.ari import AriEvent
    from cc_console.server.auth import Auth
    from cc_console.server.store import SQLiteStore

    tmp = tempfile.TemporaryDirectory(prefix="cc-bench-")
    tdir = Path(tmp.name)
    db = tdir / "cc.sqlite3"
    store = SQLiteStore(db)
    Auth(store).add_user(USERNAME, PASSWORD, "supervisor", name="Bench Supervisor", device="PJSIP/1999",
                         queues=["support"])
    store.close()
    base = load_settings(tdir / "none.toml")
    settings = Settings(pbx=base.pbx, server=base.server,
                        queues=[QueueSettings(name="support", dids=[DID], service_level=20.0)])
    settings.server.host = "127.0.0.1"
    settings.server.port = 0
    settings.server.db_path = str(db)
    settings.server.tls_cert = ""
    server = Server(settings)
    _stub_ari(server.ari)
    await server.start()
    await server.engine.resync()  # against the stubs: ARI "up", nothing to reconcile
    if not args.no_settle:
        heap.settle()  # as `cc-console serve` does once the server has started
    engine = server.engine
    try:
        # Build the events up front: the timed path starts at engine.on_event.
        events = [AriEvent.from_json(_event(kind, cid, caller)) for _at, kind, cid, caller in plan]
        sent_out: dict[str, float] = {}
        publish = server.gateway.publish
        step = [0]

        def timed_publish(event: str, data: dict[str, Any], audience: str | None) -> None:
            publish(event, data, audience)
            caller = data.get("caller", "")
            if event == "call.update" and caller not in sent_out:
                # Frame out: the gateway writes a tick's frames at its end (a callback scheduled by
                # the first frame, so before this one): stamp after that write.
                sent_out[caller] = float("nan")  # only the call's first update is stamped
                asyncio.get_running_loop().call_soon(lambda: sent_out.__setitem__(caller, time.monotonic()))
            frames[step[0]].append((',"event":' + json.dumps(event) + ',"data":'
                                    + json.dumps(data, separators=(",", ":"), default=str) + "}").encode())
        server.gateway.publish = timed_publish
        engine.publish = timed_publish

        # The fixed cost: CPU per call with no console connected (engine, store, serialising
        # each frame once), what every call costs whatever the number of consoles.
        fixed = [AriEvent.from_json(_event(kind, f"fixed-{i}", f"7{i:07d}"))
                 for i in range(args.fixed_calls) for kind in ("StasisStart", "ChannelDestroyed")]
        engine.publish = publish
        fixed_profile = cProfile.Profile(time.process_time) if args.profile_fixed else None
        c0 = time.process_time()
        if fixed_profile is not None:
            fixed_profile.enable()
        for ev in fixed:
            await engine.on_event(ev)
            await asyncio.sleep(0)  # the outbox flush, as between two ARI events
        engine.flush_queue_stats()
        # The recordings' rows are written in a thread now (server/recordings/writes.py): their
        # CPU is the calls' too, so the phase ends when they are in.
        writes = getattr(server.capabilities.get("recordings"), "service", None)
        if writes is not None and hasattr(writes, "writes"):
            await writes.writes.drain()
        if fixed_profile is not None:
            fixed_profile.disable()
            fixed_profile.dump_stats(args.profile_fixed)
        fixed_cpu = (time.process_time() - c0) * 1000 / max(1, args.fixed_calls)
        engine.publish = timed_publish

        async def inject(i: int, kind: str, caller: str) -> None:
            step[0] = i
            await engine.on_event(events[i])
        r = await _drive(args, server.url, plan, inject,
                         lambda: [s.transport for s in server.gateway.sessions], sent_out, args.profile)
        await engine.idle()
        r["fixed_cpu_per_call"] = fixed_cpu
        return r
    finally:
        try:
            await asyncio.wait_for(server.stop(), 30)
        finally:
            tmp.cleanup()


async def _run_floor(args: argparse.Namespace, plan: list[tuple[float, str, str, str]],
                     frames: list[list[bytes]]) -> dict[str, Any]:
    """The floor: a minimal aiohttp websocket broadcast of the frames our server published, to the
    same number of consoles, on the same timeline. No engine, no store, no per-console sequence
    or audience check: what fan-out costs in Python on this machine with nothing else to do."""
    from aiohttp import web

    from cc_console.protocol import PROTOCOL_VERSION, encode, ok

    clients: list[web.WebSocketResponse] = []
    transports: dict[web.WebSocketResponse, Any] = {}

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        msg = await ws.receive()
        await ws.send_str(encode(ok(json.loads(msg.data)["id"], {"token": "floor"})))
        await ws.send_str(encode({"type": "snapshot", "seq": 1, "data": {}}))
        clients.append(ws)
        transports[ws] = request.transport
        async for _ in ws:
            pass
        clients.remove(ws)
        transports.pop(ws, None)
        return ws

    app = web.Application()
    app.router.add_get("/ws", ws_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    head = f'{{"v":{PROTOCOL_VERSION},"type":"event","seq":'
    sent_out: dict[str, float] = {}
    seq = [1]
    texts = [[tail.decode() for tail in step] for step in frames]

    async def inject(i: int, kind: str, caller: str) -> None:
        for tail in texts[i]:
            seq[0] += 1
            frame = head + str(seq[0]) + tail
            for ws in clients:
                await ws.send_str(frame)
            if kind == "StasisStart" and '"event":"call.update"' in tail and caller not in sent_out:
                sent_out[caller] = time.monotonic()
    try:
        return await _drive(args, f"ws://127.0.0.1:{port}/ws", plan, inject,
                            lambda: [transports.get(ws) for ws in clients], sent_out)
    finally:
        await runner.cleanup()


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b and b == b and a == a else "nan"


async def _run(args: argparse.Namespace) -> int:
    plan = _plan(args)
    frames: list[list[bytes]] = [[] for _ in plan]
    ours = await _run_ours(args, plan, frames)
    floor = await _run_floor(args, plan, frames) if args.floor else None
    figures = [
        ("clients", f"{args.clients}"),
        ("compression", args.compression),
        ("connect_s", f"{ours['connect_s']:.2f}"),
        ("events", f"{ours['events']}"),
        ("rate", f"{args.rate:g}/s"),
        ("expected_frames", f"{ours['expected']}"),
        ("frames", f"{ours['received']}"),
        ("lost_frames", f"{ours['expected'] - ours['received']}"),
        ("duplicate_frames", f"{ours['dups']}"),
        ("disconnects", f"{ours['disconnects']}"),
        # Event due -> its call.update frame written to all N consoles' sockets (the fan-out).
        ("out_p50", f"{_pct(ours['out'], 50):.2f} ms"),
        ("out_p90", f"{_pct(ours['out'], 90):.2f} ms"),
        ("out_p99", f"{_pct(ours['out'], 99):.2f} ms"),
        ("out_max", f"{ours['out'][-1] if ours['out'] else float('nan'):.2f} ms"),
        # Event due -> frame read by each console in the client process (adds the kernel and the
        # one client process reading N sockets in turn, on the same two cores).
        ("p50", f"{_pct(ours['lat'], 50):.2f} ms"),
        ("p90", f"{_pct(ours['lat'], 90):.2f} ms"),
        ("max", f"{ours['lat'][-1] if ours['lat'] else float('nan'):.2f} ms"),
        ("on_event_p50", f"{_pct(ours['on_event_ms'], 50):.2f} ms"),
        ("on_event_max", f"{max(ours['on_event_ms'], default=float('nan')):.2f} ms"),
        ("socket_buffered_max", f"{ours['queued']:.0f} bytes"),
        ("loop_lag_max", f"{ours['lag'] * 1000:.1f} ms"),
        ("server_rss", f"{ours['rss']:.1f} MiB"),
        ("server_rss_peak", f"{ours['rss_peak']:.1f} MiB"),
        ("server_cpu", f"{ours['cpu']:.1f} %"),
        ("server_cpu_per_call", f"{ours['cpu_per_call']:.2f} ms"),
        ("fixed_cpu_per_call", f"{ours['fixed_cpu_per_call']:.2f} ms"),
        ("client_cpu", f"{ours['client_cpu']:.1f} %"),
    ]
    if floor is not None:
        figures += [
            ("floor_lost_frames", f"{floor['expected'] - floor['received']}"),
            ("floor_out_p99", f"{_pct(floor['out'], 99):.2f} ms"),
            ("floor_p50", f"{_pct(floor['lat'], 50):.2f} ms"),
            ("floor_p99", f"{_pct(floor['lat'], 99):.2f} ms"),
            ("floor_loop_lag_max", f"{floor['lag'] * 1000:.1f} ms"),
            ("floor_cpu_per_call", f"{floor['cpu_per_call']:.2f} ms"),
            ("out_p99_ratio", _ratio(_pct(ours["out"], 99), _pct(floor["out"], 99))),
            ("p99_ratio", _ratio(_pct(ours["lat"], 99), _pct(floor["lat"], 99))),
            ("cpu_per_call_over_floor", f"{ours['cpu_per_call'] - floor['cpu_per_call']:.2f} ms"),
        ]
    # The headline, last: event due -> call.update read by the consoles, p99 over all of them.
    figures.append(("p99", f"{_pct(ours['lat'], 99):.2f} ms"))
    for k, v in figures:
        print(f"{k}: {v}", flush=True)
    return 0 if ours["expected"] == ours["received"] else 2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=500)
    ap.add_argument("--rate", type=float, default=20.0, help="injected calls per second")
    ap.add_argument("--seconds", type=float, default=10.0, help="measured phase length")
    ap.add_argument("--events", type=int, default=None, help="measured calls (overrides --seconds)")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured calls first")
    ap.add_argument("--fixed-calls", type=int, default=300, help="calls with no console, for the fixed cost")
    ap.add_argument("--drain", type=float, default=30.0, help="at most this long to wait for late frames")
    ap.add_argument("--compression", choices=("deflate", "none"), default="deflate",
                    help="consoles' permessage-deflate offer (ConsoleClient's default is deflate)")
    ap.add_argument("--timeout", type=float, default=120.0, help="limit on connecting the consoles")
    ap.add_argument("--profile", default="", help="write a cProfile of our server's measured phase here")
    ap.add_argument("--profile-fixed", default="", help="write a cProfile (CPU time) of the fixed phase here")
    ap.add_argument("--no-settle", action="store_true",
                    help="leave the server's heap unfrozen after start-up (as before cc_console/heap.py)")
    ap.add_argument("--no-floor", dest="floor", action="store_false",
                    help="skip the floor (a minimal aiohttp broadcast of the same frames)")
    # internal: the consoles' process
    ap.add_argument("--client-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--user", help=argparse.SUPPRESS)
    ap.add_argument("--password", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.client_worker:
        asyncio.run(_client_worker(args))
        return 0
    import logging
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
