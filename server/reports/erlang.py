"""Erlang C: agents needed for a target service level from an interval's traffic. Pure math."""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class ErlangResult:
    agents: int
    traffic: float  # erlangs
    p_wait: float  # probability a call waits (Erlang C)
    service_level: float  # fraction answered within the target time
    asa: float  # average speed of answer, seconds
    occupancy: float


def erlang_c(agents: int, traffic: float) -> float:
    """P(wait) for `agents` servers offered `traffic` erlangs (1.0 when agents <= traffic)."""
    if agents <= 0 or traffic <= 0:
        return 0.0 if traffic <= 0 else 1.0
    if agents <= traffic:
        return 1.0
    # Erlang B by the stable recurrence, then C from B.
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    rho = traffic / agents
    return b / (1 - rho * (1 - b))


def evaluate(agents: int, calls: float, interval_s: float, aht: float, target_s: float) -> ErlangResult:
    traffic = calls * aht / interval_s if interval_s > 0 else 0.0
    pw = erlang_c(agents, traffic)
    if agents <= traffic:
        return ErlangResult(agents, traffic, 1.0, 0.0, math.inf, 1.0)
    sl = 1 - pw * math.exp(-(agents - traffic) * target_s / aht) if aht > 0 else 1.0
    asa = pw * aht / (agents - traffic) if aht > 0 else 0.0
    return ErlangResult(agents, traffic, pw, sl, asa, traffic / agents)


def agents_needed(calls: float, interval_s: float, aht: float, target_s: float, target_sl: float,
                  max_occupancy: float = 1.0) -> ErlangResult:
    """The fewest agents that reach `target_sl` (0..1) answered within `target_s` seconds."""
    traffic = calls * aht / interval_s if interval_s > 0 else 0.0
    if traffic <= 0:
        return ErlangResult(0, 0.0, 0.0, 1.0, 0.0, 0.0)
    n = max(1, math.floor(traffic) + 1)
    while True:
        r = evaluate(n, calls, interval_s, aht, target_s)
        if r.service_level >= target_sl and r.occupancy <= max_occupancy:
            return r
        n += 1
