"""Routing decision time on a large floor, before (decide() over the whole state, as the engine
used to call it) and after (the incremental RoutingIndex the engine calls now), event by event.

    python bench/routing.py [--floors 2000x500,20000x5000] [--events 1000] [--ready 20]
                            [--queues 50] [--burst 200] [--bursts 20] [--seed 1]

A floor AxW is A agents and W waiting calls, built once (seeded, reproducible): each agent is logged
into 2-5 queues of one "department" of 5 (penalty 0 for their home queues, 1-3 for overflow
queues) and has 2-6 skills (languages and products, levels 0-5). Of them --ready are READY but work
only quiet queues (no call waits there, so they stay idle and every full decision goes through all
the waiting calls, as on a real floor with an idle department); the rest are on a call (with the
call's CONNECTED call), ringing (with a RINGING call), in wrap-up, paused or
logged out. The waiting calls are spread unevenly over the queues (a Zipf-like load, the last tenth
of the queues quiet), need 0-2 of their queue's skills; 5 % are VIP callers, 5 % have a sticky
agent, 1 % a target. A third of the queues have a priority.

Then --events events of a busy centre, drawn at random, change the floor one at a time, as the
engine's events do: an agent comes back from wrap-up or a pause, a call arrives (or, when more than
W wait, a waiting caller hangs up), a ringing call is answered, a call ends (its agent goes to
wrap-up), an agent takes a break after wrap-up. The decision after each event is timed
(time.perf_counter_ns): `before` is decide(calls, agents, queue priorities) over everything;
`after` is telling the index whom the event changed (touch_agent / touch_call) plus
RoutingIndex.decide(), which brings the index up to date first. Each runs the whole stream on its
own copy of the floor (same seed, so the same events and states); their offers, event by event,
must be the same (the bench stops otherwise). As in timeit, the garbage collector does not run inside a timed
call (it runs between them). Before each timed decision the bench sleeps 0.2 ms, as the server
waits in epoll for its next event: a woken task starts on a fresh time slice, where a loop running
flat out on a shared 2-core machine gets preempted mid-decision by the neighbours' work. The offers
are then made as the engine makes them (call and agent
ringing); bringing the index up to date with them is paid in the next event's `after`.

Last, --bursts times --burst agents come back at once (a shift start, a mass un-pause), timed the
same way (burst_*), then put back.

Output: one figure per line (`name: value [unit]`), per floor AxW: the floor (agents, waiting,
ready, offers), index_build (the index built from nothing: start-up, a routing file reload),
before_AxW_* and after_AxW_* (p50, p90, p99, max, mean: wall clock), ratio_AxW_p99 (before p99 /
after p99), before/after_AxW_cpu_p50/p99 (this thread's CPU time, time.thread_time_ns: the
decision's own cost, whatever the neighbours do), and the burst figures; the load average at the
start and the end says how busy the machine was. The last two lines are the largest floor's:
`ratio: <before p99 / after p99>`
and the headline `p99: <value> ms`, the incremental decision's p99.
"""
from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from cc_console.models import Agent, AgentState, Call, CallState
from cc_console.server.acd.routing import decide
from cc_console.server.acd.routing_index import RoutingIndex

LANGS = ["en", "fr", "de", "es", "it", "nl"]
PRODUCTS = ["billing", "tech", "mobile", "broadband", "tv", "retention"]
SKILLS = LANGS + PRODUCTS

# share of non-ready agents per state; a busy centre
BUSY_MIX = [(AgentState.ON_CALL, 0.62), (AgentState.WRAP_UP, 0.10), (AgentState.RINGING, 0.03),
            (AgentState.PAUSED, 0.15), (AgentState.LOGGED_OUT, 0.10)]
NOW = 100_000.0


