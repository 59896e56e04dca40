"""Properties of the work-item decision with capacities (server/acd/routing_work.py), calls and
chats mixed. The rules are restated here (spec_*) rather than taken from the module.

* for calls alone, with a capacity of one call, the decision is decide_simple's;
* nobody goes beyond a capacity (held items + this decision's offers), no item is offered twice;
* no chat to an agent on a call when chats are exclusive of calls; paused, wrap-up and logged-out
  agents get nothing; an agent paused for chats gets no chat;
* work-conserving: after the decision no waiting item has an eligible agent with room left;
* freed capacity offers the next item at once: apply the offers, close one of an agent's chats,
  and the next decision gives that agent a chat whenever one it may take still waits.
"""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cc_console.models import Agent, AgentState, CallState
from cc_console.server.acd.routing import decide_simple
from cc_console.server.acd.routing_work import Capacity, WorkItem, decide_work
from tests.test_routing_properties import PROPS, QUEUES, SKILLS, _subset, agent_st, world_st

WRITTEN = ("chat", "email")
ALL_S = (1 << len(SKILLS)) - 1


def spec_calls_held(a: Agent) -> int:
    return 1 if a.call_id is not None or a.state in (AgentState.RINGING, AgentState.ON_CALL) else 0


def spec_room(a: Agent, item: WorkItem, held: dict[str, int], cap: Capacity, paused: frozenset[str]) -> bool:
    ch = item.channel
    if ch == "call":
        if a.state is not AgentState.READY or a.call_id is not None:
            return False
    elif a.state not in (AgentState.READY, AgentState.RINGING, AgentState.ON_CALL):
        return False
    if ch in paused or held.get(ch, 0) >= cap.limits.get(ch, 0):
        return False
    if any(held.get(b, 0) for b in cap.exclusive.get(ch, ())):
        return False
    if item.target_agent is not None:
        return a.id == item.target_agent
    return item.queue in a.queues and all(a.skills.get(s, 0) > 0 for s in item.skills)


@st.composite
def mixed_st(draw):
    agents = [draw(agent_st(i)) for i in range(draw(st.integers(0, 6)))]
    ids = [a.id for a in agents]
    loads = {a.id: {"call": spec_calls_held(a), **{ch: draw(st.integers(0, 4)) for ch in WRITTEN}} for a in agents}
    paused = {a.id: frozenset(c for c in WRITTEN if draw(st.integers(0, 5)) == 0) for a in agents}
    items = []
    for i in range(draw(st.integers(0, 14))):
        ch = draw(st.sampled_from(["call", "chat", "chat", "email"]))
        tgt = draw(st.integers(0, 3 * (len(ids) + 1)))
        sticky = draw(st.integers(0, len(ids) + 1))
        items.append(WorkItem(f"{ch}{i}", ch, draw(st.sampled_from(QUEUES)),
                              _subset(draw(st.integers(0, ALL_S)) & draw(st.integers(0, ALL_S)), SKILLS),
                              draw(st.integers(0, 2)), float(draw(st.integers(0, 6))),
                              target_agent=ids[tgt] if tgt < len(ids) else None,
                              sticky_agent=ids[sticky] if sticky < len(ids) else None))
    cap = Capacity({"call": 1, "chat": draw(st.integers(0, 3)), "email": draw(st.integers(0, 5))},
                   {"chat": frozenset({"call"})} if draw(st.booleans()) else {})
    return items, agents, loads, paused, cap


def _after(items, agents, loads, offers):
    held = {a.id: dict(loads[a.id]) for a in agents}
    by_id = {i.id: i for i in items}
    for iid, aid in offers:
        ch = by_id[iid].channel
        held[aid][ch] = held[aid].get(ch, 0) + 1
    return held


@PROPS
@given(world_st())
def test_calls_alone_decide_as_before(world):
    calls, agents, qp = world
    items = [WorkItem(c.id, "call", c.queue, list(c.skills), c.priority, c.enqueued, c.target_agent,
                      c.sticky_agent) for c in calls if c.state is CallState.QUEUED]
    assert decide_work(items, agents, None, Capacity({"call": 1}), qp) == decide_simple(calls, agents, qp)


