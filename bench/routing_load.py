"""Sustained call load through the real server into the sandbox Asterisk: calls per second handled
with no lost event.

    python bench/routing_load.py [--agents 20] [--rates 2,5,10,20] [--seconds 15]
                                 [--rate R] [--talk 1] [--patience 20] [--ring-timeout 10]

Run it against a sandbox Asterisk (`cc-console pbx up`); the ARI address comes from
`load_settings()`, so CC_CONSOLE_ARI_PORT and friends select which sandbox.

What runs, all in this process, on loopback:
  * a real `Server` (aiohttp gateway, SQLite store and queue_log in a temp dir, real CallEngine, real
    ARI client) with a routing file: one queue `support` (DID 5000, wrap-up 0) and --agents agents;
  * the agents: users whose device is `Local/silence@cc-test-caller/n` with answer_mode "phone", so
    the server originates to the device as soon as it offers a call and the Local channel answers at
    once. Each agent is a bot on its own ConsoleClient: it logs in, `agent.login`, and on the
    `call.update` that shows its call connected it sends `call.hangup` after --talk seconds. With
    wrap-up 0 the engine makes it ready again; if the engine pauses it (no answer, device
    unreachable) the bot sends `agent.ready` after --unpause-delay (counted: `agent_unpauses`);
  * a supervisor ConsoleClient that watches every call, so each caller knows when it is answered;
  * the callers: Local/5000@cc-inbound/n originated over ARI (as tests/asterisk.py place_call does)
    at --rate calls per second for --seconds; a caller not answered within --patience seconds
    hangs up (an abandon).

Each step (one offered rate) ends when the server has no active call left (bounded by --drain);
then it is checked from the store's event log and the queue_log file, call by call (a call is
matched by its caller channel id, which is also the queue_log callid):
  * every placed call was seen once (exactly one call.entered) and ends with exactly one terminal
    event (call.completed / call.abandoned / call.ended);
  * a completed call has exactly one call.connected;
  * a queued call has exactly one ENTERQUEUE and exactly one terminal queue_log line
    (COMPLETECALLER / COMPLETEAGENT / ABANDON / EXIT*); a connected one exactly one CONNECT;
  * no channel of ours is left in Asterisk (GET /channels, compared with what was there before the
    bench started), no call left active in the server, every agent ready.
`lost_events` counts every call that breaks one of the call rules (0 on a clean step); the problems
are listed on stderr. Leftover channels, active calls and stuck agents are reported on their own.

Output: one figure per line (`name: value [unit]`). Each step prints its block, in order:
    rate_offered (R/s), calls, originate_errors, completed, abandoned, ended_other, lost_events,
    foreign_calls, leftover_channels, active_calls_left, stuck_agents, ring_no_answer,
    handled_per_s, answer_p50, answer_p99, answer_max (ms), asterisk_cpu and bench_process_cpu
    (CPU seconds used during the step by the sandbox Asterisk and by this process: server, bots
    and callers), loop_lag_max (ms, this process's event loop), step_seconds.
calls counts the originates Asterisk accepted plus those that timed out but still reached the
server (an overloaded Asterisk may answer an originate late); foreign_calls are calls the server
saw that the bench did not place. handled_per_s is completed calls divided by the step's wall time
from the first call's arrival at the server to the last call's end (the tail counts against it).
answer_p50/p99 are the server's enqueue-to-connect times (call.connected's `wait`), in ms.
After a step that is not clean the higher rates are skipped (`skipped_rates:`) unless
--keep-going: they would only load a struggling PBX further.
Last come the headline lines: `max_clean_rate: X calls/s` (the highest offered rate whose step
lost nothing, left nothing behind and had no stuck agent) and `p99: <value> ms` (answer p99 at that
rate; `p99: nan ms` when no step was clean). Exit status 0 when every step run was clean, else 1.

Everything is bounded in count and time and stops by itself; channels the bench made that are
still up at the end are hung up.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import tempfile
import textwrap
import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

log = logging.getLogger("routing_load")

PASSWORD = "bench-load-pass"
SUPERVISOR = "benchsup"
DID = "5000"
QUEUE = "support"
AGENT_DEVICE = "Local/silence@cc-test-caller/n"
TERMINAL_EVENTS = ("call.completed", "call.abandoned", "call.ended")
FORGET_AFTER = 120.0  # seconds an ended call's state is kept for the caller that placed it
QLOG_TERMINAL = ("COMPLETECALLER", "COMPLETEAGENT", "ABANDON", "EXITWITHTIMEOUT", "EXITEMPTY", "EXITWITHKEY")


def _pct(values: list[float], p: float) -> float:
    """Nearest-rank percentile; nan for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(p / 100 * len(s)) - 1))
    return s[k]


