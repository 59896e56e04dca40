"""Routing decision time: `decide()` over a large contact centre, timed call by call.

    python bench/routing.py [--agents 2000] [--calls 500] [--ready 20] [--iterations 2000]
                            [--queues 50] [--worst-ready 200] [--seed 1] [--profile FILE]
                            [--impl path/to/file.py|package.module]

The state is built once per scenario (seeded, reproducible) and decide() is called on it
`--iterations` times, each call timed with time.perf_counter_ns(); decide() is pure, so every
call does the same work. It gets the calls and agents as dict views, as CallEngine.route passes them.

The state: `--agents` agents over `--queues` queues. Each agent is logged into 2-5 queues of one
"department" (penalty 0 for their home queues, 1-3 for overflow queues) and has 2-6 skills
(languages and products, levels 0-5). Of them `--ready` are READY; the rest are on a call (with the
call's CONNECTED call in the call set), ringing (with a RINGING call), in wrap-up, paused or logged
out. `--calls` calls are QUEUED, spread unevenly over the queues (a Zipf-like load, the last tenth of
the queues quiet), needing 0-2 skills; 5 % are VIP callers, 5 % have a sticky agent, 1 % a target.
A third of the queues have a queue priority.

Scenarios (each prints its own lines, prefixed):
  (no prefix)   --ready agents, drawn at random: they can take some of the waiting calls.
                This is the headline: `p99: <value> ms`.
  settled_*     the steady state the server actually sees: every waiting call waits because no
                eligible agent is ready (the --ready agents sit in quiet queues or lack the skills),
                and one agent just became ready for the busiest queue (the event that triggers the
                decision). decide() has to look at every waiting call.
  worst_*       --worst-ready agents READY at random (a shift start, a mass un-pause).
  nooffer_*     as settled but without the trigger agent: a decision that offers nothing.

--impl times another module's `decide` (same signature) instead of the server's, to try a
candidate implementation without touching server/acd/routing.py; it must return the same offers.

Output: one figure per line (`name: value [unit]`); the headline is `p99: <value> ms`.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import importlib
import importlib.util
import random
import statistics
import sys
import time
from collections.abc import Callable

from cc_console.models import Agent, AgentState, Call, CallState
from cc_console.server.acd.routing import decide

LANGS = ["en", "fr", "de", "es", "it", "nl"]
PRODUCTS = ["billing", "tech", "mobile", "broadband", "tv", "retention"]
SKILLS = LANGS + PRODUCTS

# share of non-ready agents per state; a busy centre
BUSY_MIX = [(AgentState.ON_CALL, 0.62), (AgentState.WRAP_UP, 0.10), (AgentState.RINGING, 0.03),
            (AgentState.PAUSED, 0.15), (AgentState.LOGGED_OUT, 0.10)]


def build(n_agents: int, n_calls: int, n_ready: int, n_queues: int, seed: int,
          settled: bool = False, trigger: bool = True) -> tuple[dict[str, Call], dict[str, Agent], dict[str, int]]:
    rnd = random.Random(seed)
    queues = [f"q{i:02}" for i in range(n_queues)]
    quiet = queues[n_queues - max(1, n_queues // 10):]  # no calls waiting here
    busy_queues = [q for q in queues if q not in quiet]
    # departments of 5 queues: agents work their department's queues
    depts = [queues[i:i + 5] for i in range(0, n_queues, 5)]
    qp = {q: rnd.choice([1, 2, 5]) for q in rnd.sample(queues, n_queues // 3)}
    queue_skills = {q: rnd.sample(PRODUCTS, 1) + rnd.sample(LANGS, 1) for q in queues}
    now = 100_000.0

    agents: dict[str, Agent] = {}
    calls: dict[str, Call] = {}
    states = [s for s, _ in BUSY_MIX]
    weights = [w for _, w in BUSY_MIX]
    ready_ids = set(rnd.sample(range(n_agents), min(n_ready, n_agents)))
    for i in range(n_agents):
        dept = rnd.choice(depts)
        home = rnd.sample(dept, min(len(dept), rnd.randint(1, 3)))
        overflow = rnd.sample([q for q in dept if q not in home], min(len(dept) - len(home), rnd.randint(0, 2)))
        penalties = {q: 0 for q in home} | {q: rnd.randint(1, 3) for q in overflow}
        skills = {s: rnd.randint(0, 5) for s in rnd.sample(SKILLS, rnd.randint(2, 6))}
        for q in home:  # home queues: the agent has their skills, mostly
            for s in queue_skills[q]:
                skills.setdefault(s, rnd.randint(1, 5))
        state = AgentState.READY if i in ready_ids else rnd.choices(states, weights)[0]
        aid = f"agent{i:04}"
        agent = Agent(id=aid, name=f"Agent {i}", device=f"PJSIP/{10000 + i}", state=state,
                      state_since=now - rnd.uniform(0, 3600), last_call_end=now - rnd.uniform(0, 7200),
                      queues=list(penalties) if state is not AgentState.LOGGED_OUT else [],
                      penalties=penalties, skills=skills)
        if state in (AgentState.ON_CALL, AgentState.RINGING):
            cid = f"active{i:04}"
            agent.call_id = cid
            q = rnd.choice(agent.queues)
            calls[cid] = Call(id=cid, caller=f"+4420{i:07}", did="5000", queue=q, channel=f"ch-{cid}",
                              bridge=f"br-{cid}", enqueued=now - rnd.uniform(0, 900), agent=aid,
                              state=CallState.CONNECTED if state is AgentState.ON_CALL else CallState.RINGING)
        agents[aid] = agent

    # waiting calls: Zipf-like over the busy queues
    qweights = [1 / (k + 1) for k in range(len(busy_queues))]
    agent_ids = list(agents)
    for i in range(n_calls):
        q = rnd.choices(busy_queues, qweights)[0]
        need = rnd.choices([0, 1, 2], [0.3, 0.5, 0.2])[0]
        cid = f"call{i:04}"
        r = rnd.random()
        calls[cid] = Call(id=cid, caller=f"+4430{i:07}", did="5000", queue=q, channel=f"ch-{cid}",
                          bridge=f"br-{cid}", state=CallState.QUEUED, created=now - 1000,
                          enqueued=now - rnd.uniform(0, 900), skills=queue_skills[q][:need],
                          priority=rnd.choice([1, 2]) if r < 0.05 else 0,
                          sticky_agent=rnd.choice(agent_ids) if 0.05 <= r < 0.10 else None,
                          target_agent=rnd.choice(agent_ids) if 0.10 <= r < 0.11 else None)

    if settled:
        # every waiting call waits because nobody eligible is ready: the ready agents work only
        # the quiet queues; nobody is the target of a waiting call
        for c in calls.values():
            if c.state is CallState.QUEUED and c.target_agent and agents[c.target_agent].state is AgentState.READY:
                c.target_agent = None
        for a in agents.values():
            if a.state is AgentState.READY:
                a.queues = rnd.sample(quiet, min(len(quiet), 2))
                a.penalties = {q: 0 for q in a.queues}
        if trigger:  # one agent of the busiest queue comes back from wrap-up
            top = busy_queues[0]
            a = next(a for a in agents.values() if top in a.queues and a.state is AgentState.WRAP_UP)
            a.state, a.state_since = AgentState.READY, now
            a.skills |= {s: 3 for s in queue_skills[top]}
        assert len(decide(calls.values(), agents.values(), qp)) == (1 if trigger else 0)
    return calls, agents, qp


def load_impl(spec: str) -> Callable:
    if spec.endswith(".py"):
        mspec = importlib.util.spec_from_file_location("_routing_impl", spec)
        module = importlib.util.module_from_spec(mspec)
        mspec.loader.exec_module(module)
    else:
        module = importlib.import_module(spec)
    return module.decide


def time_decide(calls: dict[str, Call], agents: dict[str, Agent], qp: dict[str, int],
                iterations: int, decide: Callable = decide) -> tuple[list[int], int]:
    cv, av = calls.values(), agents.values()
    offers = len(decide(cv, av, qp))
    for _ in range(min(50, iterations)):  # warm-up
        decide(cv, av, qp)
    samples = []
    clock: Callable[[], int] = time.perf_counter_ns
    for _ in range(iterations):
        t0 = clock()
        decide(cv, av, qp)
        samples.append(clock() - t0)
    return samples, offers


def pct(sorted_ns: list[int], p: float) -> float:
    """Nearest-rank percentile, in ms."""
    k = max(0, min(len(sorted_ns) - 1, int(round(p / 100 * len(sorted_ns) + 0.5)) - 1))
    return sorted_ns[k] / 1e6


def report(prefix: str, samples: list[int], offers: int, calls: dict[str, Call], agents: dict[str, Agent]) -> None:
    s = sorted(samples)
    ready = sum(1 for a in agents.values() if a.state is AgentState.READY and a.call_id is None)
    waiting = sum(1 for c in calls.values() if c.state is CallState.QUEUED)
    lines = [("agents", len(agents), ""), ("ready", ready, ""), ("calls_total", len(calls), ""),
             ("calls_waiting", waiting, ""), ("offers", offers, ""),
             ("p50", f"{pct(s, 50):.3f}", "ms"), ("p90", f"{pct(s, 90):.3f}", "ms"),
             ("mean", f"{statistics.fmean(s) / 1e6:.3f}", "ms"), ("max", f"{s[-1] / 1e6:.3f}", "ms")]
    for name, value, unit in lines:
        print(f"{prefix}{name}: {value}{' ' + unit if unit else ''}", flush=True)
    print(f"{prefix}p99: {pct(s, 99):.3f} ms", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--agents", type=int, default=2000)
    ap.add_argument("--calls", type=int, default=500, help="waiting (QUEUED) calls")
    ap.add_argument("--ready", type=int, default=20, help="READY agents in the headline scenario")
    ap.add_argument("--worst-ready", type=int, default=200, help="READY agents in the worst_ scenario (0: skip)")
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--iterations", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", choices=("headline", "settled", "worst", "nooffer"), action="append",
                    help="run only these scenarios (repeatable)")
    ap.add_argument("--impl", default="", help="time this module's decide instead (file.py or package.module)")
    ap.add_argument("--profile", default="", help="write a cProfile of the headline scenario's decide() calls")
    args = ap.parse_args(argv)

    scenarios = [("headline", "", dict(n_ready=args.ready)),
                 ("settled", "settled_", dict(n_ready=args.ready, settled=True)),
                 ("nooffer", "nooffer_", dict(n_ready=args.ready, settled=True, trigger=False))]
    if args.worst_ready:
        scenarios.append(("worst", "worst_", dict(n_ready=args.worst_ready)))
    fn = decide
    if args.impl:
        fn = load_impl(args.impl)
        print(f"impl: {args.impl}", flush=True)
    headline = None
    for name, prefix, kw in scenarios:
        if args.only and name not in args.only:
            continue
        calls, agents, qp = build(args.agents, args.calls, n_queues=args.queues, seed=args.seed, **kw)
        if name == "headline" and args.profile:
            prof = cProfile.Profile()
            prof.enable()
            for _ in range(args.iterations):
                fn(calls.values(), agents.values(), qp)
            prof.disable()
            prof.dump_stats(args.profile)
        gc.collect()
        if fn is not decide and fn(calls.values(), agents.values(), qp) != decide(calls.values(), agents.values(), qp):
            print(f"{prefix}error: {args.impl} disagrees with server decide()", file=sys.stderr)
            return 1
        samples, offers = time_decide(calls, agents, qp, args.iterations, fn)
        if name == "headline":
            headline = (samples, offers, calls, agents)  # printed last, so it is the final p99 line
        else:
            report(prefix, samples, offers, calls, agents)
    if headline:
        report("", *headline)
    return 0


if __name__ == "__main__":
    sys.exit(main())