class Bag:
    """A set with a uniform random pick in O(1)."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self.pos: dict[str, int] = {}

    def add(self, x: str) -> None:
        if x not in self.pos:
            self.pos[x] = len(self.items)
            self.items.append(x)

    def discard(self, x: str) -> None:
        i = self.pos.pop(x, None)
        if i is not None:
            last = self.items.pop()
            if i < len(self.items):
                self.items[i] = last
                self.pos[last] = i

    def pick(self, rnd: random.Random) -> str | None:
        return rnd.choice(self.items) if self.items else None

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class Floor:
    calls: dict[str, Call]
    agents: dict[str, Agent]
    qp: dict[str, int]
    busy_queues: list[str]
    qweights: list[float]
    queue_skills: dict[str, list[str]]
    agent_ids: list[str] = field(default_factory=list)
    n: int = 0
    now: float = NOW
    agents_in: dict[AgentState, Bag] = field(default_factory=dict)
    calls_in: dict[CallState, Bag] = field(default_factory=dict)

    def new_call(self, rnd: random.Random, enqueued: float) -> Call:
        self.n += 1
        q = rnd.choices(self.busy_queues, self.qweights)[0]
        need = rnd.choices([0, 1, 2], [0.3, 0.5, 0.2])[0]
        r = rnd.random()
        ids = self.agent_ids
        cid = f"call{self.n:06}"
        return Call(id=cid, caller=f"+4430{self.n:07}", did="5000", queue=q, channel=f"ch-{cid}",
                    bridge=f"br-{cid}", state=CallState.QUEUED, created=enqueued, enqueued=enqueued,
                    skills=self.queue_skills[q][:need], priority=rnd.choice([1, 2]) if r < 0.05 else 0,
                    sticky_agent=rnd.choice(ids) if 0.05 <= r < 0.10 else None,
                    target_agent=rnd.choice(ids) if 0.10 <= r < 0.11 else None)

    def index_states(self) -> None:
        self.agents_in = {s: Bag() for s in AgentState}
        self.calls_in = {s: Bag() for s in CallState}
        for a in self.agents.values():
            self.agents_in[a.state].add(a.id)
        for c in self.calls.values():
            self.calls_in[c.state].add(c.id)

    def set_agent(self, a: Agent, state: AgentState) -> None:
        self.agents_in[a.state].discard(a.id)
        a.state, a.state_since = state, self.now
        self.agents_in[state].add(a.id)

    def set_call(self, c: Call, state: CallState | None) -> None:
        self.calls_in[c.state].discard(c.id)
        if state is None:
            del self.calls[c.id]
        else:
            c.state = state
            self.calls_in[state].add(c.id)


def build(n_agents: int, n_calls: int, n_ready: int, n_queues: int, seed: int) -> Floor:
    rnd = random.Random(seed)
    queues = [f"q{i:02}" for i in range(n_queues)]
    quiet = queues[n_queues - max(1, n_queues // 10):]  # no calls waiting here
    busy_queues = [q for q in queues if q not in quiet]
    depts = [queues[i:i + 5] for i in range(0, n_queues, 5)]  # agents work their department's queues
    qp = {q: rnd.choice([1, 2, 5]) for q in rnd.sample(queues, n_queues // 3)}
    queue_skills = {q: rnd.sample(PRODUCTS, 1) + rnd.sample(LANGS, 1) for q in queues}
    floor = Floor({}, {}, qp, busy_queues, [1 / (k + 1) for k in range(len(busy_queues))], queue_skills)
    states = [s for s, _ in BUSY_MIX]
    weights = [w for _, w in BUSY_MIX]
    ready_ids = set(rnd.sample(range(n_agents), min(n_ready, n_agents)))
    for i in range(n_agents):
        dept = rnd.choice(depts)
        home = rnd.sample(dept, min(len(dept), rnd.randint(1, 3)))
        overflow = rnd.sample([q for q in dept if q not in home], min(len(dept) - len(home), rnd.randint(0, 2)))
        penalties = dict.fromkeys(home, 0) | {q: rnd.randint(1, 3) for q in overflow}
        skills = {s: rnd.randint(0, 5) for s in rnd.sample(SKILLS, rnd.randint(2, 6))}
        for q in home:  # home queues: the agent has their skills, mostly
            for s in queue_skills[q]:
                skills.setdefault(s, rnd.randint(1, 5))
        state = AgentState.READY if i in ready_ids else rnd.choices(states, weights)[0]
        aid = f"agent{i:05}"
        if state is AgentState.READY:  # idle in a quiet queue: every decision still has them to look at
            home = rnd.sample(quiet, min(len(quiet), 2))
            penalties = dict.fromkeys(home, 0)
        agent = Agent(id=aid, name=f"Agent {i}", device=f"PJSIP/{10000 + i}", state=state,
                      state_since=NOW - rnd.uniform(0, 3600), last_call_end=NOW - rnd.uniform(0, 7200),
                      queues=list(penalties) if state is not AgentState.LOGGED_OUT else [],
                      penalties=penalties, skills=skills)
        if state in (AgentState.ON_CALL, AgentState.RINGING):
            cid = f"active{i:05}"
            agent.call_id = cid
            floor.calls[cid] = Call(id=cid, caller=f"+4420{i:07}", did="5000", queue=rnd.choice(agent.queues),
                                    channel=f"ch-{cid}", bridge=f"br-{cid}", enqueued=NOW - rnd.uniform(0, 900),
                                    agent=aid, state=CallState.CONNECTED if state is AgentState.ON_CALL
                                    else CallState.RINGING)
        floor.agents[aid] = agent
    floor.agent_ids = list(floor.agents)
    for _ in range(n_calls):
        c = floor.new_call(rnd, NOW - rnd.uniform(0, 900))
        floor.calls[c.id] = c
    floor.index_states()
    return floor


def event(floor: Floor, rnd: random.Random, waiting_target: int) -> tuple[list[Agent], list[Call]]:
    """One event of a busy centre; returns the agents and calls it changed."""
    floor.now += 0.05
    kind = rnd.choices(["ready", "call", "answer", "end", "pause"], [25, 30, 15, 20, 10])[0]
    if kind == "ready":  # back from wrap-up, sometimes from a pause
        src = AgentState.WRAP_UP if rnd.random() < 0.7 or not floor.agents_in[AgentState.PAUSED] \
            else AgentState.PAUSED
        aid = floor.agents_in[src].pick(rnd)
        if aid:
            a = floor.agents[aid]
            floor.set_agent(a, AgentState.READY)
            return [a], []
    elif kind == "call":
        if len(floor.calls_in[CallState.QUEUED]) < waiting_target:
            c = floor.new_call(rnd, floor.now)
            floor.calls[c.id] = c
            floor.calls_in[CallState.QUEUED].add(c.id)
            return [], [c]
        cid = floor.calls_in[CallState.QUEUED].pick(rnd)  # a caller hangs up
        if cid:
            c = floor.calls[cid]
            floor.set_call(c, None)
            return [], [c]
    elif kind == "answer":
        cid = floor.calls_in[CallState.RINGING].pick(rnd)
        if cid:
            c = floor.calls[cid]
            floor.set_call(c, CallState.CONNECTED)
            a = floor.agents[c.agent]
            floor.set_agent(a, AgentState.ON_CALL)
            return [a], [c]
    elif kind == "end":
        cid = floor.calls_in[CallState.CONNECTED].pick(rnd)
        if cid:
            c = floor.calls[cid]
            floor.set_call(c, None)
            a = floor.agents[c.agent]
            a.call_id, a.last_call_end = None, floor.now
            floor.set_agent(a, AgentState.WRAP_UP)
            return [a], [c]
    else:  # a break after wrap-up
        aid = floor.agents_in[AgentState.WRAP_UP].pick(rnd)
        if aid:
            a = floor.agents[aid]
            floor.set_agent(a, AgentState.PAUSED)
            return [a], []
    return [], []


def make_offers(floor: Floor, index: RoutingIndex, offers: list[tuple[str, str]]) -> None:
    """As the engine's _offer: the call and the agent ring (the index hears of it, updates later)."""
    for cid, aid in offers:
        c, a = floor.calls[cid], floor.agents[aid]
        floor.set_call(c, CallState.RINGING)
        c.agent = aid
        a.call_id = cid
        floor.set_agent(a, AgentState.RINGING)
        index.touch_call(c)