@PROPS
@given(mixed_st())
def test_capacity_and_state_per_channel(world):
    items, agents, loads, paused, cap = world
    offers = decide_work(items, agents, loads, cap, None, paused)
    by_item, by_agent = {i.id: i for i in items}, {a.id: a for a in agents}
    assert len({i for i, _ in offers}) == len(offers), f"an item offered twice: {offers}"
    held = {a.id: dict(loads[a.id]) for a in agents}
    for iid, aid in offers:  # in waiting order: each offer fits what the agent held at its turn
        item, a = by_item[iid], by_agent[aid]
        assert spec_room(a, item, held[aid], cap, paused[aid]), (item, a, held[aid], cap)
        held[aid][item.channel] = held[aid].get(item.channel, 0) + 1
    for aid, h in held.items():
        for ch, n in h.items():
            if n > loads[aid].get(ch, 0):
                assert n <= cap.limits.get(ch, 0), f"{aid} holds {n} {ch} beyond {cap.limits}"
    offered = {i for i, _ in offers}
    for item in items:  # work-conserving
        if item.id not in offered:
            free = [a.id for a in agents if spec_room(a, item, held[a.id], cap, paused[a.id])]
            assert not free, f"{item.id} waits while {free} have room: {offers}"


@PROPS
@given(mixed_st(), st.data())
def test_freed_capacity_offers_the_next_chat_at_once(world, data):
    items, agents, loads, paused, cap = world
    offers = decide_work(items, agents, loads, cap, None, paused)
    held = _after(items, agents, loads, offers)
    waiting = [i for i in items if i.id not in {o for o, _ in offers}]
    chatting = [a for a in agents if held[a.id].get("chat", 0) > 0]
    if not chatting:
        return
    a = data.draw(st.sampled_from(chatting))
    held[a.id]["chat"] -= 1  # the agent closes a chat
    again = decide_work(waiting, agents, held, cap, None, paused)
    takers = {i for i, x in again if x == a.id}
    could = [i for i in waiting if i.channel == "chat" and spec_room(a, i, held[a.id], cap, paused[a.id])]
    if could:
        assert takers, f"{a.id} has room and {[i.id for i in could]} wait, yet nothing offered: {again}"
    assert len(takers) <= 1, f"one freed chat slot, {len(takers)} offers to {a.id}: {again}"


def _agent(aid: str, state=AgentState.READY, call_id=None) -> Agent:
    return Agent(id=aid, name=aid, state=state, queues=["support"], call_id=call_id)


def test_example_no_chat_beyond_capacity_nor_on_a_call():
    cap = Capacity({"call": 1, "chat": 2}, {"chat": frozenset({"call"})})
    agents = [_agent("talking", AgentState.ON_CALL, "c1"), _agent("free")]
    chats = [WorkItem(f"chat{i}", "chat", "support", enqueued=float(i)) for i in range(4)]
    assert decide_work(chats, agents, None, cap) == [("chat0", "free"), ("chat1", "free")]
    # without the rule the agent on a call takes chats too
    loose = Capacity({"call": 1, "chat": 2})
    assert sorted(a for _, a in decide_work(chats, agents, None, loose)) == ["free", "free", "talking", "talking"]


def test_example_chats_spread_over_agents():
    agents = [_agent("a"), _agent("b")]
    chats = [WorkItem(f"chat{i}", "chat", "support", enqueued=float(i)) for i in range(4)]
    got = decide_work(chats, agents, {"a": {"chat": 1}}, Capacity({"chat": 3}))
    assert got == [("chat0", "b"), ("chat1", "a"), ("chat2", "b"), ("chat3", "a")]


def test_example_call_and_chat_in_one_decision():
    cap = Capacity({"call": 1, "chat": 3}, {"chat": frozenset({"call"})})
    items = [WorkItem("call", "call", "support", enqueued=1.0), WorkItem("chat", "chat", "support", enqueued=2.0)]
    # the call comes first in waiting order and blocks chats for the agent it rings
    assert decide_work(items, [_agent("only")], None, cap) == [("call", "only")]
    items[1].enqueued = 0.0
    assert decide_work(items, [_agent("only")], None, cap) == [("chat", "only"), ("call", "only")]
