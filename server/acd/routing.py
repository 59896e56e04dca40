"""The routing decision: a pure function of the waiting calls and the agents. No I/O, no clock.

The server takes the same decision through RoutingIndex (routing_index.py), which keeps its inputs
per queue as they change instead of reading the whole floor each time; `decide` here is what the
index is checked against (CC_CONSOLE_ROUTING_CHECK=1) and what bench/routing.py times as "before".
Property tests hit both.

Order of waiting calls: the queue's priority, then the caller's priority (VIP list), then the
longest wait. For each call in that order the best eligible agent gets it: the caller's last agent
if sticky routing applies and they are ready; else the lowest penalty for the call's queue, then
the highest skill for the skills the queue needs, then the longest idle.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from heapq import heapify, heappop, heappush
from typing import Any

from cc_console.models import Agent, AgentState, Call, CallState


def waiting_order(call: Call, queue_priority: Mapping[str, int]) -> tuple[int, int, float, str]:
    return (-queue_priority.get(call.queue, 0), -call.priority, call.enqueued, call.id)


def idle_since(agent: Agent) -> float:
    return max(agent.state_since, agent.last_call_end)


def eligible(agent: Agent, call: Call) -> bool:
    """May this agent take this call now? (Ready, logged into its queue, has the skills.)"""
    if agent.state is not AgentState.READY or agent.call_id is not None:
        return False
    if call.target_agent is not None:
        return agent.id == call.target_agent
    if call.queue not in agent.queues:
        return False
    return all(agent.skills.get(s, 0) > 0 for s in call.skills)


def agent_rank(agent: Agent, call: Call) -> tuple[int, int, float, str]:
    skill = sum(agent.skills.get(s, 0) for s in call.skills)
    return (agent.penalties.get(call.queue, 0), -skill, idle_since(agent), agent.id)


def decide_simple(calls: Iterable[Call], agents: Iterable[Agent],
           queue_priority: Mapping[str, int] | None = None) -> list[tuple[str, str]]:
    """Offers to make now, as (call_id, agent_id) pairs.

    No agent gets two offers, no call is offered twice, only READY agents are offered to, and the
    result is work-conserving: after it, no waiting call has an eligible agent left unoffered.
    """
    ready = [a for a in agents if a.state is AgentState.READY and a.call_id is None]
    if not ready:
        return []
    qp = queue_priority or {}
    taken: set[str] = set()
    offers: list[tuple[str, str]] = []
    for call in sorted((c for c in calls if c.state is CallState.QUEUED), key=lambda c: waiting_order(c, qp)):
        best: Agent | None = None
        best_rank: tuple[int, int, float, str] | None = None
        for agent in ready:
            if agent.id in taken or not eligible(agent, call):
                continue
            if agent.id == call.sticky_agent:
                best = agent
                break
            rank = agent_rank(agent, call)
            if best_rank is None or rank < best_rank:
                best, best_rank = agent, rank
        if best is not None:
            taken.add(best.id)
            offers.append((call.id, best.id))
            if len(taken) == len(ready):
                break
    return offers


# The production decision: the same offers, in the same order, as decide_simple (the plain
# statement of the rules above, kept as the reference the property tests compare against), but
# built for 2,000 agents and 500 waiting calls on every event:
#   1. one pass over the agents builds the free agents by id and by queue;
#   2. a waiting call no free agent could take (its queue has none, or its target is not free) is
#      dropped before sorting; the others are bucketed per queue (targeted calls per target);
#   3. the buckets are merged in waiting order through a heap, and a bucket is dropped as soon as
#      its queue has no free agent left, so calls behind an exhausted queue cost nothing;
#   4. the eligible agents of a (queue, required skills) pair are ranked once, lazily, by
#      agent_rank; each call then takes the first one not yet taken (a cursor).
def decide(calls: Iterable[Call], agents: Iterable[Agent],
           queue_priority: Mapping[str, int] | None = None) -> list[tuple[str, str]]:
    READY, QUEUED = AgentState.READY, CallState.QUEUED
    ready: dict[str, Agent] = {}
    by_queue: dict[str, list[Agent]] = {}
    for a in agents:
        if a.state is READY and a.call_id is None and a.id not in ready:  # ids are unique; first wins
            ready[a.id] = a
            for q in set(a.queues):
                lst = by_queue.get(q)
                if lst is None:
                    by_queue[q] = [a]
                else:
                    lst.append(a)
    if not ready:
        return []
    qp = queue_priority or {}
    # waiting calls some free agent could take, bucketed: queue name, or ("@", agent) if targeted
    buckets: dict[object, list] = {}
    n = 0
    for c in calls:
        if c.state is not QUEUED:
            continue
        t = c.target_agent
        if t is None:
            if c.queue not in by_queue:
                continue
            bkey: Any = c.queue  # a queue name, or ("@", agent) below
        elif t in ready:
            bkey = ("@", t)
        else:
            continue
        n += 1
        item = (-qp.get(c.queue, 0), -c.priority, c.enqueued, c.id, n, c)  # waiting_order, then a tiebreak
        b = buckets.get(bkey)
        if b is None:
            buckets[bkey] = [item]
        else:
            b.append(item)
    if not buckets:
        return []
    blists: list[tuple[Any, list]] = []
    heap = []
    for bkey, b in buckets.items():
        b.sort()  # never compares Call objects: the counter n is unique
        heap.append((b[0], len(blists), 0))
        blists.append((bkey, b))
    heapify(heap)
    free = {q: len(lst) for q, lst in by_queue.items()}
    taken: set[str] = set()
    offers: list[tuple[str, str]] = []
    ranked: dict[tuple, list] = {}
    n_ready = len(ready)
    while heap:
        item, bi, pos = heappop(heap)
        bkey, b = blists[bi]
        call = item[5]
        best: Agent | None = None
        t = call.target_agent
        if t is not None:
            if t in taken:
                continue  # the whole bucket is this one agent's: drop it
            best = ready[t]
        else:
            if not free[bkey]:
                continue  # nobody left in this queue: drop the bucket
            s = call.sticky_agent
            if s is not None and s not in taken and s in ready and eligible(ready[s], call):
                best = ready[s]
            else:
                key = (bkey, tuple(call.skills))
                entry = ranked.get(key)
                if entry is None:
                    # the eligible agents by agent_rank (penalty, -skill sum, idle since, id), inlined
                    need = call.skills
                    rows = []
                    for a in by_queue[bkey]:
                        sk = a.skills
                        total = 0
                        for k in need:
                            level = sk.get(k, 0)
                            if level <= 0:
                                break
                            total += level
                        else:
                            st, le = a.state_since, a.last_call_end
                            rows.append((a.penalties.get(bkey, 0), -total, st if st > le else le, a.id, a))
                    rows.sort()  # never compares Agents: ids are unique among the ready
                    entry = ranked[key] = [[r[4] for r in rows], 0]
                cands, i = entry
                m = len(cands)
                while i < m and cands[i].id in taken:
                    i += 1
                entry[1] = i
                if i < m:
                    best = cands[i]
        if best is not None:
            taken.add(best.id)
            offers.append((call.id, best.id))
            if len(taken) == n_ready:
                break
            for q in set(best.queues):
                free[q] -= 1
        pos += 1
        if pos < len(b):
            heappush(heap, (b[pos], bi, pos))
    return offers
