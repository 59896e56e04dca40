"""The call engine's services answer typed results (the Call, the Agent, a queue's QueueStats), never
the wire's dicts; the front doors turn them to dicts (to_dict). No Asterisk: the engine's ARI
requests go to a stub (tests/test_call_states.py's floor)."""
from __future__ import annotations

import dataclasses

import pytest

from cc_console.errors import Conflict, Forbidden, NotFound
from cc_console.models import Agent, AgentState, Call, CallState, QueueStats

from .test_call_states import Floor, _connected


@pytest.fixture
async def floor(tmp_path):
    f = Floor(tmp_path)
    yield f
    await f.idle()
    f.close()


async def test_agent_services_answer_the_agent(floor):
    eng = floor.eng
    for agent in (eng.agent_login("a1", ["support"]), eng.agent_pause("a1", "break"), eng.agent_ready("a1"),
                  eng.set_agent_state("a1", "paused", "break"), eng.agent_ready("a1"), eng.agent_logout("a1")):
        assert isinstance(agent, Agent) and agent is eng.agents["a1"]
    assert eng.agents["a1"].state is AgentState.LOGGED_OUT


async def test_call_control_answers_the_call_it_acted_on(floor):
    cid = await _connected(floor)
    eng = floor.eng
    held = eng.hold("a1", True)
    assert isinstance(held, Call) and held.id == cid and held.held
    assert eng.hold("a1", False, cid).held is False
    assert eng.mute("a1", True).muted is True
    assert eng.send_dtmf("a1", "12#").id == cid
    moved = eng.transfer("a1", "queue:sales", cid)
    assert isinstance(moved, Call) and moved.queue == "sales" and moved.agent is None
    await floor.idle()


async def test_refusals_are_domain_errors_for_the_agent_to_read(floor):
    eng = floor.eng
    with pytest.raises(NotFound, match="no agent 'nobody'"):
        eng.agent_ready("nobody")
    cid = await _connected(floor, agent="a2", ch="caller-2")
    eng.agent_login("a1", ["support"])
    with pytest.raises(Conflict, match="no call for this agent right now"):
        eng.hangup("a1")
    with pytest.raises(Forbidden, match="that call is not yours"):
        eng.hold("a1", True, cid)
    assert eng.calls[cid].state is CallState.CONNECTED and not eng.calls[cid].held


async def test_queue_problem_answers_the_queues_figures(floor):
    eng = floor.eng
    stats = eng.set_problem("support", True, "sound:tt-monkeys")
    assert isinstance(stats, QueueStats) and stats.name == "support" and stats.problem is True
    # the wire's shape is the typed record's, field for field, as the queue.stats event carries it
    assert stats.to_dict() == dataclasses.asdict(stats) == eng.queue_stats("support")
    assert eng.set_problem("support", False).problem is False
