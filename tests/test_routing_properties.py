"""Property tests of the routing decision `decide` (server/acd/routing.py), plus a few examples.

The properties are checked against an independent statement of the rules written here (not the
module's own `eligible`/`agent_rank`/`waiting_order`), so a bug shared by the helpers and `decide`
still shows up:

* waiting order: queue priority (higher first), caller priority (higher first), longest wait, id;
* eligible: agent READY with no call_id; if the call has a target_agent only that agent (overflow
  to an agent: the queue membership and skills are not required then); else logged into the call's
  queue and every required skill at level > 0;
* best agent: the caller's sticky agent if eligible and untaken, else minimal
  (penalty for the call's queue, -sum of the required skills' levels, idle since).
"""
from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from cc_console.models import Agent, AgentState, Call, CallState
from cc_console.server.acd.routing import decide, decide_simple
from cc_console.server.acd.routing_index import RoutingIndex

QUEUES = ["sales", "support", "billing", "vip"]
SKILLS = ["en", "fr", "de", "tech"]

# database=None: no .hypothesis/ directory in the repo; failures print a reproduce blob instead
PROPS = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


# -- the rules, stated independently ---------------------------------------------------------------
def spec_order(call: Call, qp: dict[str, int]) -> tuple:
    return (-qp.get(call.queue, 0), -call.priority, call.enqueued, call.id)


def spec_free(agent: Agent) -> bool:
    return agent.state is AgentState.READY and agent.call_id is None


def spec_eligible(agent: Agent, call: Call) -> bool:
    if not spec_free(agent):
        return False
    if call.target_agent is not None:
        return agent.id == call.target_agent
    return call.queue in agent.queues and all(agent.skills.get(s, 0) > 0 for s in call.skills)


def spec_rank(agent: Agent, call: Call) -> tuple:
    return (agent.penalties.get(call.queue, 0),
            -sum(agent.skills.get(s, 0) for s in call.skills),
            max(agent.state_since, agent.last_call_end))


# -- generators ------------------------------------------------------------------------------------
# Few, wide draws (bit masks and base-n digits) rather than many small ones: generation dominates
# the run time, and these still shrink towards "nothing, level 0, first state".
small_time = st.integers(min_value=0, max_value=6).map(float)  # small range: plenty of ties


def _subset(mask: int, names: list[str]) -> list[str]:
    return [n for i, n in enumerate(names) if mask >> i & 1]


def _digits(value: int, base: int, n: int) -> list[int]:
    out = []
    for _ in range(n):
        value, d = divmod(value, base)
        out.append(d)
    return out


ALL_Q = (1 << len(QUEUES)) - 1
ALL_S = (1 << len(SKILLS)) - 1


@st.composite
def agent_st(draw, i: int) -> Agent:
    queues = _subset(draw(st.integers(0, ALL_Q)), QUEUES)
    # penalties: every logged-in queue has one, plus some others; (a queue without one counts 0)
    extra = _subset(draw(st.integers(0, ALL_Q)), QUEUES)
    levels = _digits(draw(st.integers(0, 4 ** len(QUEUES) - 1)), 4, len(QUEUES))
    penalties = {q: levels[k] for k, q in enumerate(QUEUES) if q in queues or q in extra}
    if queues and draw(st.integers(0, 7)) == 0:
        del penalties[queues[0]]  # occasionally logged in without a penalty entry
    # skills: digit 0 = absent, 1 = present at level 0, 2..5 = level 1..4
    skills = {s: d - 1 for s, d in zip(SKILLS, _digits(draw(st.integers(0, 6 ** len(SKILLS) - 1)), 6, len(SKILLS)))
              if d}
    state = draw(st.sampled_from([AgentState.READY] * 4 + list(AgentState)))  # READY half the time
    call_id = f"busy{i}" if draw(st.integers(0, 4)) == 4 else None  # sometimes set, even on READY
    return Agent(id=f"a{i}", name=f"Agent {i}", state=state, queues=queues, penalties=penalties,
                 skills=skills, call_id=call_id, state_since=draw(small_time), last_call_end=draw(small_time))


