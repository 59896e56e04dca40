"""The routing decision kept up to date change by change, so that it costs what changed, not the
whole floor (20,000 agents and 5,000 waiting calls).

`decide()` in routing.py looks at every agent and every waiting call on each event. Yet after each
decision the engine makes every offer it returned, so the next state has no waiting call with a
free eligible agent: only what changed since can produce an offer. RoutingIndex keeps:

* per group (a queue and the skills its calls need): the free agents eligible for it, sorted by
  agent_rank (penalty, -skill sum, idle since, id), and its waiting calls, sorted by waiting_order;
* per agent: the waiting calls targeted at them (overflow to an agent), in waiting order;
* the "live" groups and targets: those with a waiting call and a free agent. Only they can make
  an offer, so a decision merges only them, in waiting order, exactly as decide_simple would.

The engine does not tell the index what changed, only whom: `touch_agent` / `touch_call` after (or
before) changing anything the routing reads. The index re-reads those objects from the engine's
dicts at the next decision, so several changes in one event cost one update, and an object that
left the dict (an ended call) leaves the index. `rebuild()` starts over from the dicts (start-up,
a routing file reload).

With check on (CC_CONSOLE_ROUTING_CHECK=1; the engine tests set it) every decision is compared with
the full decide() and a disagreement is logged as an error, answered with the full decision, and
the index rebuilt: a change the engine forgot to touch shows up there.
"""
from __future__ import annotations

import logging
import os
from bisect import bisect_left, insort
from collections.abc import Mapping
from heapq import heapify, heappop, heapreplace

from cc_console.models import Agent, AgentState, Call, CallState

from .routing import decide

log = logging.getLogger(__name__)

CHECK_ENV = "CC_CONSOLE_ROUTING_CHECK"

# keys, compared as tuples; the ids make them unique, so nothing after an id is ever compared:
#   a waiting call: (-queue priority, -caller priority, enqueued, call id, sticky agent or None)
#   a free agent in a group: (penalty for the queue, -sum of the needed skills, idle since, agent id)
WaitKey = tuple
RankKey = tuple


class _Group:
    """A queue and the skills its calls need: its waiting calls and the free agents who may take them."""
    __slots__ = ("agents", "calls", "members", "queue", "skills")

    def __init__(self, queue: str, skills: tuple[str, ...]) -> None:
        self.queue = queue
        self.skills = skills
        self.calls: list[WaitKey] = []  # sorted
        self.agents: list[RankKey] = []  # sorted
        self.members: dict[str, RankKey] = {}  # agent id -> its key in agents


class _Free:
    """What the index read of a free agent (copied: later changes count only once touched)."""
    __slots__ = ("groups", "idle", "penalties", "queues", "skills")

    def __init__(self, agent: Agent) -> None:
        self.queues = tuple(dict.fromkeys(agent.queues))
        self.penalties = dict(agent.penalties)
        self.skills = dict(agent.skills)
        self.idle = max(agent.state_since, agent.last_call_end)
        self.groups: list[_Group] = []

    def rank(self, aid: str, g: _Group) -> RankKey | None:
        """This agent's key in the group, None if it lacks a skill the group needs."""
        sk = self.skills
        total = 0
        for s in g.skills:
            level = sk.get(s, 0)
            if level <= 0:
                return None
            total += level
        return (self.penalties.get(g.queue, 0), -total, self.idle, aid)


def _remove(lst: list, key: tuple) -> None:
    del lst[bisect_left(lst, key)]


