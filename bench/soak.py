"""Soak: many consoles and steady calls for minutes, then a burst above the sustained rate.

    python bench/soak.py [--consoles 200] [--rate R | --find-rates 1,2,3] [--seconds 600]
                         [--burst-rate B] [--burst-seconds 30] [--settle 30] [--agents 20] ...

It runs on bench/routing_load.py's rig (a real Server on a temp store, bot agents whose devices
answer at once, callers originated into the sandbox Asterisk; see its docstring for what each call
is checked for), plus --consoles watchers: supervisor sessions, each on its own websocket, that
check every frame's sequence number and count each call's final `call.ended`.

Phases:
  1. without --rate, the sustained rate is found first: a short step (--find-seconds) at each of
     --find-rates; the highest step that lost nothing and left nothing behind is the rate;
  2. steady: that rate for --seconds;
  3. burst: --burst-rate (default twice the sustained rate) for --burst-seconds;
  4. settle: traffic stops; at most --settle seconds later nothing may be stuck: no call active in
     the server, no agent ringing or on a call, no channel of ours in Asterisk.

Output, one figure per line: `sustained_rate`, the steady and burst steps' blocks (routing_load's
figures, prefixed `steady_` and `burst_`), then consoles, console_drops, seq_gaps,
events_lost and events_duplicated (each console must get each call's call.ended exactly once),
event_p50/p99 (ms from the call's end in the server to a console reading it), stuck_calls,
stuck_agents, stuck_channels (after the settle), settle_seconds, overload_alerts, breaker_opened,
reconcile_repairs, rss_mb_first/rss_mb_last/rss_growth_pct of this process (server, bots, consoles
and callers: memory sampled every --rss-every seconds through the steady phase, growth from the
first sample after a warm-up fifth to the last), then the server's own state (bench/server_state.py:
the size of every dict/set/list/deque the engine, routing index, gateway, store, ARI client, auth,
recordings and monitors hold, the consoles' send backlogs, the ARI requests waiting, the asyncio
tasks): server_state_first/last at those two memory samples, server_state_quiet_before/after at the
quiet points around the steady phase (before it, and once its calls have drained),
server_state_after_settle (after the burst: stuck calls show there), gc_objects_quiet_before/after,
calls_between_quiet_points and state_leaks: the structures that grew between the quiet points
by more than 1 % of the calls handled (at least 2), or between the two samples under load by more
than the live calls can explain: state ended calls left behind. memory_flat is yes when RSS grew
under 10 % and state_leaks is none. Then asterisk_rss_mb_first/last, and last the headline
`p99: <value> ms`: the answer p99 of the steady phase. Exit status 0 when every check held.

The bench's own bookkeeping is bounded, so RSS growth is the server's and the allocator's: each
console folds a call's end into counters (a count and a digest of the ended calls' ids, checked
against the server's list) and remembers its id only two minutes to catch a duplicate; event
latencies are a histogram of 1 ms buckets; the bots forget an ended call once its caller has read
the outcome (at most two minutes after its end).

This machine is shared: the figures hold for the load there was beside the run.
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parent))
import server_state
from routing_load import PASSWORD, Rig, StepResult, _pct, add_load_arguments

TERMINAL = ("call.completed", "call.abandoned", "call.ended")
FORGET_AFTER = 120.0  # seconds a console remembers an ended call, to catch a second call.ended


def _id_hash(call_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(call_id.encode(), digest_size=8).digest(), "big")


def _rss_mb(pid: int | None) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, TypeError):
        pass
    return math.nan


class Watcher:
    """One console as the server sees it: a logged-in supervisor on its own websocket. Frames are
    only counted, not turned into state, so a few hundred of them fit beside the server.

    Bounded however long the run: the sequence is checked frame by frame, and a call's end is kept
    only FORGET_AFTER seconds (to catch a duplicate call.ended) before it folds into counters: how
    many distinct calls ended and an order-independent digest of their ids, which `lost` compares
    with the server's own list of ended calls."""

    def __init__(self, url: str, user: str, latencies: Counter[int]) -> None:
        self.url = url
        self.user = user
        self.latencies = latencies  # ms -> count (1 ms buckets), shared by all watchers
        self.last_seq = 0
        self.gaps = 0
        self.ended = 0  # distinct calls whose call.ended came
        self.digest = 0  # sum of their ids' hashes, mod 2**64
        self.duplicated = 0  # call.ended frames for a call already ended
        self._recent: dict[str, float] = {}  # call id -> when its call.ended came, oldest first
        self.closed = False
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._logged_in = asyncio.Event()

    def _ended(self, call_id: str) -> None:
        now = time.monotonic()
        if call_id in self._recent:
            self.duplicated += 1
            return
        self._recent[call_id] = now
        self.ended += 1
        self.digest = (self.digest + _id_hash(call_id)) % 2**64
        while self._recent:
            oldest = next(iter(self._recent))
            if self._recent[oldest] >= now - FORGET_AFTER:
                break
            del self._recent[oldest]

    def lost(self, expected: int, digest: int) -> int:
        """Calls of the server's `expected` ended calls (with that digest) this console missed. A
        missed call hidden by an extra one still shows: the digests differ."""
        missing = max(0, expected - self.ended)
        return missing or (1 if digest != self.digest else 0)

    async def start(self) -> None:
        self._ws = await websockets.connect(self.url, max_size=2**22, ping_interval=None)
        self._task = asyncio.create_task(self._read())
        await self._ws.send(json.dumps({"v": 1, "type": "req", "id": "login", "cmd": "login",
                                        "args": {"username": self.user, "password": PASSWORD}}))
        await asyncio.wait_for(self._logged_in.wait(), 30)

    async def _read(self) -> None:
        try:
            async for raw in self._ws:
                f = json.loads(raw)
                kind = f.get("type")
                if kind == "res":
                    if f.get("id") == "login":
                        if not f.get("ok"):
                            raise RuntimeError(f"login of {self.user} refused: {f.get('error')}")
                        self._logged_in.set()
                    continue
                if kind not in ("event", "snapshot"):
                    continue
                seq = f.get("seq", 0)
                if seq != self.last_seq + 1:
                    self.gaps += 1
                self.last_seq = seq
                if f.get("event") == "call.ended":
                    d = f.get("data") or {}
                    self._ended(d.get("id", ""))
                    if d.get("ended"):
                        self.latencies[max(0, int((time.time() - float(d["ended"])) * 1000))] += 1
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = True

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)