@st.composite
def call_st(draw, i: int, agent_ids: list[str]) -> Call:
    ids = [None] + agent_ids + ["ghost"]  # "ghost": an agent that does not exist
    target = draw(st.integers(0, 3 * len(ids)))  # mostly none
    sticky = draw(st.integers(0, len(ids)))
    return Call(
        id=f"c{i}", caller=f"+100{i}", did="5000", channel=f"ch{i}", bridge=f"br{i}",
        state=draw(st.sampled_from([CallState.QUEUED, CallState.QUEUED, *CallState])),
        queue=draw(st.sampled_from(QUEUES)),
        skills=_subset(draw(st.integers(0, ALL_S)) & draw(st.integers(0, ALL_S)), SKILLS),  # ~1 skill
        priority=draw(st.integers(0, 2)), enqueued=draw(small_time),
        target_agent=ids[target] if target < len(ids) else None,
        sticky_agent=ids[sticky] if sticky < len(ids) else None)


@st.composite
def world_st(draw) -> tuple[list[Call], list[Agent], dict[str, int]]:
    n_agents = draw(st.integers(0, 10))
    agents = [draw(agent_st(i)) for i in range(n_agents)]
    ids = [a.id for a in agents]
    calls = [draw(call_st(i, ids)) for i in range(draw(st.integers(0, 10)))]
    qlevels = _digits(draw(st.integers(0, 5 ** len(QUEUES) - 1)), 5, len(QUEUES))
    qp = {q: d - 2 for q, d in zip(QUEUES, qlevels) if d}  # digit 0 = no entry; else -1..2
    return calls, agents, qp


# -- properties ------------------------------------------------------------------------------------
# Each check_* states one property; one hypothesis test runs them all on the same drawn world, so
# the (dominant) generation cost is paid once per example rather than once per property.
def check_only_free_agents_and_queued_calls_at_most_once(calls, agents, qp, offers):
    by_call, by_agent = {c.id: c for c in calls}, {a.id: a for a in agents}
    call_ids = [c for c, _ in offers]
    agent_ids = [a for _, a in offers]
    assert len(set(call_ids)) == len(call_ids), f"a call offered twice: {offers}"
    assert len(set(agent_ids)) == len(agent_ids), f"an agent got two offers: {offers}"
    for c, a in offers:
        assert c in by_call and a in by_agent, (c, a)
        agent, call = by_agent[a], by_call[c]
        assert call.state is CallState.QUEUED, f"{c} offered in state {call.state}"
        # never busy, ringing, wrap-up, paused or logged out, nor holding a call
        assert agent.state is AgentState.READY, f"{a} offered in state {agent.state}"
        assert agent.call_id is None, f"{a} offered while holding {agent.call_id}"


def check_every_offer_eligible(calls, agents, qp, offers):
    by_call, by_agent = {c.id: c for c in calls}, {a.id: a for a in agents}
    for c, a in offers:
        call, agent = by_call[c], by_agent[a]
        assert spec_eligible(agent, call), (call, agent)
        if call.target_agent is not None:
            assert a == call.target_agent, f"{c} targets {call.target_agent}, went to {a}"
        else:
            assert call.queue in agent.queues, f"{a} not logged into {call.queue}"
            assert all(agent.skills.get(s, 0) > 0 for s in call.skills), (call.skills, agent.skills)


def check_work_conserving(calls, agents, qp, offers):
    offered_calls = {c for c, _ in offers}
    offered_agents = {a for _, a in offers}
    for call in calls:
        if call.state is not CallState.QUEUED or call.id in offered_calls:
            continue
        left = [a.id for a in agents if a.id not in offered_agents and spec_eligible(a, call)]
        assert not left, f"{call.id} still waits while eligible ready agents {left} get nothing: {offers}"


def check_no_call_starved_behind_a_later_call(calls, agents, qp, offers):
    by_call, by_agent = {c.id: c for c in calls}, {a.id: a for a in agents}
    offered_calls = {c for c, _ in offers}
    for b_id, a_id in offers:
        b, agent = by_call[b_id], by_agent[a_id]
        for a_call in calls:
            if a_call.state is CallState.QUEUED and a_call.id not in offered_calls \
                    and spec_eligible(agent, a_call):
                assert spec_order(a_call, qp) > spec_order(b, qp), \
                    f"{agent.id} went to {b_id} while {a_call.id}, earlier in waiting order, waits"


def _taken_before(offers, by_call, call, qp):
    """Agents given to calls earlier in waiting order than `call`."""
    key = spec_order(call, qp)
    return {a for c, a in offers if spec_order(by_call[c], qp) < key}