@dataclass
class Placed:
    outer: str  # the caller's half: hung up when the caller gives up
    inner: str  # the half our server sees (the call's `channel`, the queue_log callid)
    placed_at: float
    answered: bool = False
    abandoned_by_bench: bool = False


@dataclass
class StepResult:
    rate: float
    lines: list[tuple[str, Any, str]] = field(default_factory=list)
    clean: bool = False
    answer_ms: list[float] = field(default_factory=list)
    drained: bool = True


class Bots:
    """The agents (one ConsoleClient each) and the supervisor that watches every call."""

    def __init__(self, url: str, agents: list[str], talk: float, unpause_delay: float) -> None:
        self.url = url
        self.agent_ids = agents
        self.talk = talk
        self.unpause_delay = unpause_delay
        self.clients: dict[str, Any] = {}
        self.sup: Any = None
        self.hung: set[str] = set()  # call ids an agent has scheduled a hangup for
        self.hangup_errors: Counter[str] = Counter()
        self.unpauses = 0
        self.by_channel: dict[str, dict[str, Any]] = {}  # caller channel -> the call's last state
        self.waiters: dict[str, asyncio.Event] = {}  # caller channel -> set when answered or gone
        self.tasks: set[asyncio.Task[Any]] = set()
        # Ended calls are forgotten FORGET_AFTER seconds after their end (the caller that placed one
        # may read its state until then), so a long run holds only the calls of the last minutes.
        self.ended_calls = 0
        self._ended: deque[tuple[float, str]] = deque()  # (when, caller channel), oldest first

    def _spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def start(self) -> None:
        from cc_console.client import ConsoleClient
        self.sup = ConsoleClient(self.url, reconnect=False)
        await self.sup.connect()
        await self.sup.login(SUPERVISOR, PASSWORD)
        self.sup.add_listener(self._watch)
        for aid in self.agent_ids:
            c = ConsoleClient(self.url, reconnect=False)
            await c.connect()
            await c.login(aid, PASSWORD)
            c.add_listener(self._agent_listener(aid, c))
            await c.call("agent.login", {"queues": [QUEUE]})
            self.clients[aid] = c

    def _watch(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "call.update":
            ch = data.get("channel", "")
            self.by_channel[ch] = data
            if data.get("state") == "connected" and ch in self.waiters:
                self.waiters[ch].set()
        elif kind == "call.ended":
            ch = data.get("channel", "")
            # only what the caller reads, not the whole call
            self.by_channel[ch] = {"state": data.get("state"), "answered": data.get("answered"), "ended": True}
            if ch in self.waiters:
                self.waiters[ch].set()
            self.hung.discard(data.get("id", ""))
            self.ended_calls += 1
            now = time.monotonic()
            self._ended.append((now, ch))
            while self._ended and self._ended[0][0] < now - FORGET_AFTER:
                _, old = self._ended.popleft()
                if self.by_channel.get(old, {}).get("ended"):
                    del self.by_channel[old]
                self.waiters.pop(old, None)

    def done_with(self, channel: str) -> None:
        """The caller has read its call's outcome: an ended call's state is no longer needed."""
        self.waiters.pop(channel, None)
        if self.by_channel.get(channel, {}).get("ended"):
            del self.by_channel[channel]

    def _agent_listener(self, aid: str, client: Any):
        loop = asyncio.get_running_loop()

        def on(kind: str, data: dict[str, Any]) -> None:
            if kind == "call.update" and data.get("agent") == aid and data.get("state") == "connected":
                cid = data["id"]
                if cid not in self.hung:
                    self.hung.add(cid)
                    loop.call_later(self.talk, lambda: self._spawn(self._hangup(client, cid)))
            elif kind == "agent.state" and data.get("id") == aid and data.get("state") == "paused":
                # The engine paused this agent (no answer / device unreachable): carry on working
                # after a moment, as a person would (at once, a failing device would spin).
                self.unpauses += 1
                loop.call_later(self.unpause_delay, lambda: self._spawn(self._ready(client)))
        return on

    async def _hangup(self, client: Any, call_id: str) -> None:
        try:
            await client.call("call.hangup", {"call_id": call_id})
        except Exception as exc:  # the caller may have hung up first: not a server fault
            self.hangup_errors[type(exc).__name__ + ": " + str(exc)[:60]] += 1

    async def _ready(self, client: Any) -> None:
        try:
            await client.call("agent.ready")
        except Exception as exc:
            self.hangup_errors["agent.ready " + str(exc)[:60]] += 1

    async def close(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        for c in [*self.clients.values(), self.sup]:
            if c is not None:
                try:
                    await asyncio.wait_for(c.close(), 5)
                except Exception:
                    pass


class Callers:
    def __init__(self, http: httpx.AsyncClient, inbound_context: str, exten: str, tag: str) -> None:
        self.http = http
        self.ctx = inbound_context
        self.exten = exten
        self.tag = tag
        self.n = 0
        self.originate_errors: Counter[str] = Counter()
        # Originates that failed without an answer from Asterisk (a timeout): the call may exist.
        self.uncertain: list[Placed] = []

    async def place(self, caller: str) -> Placed | None:
        self.n += 1
        outer, inner = f"{self.tag}-{self.n};1", f"{self.tag}-{self.n};2"
        try:
            r = await self.http.post(f"/channels/{outer}", params={
                "endpoint": f"Local/{DID}@{self.ctx}/n", "context": "cc-test-caller", "extension": self.exten,
                "priority": 1, "callerId": f'"Bench" <{caller}>', "otherChannelId": inner, "timeout": 30})
            r.raise_for_status()
        except Exception as exc:
            self.originate_errors[f"{type(exc).__name__}: {str(exc)[:80]}"] += 1
            if not isinstance(exc, httpx.HTTPStatusError):
                self.uncertain.append(Placed(outer, inner, time.monotonic()))
            return None
        return Placed(outer, inner, time.monotonic())

    async def hangup(self, channel_id: str) -> None:
        """The caller gives up; a loaded Asterisk may drop the request, so it is tried again (a
        caller who "gave up" but stays on the line would wait in the queue for ever)."""
        for i in range(4):
            try:
                r = await self.http.delete(f"/channels/{channel_id}")
                if r.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.5 * (i + 1))


async def _get(http: httpx.AsyncClient, path: str, tries: int = 5) -> Any:
    """GET with a few retries: a loaded Asterisk drops or times out HTTP requests."""
    for i in range(tries):
        try:
            r = await http.get(path)
            r.raise_for_status()
            return r.json()
        except httpx.HTTPError:
            if i == tries - 1:
                raise
            await asyncio.sleep(0.5 * (i + 1))


async def _channels(http: httpx.AsyncClient) -> dict[str, str]:
    return {c["id"]: c.get("name", "") for c in await _get(http, "/channels")}


async def _bridges(http: httpx.AsyncClient) -> set[str]:
    return {b["id"] for b in await _get(http, "/bridges")}


async def _sweep(http: httpx.AsyncClient, preexisting: set[str]) -> tuple[int, int]:
    """Hang up every channel and destroy every bridge that was not there before the bench."""
    chans = [c for c in await _channels(http) if c not in preexisting]
    for c in chans:
        try:
            await http.delete(f"/channels/{c}")
        except httpx.HTTPError:
            pass
    bridges = [b for b in await _bridges(http) if b not in preexisting]
    for b in bridges:
        try:
            await http.delete(f"/bridges/{b}")
        except httpx.HTTPError:
            pass
    return len(chans), len(bridges)


def _cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process, in seconds (nan if unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except Exception:
        return math.nan


async def run_step(rate: float, seconds: float, args: argparse.Namespace, server: Any, bots: Bots,
                   callers: Callers, http: httpx.AsyncClient, preexisting: set[str], since: int,
                   step_no: int) -> tuple[StepResult, int]:
    from cc_console.server.acd.queue_log import read_queue_log

    res = StepResult(rate)
    n_calls = max(1, int(round(rate * seconds)))
    callers.uncertain.clear()
    cpu0 = _cpu_seconds(args.asterisk_pid), _cpu_seconds(os.getpid())
    lag = [0.0]

    async def sampler() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.05)
            lag[0] = max(lag[0], time.monotonic() - t - 0.05)
    lag_task = asyncio.create_task(sampler())
    placed: list[Placed] = []
    t0 = time.monotonic()
    caller_tasks: list[asyncio.Task[Any]] = []

    async def one(i: int) -> None:
        at = t0 + i / rate
        await asyncio.sleep(max(0.0, at - time.monotonic()))
        p = await callers.place(f"06{step_no:02d}{i:06d}")
        if p is None:
            return
        placed.append(p)
        ev = bots.waiters.setdefault(p.inner, asyncio.Event())
        st = bots.by_channel.get(p.inner)
        if st and (st.get("state") in ("connected", "ended")):
            ev.set()
        try:
            await asyncio.wait_for(ev.wait(), args.patience)
            st = bots.by_channel.get(p.inner, {})
            p.answered = st.get("state") == "connected" or bool(st.get("answered"))
        except TimeoutError:
            p.abandoned_by_bench = True  # the caller gives up
            await callers.hangup(p.outer)
        finally:
            bots.done_with(p.inner)

    for i in range(n_calls):
        caller_tasks.append(asyncio.create_task(one(i)))
    await asyncio.gather(*caller_tasks, return_exceptions=True)

    # Drain: every call ends (agents hang up after --talk); bounded.
    deadline = time.monotonic() + args.drain
    while time.monotonic() < deadline:
        if not server.engine.calls and not server.store.active_calls():
            break
        await asyncio.sleep(0.1)
    lag_task.cancel()
    cpu1 = _cpu_seconds(args.asterisk_pid), _cpu_seconds(os.getpid())
    drained = not server.engine.calls
    try:
        await asyncio.wait_for(server.engine.idle(), 15)
    except TimeoutError:
        drained = False
        print(f"step {rate}/s: the engine's ARI side effects still running after the drain", file=sys.stderr)
    # Teardown of channels and bridges is asynchronous: give Asterisk a moment to empty.
    left: dict[str, str] = {}
    for _ in range(50):
        left = {k: v for k, v in (await _channels(http)).items() if k not in preexisting}
        if not left:
            break
        await asyncio.sleep(0.1)
    if left:
        print(f"step {rate}/s: channels left in Asterisk: {sorted(left.items())[:10]}", file=sys.stderr)
    # Agents: all ready (give the bots' un-pause a moment).
    for _ in range(30):
        stuck = {a.id: (str(a.state), a.reason, a.call_id) for a in server.engine.agents.values()
                 if a.id in bots.agent_ids and (str(a.state) != "ready" or a.call_id)}
        if not stuck:
            break
        await asyncio.sleep(0.1)
    if stuck:
        print(f"step {rate}/s: agents not ready: {stuck}", file=sys.stderr)
    active_left = {c.id: (str(c.state), c.channel) for c in server.engine.calls.values()}
    if active_left:
        print(f"step {rate}/s: calls still active in the server: {active_left}", file=sys.stderr)

    # == the check, call by call ==
    events = list(server.store.events(since=since))
    last_seq = max((e.seq for e in events), default=since)
    by_chan: dict[str, list[Any]] = defaultdict(list)
    for e in events:
        if e.kind.startswith("call."):
            ch = (e.data.get("call") or {}).get("channel")
            if ch:
                by_chan[ch].append(e)
    qlog = list(read_queue_log(server.qlog.path))
    q_by_chan: dict[str, list[Any]] = defaultdict(list)
    for ln in qlog:
        q_by_chan[ln.callid].append(ln)
    # An originate that timed out may still have made its call: check those that reached us.
    placed += [p for p in callers.uncertain if p.inner in by_chan]
    placed_inner = {p.inner for p in placed}
    foreign = [ch for ch in by_chan if ch not in placed_inner
               and any(e.kind == "call.entered" for e in by_chan[ch])]
    problems: list[str] = []
    lost = 0
    completed = abandoned = ended_other = 0
    answer_ms: list[float] = []
    first_in = math.inf
    last_out = -math.inf
    for p in placed:
        evs = by_chan.get(p.inner, [])
        kinds = Counter(e.kind for e in evs)
        bad: list[str] = []
        if kinds["call.entered"] != 1:
            bad.append(f"call.entered x{kinds['call.entered']}")
        terms = [e for e in evs if e.kind in TERMINAL_EVENTS]
        if len(terms) != 1:
            bad.append(f"terminal events {[e.kind for e in terms]}")
        if kinds["call.completed"] and kinds["call.connected"] != 1:
            bad.append(f"completed with call.connected x{kinds['call.connected']}")
        ql = q_by_chan.get(p.inner, [])
        qk = Counter(ln.event for ln in ql)
        if kinds["call.queued"]:
            if qk["ENTERQUEUE"] != kinds["call.queued"] or qk["ENTERQUEUE"] != 1:
                bad.append(f"ENTERQUEUE x{qk['ENTERQUEUE']} for call.queued x{kinds['call.queued']}")
            qt = [ln.event for ln in ql if ln.event in QLOG_TERMINAL]
            if len(qt) != 1:
                bad.append(f"queue_log terminal lines {qt}")
            if kinds["call.connected"] != qk["CONNECT"]:
                bad.append(f"CONNECT x{qk['CONNECT']} for call.connected x{kinds['call.connected']}")
        elif ql:
            bad.append(f"queue_log lines for a call never queued: {[ln.event for ln in ql]}")
        if bad:
            lost += 1
            problems.append(f"{p.inner} (call {evs[0].call_id if evs else '?'}): " + "; ".join(bad)
                            + f" | events {[e.kind for e in evs]} | queue_log {[ln.event for ln in ql]}")
        for e in evs:
            if e.kind == "call.entered":
                first_in = min(first_in, e.ts)
            if e.kind in TERMINAL_EVENTS:
                last_out = max(last_out, e.ts)
            if e.kind == "call.connected":
                answer_ms.append(float(e.data.get("wait", 0.0)) * 1000)
        if terms:
            k = terms[-1].kind
            if k == "call.completed":
                completed += 1
            elif k == "call.abandoned":
                abandoned += 1
            else:
                ended_other += 1
    for line in problems[:20]:
        print(f"step {rate}/s: LOST {line}", file=sys.stderr)
    if len(problems) > 20:
        print(f"step {rate}/s: ... {len(problems) - 20} more", file=sys.stderr)
    if foreign:
        print(f"step {rate}/s: calls not placed by the bench: {foreign[:10]}", file=sys.stderr)
    ring_no_answer = sum(1 for e in events if e.kind == "call.ringnoanswer")
    wall = last_out - first_in if last_out > first_in else seconds
    res.answer_ms = answer_ms
    res.clean = lost == 0 and not left and not active_left and not stuck and len(placed) > 0 and drained
    res.drained = drained
    res.lines = [
        ("rate_offered", f"{rate:g}/s", ""),
        ("calls", len(placed), ""),
        ("originate_errors", sum(callers.originate_errors.values()), ""),
        ("completed", completed, ""),
        ("abandoned", abandoned, ""),
        ("ended_other", ended_other, ""),
        ("lost_events", lost, ""),
        ("foreign_calls", len(foreign), ""),
        ("leftover_channels", len(left), ""),
        ("active_calls_left", len(active_left), ""),
        ("stuck_agents", len(stuck), ""),
        ("ring_no_answer", ring_no_answer, ""),
        ("handled_per_s", f"{completed / wall:.2f}", ""),
        ("answer_p50", f"{_pct(answer_ms, 50):.1f}", "ms"),
        ("answer_p99", f"{_pct(answer_ms, 99):.1f}", "ms"),
        ("answer_max", f"{max(answer_ms, default=math.nan):.1f}", "ms"),
        ("asterisk_cpu", f"{cpu1[0] - cpu0[0]:.1f}", "s"),
        ("bench_process_cpu", f"{cpu1[1] - cpu0[1]:.1f}", "s"),
        ("loop_lag_max", f"{lag[0] * 1000:.0f}", "ms"),
    ]
    callers.originate_errors.clear()
    # Leftovers of this step are hung up (and orphan bridges destroyed) so the next step starts clean.
    if left or not drained:
        busy = {c.bridge for c in server.engine.calls.values()} | {c.channel for c in server.engine.calls.values()}
        await _sweep(http, preexisting | busy)
    return res, last_seq


def _routing_toml(agents: list[str], ring_timeout: float) -> str:
    out = textwrap.dedent(f"""
    [queues.{QUEUE}]
    dids = ["{DID}"]
    wrapup = 0
    ring_timeout = {ring_timeout:g}
    """)
    for a in agents:
        out += f"\n[agents.{a}]\nqueues = {{ {QUEUE} = 0 }}\n"
    return out


def _seed_users(db: Path, agents: list[str], supervisors: list[str] | None = None) -> None:
    """One argon2 hash for every user (hashing is slow on purpose); written through the store."""
    from cc_console.server.auth import hash_password
    from cc_console.server.store import SQLiteStore
    store = SQLiteStore(db)
    h = hash_password(PASSWORD)
    now = time.time()
    users = [(name, "supervisor", "", [QUEUE]) for name in [SUPERVISOR, *(supervisors or [])]]
    users += [(a, "agent", AGENT_DEVICE, [QUEUE]) for a in agents]
    for name, role, device, queues in users:
        store.add_user({"username": name, "name": name, "role": role, "password_hash": h, "device": device,
                        "answer_mode": "phone" if role == "agent" else "console", "queues": queues,
                        "created": now})
    store.close()


class Rig:
    """What every load bench runs on: a real Server (temp store, queue_log and routing file) on the
    sandbox Asterisk, the bot agents and their supervisor, the callers and an ARI HTTP client.
    bench/soak.py uses it too. `close` leaves nothing of the run behind in Asterisk."""

    def __init__(self, args: argparse.Namespace, supervisors: list[str] | None = None) -> None:
        self.args = args
        self.supervisors = supervisors or []
        self.tmp = tempfile.TemporaryDirectory(prefix="cc-load-")
        self.agents = [f"lagent{i:03d}" for i in range(1, args.agents + 1)]
        self.server: Any = None
        self.bots: Bots | None = None
        self.preexisting: set[str] = set()
        self.since = 0

    async def start(self) -> None:
        from cc_console.config import Settings, load_settings
        from cc_console.server.app import Server

        args, tdir = self.args, Path(self.tmp.name)
        db = tdir / "cc.sqlite3"
        _seed_users(db, self.agents, self.supervisors)
        (tdir / "routing.toml").write_text(_routing_toml(self.agents, args.ring_timeout))
        base = load_settings(tdir / "none.toml")  # defaults + the CC_CONSOLE_* environment overrides
        settings = Settings(pbx=base.pbx, server=base.server, queues=base.queues)
        s = settings.server
        s.host, s.port, s.tls_cert = "127.0.0.1", 0, ""
        s.db_path = str(db)
        s.queue_log_path = str(tdir / "queue_log")
        s.routing_file = str(tdir / "routing.toml")
        s.ring_timeout = args.ring_timeout
        p = settings.pbx
        print(f"ari: {p.ari_url}", flush=True)
        try:
            from cc_console.server.pbx.sandbox import asterisk_pid
            args.asterisk_pid = asterisk_pid(p)  # for its CPU time (a sandbox on this machine)
        except Exception:
            args.asterisk_pid = None
        self.http = httpx.AsyncClient(base_url=p.ari_url, auth=(p.ari_user, p.ari_password), timeout=10,
                                      limits=httpx.Limits(max_connections=8, max_keepalive_connections=8))
        self.callers = Callers(self.http, p.inbound_context, args.caller_exten, f"load{os.getpid()}")
        self.server = Server(settings)
        self.preexisting = set(await _channels(self.http))
        if self.preexisting:
            print(f"preexisting_channels: {len(self.preexisting)}", flush=True)
        self.preexisting |= await _bridges(self.http)
        await self.server.start()
        await asyncio.wait_for(self.server.ari.connected.wait(), 15)
        await asyncio.wait_for(self.server.engine.idle(), 15)
        self.bots = Bots(self.server.url, self.agents, args.talk, args.unpause_delay)
        await self.bots.start()
        print(f"agents: {len(self.agents)}", flush=True)
        print(f"talk: {args.talk:g} s", flush=True)
        print(f"patience: {args.patience:g} s", flush=True)
        self.since = max((e.seq for e in self.server.store.events()), default=0)

    async def step(self, rate: float, seconds: float, step_no: int) -> StepResult:
        """One step of offered load, checked call by call (run_step), bounded in time."""
        args = self.args
        assert self.bots is not None
        res, self.since = await asyncio.wait_for(
            run_step(rate, seconds, args, self.server, self.bots, self.callers, self.http, self.preexisting,
                     self.since, step_no),
            seconds + args.patience + args.drain + 120)
        return res

    async def close(self) -> None:
        if self.bots is not None:
            await self.bots.close()
        if self.server is not None:
            try:
                await asyncio.wait_for(self.server.stop(), 30)
            except Exception as exc:
                print(f"server stop: {exc!r}", file=sys.stderr)
        # Hang up whatever this run left in Asterisk (never what was there before it): twice, as
        # requests Asterisk had queued may still create a channel after the first sweep.
        try:
            for _ in range(2):
                await asyncio.sleep(1.0)
                chans, bridges = await _sweep(self.http, self.preexisting)
                if chans or bridges:
                    print(f"final sweep: hung up {chans} channel(s), destroyed {bridges} bridge(s)", file=sys.stderr)
        except Exception as exc:
            print(f"final hang-up: {exc!r}", file=sys.stderr)
        await self.http.aclose()
        self.tmp.cleanup()


async def _run(args: argparse.Namespace) -> int:
    rates = [args.rate] if args.rate else [float(r) for r in args.rates.split(",") if r.strip()]
    rig = Rig(args)
    results: list[StepResult] = []
    rc = 1
    try:
        await rig.start()
        bots = rig.bots
        assert bots is not None
        for i, rate in enumerate(rates, 1):
            t_step = time.monotonic()
            try:
                res = await rig.step(rate, args.seconds, i)
            except Exception as exc:  # the PBX gave up on us: report the step as failed and stop
                print(f"rate_offered: {rate:g}/s", flush=True)
                print(f"step_error: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
                results.append(StepResult(rate))
                if i < len(rates):
                    print(f"skipped_rates: {','.join(f'{r:g}' for r in rates[i:])}", flush=True)
                break
            results.append(res)
            for name, value, unit in res.lines:
                print(f"{name}: {value}{' ' + unit if unit else ''}", flush=True)
            print(f"step_seconds: {time.monotonic() - t_step:.1f}", flush=True)
            if bots.hangup_errors:
                print(f"step {rate}/s: agent command errors: {dict(bots.hangup_errors)}", file=sys.stderr)
                bots.hangup_errors.clear()
            if not res.clean and not args.keep_going and i < len(rates):
                # A higher rate only loads a struggling PBX further: stop here (bounded run).
                print(f"skipped_rates: {','.join(f'{r:g}' for r in rates[i:])}", flush=True)
                break
        print(f"agent_unpauses: {bots.unpauses}", flush=True)
        clean = [r for r in results if r.clean]
        best = max(clean, key=lambda r: r.rate) if clean else None
        print(f"max_clean_rate: {best.rate if best else 0:g} calls/s", flush=True)
        print(f"p99: {_pct(best.answer_ms, 99) if best else math.nan:.1f} ms", flush=True)
        rc = 0 if results and all(r.clean for r in results) else 1
    finally:
        await rig.close()
    return rc


def add_load_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every load bench shares (bench/soak.py adds its own)."""
    ap.add_argument("--agents", type=int, default=20)
    ap.add_argument("--talk", type=float, default=1.0, help="seconds an agent talks before hanging up")
    ap.add_argument("--patience", type=float, default=20.0, help="a caller not answered by then hangs up")
    ap.add_argument("--ring-timeout", type=float, default=10.0, help="the queue's ring timeout")
    ap.add_argument("--drain", type=float, default=60.0, help="at most this long for the calls to end")
    ap.add_argument("--caller-exten", default="silence", help="what the caller's half runs in cc-test-caller")
    ap.add_argument("--unpause-delay", type=float, default=1.0,
                    help="seconds before a bot agent the engine paused makes itself ready again")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(ap)
    ap.add_argument("--rates", default="2,5,10,20", help="offered rates, calls/s, one step each")
    ap.add_argument("--rate", type=float, default=0.0, help="one step at this rate (overrides --rates)")
    ap.add_argument("--seconds", type=float, default=15.0, help="offering time per step")
    ap.add_argument("--keep-going", action="store_true", help="run the higher rates after an unclean step too")
    args = ap.parse_args(argv)
    if args.agents < 1 or args.seconds <= 0 or (args.rate and args.rate <= 0):
        ap.error("--agents, --seconds and --rate must be positive")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
