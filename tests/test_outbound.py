"""Outbound calls from the console on real phones: reached (talk, hang up), not reached, and the
chosen caller id shown to the called party."""
from __future__ import annotations

import pytest

from cc_console.protocol import ProtocolError

from .asterisk import channels_left, until

pytestmark = pytest.mark.asterisk


async def test_outbound_call_reached_with_caller_id(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    callee = await phone("1004", auto_answer=True)
    agent = await connect("agent1")
    await agent.call("agent.login")
    with pytest.raises(ProtocolError) as exc:
        await agent.call("call.dial", {"number": "1004", "caller_id": "not-a-number"})
    assert exc.value.code == "bad_request"
    res = await agent.call("call.dial", {"number": "1004", "caller_id": "5000", "queue": "support"})
    cid = res["call"]["id"]
    assert res["call"]["direction"] == "outbound"
    await until(agent, lambda: (c := agent.state.calls.get(cid)) and c["state"] == "connected", what="reached")
    assert agent.state.my_agent["state"] == "on_call"
    inc = await callee.wait_call_state("ESTABLISHED", timeout=10)
    # The called party sees the chosen caller id (baresip reports the peer's URI with each call event).
    peers = {e.get("peeruri", "") for e in callee.events if str(e.get("type", "")).startswith("CALL_")}
    assert any(p.startswith("sip:5000@") for p in peers), peers
    await agent.call("call.hangup")
    await until(agent, lambda: agent.state.my_agent["state"] == "ready" and not agent.state.my_agent["call_id"],
                what="ready")
    kinds = [e.kind for e in server.store.events(call_id=cid)]
    assert kinds == ["call.outbound", "call.outbound_dialing", "call.connected", "call.completed"]
    assert inc


async def test_outbound_call_not_reached(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    await phone("1003", auto_answer=False)  # rings, nobody answers
    agent = await connect("agent1")
    await agent.call("agent.login")
    res = await agent.call("call.dial", {"number": "1003"})
    cid = res["call"]["id"]
    await until(agent, lambda: any(e.kind == "call.outbound_dialing" for e in server.store.events(call_id=cid))
                or None, what="dialing")
    await agent.call("call.hangup")  # gives up before the answer
    await until(agent, lambda: agent.state.my_agent["state"] == "ready", what="ready")
    last = list(server.store.events(call_id=cid))[-1]
    assert last.kind == "call.ended" and last.data["outcome"] == "not_reached"
    await server.engine.idle()
    assert not await channels_left(pbx)
