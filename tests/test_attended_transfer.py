"""Attended transfer on real phones: consult, swap, complete, cancel, conference; the target
does not answer; the caller hangs up during the consult; consulting a busy agent."""
from __future__ import annotations

import asyncio
import time

import pytest

from cc_console.protocol import ProtocolError
from cc_console.server.acd.queue_log import read_queue_log
from cc_console.server.pbx.phones import phone_tone_freq, tone_level

from .asterisk import channels_left, connected_call, until

pytestmark = pytest.mark.asterisk




def consult_state(client, call_id):
    c = client.state.calls.get(call_id) or {}
    return (c.get("consult") or {}).get("state")


async def test_consult_swap_complete_and_the_caller_talks_to_the_target(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    p2 = await phone("1002", auto_answer=True)
    sup = await connect("sup1")
    a1, a2 = await connect("agent1"), await connect("agent2")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a2.call("agent.login")  # ready after the call was offered to agent1
    await a2.call("agent.pause", {"reason": "break"})
    with pytest.raises(ProtocolError) as exc:
        await a1.call("call.consult", {"target": "agent:agent2"})
    assert exc.value.code == "conflict" and "paused" in exc.value.message  # a busy agent is refused
    with pytest.raises(ProtocolError) as exc:
        await a1.call("call.consult_complete")
    assert exc.value.code == "conflict"
    await a2.call("agent.ready")
    await a1.call("call.transfer", {"target": "agent:agent2", "mode": "announced"})
    await until(sup, lambda: consult_state(sup, c["id"]) == "talking", what="consult answered")
    assert sup.state.agents["agent2"]["state"] == "on_call"
    await p2.wait_call_state("ESTABLISHED", timeout=10)
    await a1.call("call.consult_swap")
    await until(sup, lambda: (sup.state.calls[c["id"]]["consult"] or {}).get("with") == "caller", what="swapped")
    await a1.call("call.consult_swap")
    await until(sup, lambda: (sup.state.calls[c["id"]]["consult"] or {}).get("with") == "target", what="swapped back")
    await a1.call("call.consult_complete")
    await until(sup, lambda: sup.state.calls[c["id"]]["agent"] == "agent2" and not sup.state.calls[c["id"]]["consult"],
                what="handed over")
    await until(a1, lambda: a1.state.my_agent["state"] == "ready" and not a1.state.my_agent["call_id"],
                what="agent1 free")
    t0 = time.monotonic()
    await asyncio.sleep(3.0)  # caller and agent2 talk
    await caller.hangup()
    await caller.wait_call_state("CLOSED", timeout=10)
    await p2.wait_call_state("CLOSED", timeout=10)
    await until(a2, lambda: a2.state.my_agent["state"] == "ready", what="agent2 ready")
    # The end of what the caller heard carries agent2's phone tone, not agent1's.
    from cc_console.server.pbx.phones import wav_duration
    rec = caller.recorded_wav()
    end = wav_duration(rec)
    assert end > 2.5
    new = tone_level(rec, phone_tone_freq(1002), start=end - 1.8, duration=1.5)
    old = tone_level(rec, phone_tone_freq(1001), start=end - 1.8, duration=1.5)
    assert new > 0.05 and new > 5 * old, (new, old)
    lines = [ln for ln in read_queue_log(server.qlog.path) if ln.callid == c["channel"]]
    assert [ln.event for ln in lines] == ["ENTERQUEUE", "CONNECT", "ATTENDEDTRANSFER"]
    at = lines[-1]
    assert at.agent == "agent1" and at.data[0] == "BRIDGE" and at.data[1] == c["bridge"]
    kinds = [e.kind for e in server.store.events(call_id=c["id"])]
    assert kinds[-1] == "call.completed" and "call.transferred" in kinds and kinds.count("call.consult_swap") == 2
    assert t0


async def test_target_does_not_answer_then_caller_hangs_up_during_consult(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    p1 = await phone("1001", auto_answer=True)
    await phone("1003", auto_answer=False)  # rings, nobody answers
    p4 = await phone("1004", auto_answer=True)
    a1 = await connect("agent1")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a1.call("call.consult", {"target": "1003"})
    await until(a1, lambda: consult_state(a1, c["id"]) == "ringing", what="ringing target")
    # No answer within the ring timeout: back to the caller, hold time recorded.
    await until(a1, lambda: a1.state.calls[c["id"]]["consult"] is None, timeout=20, what="back with the caller")
    assert a1.state.calls[c["id"]]["held"] is False
    ended = [e for e in server.store.events(call_id=c["id"]) if e.kind == "call.consult_ended"]
    assert ended and ended[0].data["why"] == "no answer"
    # A consultation that is answered, and the caller hangs up in the middle of it.
    await a1.call("call.consult", {"target": "1004"})
    await until(a1, lambda: consult_state(a1, c["id"]) == "talking", what="talking to 1004")
    await p4.wait_call_state("ESTABLISHED", timeout=10)
    await caller.hangup()
    await until(a1, lambda: not a1.state.my_call and a1.state.my_agent["state"] == "ready", what="all over")
    await p4.wait_call_state("CLOSED", timeout=10)
    await p1.wait_call_state("CLOSED", timeout=10)
    await server.engine.idle()
    assert not await channels_left(pbx)
    bridges = [b["id"] for b in (await pbx.http.get("/bridges")).json()]
    assert not [b for b in bridges if b.startswith("cc-")]
    last = list(server.store.events(call_id=c["id"]))[-1]
    assert last.kind == "call.completed" and last.data["consult"] == "talking"


async def test_conference_then_the_agent_leaves(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    p4 = await phone("1004", auto_answer=True)
    a1 = await connect("agent1")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a1.call("call.consult", {"target": "1004"})
    await until(a1, lambda: consult_state(a1, c["id"]) == "talking", what="talking to 1004")
    await a1.call("call.conference")
    await until(a1, lambda: consult_state(a1, c["id"]) == "conference", what="conference")
    await server.engine.idle()
    bridge = await pbx.bridge(c["bridge"])
    assert len(bridge["channels"]) == 3
    await asyncio.sleep(1.5)
    await a1.call("call.hangup")  # the agent leaves; caller and 1004 go on
    await until(a1, lambda: a1.state.my_agent["call_id"] is None, what="agent out")
    await server.engine.idle()
    bridge = await pbx.bridge(c["bridge"])
    assert bridge and len(bridge["channels"]) == 2
    await caller.hangup()
    await p4.wait_call_state("CLOSED", timeout=10)


async def test_consult_survives_a_restart_of_our_server(settings, clean_asterisk, connect_to, pbx, phone):
    from cc_console.server.app import Server
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    p4 = await phone("1004", auto_answer=True)
    first = Server(settings)
    await first.start()
    a1 = await connect_to(first, "agent1")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a1.call("call.consult", {"target": "1004"})
    await until(a1, lambda: consult_state(a1, c["id"]) == "talking", what="talking to 1004")
    await first.engine.idle()
    await first.stop()

    second = Server(settings)
    await second.start()
    try:
        await asyncio.wait_for(second.ari.connected.wait(), 10)
        rebuilt = second.engine.calls[c["id"]]
        assert rebuilt.consult and rebuilt.consult["state"] == "talking" and rebuilt.held
        a1 = await connect_to(second, "agent1")
        await a1.call("call.consult_complete")
        await until(a1, lambda: not a1.state.my_agent["call_id"], what="handed over after the restart")
        await second.engine.idle()
        bridge = await pbx.bridge(c["bridge"])
        assert rebuilt.agent_channel in bridge["channels"] and c["channel"] in bridge["channels"]
        assert len(bridge["channels"]) == 2
        await caller.hangup()
        await p4.wait_call_state("CLOSED", timeout=10)
    finally:
        await second.stop()