class RoutingIndex:
    def __init__(self, calls: Mapping[str, Call], agents: Mapping[str, Agent], *,
                 check: bool | None = None) -> None:
        self.calls = calls  # the engine's: id -> call (active calls) and id -> agent
        self.agents = agents
        self.check = os.environ.get(CHECK_ENV) == "1" if check is None else check
        self._qp: dict[str, int] = {}
        self._dirty_agents: set[str] = set()
        self._dirty_calls: set[str] = set()
        self.rebuild()

    def _clear(self) -> None:
        self._groups: dict[tuple[str, tuple[str, ...]], _Group] = {}
        self._queue_groups: dict[str, list[_Group]] = {}
        self._free: dict[str, _Free] = {}
        self._free_by_queue: dict[str, set[str]] = {}
        self._targeted: dict[str, list[WaitKey]] = {}  # agent id -> calls waiting for that agent
        self._waiting: dict[str, tuple[_Group | str, WaitKey]] = {}  # call id -> (its bucket, its key)
        self._live: set[_Group] = set()
        self._live_targets: set[str] = set()

    # -- what the engine tells -------------------------------------------------------------------------
    def touch_agent(self, agent: Agent | str) -> None:
        self._dirty_agents.add(agent if isinstance(agent, str) else agent.id)

    def touch_call(self, call: Call | str) -> None:
        if isinstance(call, str):
            self._dirty_calls.add(call)
            return
        self._dirty_calls.add(call.id)
        if call.agent:  # the call's agent changes with it (call_id, last call end)
            self._dirty_agents.add(call.agent)

    def rebuild(self) -> None:
        """Forget everything and read every agent and call again (start-up, routing file reload)."""
        self._clear()
        self._dirty_agents = set(self.agents)
        self._dirty_calls = set(self.calls)

    # -- the decision ----------------------------------------------------------------------------------
    def decide(self, queue_priority: Mapping[str, int] | None = None) -> list[tuple[str, str]]:
        """Offers to make now, as (call_id, agent_id) pairs: the same, in the same order, as
        decide_simple(calls, agents, queue_priority) over the engine's whole state."""
        qp = dict(queue_priority or {})
        if qp != self._qp:
            self._qp = qp
            self.rebuild()  # every waiting call's key holds its queue's priority
        self._flush()
        offers = self._decide() if self._live or self._live_targets else []
        if self.check:
            full = decide(self.calls.values(), self.agents.values(), qp)
            if full != offers:
                log.error("routing index disagreed with the full decision: %s instead of %s; rebuilt it",
                          offers, full)
                self.rebuild()
                self._flush()
                return full
        return offers

    def _decide(self) -> list[tuple[str, str]]:
        buckets: list[_Group | str] = []
        heap = []
        for g in self._live:
            heap.append((g.calls[0], len(buckets), 0))
            buckets.append(g)
        for t in self._live_targets:
            heap.append((self._targeted[t][0], len(buckets), 0))
            buckets.append(t)
        heapify(heap)  # keys are unique (call ids): the bucket number is never compared
        cursor = [0] * len(buckets)  # per group: agents before it are all taken
        taken: set[str] = set()
        offers: list[tuple[str, str]] = []
        n_free = len(self._free)
        while heap:
            key, bi, pos = heap[0]
            b = buckets[bi]
            if isinstance(b, str):  # the calls waiting for agent b
                if b in taken:
                    heappop(heap)
                    continue
                best = b
                calls = self._targeted[b]
            else:
                sticky = key[4]
                if sticky is not None and sticky not in taken and sticky in b.members:
                    best = sticky
                else:
                    agents = b.agents
                    i, m = cursor[bi], len(agents)
                    while i < m and agents[i][3] in taken:
                        i += 1
                    cursor[bi] = i
                    if i == m:  # nobody left for this group: its later calls get nobody either
                        heappop(heap)
                        continue
                    best = agents[i][3]
                calls = b.calls
            taken.add(best)
            offers.append((key[3], best))
            if len(taken) == n_free:
                break
            pos += 1
            if pos < len(calls):
                heapreplace(heap, (calls[pos], bi, pos))
            else:
                heappop(heap)
        return offers

    # -- keeping up ------------------------------------------------------------------------------------
    def _flush(self) -> None:
        if self._dirty_agents:
            dirty, self._dirty_agents = self._dirty_agents, set()
            for aid in dirty:
                self._update_agent(aid, self.agents.get(aid))
        if self._dirty_calls:
            dirty, self._dirty_calls = self._dirty_calls, set()
            for cid in dirty:
                self._update_call(cid, self.calls.get(cid))

    def _update_agent(self, aid: str, agent: Agent | None) -> None:
        old = self._free.pop(aid, None)
        if old is not None:
            for q in old.queues:
                self._free_by_queue[q].discard(aid)
            for g in old.groups:
                _remove(g.agents, g.members.pop(aid))
                if not g.members:
                    self._live.discard(g)
            self._live_targets.discard(aid)
        if agent is None or agent.state is not AgentState.READY or agent.call_id is not None \
                or agent.id != aid:
            return
        free = self._free[aid] = _Free(agent)
        for q in free.queues:
            self._free_by_queue.setdefault(q, set()).add(aid)
            for g in self._queue_groups.get(q, ()):
                self._join(aid, free, g)
        if self._targeted.get(aid):
            self._live_targets.add(aid)

    def _join(self, aid: str, free: _Free, g: _Group) -> None:
        key = free.rank(aid, g)
        if key is None:
            return
        insort(g.agents, key)
        g.members[aid] = key
        free.groups.append(g)
        if g.calls:
            self._live.add(g)

    def _update_call(self, cid: str, call: Call | None) -> None:
        old = self._waiting.pop(cid, None)
        if old is not None:
            bucket, key = old
            if isinstance(bucket, str):
                lst = self._targeted[bucket]
                _remove(lst, key)
                if not lst:
                    del self._targeted[bucket]
                    self._live_targets.discard(bucket)
            else:
                _remove(bucket.calls, key)
                if not bucket.calls:
                    self._live.discard(bucket)
        if call is None or call.state is not CallState.QUEUED or call.id != cid:
            return
        key = (-self._qp.get(call.queue, 0), -call.priority, call.enqueued, cid, call.sticky_agent)
        t = call.target_agent
        if t is not None:
            insort(self._targeted.setdefault(t, []), key)
            self._waiting[cid] = (t, key)
            if t in self._free:
                self._live_targets.add(t)
            return
        skills = tuple(sorted(call.skills))
        g = self._groups.get((call.queue, skills))
        if g is None:
            g = self._groups[(call.queue, skills)] = _Group(call.queue, skills)
            self._queue_groups.setdefault(call.queue, []).append(g)
            for aid in self._free_by_queue.get(call.queue, ()):
                self._join(aid, self._free[aid], g)
        insort(g.calls, key)
        self._waiting[cid] = (g, key)
        if g.members:
            self._live.add(g)
