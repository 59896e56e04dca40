"""Predictive against progressive dialing, side by side, on a simulated floor (server/outbound/pacing.py).

    python bench/dialer.py [--agents 20,50,100] [--hours 8] [--answer 0.35] [--machine 0.10]
                           [--busy 0.10] [--aht 180] [--wrap 15] [--cap 0.03] [--seed 1]

A discrete-event simulation, seeded: each placed call rings 3-15 s and is answered by a person
(--answer), an answering machine (--machine: the AMD verdict takes 3 s, then it is hung up), busy
(--busy: at once), or nobody (25 s of ringing). A person answered is connected to a free agent at
once; with none free the call waits up to the connect limit (2 s) for one, else it is abandoned (the
callee hears the message). A connected call lasts a lognormal talk time with mean --aht, then --wrap
seconds of wrap-up. The pacer decides once a second what to place, with the same code the server
runs; its decision time is measured (the headline p99).

Printed per floor size and mode: occupancy (talk / agent time), abandonment rate (abandoned / answered
by a person), calls placed, connected; and the ratio of predictive to progressive occupancy.
"""
from __future__ import annotations

import argparse
import heapq
import math
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cc_console.server.outbound.pacing import Pacer, PacerSettings  # noqa: E402

CONNECT_LIMIT = 2.0


def simulate(agents: int, mode: str, hours: float, p_answer: float, p_machine: float, p_busy: float,
             aht: float, wrap: float, cap: float, seed: int, decision_ns: list[int]) -> dict[str, float]:
    rng = random.Random(seed)
    pacer = Pacer(PacerSettings(abandon_cap=cap))
    end = hours * 3600
    free_at = [0.0] * agents  # when each agent is free again (<= now: free)
    call_start = [0.0] * agents  # when the agent's current call was connected
    talk_total = 0.0
    events: list[tuple[float, int, str, int]] = []  # (time, seq, kind, data)
    seq = 0
    in_flight = 0
    waiting: list[float] = []  # answered persons waiting for an agent: their answer times
    placed = connected = abandoned = human = 0
    sigma = 0.6
    mu = math.log(aht) - sigma * sigma / 2

    def push(t: float, kind: str, data: int = 0) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (t, seq, kind, data))

    def free_agent(now: float) -> int | None:
        best = None
        for i, t in enumerate(free_at):
            if t <= now and (best is None or t < free_at[best]):
                best = i
        return best

    def connect(i: int, now: float) -> None:
        nonlocal talk_total, connected
        talk = rng.lognormvariate(mu, sigma)
        talk_total += min(talk, max(0.0, end - now))
        call_start[i] = now
        free_at[i] = now + talk + wrap
        connected += 1
        push(now + talk + wrap, "free", i)

    push(0.0, "tick")
    now = 0.0
    while events:
        now, _, kind, data = heapq.heappop(events)
        if now > end:
            break
        if kind == "tick":
            free = sum(1 for t in free_at if t <= now) - len(waiting)
            busy_remaining = [t - now for t in free_at if t > now]
            t0 = time.perf_counter_ns()
            n = pacer.to_dial(mode=mode, free=max(0, free), busy_remaining=busy_remaining, in_flight=in_flight,
                              now=now, aht=aht + wrap)
            decision_ns.append(time.perf_counter_ns() - t0)
            for _ in range(n):
                placed += 1
                in_flight += 1
                r = rng.random()
                if r < p_busy:
                    push(now + 0.5, "fail", 0)
                elif r < p_busy + p_machine:
                    push(now + rng.uniform(3, 15) + 3.0, "fail", 0)  # AMD says machine: hung up
                elif r < p_busy + p_machine + p_answer:
                    push(now + rng.uniform(3, 15), "answer", 0)
                else:
                    push(now + 25.0, "fail", 0)
            push(now + 1.0, "tick")
        elif kind == "fail":
            in_flight -= 1
            pacer.placed_outcome(False)
        elif kind == "answer":
            in_flight -= 1
            human += 1
            pacer.placed_outcome(True)
            i = free_agent(now)
            if i is not None and not waiting:
                connect(i, now)
                pacer.answered(now, abandoned=False)
            else:
                waiting.append(now)
                push(now + CONNECT_LIMIT, "limit", 0)
        elif kind == "free":
            if waiting:
                waiting.pop(0)
                connect(data, now)
                pacer.answered(now, abandoned=False)
        elif kind == "limit":
            stale = [w for w in waiting if now - w >= CONNECT_LIMIT - 1e-9]
            for w in stale:
                waiting.remove(w)
                abandoned += 1
                pacer.answered(now, abandoned=True)
    occupancy = talk_total / (agents * end)
    return {"occupancy": occupancy, "abandon": abandoned / human if human else 0.0, "placed": placed,
            "connected": connected, "human": human}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", default="20,50,100")
    ap.add_argument("--hours", type=float, default=8.0)
    ap.add_argument("--answer", type=float, default=0.35)
    ap.add_argument("--machine", type=float, default=0.10)
    ap.add_argument("--busy", type=float, default=0.10)
    ap.add_argument("--aht", type=float, default=180.0)
    ap.add_argument("--wrap", type=float, default=15.0)
    ap.add_argument("--cap", type=float, default=0.03)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    decision_ns: list[int] = []
    lines = []
    for n in (int(x) for x in a.agents.split(",")):
        got = {}
        for mode in ("progressive", "predictive"):
            got[mode] = simulate(n, mode, a.hours, a.answer, a.machine, a.busy, a.aht, a.wrap, a.cap, a.seed,
                                 decision_ns)
        pr, pd = got["progressive"], got["predictive"]
        lines.append(f"agents {n}: occupancy progressive {pr['occupancy']:.1%} predictive {pd['occupancy']:.1%} "
                     f"(ratio {pd['occupancy'] / pr['occupancy']:.2f}); abandoned progressive {pr['abandon']:.2%} "
                     f"predictive {pd['abandon']:.2%} (cap {a.cap:.0%}); placed {pr['placed']} / {pd['placed']}; "
                     f"connected {pr['connected']} / {pd['connected']}")
    q = statistics.quantiles([x / 1e6 for x in decision_ns], n=100)
    print(f"p99: {q[98]:.4f} ms")
    print(f"pacing decisions: {len(decision_ns)}, p50 {q[49]:.4f} ms")
    print(f"callees: answer {a.answer:.0%}, machine {a.machine:.0%}, busy {a.busy:.0%}, no answer "
          f"{1 - a.answer - a.machine - a.busy:.0%}; handling {a.aht:g} s + {a.wrap:g} s wrap-up; {a.hours:g} h")
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