def _hist_pct(hist: Counter[int], p: float) -> float:
    n = sum(hist.values())
    if not n:
        return math.nan
    rank = max(1, math.ceil(p / 100 * n))
    seen = 0
    for ms in sorted(hist):
        seen += hist[ms]
        if seen >= rank:
            return float(ms)
    return float(max(hist))


def _fmt_state(sizes: dict[str, int]) -> str:
    """Every non-empty structure, name=size (the empty ones are left out to keep the line short)."""
    return " ".join(f"{k}={v}" for k, v in sorted(sizes.items()) if v) or "all empty"


def _print(name: str, value: Any, unit: str = "") -> None:
    print(f"{name}: {value}{' ' + unit if unit else ''}", flush=True)


async def _step(rig: Rig, rate: float, seconds: float, step_no: int) -> StepResult:
    """A routing_load step; a PBX that gives up on us fails the step instead of the run, so the
    settle checks and the consoles' figures are still printed."""
    try:
        return await rig.step(rate, seconds, step_no)
    except Exception as exc:
        res = StepResult(rate)
        res.lines = [("rate_offered", f"{rate:g}/s", ""), ("error", f"{type(exc).__name__}: {str(exc)[:200]}", "")]
        return res


async def _stuck(rig: Rig) -> tuple[int, int, int]:
    from routing_load import _channels
    eng = rig.server.engine
    agents = sum(1 for a in eng.agents.values() if str(a.state) in ("ringing", "on_call") or a.call_id)
    try:
        chans = len([c for c in await _channels(rig.http) if c not in rig.preexisting])
    except Exception as exc:  # Asterisk not answering is itself a figure, not the end of the run
        print(f"stuck_channels_error: {type(exc).__name__}", flush=True)
        chans = -1
    return len(eng.calls), agents, chans


