"""A pause asked for during a call: kept as pending, applied when the call ends, cancellable.

Issue 11: agents expect to ask for a pause (with a reason) during a call; it used to be refused.
"""
from __future__ import annotations

import pytest

from .asterisk import connected_call, until

pytestmark = pytest.mark.asterisk


def agent(client):
    return client.state.my_agent or {}


async def test_pause_during_a_call_starts_when_it_ends_and_no_call_is_offered(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    a1, sup = await connect("agent1"), await connect("sup1")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    result = await a1.call("agent.pause", {"reason": "break"})
    assert result["agent"]["state"] == "on_call" and result["agent"]["pending_pause"] == "break"
    await until(a1, lambda: agent(a1).get("pending_pause") == "break", what="pause pending")
    assert agent(a1)["state"] == "on_call" and a1.state.my_call["id"] == c["id"]
    # A second caller waits while agent1 talks; agent1 must not get it when this call ends.
    waiting = await pbx.place_call("5000", caller="0612000002")
    await until(sup, lambda: any(x["caller"] == "0612000002" and x["state"] == "queued"
                                 for x in sup.state.calls.values()), what="second caller queued")
    await a1.call("call.hangup")
    await until(a1, lambda: agent(a1).get("state") == "paused", what="paused after the call")
    assert agent(a1)["reason"] == "break" and agent(a1)["pending_pause"] == ""
    await server.engine.idle()
    second = next(x for x in server.engine.calls.values() if x.caller == "0612000002")
    assert second.state == "queued" and second.offers == 0  # never offered to the pausing agent
    kinds = [e.kind for e in server.store.events(kinds=("agent.pause_pending", "agent.state"))
             if e.agent_id == "agent1"]
    assert "agent.pause_pending" in kinds
    await pbx.hangup(waiting.outer)


async def test_a_pending_pause_can_be_cancelled(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    a1 = await connect("agent1")
    await a1.call("agent.login")
    await connected_call(a1, caller)
    await a1.call("agent.pause", {"reason": "break"})
    await until(a1, lambda: agent(a1).get("pending_pause") == "break", what="pause pending")
    result = await a1.call("agent.pause_cancel")
    assert result["agent"]["pending_pause"] == ""
    await until(a1, lambda: agent(a1).get("pending_pause") == "", what="pending pause cancelled")
    await a1.call("call.hangup")
    await until(a1, lambda: agent(a1).get("state") == "ready", what="ready after the call")
    with pytest.raises(Exception) as exc:
        await a1.call("agent.pause_cancel")
    assert getattr(exc.value, "code", "") == "conflict"
