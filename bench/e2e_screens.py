"""Event to screen, end to end: the server publishes, the real supervisor and wallboard apps show it.

    python bench/e2e_screens.py [--agents 100] [--agent-rate 40] [--call-rate 10] [--seconds 10]

The server runs in this process: a real `Server` (aiohttp gateway, SQLite store in a temp dir, real
CallEngine) whose ARI is stubbed as in bench/fanout.py. The driver works through the engine, as
consoles and Asterisk would: agents are logged into queue `support` and moved between ready and
paused (`agent_ready` / `agent_pause`, --agent-rate a second); callers ring queue `sales`, where
no agent works, and hang up while queued (--call-rate a second), so its abandoned count climbs.

Each screen is the real Textual app (`CCConsoleApp`, logged in over the websocket like a user) in
its own process, headless (App.run_test), so the server's event loop and each app's loop are
separate as in production. The two processes share the machine's two cores with the server.

Measured, from the moment the gateway publishes an event (time.monotonic(), CLOCK_MONOTONIC, the
same clock in every process on Linux) to the first frame the app composes after the widget holds
the new value (App._display, where a terminal frame is written; headless it writes nothing, so
the bench renders the frame's segments there as a terminal would get them, then stamps):

* supervisor: an agent.state event -> the agents table (#agents) shows the agent's new state;
* wallboard: a queue.stats event with a new abandoned count -> the abandoned tile (#tile-abandoned)
  shows it (or a later count: an update superseded before it was painted counts until then).

Queue figures are coalesced by the server before they are published (at most one push per queue
per 0.05-0.25 s, server/calls/pacing.py); that wait is before the publish and is not part of these
figures (it is in ``wallboard_created_to_shown``, the wallboard's target: under 250 ms p99).
``--profile-dir DIR`` writes a cProfile of each app's measured phase.

Where the time goes: each update is stamped at every hop, and each hop's p50/p99 is printed:
created (the driver's change took effect in the engine) -> published (handed to the gateway) ->
written (the gateway's end-of-tick write) -> arrived (websockets read it off the app's socket) ->
read (the client's read loop decoded it) -> client (applied, listeners told) -> screen (the
screen's state_changed) -> held (the table or tile holds the value) -> shown; also each process's
garbage collections and event-loop lag (a 10 ms timer), and ``supervisor_p99_in_view`` (updates
to rows on screen at the time, to their painted frame). The server and the apps settle their
heaps after start-up as ``cc-console`` does (cc_console/heap.py); ``--no-settle`` leaves them as
before. One figure per line; the headline ``p99: <value> ms`` (the worse of the two screens) is
last. Target: p99 < 250 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import gc
import json
import math
import os
import random
import resource
import sys
import tempfile
import time
from collections import deque
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fanout as fb  # noqa: E402  (the ARI stubs and event shapes)

SUPERVISOR = ("benchsup", "supervisor")
WALLBOARD = ("benchwall", "wallboard")
PASSWORD = "bench-secret-pass"


def _cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


# =================================================================================================
# screen side (child process): one app
# =================================================================================================
async def _screen_worker(args: argparse.Namespace) -> None:
    from textual.app import App
    from textual.geometry import Size
    from textual.widgets.data_table import RowKey

    from cc_console.tui import CCConsoleApp
    from cc_console.widgets.diff_table import DiffTable
    from cc_console.widgets.fmt import state_label

    kind = args.screen_worker
    # The hops of one update in this process, each key -> when it passed (time.monotonic()):
    # arrived (the bytes were read off the socket: websockets' data_received put the frame in its
    # queue), read (the client's read loop decoded it), recv (the client applied it to its state
    # and told its listeners), screen (the screen's state_changed had it), held (the widget holds
    # the new value), shown (the first frame composed after that).
    hops: dict[str, dict[str, float]] = {h: {} for h in ("arrived", "read", "screen", "held")}
    shown: dict[str, float] = {}  # key -> first frame showing it (or something later)
    pending: dict[str, list[tuple[str, str]]] = {}  # supervisor: agent -> [(key, label)] not yet shown
    held_rows: dict[str, int] = {}  # supervisor: agent -> how many of its pending updates the table holds
    seen_abandoned = [-1]
    probe_on = [False]

    def on_frame(app: CCConsoleApp, now: float) -> None:
        if not probe_on[0]:
            return
        screen = app.screen
        if kind == "supervisor":
            # The rows the table took since the last frame (see held): this frame shows them.
            for aid, n in held_rows.items():
                items = pending.get(aid)
                if items is None:
                    continue
                for key, _label in items[:n]:
                    shown.setdefault(key, now)
                del items[:n]
                if not items:
                    del pending[aid]
            held_rows.clear()
        else:
            try:
                value = int(screen.query_one("#tile-abandoned").value)
            except Exception:
                return
            for n in range(seen_abandoned[0] + 1, value + 1):
                shown.setdefault(str(n), now)
            seen_abandoned[0] = max(seen_abandoned[0], value)

    from websockets.asyncio.messages import Assembler

    from cc_console.client import ConsoleClient
    from cc_console.screens.supervisor import SupervisorScreen
    from cc_console.screens.wallboard import WallboardScreen
    from cc_console.widgets.agents_table import AgentsTable
    from cc_console.widgets.tile import Tile

    in_view: list[str] = []  # supervisor: updates whose row was on screen when the table took them
    arrivals: deque[float] = deque()  # one per data frame websockets queued, read in order
    frame_times = [math.nan, math.nan]  # (arrived, read) of the frame the client is handling
    orig_put = Assembler.put

    def put(self: Any, frame: Any) -> None:
        orig_put(self, frame)
        if frame.fin:
            arrivals.append(time.monotonic())
    Assembler.put = put  # type: ignore[method-assign]

    orig_handle = ConsoleClient._handle

    def _handle(self: Any, frame: dict[str, Any]) -> None:
        frame_times[0] = arrivals.popleft() if arrivals else math.nan
        frame_times[1] = time.monotonic()
        orig_handle(self, frame)
    ConsoleClient._handle = _handle  # type: ignore[method-assign]

    def key_of(event: str, data: dict[str, Any]) -> str | None:
        if kind == "supervisor" and event == "agent.state":
            return f"{data['id']}@{data['state_since']!r}"
        if kind == "wallboard" and event == "queue.stats" and data.get("name") == "sales":
            return str(data["abandoned"])
        return None

    screen_cls: Any = SupervisorScreen if kind == "supervisor" else WallboardScreen
    orig_changed = screen_cls.state_changed

    def state_changed(self: Any, event: str, data: dict[str, Any]) -> None:
        if probe_on[0] and (key := key_of(event, data)) is not None:
            hops["screen"].setdefault(key, time.monotonic())
        orig_changed(self, event, data)
    screen_cls.state_changed = state_changed

    if kind == "supervisor":
        orig_sync, orig_sync_rows = AgentsTable.sync, AgentsTable.sync_rows

        def sync(self: Any, rows: Any, order: Any = None) -> None:
            orig_sync(self, rows, order)
            held(self, None)

        def sync_rows(self: Any, rows: Any) -> None:
            orig_sync_rows(self, rows)
            held(self, rows.keys())

        def held(self: Any, keys: Any) -> None:
            # Only the rows this sync passed (all of them for a full sync), and the state column
            # only: the probe walking every pending agent's cells at each sync and frame cost the
            # app more than its own refresh (it is in the app's CPU figure).
            if not probe_on[0] or self.id != "agents":
                return
            now = time.monotonic()
            view = self.visible_row_range
            locations = self._row_locations
            for aid in (list(pending) if keys is None else [k for k in keys if k in pending]):
                items = pending[aid]
                cells = self.cells(aid)
                if cells is None or str(getattr(cells[2], "plain", cells[2])) != items[-1][1]:
                    continue
                index = locations.get(RowKey(aid))
                visible = index is not None and index in view
                for key, _label in items:
                    if hops["held"].setdefault(key, now) == now and visible:
                        in_view.append(key)
                held_rows[aid] = len(items)
        AgentsTable.sync = sync  # type: ignore[method-assign]
        AgentsTable.sync_rows = sync_rows  # type: ignore[method-assign]
    else:
        orig_show = Tile.show

        held_abandoned = [-1]

        def show(self: Any, value: str, level: str = "") -> None:
            orig_show(self, value, level)
            if probe_on[0] and self.id == "tile-abandoned" and int(value) > held_abandoned[0]:
                now = time.monotonic()
                for n in range(max(held_abandoned[0], seen_abandoned[0]) + 1, int(value) + 1):
                    hops["held"].setdefault(str(n), now)
                held_abandoned[0] = int(value)
        Tile.show = show  # type: ignore[method-assign]

    # The app's own stalls: garbage collections (each one's pause) and the loop's lateness (a 10
    # ms timer; how late it ran is how long something held the loop).
    gc_ms: list[float] = []
    gc_gen: list[int] = []
    gc_start = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_start[0] = time.perf_counter()
        elif probe_on[0]:
            gc_ms.append((time.perf_counter() - gc_start[0]) * 1000)
            gc_gen.append(info["generation"])
    gc.callbacks.append(on_gc)
    lag_ms: list[float] = []

    async def lag_probe() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.01)
            if probe_on[0]:
                lag_ms.append((time.monotonic() - t - 0.01) * 1000)

    orig_display = App._display

    def _display(self: App, screen: Any, renderable: Any) -> None:
        orig_display(self, screen, renderable)
        if renderable is None or self._batch_count or not probe_on[0]:
            return
        render = getattr(renderable, "render_segments", None)
        if render is not None:
            render(self.console)  # what a terminal would be sent; headless drops it
        on_frame(self, time.monotonic())  # type: ignore[arg-type]
    App._display = _display  # type: ignore[method-assign]

    recv: dict[str, float] = {}  # key -> when the app's client had the event (before the screen)

    def listener(event: str, data: dict[str, Any]) -> None:
        if not probe_on[0] or (key := key_of(event, data)) is None:
            return
        recv.setdefault(key, time.monotonic())
        hops["arrived"].setdefault(key, frame_times[0])
        hops["read"].setdefault(key, frame_times[1])
        if kind == "supervisor":
            pending.setdefault(data["id"], []).append((key, state_label(data["state"])))

    # settle_heap as the cc-console command runs it (--no-settle: as it ran before, for before/after).
    app = CCConsoleApp(url=args.url, mode=kind, username=args.user, password=PASSWORD, keymap={},
                       settle_heap=not args.no_settle)
    loop = asyncio.get_running_loop()
    size = (200, 60) if kind == "supervisor" else (120, 40)
    async with app.run_test(size=size, headless=True) as pilot:
        deadline = time.monotonic() + args.timeout
        while True:
            client = getattr(app, "client", None)
            ready = False
            if client is not None and app.screen.__class__.__name__.lower().startswith(kind):
                try:
                    if kind == "supervisor":
                        ready = app.screen.query_one("#agents", DiffTable).row_count >= args.agents
                    else:
                        ready = "sales" in client.state.queues and bool(app.screen.query_one("#tile-abandoned"))
                except Exception:
                    ready = False
            if ready and (args.no_settle or gc.get_freeze_count() > 0):  # settled, as a console soon is
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{kind} screen not ready in {args.timeout} s")
            await pilot.pause(0.05)
        app.client.add_listener(listener)
        lagging = asyncio.create_task(lag_probe())
        if kind == "wallboard":
            seen_abandoned[0] = int(app.screen.query_one("#tile-abandoned").value)
        probe_on[0] = True
        assert Size(*size) == app.size
        profiler = None
        if args.profile_dir:  # the measured phase only, the app's own CPU time
            import cProfile
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
        cpu0, w0 = _cpu(), time.monotonic()
        print("READY", flush=True)
        # "DONE <what the driver published: agent updates or the last abandoned count> <drain s>"
        _, expected, drain = (await loop.run_in_executor(None, sys.stdin.readline)).split()
        cpu, wall = _cpu() - cpu0, time.monotonic() - w0
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(str(Path(args.profile_dir) / f"{kind}.prof"))
        lagging.cancel()
        until = time.monotonic() + float(drain)
        while time.monotonic() < until and (
                (kind == "supervisor" and (pending or len(shown) < int(expected)))
                or (kind == "wallboard" and seen_abandoned[0] < int(expected))):
            await pilot.pause(0.05)  # late paints: a slow screen is measured, not cut off
        Path(args.out).write_text(json.dumps({"shown": shown, "recv": recv, **hops,
                                              "cpu": 100 * cpu / wall if wall else 0.0,
                                              "gc_ms": gc_ms, "gc_gen": gc_gen, "in_view": in_view, "lag_ms": lag_ms,
                                              "unshown": sum(len(v) for v in pending.values())}))
        await app.client.close()
        print("RESULTS", flush=True)


# =================================================================================================
# server side (this process)
# =================================================================================================
async def _run(args: argparse.Namespace) -> int:
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
    auth = Auth(store)
    auth.add_user(SUPERVISOR[0], PASSWORD, "supervisor", name="Bench Supervisor", queues=["support"])
    auth.add_user(WALLBOARD[0], PASSWORD, "wallboard", name="Bench Wallboard")
    agents = [f"ag{i:03d}" for i in range(args.agents)]
    # Agents never log in over a socket here: one argon2 hash serves them all (it is slow on purpose).
    pw_hash = store.get_user(SUPERVISOR[0])["password_hash"]
    for a in agents:
        store.add_user({"username": a, "name": f"Agent {a[2:]}", "role": "agent", "password_hash": pw_hash,
                        "device": f"PJSIP/{2000 + int(a[2:])}", "answer_mode": "console",
                        "queues": ["support"], "created": time.time()})
    store.close()
    base = load_settings(tdir / "none.toml")
    settings = Settings(pbx=base.pbx, server=base.server,
                        queues=[QueueSettings(name="support", dids=["5000"], service_level=20.0),
                                QueueSettings(name="sales", dids=["5001"], service_level=20.0)])
    settings.server.host = "127.0.0.1"
    settings.server.port = 0
    settings.server.db_path = str(db)
    settings.server.tls_cert = ""
    server = Server(settings)
    fb._stub_ari(server.ari)
    await server.start()
    await server.engine.resync()
    engine = server.engine
    for a in agents:
        engine.agent_login(a, ["support"], by_self=False)
        engine.agent_ready(a)
    if not args.no_settle:
        heap.settle()  # as `cc-console serve` does once the server has started

    # The server's hops, each key -> when: created (the driver's change took effect in the engine),
    # published (handed to the gateway), written (the gateway's end-of-tick write to the sockets).
    created: dict[str, dict[str, float]] = {"supervisor": {}, "wallboard": {}}
    published: dict[str, dict[str, float]] = {"supervisor": {}, "wallboard": {}}
    written: dict[str, dict[str, float]] = {"supervisor": {}, "wallboard": {}}
    unwritten: list[tuple[str, str]] = []
    baseline = [10**9]  # abandoned counts up to this are on the wallboard already
    publish = server.gateway.publish

    def timed_publish(event: str, data: dict[str, Any], audience: str | None) -> None:
        publish(event, data, audience)
        t = time.monotonic()
        if event == "agent.state":
            key = f"{data['id']}@{data['state_since']!r}"
            published["supervisor"].setdefault(key, t)
            unwritten.append(("supervisor", key))
        elif event == "queue.stats" and data.get("name") == "sales" and data["abandoned"] > baseline[0]:
            published["wallboard"].setdefault(str(data["abandoned"]), t)
            unwritten.append(("wallboard", str(data["abandoned"])))
    server.gateway.publish = timed_publish
    engine.publish = timed_publish
    flush_writes = server.gateway.flush_writes

    def timed_flush_writes() -> None:
        flush_writes()
        t = time.monotonic()
        for kind, key in unwritten:
            written[kind].setdefault(key, t)
        unwritten.clear()
    server.gateway.flush_writes = timed_flush_writes  # type: ignore[method-assign]

    env = dict(os.environ, CC_CONSOLE_CONFIG_DIR=str(tdir / "config"))
    children: dict[str, asyncio.subprocess.Process] = {}
    outs = {k: tdir / f"{k}.json" for k in ("supervisor", "wallboard")}
    rc = 1
    try:
        for kind, (user, _role) in (("supervisor", SUPERVISOR), ("wallboard", WALLBOARD)):
            children[kind] = await asyncio.create_subprocess_exec(
                sys.executable, os.path.abspath(__file__), "--screen-worker", kind, "--url", server.url,
                "--user", user, "--out", str(outs[kind]), "--agents", str(args.agents),
                "--timeout", str(args.timeout), *(["--no-settle"] if args.no_settle else []),
                *(["--profile-dir", os.path.abspath(args.profile_dir)] if args.profile_dir else []), env=env,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        for kind, child in children.items():
            assert child.stdout
            line = await asyncio.wait_for(child.stdout.readline(), args.timeout + 10)
            if not line.startswith(b"READY"):
                raise RuntimeError(f"{kind} app failed to get ready (exit {await child.wait()})")
        # Only what is published from now on is measured.
        for hop in (created, published, written):
            for v in hop.values():
                v.clear()
        baseline[0] = engine.counters["sales"].abandoned

        server_lag: list[float] = []
        server_gc: list[float] = []
        gc_start = [0.0]

        def on_gc(phase: str, info: dict[str, Any]) -> None:
            if phase == "start":
                gc_start[0] = time.perf_counter()
            else:
                server_gc.append((time.perf_counter() - gc_start[0]) * 1000)
        gc.callbacks.append(on_gc)

        async def lag_probe() -> None:
            while True:
                t = time.monotonic()
                await asyncio.sleep(0.01)
                server_lag.append((time.monotonic() - t - 0.01) * 1000)
        lagging = asyncio.create_task(lag_probe())
        rnd = random.Random(1)
        loop = asyncio.get_running_loop()
        cpu0, w0 = _cpu(), time.monotonic()
        start = loop.time()
        steps: list[tuple[float, str, int]] = []
        n_agent = int(args.seconds * args.agent_rate)
        n_call = int(args.seconds * args.call_rate)
        steps += [(i / args.agent_rate, "agent", i) for i in range(n_agent)]
        steps += [(i / args.call_rate, "call", i) for i in range(n_call)]
        steps += [(i / args.call_rate + 0.3, "hangup", i) for i in range(n_call)]
        steps.sort()
        for at, what, i in steps:
            delay = start + at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if what == "agent":
                a = engine.agents[rnd.choice(agents)]
                if a.state.value == "ready":
                    engine.agent_pause(a.id)
                else:
                    engine.agent_ready(a.id)
                a = engine.agents[a.id]
                created["supervisor"].setdefault(f"{a.id}@{a.state_since!r}", time.monotonic())
            else:
                ev = fb._event("StasisStart" if what == "call" else "ChannelDestroyed", f"e2e-{i}", f"7{i:06d}")
                if what == "call":
                    ev["args"] = ["inbound", "5001"]
                    ev["channel"]["dialplan"]["exten"] = "5001"
                before = engine.counters["sales"].abandoned
                await engine.on_event(AriEvent.from_json(ev))
                for n in range(before + 1, engine.counters["sales"].abandoned + 1):
                    created["wallboard"].setdefault(str(n), time.monotonic())
        engine.flush_queue_stats()  # the last queue figures now, not a stats interval later
        await asyncio.sleep(0)
        server_cpu = 100 * (_cpu() - cpu0) / (time.monotonic() - w0)
        lagging.cancel()
        gc.callbacks.remove(on_gc)

        results: dict[str, Any] = {}
        for kind, child in children.items():
            assert child.stdin and child.stdout
            pub = published[kind]
            expected = len(pub) if kind == "supervisor" else max((int(k) for k in pub), default=0)
            child.stdin.write(f"DONE {expected} {args.drain}\n".encode())
            await child.stdin.drain()
            line = await asyncio.wait_for(child.stdout.readline(), 60)
            if not line.startswith(b"RESULTS"):
                raise RuntimeError(f"{kind} app failed (exit {await child.wait()})")
            results[kind] = json.loads(outs[kind].read_text())

        figures: list[tuple[str, str]] = [("agents", str(args.agents)),
                                          ("agent_events", str(len(published["supervisor"]))),
                                          ("queue_events", str(len(published["wallboard"])))]
        worst = 0.0
        for kind in ("supervisor", "wallboard"):
            pub, shown = published[kind], results[kind]["shown"]
            lat = sorted((shown[k] - t) * 1000 for k, t in pub.items() if k in shown)
            worst = max(worst, fb._pct(lat, 99))
            res = results[kind]
            figures += [
                (f"{kind}_measured", f"{len(lat)} of {len(pub)}"),
                (f"{kind}_p50", f"{fb._pct(lat, 50):.1f} ms"),
                (f"{kind}_p90", f"{fb._pct(lat, 90):.1f} ms"),
                (f"{kind}_p99", f"{fb._pct(lat, 99):.1f} ms"),
                (f"{kind}_max", f"{lat[-1] if lat else float('nan'):.1f} ms"),
            ]
            if kind == "supervisor":
                # Most updates are to rows out of view, whose "shown" is the next frame painted for
                # anything else; these are the rows someone is looking at.
                seen = sorted((shown[k] - pub[k]) * 1000 for k in res["in_view"] if k in shown and k in pub)
                figures.append(("supervisor_p99_in_view", f"{fb._pct(seen, 99):.1f} ms ({len(seen)})"))
            # Where the time goes: each hop's p50 / p99 over the updates that passed both ends.
            stamps = {"created": created[kind], "published": pub, "written": written[kind],
                      "arrived": res["arrived"], "read": res["read"], "client": res["recv"],
                      "screen": res["screen"], "held": res["held"], "shown": shown}
            names = list(stamps)
            for a, b in [*zip(names, names[1:]), ("created", "shown")]:
                d = sorted((stamps[b][k] - t) * 1000 for k, t in stamps[a].items()
                           if k in stamps[b] and t == t and stamps[b][k] == stamps[b][k])
                figures.append((f"{kind}_{a}_to_{b}", f"p50 {fb._pct(d, 50):.1f} ms, p99 {fb._pct(d, 99):.1f} ms"
                                                    f" ({len(d)})"))
            gcs, lags = sorted(res["gc_ms"]), sorted(res["lag_ms"])
            full = [ms for ms, g in zip(res["gc_ms"], res["gc_gen"], strict=True) if g == 2]
            figures += [
                (f"{kind}_gc", f"{len(gcs)} collections, {sum(gcs):.0f} ms, max {gcs[-1] if gcs else 0:.1f} ms; "
                               f"{len(full)} full, max {max(full, default=0):.1f} ms"),
                (f"{kind}_loop_lag", f"p50 {fb._pct(lags, 50):.1f} ms, p99 {fb._pct(lags, 99):.1f} ms, "
                                     f"max {lags[-1] if lags else float('nan'):.1f} ms"),
                (f"{kind}_cpu", f"{res['cpu']:.1f} % of one core"),
            ]
            if len(lat) < len(pub):
                worst = float("nan")
        figures.append(("server_cpu", f"{server_cpu:.1f} % of one core"))
        server_lag.sort()
        figures.append(("server_gc", f"{len(server_gc)} collections, {sum(server_gc):.0f} ms, "
                                     f"max {max(server_gc, default=0):.1f} ms"))
        figures.append(("server_loop_lag", f"p50 {fb._pct(server_lag, 50):.1f} ms, p99 {fb._pct(server_lag, 99):.1f}"
                                           f" ms, max {server_lag[-1] if server_lag else float('nan'):.1f} ms"))
        figures.append(("load_average", f"{os.getloadavg()[0]:.1f}"))
        figures.append(("p99", f"{worst:.1f} ms"))
        for k, v in figures:
            print(f"{k}: {v}", flush=True)
        rc = 0 if worst == worst else 2
    finally:
        for child in children.values():
            if child.returncode is None:
                try:
                    await asyncio.wait_for(child.wait(), 15)
                except TimeoutError:
                    child.kill()
                    await child.wait()
        try:
            await asyncio.wait_for(server.stop(), 30)
        finally:
            tmp.cleanup()
    return rc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=100)
    ap.add_argument("--agent-rate", type=float, default=40.0, help="agent state changes a second")
    ap.add_argument("--call-rate", type=float, default=10.0, help="callers a second (each hangs up queued)")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=120.0, help="limit on an app getting ready")
    ap.add_argument("--drain", type=float, default=30.0, help="at most this long to wait for late paints")
    ap.add_argument("--no-settle", action="store_true",
                    help="leave the heaps of the server and the apps unfrozen (as before cc_console/heap.py)")
    ap.add_argument("--profile-dir", default="",
                    help="write a cProfile of each app's measured phase here (supervisor.prof, wallboard.prof)")
    ap.add_argument("--screen-worker", choices=("supervisor", "wallboard"), help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--user", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.screen_worker:
        asyncio.run(_screen_worker(args))
        return 0
    import logging
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