def check_sticky(calls, agents, qp, offers):
    by_call, by_agent = {c.id: c for c in calls}, {a.id: a for a in agents}
    given_to = dict(offers)
    for call in calls:
        if call.state is not CallState.QUEUED or call.sticky_agent not in by_agent:
            continue
        sticky = by_agent[call.sticky_agent]
        if spec_eligible(sticky, call) and sticky.id not in _taken_before(offers, by_call, call, qp):
            assert given_to.get(call.id) == sticky.id, \
                f"{call.id} should go to its sticky agent {sticky.id}: {offers}"


def check_best_agent(calls, agents, qp, offers):
    by_call, by_agent = {c.id: c for c in calls}, {a.id: a for a in agents}
    for c, a in offers:
        call = by_call[c]
        taken = _taken_before(offers, by_call, call, qp)
        candidates = [x for x in agents if x.id not in taken and spec_eligible(x, call)]
        assert a in {x.id for x in candidates}, f"{a} was not free for {c} at its turn"
        if call.sticky_agent in {x.id for x in candidates}:
            assert a == call.sticky_agent
            continue
        best = min(spec_rank(x, call) for x in candidates)
        assert spec_rank(by_agent[a], call) == best, (c, a, spec_rank(by_agent[a], call), best)


CHECKS = [check_only_free_agents_and_queued_calls_at_most_once, check_every_offer_eligible,
          check_work_conserving, check_no_call_starved_behind_a_later_call, check_sticky,
          check_best_agent]


@PROPS
@given(world_st())
def test_decide_properties(world):
    calls, agents, qp = world
    before = ([c.to_dict() for c in calls], [a.to_dict() for a in agents], dict(qp))
    offers = decide(calls, agents, qp)
    assert before == ([c.to_dict() for c in calls], [a.to_dict() for a in agents], dict(qp)), \
        "decide mutated its input"
    for check in CHECKS:
        check(calls, agents, qp, offers)


@PROPS
@given(world_st(), st.randoms(use_true_random=False))
def test_input_order_and_iterables_do_not_matter(world, rnd):
    calls, agents, qp = world
    expected = sorted(decide(calls, agents, qp))
    calls2, agents2 = calls[:], agents[:]
    rnd.shuffle(calls2)
    rnd.shuffle(agents2)
    # one-shot iterables and dict views, as the engine passes them
    assert sorted(decide(iter(calls2), (a for a in agents2), qp)) == expected
    assert sorted(decide({c.id: c for c in calls2}.values(), {a.id: a for a in agents2}.values(), qp)) \
        == expected


def test_checks_catch_a_broken_decide():
    """The checks are not vacuous: a router that ignores readiness and order fails them."""
    calls = [call("old", enqueued=1.0), call("new", enqueued=2.0)]
    agents = [agent("paused", state=AgentState.PAUSED), agent("ready")]
    for bad, check in [([("old", "paused")], check_only_free_agents_and_queued_calls_at_most_once),
                       ([("new", "ready")], check_no_call_starved_behind_a_later_call),
                       ([], check_work_conserving)]:
        try:
            check(calls, agents, {}, bad)
        except AssertionError:
            continue
        raise AssertionError(f"{check.__name__} accepted {bad}")


# -- examples --------------------------------------------------------------------------------------
def agent(aid: str, *, queues=("support",), penalties=None, skills=None, since=0.0, last_end=0.0,
          state=AgentState.READY, call_id=None) -> Agent:
    return Agent(id=aid, name=aid, state=state, queues=list(queues), penalties=dict(penalties or {}),
                 skills=dict(skills or {}), state_since=since, last_call_end=last_end, call_id=call_id)


def call(cid: str, *, queue="support", skills=(), priority=0, enqueued=0.0, target=None, sticky=None,
         state=CallState.QUEUED) -> Call:
    return Call(id=cid, caller="+1", did="5000", queue=queue, channel="ch-" + cid, bridge="br-" + cid,
                state=state, skills=list(skills), priority=priority, enqueued=enqueued,
                target_agent=target, sticky_agent=sticky)


def test_example_higher_skill_wins():
    agents = [agent("low", skills={"en": 1}), agent("high", skills={"en": 5}), agent("none")]
    assert decide([call("c", skills=["en"])], agents) == [("c", "high")]


def test_example_skill_order_two_calls():
    agents = [agent("mid", skills={"en": 3}), agent("top", skills={"en": 5})]
    # both calls need "en"; the earlier one gets the best agent, the next one the other
    offers = decide([call("late", skills=["en"], enqueued=2.0), call("early", skills=["en"], enqueued=1.0)],
                    agents)
    assert offers == [("early", "top"), ("late", "mid")]


