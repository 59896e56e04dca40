"""The routing decision: a pure function of the waiting calls and the agents. No I/O, no clock.

Property tests and bench/ hit it directly. The server calls it after every change that could let
a call be offered (a call queued, an agent becoming ready, a call ending).
"""
from __future__ import annotations

from collections.abc import Iterable

from cc_console.models import Agent, AgentState, Call, CallState


def waiting_order(call: Call) -> tuple[float, float, str]:
    # Higher priority first, then whoever has waited longest; the id makes the order total.
    return (-call.priority, call.enqueued, call.id)


def idle_order(agent: Agent) -> tuple[float, str]:
    # Longest idle first: the earliest moment since which the agent has been ready.
    return (max(agent.state_since, agent.last_call_end), agent.id)


def decide(calls: Iterable[Call], agents: Iterable[Agent]) -> list[tuple[str, str]]:
    """Offers to make now, as (call_id, agent_id) pairs.

    Each waiting call, in waiting order, goes to the longest-idle ready agent logged into its
    queue. No agent gets two offers, no call is offered twice, only READY agents are offered to.
    """
    ready = sorted((a for a in agents if a.state is AgentState.READY and a.call_id is None), key=idle_order)
    if not ready:
        return []
    taken: set[str] = set()
    offers: list[tuple[str, str]] = []
    for call in sorted((c for c in calls if c.state is CallState.QUEUED), key=waiting_order):
        for agent in ready:
            if agent.id not in taken and call.queue in agent.queues:
                taken.add(agent.id)
                offers.append((call.id, agent.id))
                break
        if len(taken) == len(ready):
            break
    return offers