IDLE = 0.0002  # s the bench waits before each timed decision, as the server waits for its next event


def timed(fn: Callable[[], list[tuple[str, str]]]) -> tuple[int, int, list[tuple[str, str]]]:
    """(wall ns, this thread's CPU ns, result) of one decision."""
    # The server sleeps in epoll until its next event, and a woken task runs on a fresh time slice;
    # a bench looping flat out would instead be preempted mid-decision by its neighbours' test runs.
    time.sleep(IDLE)
    # As timeit does, no garbage collection inside the timed call (it runs between them).
    gc.disable()
    try:
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        out = fn()
        t1 = time.perf_counter_ns()
        return t1 - t0, time.thread_time_ns() - c0, out
    finally:
        gc.enable()


def pct(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile, in ms."""
    k = max(0, min(len(sorted_ns) - 1, int(round(p / 100 * len(sorted_ns) + 0.5)) - 1))
    return sorted_ns[k] / 1e6


def figures(prefix: str, samples: list[int]) -> dict[str, float]:
    s = sorted(samples)
    out = {"p50": pct(s, 50), "p90": pct(s, 90), "p99": pct(s, 99), "max": s[-1] / 1e6,
           "mean": statistics.fmean(s) / 1e6}
    for name, v in out.items():
        print(f"{prefix}_{name}: {v:.3f} ms", flush=True)
    return out


@dataclass
class Pass:
    """One run of the event stream with one way of deciding."""
    samples: list[int] = field(default_factory=list)
    cpu: list[int] = field(default_factory=list)
    bursts: list[int] = field(default_factory=list)
    bursts_cpu: list[int] = field(default_factory=list)
    offers: list[list[tuple[str, str]]] = field(default_factory=list)  # per event, to compare the passes
    waiting: int = 0
    ready: int = 0
    build_ms: float = 0.0


def run_pass(n_agents: int, n_waiting: int, args: argparse.Namespace, incremental: bool) -> Pass:
    """The event stream on a fresh floor (the same seed: the same events, states and offers each pass)."""
    floor = build(n_agents, n_waiting, args.ready, args.queues, args.seed)
    calls, agents, qp = floor.calls, floor.agents, floor.qp
    rnd = random.Random(args.seed + 1)
    out = Pass()
    t0 = time.perf_counter_ns()
    index = RoutingIndex(calls, agents, check=False)
    index.decide(qp)
    out.build_ms = (time.perf_counter_ns() - t0) / 1e6
    make_offers(floor, index, decide(calls.values(), agents.values(), qp))  # the initial ready agents
    gc.collect()

    def decision(touched_agents: list[Agent], touched_calls: list[Call]) -> tuple[int, int, list[tuple[str, str]]]:
        if not incremental:
            return timed(lambda: decide(calls.values(), agents.values(), qp))

        def tell_and_decide() -> list[tuple[str, str]]:
            for a in touched_agents:
                index.touch_agent(a)
            for c in touched_calls:
                index.touch_call(c)
            return index.decide(qp)
        return timed(tell_and_decide)

    for _ in range(args.events):
        ns, cpu_ns, offers = decision(*event(floor, rnd, n_waiting))
        out.samples.append(ns)
        out.cpu.append(cpu_ns)
        out.offers.append(offers)
        out.waiting += len(floor.calls_in[CallState.QUEUED])
        out.ready += len(floor.agents_in[AgentState.READY])
        make_offers(floor, index, offers)

    for _ in range(args.bursts if args.burst else 0):
        pool = floor.agents_in[AgentState.WRAP_UP].items + floor.agents_in[AgentState.PAUSED].items
        back = [agents[aid] for aid in rnd.sample(pool, min(args.burst, len(pool)))]
        was = [(a, a.state, a.state_since) for a in back]
        for a in back:
            floor.set_agent(a, AgentState.READY)
        ns, cpu_ns, offers = decision(back, [])
        out.bursts.append(ns)
        out.bursts_cpu.append(cpu_ns)
        out.offers.append(offers)
        for a, state, since in was:  # put back: the next burst starts from the same kind of floor
            floor.set_agent(a, state)
            a.state_since = since
            index.touch_agent(a)
        index.decide(qp)
    return out


def run_floor(n_agents: int, n_waiting: int, args: argparse.Namespace) -> tuple[float, float]:
    tag = f"{n_agents}x{n_waiting}"
    # Two passes rather than both decisions after each event: a 50 ms full decision uses up the
    # process's time slice on a busy machine, and the preemption then lands in the short one.
    after = run_pass(n_agents, n_waiting, args, incremental=True)
    before = run_pass(n_agents, n_waiting, args, incremental=False)
    for i, (a, b) in enumerate(zip(after.offers, before.offers, strict=True)):
        if a != b:
            sys.exit(f"{tag} event {i}: the index decided {a[:5]}..., decide() {b[:5]}...")
    print(f"floor_{tag}_agents: {n_agents}", flush=True)
    print(f"floor_{tag}_waiting: {after.waiting / args.events:.0f}", flush=True)
    print(f"floor_{tag}_ready: {after.ready / args.events:.1f}", flush=True)
    print(f"floor_{tag}_events: {args.events}", flush=True)
    print(f"floor_{tag}_offers: {sum(len(o) for o in after.offers[:args.events])}", flush=True)
    print(f"index_build_{tag}: {after.build_ms:.1f} ms", flush=True)
    fb = figures(f"before_{tag}", before.samples)
    fa = figures(f"after_{tag}", after.samples)
    ratio = fb["p99"] / fa["p99"] if fa["p99"] else float("inf")
    print(f"ratio_{tag}_p99: {ratio:.0f}", flush=True)
    for name, p in (("before", before), ("after", after)):
        s = sorted(p.cpu)
        for q in (50, 99):
            print(f"{name}_{tag}_cpu_p{q}: {pct(s, q):.3f} ms", flush=True)
    if after.bursts:
        print(f"burst_{tag}_agents: {args.burst}", flush=True)
        print(f"burst_{tag}_offers: {sum(len(o) for o in after.offers[args.events:]) / len(after.bursts):.0f}",
              flush=True)
        for name, p in (("before", before), ("after", after)):
            s = sorted(p.bursts)
            print(f"burst_{tag}_{name}_p50: {pct(s, 50):.3f} ms", flush=True)
            print(f"burst_{tag}_{name}_max: {s[-1] / 1e6:.3f} ms", flush=True)
            print(f"burst_{tag}_{name}_cpu_p50: {pct(sorted(p.bursts_cpu), 50):.3f} ms", flush=True)
    return fa["p99"], ratio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--floors", default="2000x500,20000x5000", help="AGENTSxWAITING, comma-separated")
    ap.add_argument("--events", type=int, default=1000)
    ap.add_argument("--ready", type=int, default=20, help="READY agents when the floor is built")
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--burst", type=int, default=200, help="agents back at once in a burst (0: none)")
    ap.add_argument("--bursts", type=int, default=20)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    floors = [tuple(int(x) for x in f.split("x")) for f in args.floors.split(",")]
    print(f"load_average_at_start: {os.getloadavg()[0]:.1f}", flush=True)
    headline = (float("nan"), float("nan"))
    for n_agents, n_waiting in floors:
        headline = run_floor(n_agents, n_waiting, args)
    p99, ratio = headline
    print(f"load_average_at_end: {os.getloadavg()[0]:.1f}", flush=True)
    print(f"ratio: {ratio:.0f}", flush=True)
    print(f"p99: {p99:.3f} ms", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