def test_example_missing_or_zero_skill_is_not_eligible():
    agents = [agent("zero", skills={"en": 0, "fr": 3}), agent("nofr", skills={"en": 3})]
    assert decide([call("c", skills=["en", "fr"])], agents) == []


def test_example_longest_idle_wins():
    agents = [agent("recent", since=50.0), agent("longest", since=10.0, last_end=20.0),
              agent("justfinished", since=5.0, last_end=60.0)]
    assert decide([call("c")], agents) == [("c", "longest")]


def test_example_penalty_beats_skill():
    agents = [agent("expert", penalties={"support": 2}, skills={"en": 5}),
              agent("primary", penalties={"support": 0}, skills={"en": 1})]
    assert decide([call("c", skills=["en"])], agents) == [("c", "primary")]


def test_example_vip_caller_first():
    agents = [agent("only")]
    calls = [call("normal", enqueued=1.0), call("vip", priority=5, enqueued=100.0)]
    assert decide(calls, agents) == [("vip", "only")]


def test_example_queue_priority_first():
    agents = [agent("only", queues=("support", "sales"))]
    calls = [call("support-old", queue="support", enqueued=1.0, priority=9),
             call("sales-new", queue="sales", enqueued=100.0)]
    assert decide(calls, agents, {"sales": 10, "support": 1}) == [("sales-new", "only")]
    # without queue priorities the caller priority decides
    assert decide(calls, agents) == [("support-old", "only")]


def test_example_longest_wait_first():
    agents = [agent("only")]
    assert decide([call("new", enqueued=9.0), call("old", enqueued=3.0)], agents) == [("old", "only")]


def test_example_sticky_beats_better_agent():
    agents = [agent("best", since=0.0, skills={"en": 5}), agent("last", since=99.0, skills={"en": 1})]
    assert decide([call("c", skills=["en"], sticky="last")], agents) == [("c", "last")]
    # sticky agent not ready: the best one takes it
    agents[1].state = AgentState.WRAP_UP
    assert decide([call("c", skills=["en"], sticky="last")], agents) == [("c", "best")]


def test_example_target_agent_only():
    agents = [agent("best"), agent("target", queues=())]
    assert decide([call("c", target="target")], agents) == [("c", "target")]
    agents[1].state = AgentState.PAUSED
    assert decide([call("c", target="target")], agents) == []


def test_example_busy_states_never_offered():
    agents = [agent(s.value, state=s) for s in AgentState if s is not AgentState.READY]
    agents.append(agent("ready-but-holding", call_id="x"))
    assert decide([call("c")], agents) == []


def test_example_only_queued_calls():
    agents = [agent(f"a{i}") for i in range(6)]
    calls = [call(s.value, state=s) for s in CallState]
    assert decide(calls, agents) == [("queued", agents[0].id)]


def test_example_large_random_world_is_consistent():
    """A bigger world than hypothesis draws: the work-conserving rule still holds."""
    rnd = random.Random(7)
    agents = [agent(f"a{i:03}", queues=rnd.sample(QUEUES, 2), penalties={q: rnd.randint(0, 3) for q in QUEUES},
                    skills={s: rnd.randint(0, 4) for s in SKILLS}, since=rnd.random(),
                    state=rnd.choice(list(AgentState))) for i in range(200)]
    calls = [call(f"c{i:03}", queue=rnd.choice(QUEUES), skills=rnd.sample(SKILLS, rnd.randint(0, 2)),
                  priority=rnd.randint(0, 2), enqueued=rnd.random()) for i in range(300)]
    offers = decide(calls, agents)
    offered_a = {a for _, a in offers}
    offered_c = {c for c, _ in offers}
    assert len(offered_a) == len(offers) == len(offered_c)
    for c in calls:
        if c.id not in offered_c:
            assert not [a for a in agents if a.id not in offered_a and spec_eligible(a, c)]


@settings(max_examples=300, deadline=None, database=None)
@given(world_st())
def test_fast_decide_equals_the_reference(w):
    calls, agents, qp = w
    assert decide(calls, agents, qp) == decide_simple(calls, agents, qp)


# -- the incremental index (server/acd/routing_index.py) ---------------------------------------------
# RoutingIndex keeps the free agents and waiting calls per queue as the engine touches them; its
# decision must be decide_simple's over the whole state, whatever the sequence of changes.