async def _run(args: argparse.Namespace) -> int:
    sups = [f"soaksup{i:03d}" for i in range(1, args.consoles + 1)]
    rig = Rig(args, supervisors=sups)
    latencies: Counter[int] = Counter()
    watchers: list[Watcher] = []
    ok = True
    try:
        await rig.start()
        for i in range(0, len(sups), 20):  # logins in batches: each one costs the server a snapshot
            batch = [Watcher(rig.server.url, u, latencies) for u in sups[i:i + 20]]
            await asyncio.gather(*(w.start() for w in batch))
            watchers += batch
        _print("consoles", len(watchers))
        step_no = 0

        # 1. the sustained rate
        rate = args.rate
        if not rate:
            best = 0.0
            for r in [float(x) for x in args.find_rates.split(",") if x.strip()]:
                step_no += 1
                res = await _step(rig, r, args.find_seconds, step_no)
                _print(f"probe_{r:g}_clean", "yes" if res.clean else "no")
                if not res.clean:
                    break
                best = r
            rate = best
        _print("sustained_rate", f"{rate:g}", "calls/s")
        if rate <= 0:
            _print("p99", "nan", "ms")
            return 1

        # 2. steady, with memory sampled on the side
        rss: list[float] = []
        ast_rss: list[float] = []
        states: list[tuple[int, dict[str, int]]] = []  # (calls ended so far, the server's state sizes)
        assert rig.bots is not None
        bots = rig.bots
        quiet_before = (bots.ended_calls, server_state.sizes(rig.server), server_state.objects())

        def sample_now() -> None:
            rss.append(_rss_mb(os.getpid()))
            ast_rss.append(_rss_mb(args.asterisk_pid))
            states.append((bots.ended_calls, server_state.sizes(rig.server)))

        async def sample() -> None:
            while True:
                sample_now()
                await asyncio.sleep(args.rss_every)
        sampler = asyncio.create_task(sample())
        step_no += 1
        t0 = time.monotonic()
        steady = await _step(rig, rate, args.seconds, step_no)
        sampler.cancel()
        sample_now()
        # the steady step has drained: the second quiet point (the burst is about overload, and an
        # Asterisk it swamps can leave calls behind that say nothing about memory)
        quiet_after = (bots.ended_calls, server_state.sizes(rig.server), server_state.objects())
        for name, value, unit in steady.lines:
            _print(f"steady_{name}", value, unit)
        _print("steady_seconds", f"{time.monotonic() - t0:.1f}", "s")

        # 3. burst, 4. settle (the burst step's drain is the settle: traffic has stopped by then)
        burst_rate = args.burst_rate or 2 * rate
        args.drain = args.settle
        step_no += 1
        t1 = time.monotonic()
        burst = await _step(rig, burst_rate, args.burst_seconds, step_no)
        for name, value, unit in burst.lines:
            _print(f"burst_{name}", value, unit)
        calls_left, agents_left, chans_left = await _stuck(rig)
        _print("stuck_calls", calls_left)
        _print("stuck_agents", agents_left)
        _print("stuck_channels", chans_left)
        _print("settle_seconds", f"{time.monotonic() - t1 - args.burst_seconds:.1f}", "s")

        # the consoles: every call's end reached every console once, in sequence
        await asyncio.sleep(0.5)  # the last call.ended frames are on the wire
        ended = {e.call_id for e in rig.server.store.events(kinds=TERMINAL) if e.call_id}
        digest = sum(_id_hash(c) for c in ended) % 2**64
        lost = sum(w.lost(len(ended), digest) for w in watchers)
        dup = sum(w.duplicated for w in watchers)
        drops = sum(1 for w in watchers if w.closed)
        gaps = sum(w.gaps for w in watchers)
        _print("calls_ended", len(ended))
        _print("console_drops", drops)
        _print("seq_gaps", gaps)
        _print("events_lost", lost)
        _print("events_duplicated", dup)
        _print("event_p50", f"{_hist_pct(latencies, 50):.0f}", "ms")
        _print("event_p99", f"{_hist_pct(latencies, 99):.0f}", "ms")
        eng = rig.server.engine
        onsets = rig.server.store.events(kinds=("server.overload",))
        _print("overload_alerts", sum(1 for e in onsets if e.data.get("on")))
        _print("breaker_opened", rig.server.ari.breaker.opened)
        _print("reconcile_repairs", eng.repaired)
        first = max(0, len(rss) // 5)
        warm = rss[first:] or rss
        growth = (warm[-1] - warm[0]) / warm[0] * 100 if warm and warm[0] else math.nan
        _print("rss_mb_first", f"{warm[0]:.0f}" if warm else "nan", "MB")
        _print("rss_mb_last", f"{warm[-1]:.0f}" if warm else "nan", "MB")
        _print("rss_growth_pct", f"{growth:.1f}", "%")
        # The server's own state: at the first and last memory samples (under load), and at the
        # two quiet points around the steady phase (before it, once its calls have drained), where
        # every per-call structure must be back to where it was.
        (n0, s0), (n1, s1) = states[min(first, len(states) - 1)], states[-1]
        _print("server_state_first", _fmt_state(s0))
        _print("server_state_last", _fmt_state(s1))
        _print("server_state_quiet_before", _fmt_state(quiet_before[1]))
        _print("server_state_quiet_after", _fmt_state(quiet_after[1]))
        _print("server_state_after_settle", _fmt_state(server_state.sizes(rig.server)))
        _print("gc_objects_quiet_before", quiet_before[2])
        _print("gc_objects_quiet_after", quiet_after[2])
        handled = quiet_after[0] - quiet_before[0]
        _print("calls_between_quiet_points", handled)
        leaked = server_state.leaks(quiet_before[1], quiet_after[1], handled)
        # under load the live calls come and go: only growth in step with the calls handled counts
        grew = server_state.leaks(s0, s1, 0)
        under_load = {k: v for k, v in grew.items() if v[1] - v[0] > max(4 * args.agents + 20, (n1 - n0) // 10)}
        leaked.update({f"{k} (under load)": v for k, v in under_load.items() if k not in leaked})
        _print("state_leaks", ", ".join(f"{k} {a}->{b}" for k, (a, b) in sorted(leaked.items())) or "none")
        flat = growth < 10 and not leaked
        _print("memory_flat", "yes" if flat else "no")
        awarm = ast_rss[max(0, len(ast_rss) // 5):] or ast_rss
        _print("asterisk_rss_mb_first", f"{awarm[0]:.0f}" if awarm else "nan", "MB")
        _print("asterisk_rss_mb_last", f"{awarm[-1]:.0f}" if awarm else "nan", "MB")
        _print("agent_unpauses", bots.unpauses)
        _print("p99", f"{_pct(steady.answer_ms, 99):.1f}", "ms")
        ok = (steady.clean and burst.clean and not (calls_left or agents_left or chans_left)
              and not (drops or gaps or lost or dup) and flat)
    finally:
        try:  # all at once and bounded: one by one, a swamped loop made this take minutes
            await asyncio.wait_for(asyncio.gather(*(w.close() for w in watchers), return_exceptions=True), 15)
        except TimeoutError:
            print("consoles: some did not close within 15 s", file=sys.stderr)
        await rig.close()
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_arguments(ap)
    ap.add_argument("--consoles", type=int, default=200, help="supervisor consoles watching every event")
    ap.add_argument("--rate", type=float, default=0.0, help="the steady rate, calls/s (default: found first)")
    ap.add_argument("--find-rates", default="1,2,3,4", help="rates tried to find the sustained one")
    ap.add_argument("--find-seconds", type=float, default=20.0, help="offering time of each try")
    ap.add_argument("--seconds", type=float, default=600.0, help="steady phase, seconds")
    ap.add_argument("--burst-rate", type=float, default=0.0, help="burst rate, calls/s (default: twice the steady)")
    ap.add_argument("--burst-seconds", type=float, default=30.0)
    ap.add_argument("--settle", type=float, default=30.0, help="nothing may be stuck this long after traffic stops")
    ap.add_argument("--rss-every", type=float, default=10.0, help="seconds between memory samples")
    args = ap.parse_args(argv)
    if args.agents < 1 or args.seconds <= 0 or args.consoles < 0 or args.rate < 0:
        ap.error("--agents and --seconds must be positive, --consoles and --rate not negative")
    import logging
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    return asyncio.run(_run(args))


if __name__ == "__main__":
    sys.exit(main())
