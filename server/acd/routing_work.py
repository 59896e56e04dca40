"""The routing decision for work items of every channel (call, chat, email, sms), with each agent's
capacity per channel. A pure function, no I/O, no clock, like routing.py.

A work item is whatever waits for an agent: a call, a chat, an e-mail, an SMS conversation. Calls
are still decided by the engine's RoutingIndex (one call per agent, the hot path); `decide_work`
restricted to calls with a capacity of one call gives exactly the offers of `decide_simple` (a
property test checks it), and the written channels (server/chat and what is built on it) take their
offers from `decide_work` over the same agents, so one set of rules serves every channel:

* waiting order as for calls: the queue's priority, the item's priority, the longest wait, the id;
* an agent may take an item of channel ``ch`` when present for it (calls: READY with no call, as
  before; written channels: READY, RINGING or ON_CALL, never paused, in wrap-up or logged out, and
  not paused for that channel alone), below their capacity for ``ch`` (items they hold, items in
  their wrap-up and offers of this decision count), and holding no work of a channel that
  ``Capacity.exclusive[ch]`` names ("no chat while on a call");
* the best agent: the sticky one if eligible; else the lowest penalty, the highest skill, the
  fewest items of that channel (chats spread over the agents), the longest idle, the id.

Unlike calls, an agent may get several written items in one decision, up to the capacity.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cc_console.models import Agent, AgentState

CHANNELS = ("call", "chat", "email", "sms")
_PRESENT = (AgentState.READY, AgentState.RINGING, AgentState.ON_CALL)


@dataclass
class WorkItem:
    """Something waiting for an agent; the fields the decision reads (a Call carries the same)."""

    id: str
    channel: str
    queue: str
    skills: list[str] = field(default_factory=list)
    priority: int = 0
    enqueued: float = 0.0
    target_agent: str | None = None  # only this agent (a transfer to an agent, overflow to an agent)
    sticky_agent: str | None = None  # the customer's last agent, first if eligible


@dataclass(frozen=True)
class Capacity:
    """Items of each channel an agent may hold at once, and which work keeps a channel closed."""

    limits: Mapping[str, int] = field(default_factory=lambda: {"call": 1, "chat": 3, "email": 5, "sms": 3})
    # channel -> channels whose work blocks it: {"chat": {"call"}} is "no new chat while on a call"
    exclusive: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def limit(self, channel: str) -> int:
        return int(self.limits.get(channel, 0))


def call_load(agent: Agent) -> int:
    """The calls an agent holds: one while a call rings them or is connected."""
    return 1 if agent.call_id is not None or agent.state in (AgentState.RINGING, AgentState.ON_CALL) else 0


def present(agent: Agent, channel: str) -> bool:
    if channel == "call":
        return agent.state is AgentState.READY and agent.call_id is None
    return agent.state in _PRESENT


def waiting_order(item: WorkItem, qp: Mapping[str, int]) -> tuple:
    return (-qp.get(item.queue, 0), -item.priority, item.enqueued, item.id)


def decide_work(items: Iterable[WorkItem], agents: Iterable[Agent],
                loads: Mapping[str, Mapping[str, int]] | None = None, capacity: Capacity | None = None,
                queue_priority: Mapping[str, int] | None = None,
                paused: Mapping[str, frozenset[str]] | None = None) -> list[tuple[str, str]]:
    """Offers to make now, as (item_id, agent_id) pairs, in waiting order.

    ``loads``: agent id -> channel -> items the agent holds of it (their calls are read from the
    agent itself when absent). ``paused``: agent id -> channels the agent is not taking now (a chat
    not answered in time pauses chats alone). No agent goes beyond a capacity, and the result is
    work-conserving: after it, no waiting item has an eligible agent with room left.
    """
    cap = capacity or Capacity()
    qp = queue_priority or {}
    loads = loads or {}
    paused = paused or {}
    pool = {a.id: a for a in agents}
    held: dict[str, dict[str, int]] = {}
    for aid, a in pool.items():
        mine = dict(loads.get(aid, {}))
        mine.setdefault("call", call_load(a))
        held[aid] = mine
    offers: list[tuple[str, str]] = []
    for item in sorted(items, key=lambda i: waiting_order(i, qp)):
        ch = item.channel
        limit = cap.limit(ch)
        blockers = cap.exclusive.get(ch, frozenset())
        best: Agent | None = None
        best_rank: tuple | None = None
        for a in pool.values():
            h = held[a.id]
            if not present(a, ch) or ch in paused.get(a.id, ()) or h.get(ch, 0) >= limit:
                continue
            if any(h.get(b, 0) > 0 for b in blockers):
                continue
            if item.target_agent is not None:
                if a.id != item.target_agent:
                    continue
            elif item.queue not in a.queues or not all(a.skills.get(s, 0) > 0 for s in item.skills):
                continue
            if a.id == item.sticky_agent:
                best = a
                break
            rank = (a.penalties.get(item.queue, 0), -sum(a.skills.get(s, 0) for s in item.skills),
                    h.get(ch, 0), max(a.state_since, a.last_call_end), a.id)
            if best_rank is None or rank < best_rank:
                best, best_rank = a, rank
        if best is not None:
            h = held[best.id]
            h[ch] = h.get(ch, 0) + 1
            offers.append((item.id, best.id))
    return offers