@PROPS
@given(world_st())
def test_index_equals_the_reference(w):
    calls, agents, qp = w
    index = RoutingIndex({c.id: c for c in calls}, {a.id: a for a in agents}, check=False)
    assert index.decide(qp) == decide_simple(calls, agents, qp)


qp_st = st.dictionaries(st.sampled_from(QUEUES), st.integers(-1, 2), max_size=len(QUEUES))


class IndexMachine(RuleBasedStateMachine):
    """Agents and calls come, change in every field the routing reads, and go; the engine's offers
    are applied now and then, so settled states (the usual ones) are reached too. The index is
    told only whom a change concerns, sometimes before the change (as the engine may), and several
    changes may come between two decisions."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, Agent] = {}
        self.qp: dict[str, int] = {}
        self.n = 0
        self.index = RoutingIndex(self.calls, self.agents, check=False)

    def _ids(self) -> list[str]:
        return sorted(self.agents) + ["ghost"]

    @initialize(data=st.data())
    def floor(self, data):
        for _ in range(data.draw(st.integers(0, 6))):
            self._new_agent(data)
        for _ in range(data.draw(st.integers(0, 6))):
            self._new_call(data)
        self.qp = data.draw(qp_st)

    def _new_agent(self, data) -> None:
        self.n += 1
        a = data.draw(agent_st(self.n))
        self.agents[a.id] = a
        self.index.touch_agent(a)

    def _new_call(self, data) -> None:
        self.n += 1
        c = data.draw(call_st(self.n, sorted(self.agents)))
        self.calls[c.id] = c
        self.index.touch_call(c)

    def _change_agent(self, data) -> None:
        if not self.agents:
            return
        aid = data.draw(st.sampled_from(sorted(self.agents)))
        a = self.agents[aid]
        before = data.draw(st.booleans())
        if before:
            self.index.touch_agent(a)
        what = data.draw(st.sampled_from(["state", "call_id", "queues", "skill", "penalty", "since",
                                          "last_end", "replace", "leave"]))
        if what == "state":
            a.state = data.draw(st.sampled_from(list(AgentState)))
        elif what == "call_id":
            a.call_id = data.draw(st.sampled_from([None, None, "busy"]))
        elif what == "queues":
            q = data.draw(st.sampled_from(QUEUES))
            if q in a.queues:
                a.queues.remove(q)  # in place, as the engine's queue logout does
            else:
                a.queues.append(q)
        elif what == "skill":
            s = data.draw(st.sampled_from(SKILLS))
            level = data.draw(st.integers(-1, 4))
            if level < 0:
                a.skills.pop(s, None)
            else:
                a.skills[s] = level
        elif what == "penalty":
            a.penalties[data.draw(st.sampled_from(QUEUES))] = data.draw(st.integers(0, 3))
        elif what == "since":
            a.state_since = data.draw(small_time)
        elif what == "last_end":
            a.last_call_end = data.draw(small_time)
        elif what == "replace":  # a new object under the same id
            b = data.draw(agent_st(0))
            b.id = aid
            self.agents[aid] = b
        else:
            del self.agents[aid]
        if not before or data.draw(st.booleans()):
            self.index.touch_agent(aid)

    def _change_call(self, data) -> None:
        if not self.calls:
            return
        cid = data.draw(st.sampled_from(sorted(self.calls)))
        c = self.calls[cid]
        before = data.draw(st.booleans())
        if before:
            self.index.touch_call(c)
        what = data.draw(st.sampled_from(["state", "queue", "skills", "priority", "enqueued", "target",
                                          "sticky", "replace", "leave"]))
        if what == "state":
            c.state = data.draw(st.sampled_from(list(CallState)))
        elif what == "queue":
            c.queue = data.draw(st.sampled_from(QUEUES))
        elif what == "skills":
            c.skills = _subset(data.draw(st.integers(0, ALL_S)), SKILLS)
        elif what == "priority":
            c.priority = data.draw(st.integers(0, 2))
        elif what == "enqueued":
            c.enqueued = data.draw(small_time)
        elif what == "target":
            c.target_agent = data.draw(st.sampled_from([None, None, *self._ids()]))
        elif what == "sticky":
            c.sticky_agent = data.draw(st.sampled_from([None, *self._ids()]))
        elif what == "replace":
            d = data.draw(call_st(0, sorted(self.agents)))
            d.id = cid
            self.calls[cid] = d
        else:
            del self.calls[cid]
        if not before or data.draw(st.booleans()):
            self.index.touch_call(cid)

    @rule(data=st.data())
    def agent_arrives(self, data):
        self._new_agent(data)

    @rule(data=st.data())
    def call_arrives(self, data):
        self._new_call(data)

    @rule(data=st.data())
    def agent_changes(self, data):
        self._change_agent(data)

    @rule(data=st.data())
    def call_changes(self, data):
        self._change_call(data)

    @rule(data=st.data())
    def several_changes_before_a_decision(self, data):
        for _ in range(data.draw(st.integers(2, 5))):
            data.draw(st.sampled_from([self._change_agent, self._change_call, self._new_agent,
                                       self._new_call]))(data)

    @rule(data=st.data())
    def queue_priorities_change(self, data):
        self.qp = data.draw(qp_st)

    @precondition(lambda self: self.calls and self.agents)
    @rule()
    def offers_made(self):
        """What the engine does with a decision: the call and the agent ring."""
        for cid, aid in decide_simple(self.calls.values(), self.agents.values(), self.qp):
            call, agent = self.calls[cid], self.agents[aid]
            call.state, call.agent = CallState.RINGING, aid
            agent.state, agent.call_id = AgentState.RINGING, cid
            self.index.touch_call(call)  # the call's agent comes with it

    @invariant()
    def same_as_the_reference(self):
        assert self.index.decide(self.qp) == decide_simple(self.calls.values(), self.agents.values(), self.qp)


IndexMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None,
                                          database=None, suppress_health_check=[HealthCheck.too_slow])
test_index_follows_any_sequence_of_changes = IndexMachine.TestCase


class _Floor(dict):
    """The engine's dict, counting what the index reads of it."""

    def __init__(self, *a) -> None:
        super().__init__(*a)
        self.got: list[str] = []
        self.whole = 0

    def get(self, key, default=None):
        self.got.append(key)
        return super().get(key, default)

    def __iter__(self):
        self.whole += 1
        return super().__iter__()

    def values(self):
        self.whole += 1
        return super().values()


