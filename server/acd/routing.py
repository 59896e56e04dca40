"""The routing decision: a pure function of the waiting calls and the agents. No I/O, no clock.

Property tests and bench/routing.py hit it directly. The server calls it after every change that
could let a call be offered (a call queued, an agent becoming ready, a call ending).

Order of waiting calls: the queue's priority, then the caller's priority (VIP list), then the
longest wait. For each call in that order the best eligible agent gets it: the caller's last agent
if sticky routing applies and they are ready; else the lowest penalty for the call's queue, then
the highest skill for the skills the queue needs, then the longest idle.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

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


def decide(calls: Iterable[Call], agents: Iterable[Agent],
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