def test_a_decision_after_one_change_reads_only_what_changed():
    """On a settled floor of 2,000 agents and 500 waiting calls, one agent back from wrap-up costs
    a look at that agent, not at the floor; the offer is still the full decision's."""
    rnd = random.Random(3)
    agents = _Floor({f"a{i:04}": agent(f"a{i:04}", queues=rnd.sample(QUEUES, 2),
                                       skills={s: rnd.randint(0, 4) for s in SKILLS},
                                       since=rnd.random(), state=rnd.choice([AgentState.READY, AgentState.WRAP_UP]))
                     for i in range(2000)})
    calls = _Floor({f"c{i:03}": call(f"c{i:03}", queue=rnd.choice(QUEUES), skills=rnd.sample(SKILLS, 1),
                                     enqueued=rnd.random()) for i in range(2500)})
    index = RoutingIndex(calls, agents, check=False)
    while offers := index.decide():  # settle: ring every offer, as the engine does
        for cid, aid in offers:
            calls[cid].state, calls[cid].agent = CallState.RINGING, aid
            agents[aid].state, agents[aid].call_id = AgentState.RINGING, cid
            index.touch_call(calls[cid])
    assert sum(c.state is CallState.QUEUED for c in calls.values()) >= 500
    back = next(a for a in agents.values() if a.state is AgentState.WRAP_UP)
    back.state, back.state_since = AgentState.READY, 9.0
    agents.got.clear()
    agents.whole = calls.whole = 0
    index.touch_agent(back)
    offers = index.decide()
    assert (agents.whole, calls.whole, agents.got) == (0, 0, [back.id])
    assert offers == decide(calls.values(), agents.values()) and len(offers) == 1, offers


def test_check_mode_catches_a_change_nobody_touched(caplog):
    agents = {"a": agent("a", state=AgentState.PAUSED)}
    calls = {"c": call("c")}
    index = RoutingIndex(calls, agents, check=True)
    assert index.decide() == []
    agents["a"].state = AgentState.READY  # the engine forgot to touch it
    assert index.decide() == [("c", "a")]  # the full decision is used
    assert "routing index disagreed" in caplog.text
    caplog.clear()
    assert index.decide() == [("c", "a")]  # and the index was rebuilt
    assert "disagreed" not in caplog.text
