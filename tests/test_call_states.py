"""The call, agent and consultation state machines (server/calls/states.py), fast: no Asterisk.

The engine runs against an ARI client whose REST calls are instant no-ops and is fed the ARI
events Asterisk would send, for each flow the real-Asterisk tests cover (test_routing_engine,
test_call_control, test_attended_transfer, test_outbound, test_pending_pause): every move it makes
must be on the tables, and the flows must take the moves written down here.
"""
from __future__ import annotations

from typing import Any

import pytest

from cc_console.errors import Conflict
from cc_console.models import AgentState, CallState
from cc_console.server.ari import AriEvent
from cc_console.server.calls.effects import Record
from cc_console.server.calls.states import (
    AGENT_TRANSITIONS,
    AUTO_ANSWER,
    CALL_TRANSITIONS,
    CONSULT_TRANSITIONS,
    ConsultEvent,
    ConsultRefused,
    ConsultState,
    consult_next,
)

from .floor import Floor, _connected

C, A = CallState, AgentState


def _off_table(f: Floor) -> list[tuple[str, str, str, str]]:
    return f.eng.transitions.off_table


async def test_inbound_answered_and_ended_by_the_caller(floor):
    cid = await _connected(floor)
    await floor.event("ChannelDestroyed", "caller-1", cause=16)
    assert floor.path(cid) == ["entering", "queued", "ringing", "connected", "ended"]
    assert floor.path("a1")[:4] == ["logged_out", "ready", "ringing", "on_call"]
    assert floor.path("a1")[4] in ("wrap_up", "ready")
    assert not _off_table(floor)


async def test_ring_no_answer_sends_the_call_back_and_pauses_the_agent(floor):
    floor.eng.agent_login("a1", ["support"])
    cid = await floor.inbound()
    leg = floor.eng.calls[cid].agent_channel
    await floor.event("ChannelDestroyed", leg, cause=19)  # the device did not answer
    assert floor.path(cid) == ["entering", "queued", "ringing", "queued"]
    assert floor.path("a1") == ["logged_out", "ready", "ringing", "paused"]
    await floor.event("ChannelDestroyed", "caller-1", cause=16)  # then the caller gives up
    assert floor.path(cid)[-1] == "ended"
    assert not _off_table(floor)


async def test_a_caller_who_hangs_up_in_the_queue_abandons(floor):
    cid = await floor.inbound()
    await floor.event("ChannelDestroyed", "caller-1", cause=16)
    assert floor.path(cid) == ["entering", "queued", "ended"]
    assert not _off_table(floor)


async def test_blind_transfer_to_a_queue_enters_again(floor):
    cid = await _connected(floor)
    floor.eng.agent_login("a2", ["sales"])
    floor.eng.transfer("a1", "queue:sales", cid)
    assert floor.path(cid)[-4:] == ["connected", "entering", "queued", "ringing"]
    assert floor.eng.calls[cid].agent == "a2"
    assert not _off_table(floor)


async def test_blind_transfer_to_a_number_rings_it(floor):
    cid = await _connected(floor)
    floor.eng.transfer("a1", "0201234567", cid)
    assert floor.path(cid)[-2:] == ["connected", "ringing"]
    assert not _off_table(floor)


async def test_attended_transfer_consult_answer_complete(floor):
    cid = await _connected(floor)
    floor.eng.agent_login("a2", ["support"])
    call = floor.eng.consult("a1", "agent:a2", cid)
    assert call.consult["state"] is ConsultState.RINGING
    with pytest.raises(Conflict, match="swap once the target answered"):
        floor.eng.consult_swap("a1", cid)
    with pytest.raises(Conflict, match="has not answered yet"):
        floor.eng.consult_complete("a1", cid)
    await floor.event("StasisStart", call.consult["leg"], "consult", cid)
    assert call.consult["state"] is ConsultState.TALKING
    floor.eng.consult_swap("a1", cid)
    assert call.consult["with"] == "caller"
    floor.eng.consult_complete("a1", cid)
    assert call.consult is None and call.agent == "a2" and call.state is C.CONNECTED
    assert floor.path("a2") == ["logged_out", "ready", "ringing", "on_call"]
    assert not _off_table(floor)


async def test_consult_cancelled_and_conference(floor):
    cid = await _connected(floor)
    floor.eng.agent_login("a2", ["support"])
    call = floor.eng.consult("a1", "agent:a2", cid)
    floor.eng.consult_cancel("a1", cid)
    assert call.consult is None and floor.eng.agents["a2"].state is A.READY
    call = floor.eng.consult("a1", "agent:a2", cid)
    await floor.event("StasisStart", call.consult["leg"], "consult", cid)
    floor.eng.consult_complete("a1", cid, conference=True)
    assert call.consult["state"] is ConsultState.CONFERENCE
    floor.eng.hangup("a1", cid)  # the agent leaves the conference: the others go on
    assert call.consult is None and call.agent == "a2"
    assert not _off_table(floor)


async def test_the_consulted_target_not_answering_ends_the_consultation(floor):
    cid = await _connected(floor)
    floor.eng.agent_login("a2", ["support"])
    call = floor.eng.consult("a1", "agent:a2", cid)
    await floor.event("ChannelDestroyed", call.consult["leg"], cause=19)
    assert call.consult is None and call.state is C.CONNECTED
    assert not _off_table(floor)


async def test_outbound_call_rings_then_connects(floor):
    floor.eng.agent_login("a1", ["support"])
    call = floor.eng.dial_out("a1", "0201234567")
    await floor.event("StasisStart", call.agent_channel, "outagent", call.id)
    await floor.event("StasisStart", call.channel, "outremote", call.id)
    assert call.state is C.CONNECTED
    floor.eng.hangup("a1", call.id)
    assert floor.path(call.id) == ["ringing", "connected", "ended"]
    assert not _off_table(floor)


async def test_declining_an_offer_on_the_console_sends_the_call_back(tmp_path):
    f = Floor(tmp_path, mode="console")
    try:
        f.eng.agent_login("a1", ["support"])
        cid = await f.inbound()
        assert f.eng.calls[cid].state is C.RINGING  # the console rings; no device leg yet
        f.eng.hangup("a1", cid)
        assert f.path(cid) == ["entering", "queued", "ringing", "queued"]
        assert f.path("a1") == ["logged_out", "ready", "ringing", "paused"]
        assert not _off_table(f)
    finally:
        await f.idle()
        f.close()


async def test_the_callers_callback_key_ends_the_call_with_a_callback(floor):
    cid = await floor.inbound()
    await floor.event("ChannelDtmfReceived", "caller-1", digit="1")
    await floor.event("ChannelDtmfReceived", "caller-1", digit="#")
    assert floor.eng.calls[cid].end_reason == "callback"  # thanked, then hung up by us
    await floor.event("ChannelDestroyed", "caller-1", cause=16)
    assert floor.path(cid) == ["entering", "queued", "entering", "ended"]
    assert floor.eng.callbacks("open")
    assert not _off_table(floor)


async def test_the_callers_voicemail_key_then_hanging_up(floor):
    cid = await floor.inbound()
    await floor.event("ChannelDtmfReceived", "caller-1", digit="2")
    await floor.event("ChannelDestroyed", "caller-1", cause=16)
    assert floor.path(cid) == ["entering", "queued", "voicemail", "ended"]
    assert not _off_table(floor)


async def test_a_move_off_the_table_is_logged_and_counted_not_refused(floor, caplog):
    cid = await floor.inbound()
    call = floor.eng.calls[cid]
    floor.eng._call_to(call, C.VOICEMAIL)
    floor.eng._call_to(call, C.QUEUED)  # voicemail only ends
    assert call.state is C.QUEUED
    assert _off_table(floor) == [("call", cid, "voicemail", "queued")]
    assert "which the call state table does not allow" in caplog.text


def test_the_tables_are_complete_and_ended_is_final():
    assert set(CALL_TRANSITIONS) == set(CallState) and set(AGENT_TRANSITIONS) == set(AgentState)
    assert set(CONSULT_TRANSITIONS) == set(ConsultState)
    assert CALL_TRANSITIONS[C.ENDED] == frozenset() and CALL_TRANSITIONS[C.VOICEMAIL] == {C.ENDED}
    assert C.QUEUED not in CALL_TRANSITIONS[C.CONNECTED]  # back to a queue only by entering again
    assert A.RINGING not in AGENT_TRANSITIONS[A.PAUSED] and A.WRAP_UP not in AGENT_TRANSITIONS[A.READY]


def test_consultation_transitions():
    assert consult_next("ringing", ConsultEvent.ANSWERED) is ConsultState.TALKING
    assert consult_next(ConsultState.TALKING, ConsultEvent.CONFERENCE) is ConsultState.CONFERENCE
    assert consult_next(ConsultState.CONFERENCE, ConsultEvent.COMPLETE) is ConsultState.OVER
    for state in (ConsultState.RINGING, ConsultState.TALKING, ConsultState.CONFERENCE):
        for ev in (ConsultEvent.CANCEL, ConsultEvent.TARGET_GONE, ConsultEvent.CALLER_GONE):
            assert consult_next(state, ev) is ConsultState.OVER
    with pytest.raises(ConsultRefused):
        consult_next(ConsultState.RINGING, ConsultEvent.COMPLETE)
    with pytest.raises(ConsultRefused):
        consult_next(ConsultState.OVER, ConsultEvent.ANSWERED)


def test_the_consultations_transitions_return_their_records_and_ari_requests():
    from cc_console.server.calls.effects import Ari, Op
    from cc_console.server.calls.states import conference_effects, consult_over_effects, consult_swap_effects
    c = {"leg": "cc-1-t1", "bridge": "cc-1-c", "with": "caller", "target": "agent:a2"}
    assert consult_over_effects("cc-1", c, "cc-1-a", "cancelled") == [
        Record("call.consult_ended", None, (("why", "cancelled"),)),
        Ari(Op.HANGUP, "cc-1-t1"), Ari(Op.DESTROY_BRIDGE, "cc-1-c"), Ari(Op.STOP_MOH, "cc-1"),
        Ari(Op.ADD_CHANNEL, "cc-1", "cc-1-a")]
    # no agent leg to put back
    assert Ari(Op.ADD_CHANNEL, "cc-1", "") not in consult_over_effects("cc-1", c, None, "target_gone")
    # swapped to the caller: the agent leaves the consult bridge, whose target now hears the music
    assert consult_swap_effects("cc-1", c, "cc-1-a", "cc-tone") == [
        Record("call.consult_swap", None, (("talking_with", "caller"),)),
        Ari(Op.REMOVE_CHANNEL, "cc-1-c", "cc-1-a"), Ari(Op.STOP_MOH, "cc-1"), Ari(Op.START_MOH, "cc-1-c", "cc-tone"),
        Ari(Op.ADD_CHANNEL, "cc-1", "cc-1-a")]
    assert consult_swap_effects("cc-1", {**c, "with": "target"}, "cc-1-a", "x")[1] == \
        Ari(Op.REMOVE_CHANNEL, "cc-1", "cc-1-a")
    conf = conference_effects("cc-1", c, "cc-1-a", "a1")
    assert conf[0] == Record("call.conference", None, (("agent", "a1"), ("to", "agent:a2")))
    assert conf[1] == Ari(Op.STOP_MOH, "cc-1") and conf[-1] == Ari(Op.DESTROY_BRIDGE, "cc-1-c")
    assert {e.arg for e in conf if isinstance(e, Ari) and e.op is Op.ADD_CHANNEL} == {"cc-1-t1", "cc-1-a"}


async def test_hold_and_take_back_ask_asterisk_for_the_music_and_the_leg(floor):
    from cc_console.server.calls.effects import Ari, Op
    cid = await _connected(floor)
    await floor.idle()
    call = floor.eng.calls[cid]
    floor.sent.clear()
    floor.eng.hold("a1", True, cid)
    await floor.idle()
    assert [name for name, _ in floor.sent] == ["request", "start_moh"]
    floor.sent.clear()
    floor.eng.hold("a1", False, cid)
    await floor.idle()
    assert floor.sent == [("stop_moh", (call.bridge,)), ("add_channel", (call.bridge, call.agent_channel))]
    from cc_console.server.calls.states import hold_effects
    assert hold_effects("b", "l", True, "m", 5.0) == [Record("call.hold", 5.0), Ari(Op.REMOVE_CHANNEL, "b", "l"),
                                                      Ari(Op.START_MOH, "b", "m")]
    assert hold_effects("b", "l", False, "m", 9.0, 4.0) == [Record("call.unhold", 9.0, (("held", 4.0),)),
                                                            Ari(Op.STOP_MOH, "b"), Ari(Op.ADD_CHANNEL, "b", "l")]


async def test_the_engine_performs_a_swaps_requests_in_order(floor):
    cid = await _connected(floor)
    floor.eng.agent_login("a2", ["support"])
    call = floor.eng.consult("a1", "agent:a2", cid)
    await floor.event("StasisStart", call.consult["leg"], "consult", cid)
    await floor.idle()
    floor.sent.clear()
    floor.eng.consult_swap("a1", cid)
    await floor.idle()
    assert [name for name, _ in floor.sent] == ["request", "stop_moh", "start_moh", "add_channel"]
    assert floor.sent[0][1] == ("POST", f"/bridges/{call.consult['bridge']}/removeChannel")


async def test_a_callback_asked_for_by_a_verified_caller_records_that_they_were_identified(floor):
    cid = await floor.inbound()
    floor.eng.calls[cid].verified = {"kind": "yivi", "attributes": {"Name": "Jan"}, "at": 1.0, "via": "number 5900"}
    await floor.event("ChannelDtmfReceived", "caller-1", digit="1")
    await floor.event("ChannelDtmfReceived", "caller-1", digit="#")
    item = next(i for i in floor.eng.callbacks("open") if i["call_id"] == cid)
    assert item["identified"] == {"kind": "yivi", "at": 1.0, "via": "number 5900"}
    assert "Jan" not in str(item)  # that they were identified, not who
    cid2 = await floor.inbound("caller-2")
    await floor.event("ChannelDtmfReceived", "caller-2", digit="1")
    await floor.event("ChannelDtmfReceived", "caller-2", digit="#")
    assert "identified" not in next(i for i in floor.eng.callbacks("open") if i["call_id"] == cid2)


# -- blind transfer, consult complete and an offer: their ARI requests as data ----------------------------


def test_a_blind_transfers_requests():
    from cc_console.server.calls.effects import Ari, Op
    from cc_console.server.calls.states import blind_transfer_effects
    assert blind_transfer_effects("cc-1", "cc-1-1", True, "tone") == [Ari(Op.HANGUP, "cc-1-1"),
                                                                      Ari(Op.START_MOH, "cc-1", "tone")]
    # to a queue or an agent the call enters again, whose entry plays the music: only the leg goes
    assert blind_transfer_effects("cc-1", "cc-1-1", False, "tone") == [Ari(Op.HANGUP, "cc-1-1")]
    assert blind_transfer_effects("cc-1", None, True, "tone") == [Ari(Op.START_MOH, "cc-1", "tone")]


async def test_the_engine_performs_a_blind_transfers_requests_each_on_its_own(floor):
    cid = await _connected(floor)
    await floor.idle()
    call = floor.eng.calls[cid]
    leg = call.agent_channel

    async def gone(channel: str) -> None:  # the agent's phone hung up just before: 404
        from cc_console.server.ari import AriError
        floor.sent.append(("hangup", (channel,)))
        raise AriError(404, "Channel not found")
    floor.ari.hangup = gone  # type: ignore[method-assign]
    floor.sent.clear()
    floor.eng.transfer("a1", "0201234567", cid)
    await floor.idle()
    # the leg that failed to hang up does not keep the caller's music back, nor the number's ringing
    assert [name for name, _ in floor.sent] == ["hangup", "start_moh", "originate"]
    assert floor.sent[0][1] == (leg,) and floor.sent[1][1] == (call.bridge, floor.eng.moh_class)


def test_a_completed_consultations_requests():
    from cc_console.server.calls.effects import Ari, Op
    from cc_console.server.calls.states import consult_complete_effects
    c = {"leg": "cc-1-t1", "bridge": "cc-1-c"}
    assert consult_complete_effects("cc-1", c, "cc-1-a", False) == [
        Ari(Op.STOP_MOH, "cc-1"), Ari(Op.REMOVE_CHANNEL, "cc-1-c", "cc-1-t1"), Ari(Op.ADD_CHANNEL, "cc-1", "cc-1-t1"),
        Ari(Op.DESTROY_BRIDGE, "cc-1-c"), Ari(Op.HANGUP, "cc-1-a")]
    # from a conference the target is in the call's bridge already: the agent just leaves
    assert consult_complete_effects("cc-1", c, "cc-1-a", True) == [Ari(Op.HANGUP, "cc-1-a")]


async def test_the_engine_performs_a_completed_consultations_requests_in_order(floor):
    cid = await _connected(floor)
    floor.eng.agent_login("a2", ["support"])
    call = floor.eng.consult("a1", "agent:a2", cid)
    c, agent_leg = dict(call.consult), call.agent_channel
    await floor.event("StasisStart", c["leg"], "consult", cid)
    await floor.idle()
    floor.sent.clear()
    floor.eng.consult_complete("a1", cid)
    await floor.idle()
    assert floor.sent == [("stop_moh", (call.bridge,)), ("request", ("POST", f"/bridges/{c['bridge']}/removeChannel")),
                          ("add_channel", (call.bridge, c["leg"])), ("destroy_bridge", (c["bridge"],)),
                          ("hangup", (agent_leg,))]


def test_an_offers_requests():
    from cc_console.models import AnswerMode
    from cc_console.server.calls.effects import Originate
    from cc_console.server.calls.states import offer_effects
    rung = Originate("PJSIP/101", "cc-1-1", "agentleg,1", '"support" <0612>', 15,
                     (("CALLERID(name)", "support: 0612"),))
    assert offer_effects("1", "support", "0612", "cc-1-1", "PJSIP/101", AnswerMode.PHONE, 15.4) == [rung]
    # a console-mode agent's phone rings only once the agent accepted, and then picks up by itself
    assert offer_effects("1", "support", "0612", "cc-1-1", "PJSIP/101", AnswerMode.CONSOLE, 15) == []
    (auto,) = offer_effects("1", "support", "0612", "cc-1-1", "PJSIP/101", AnswerMode.CONSOLE, 15, accepted=True)
    assert auto.variables == rung.variables + AUTO_ANSWER
    assert offer_effects("1", "q", "x", "l", "d", AnswerMode.PHONE, 0.2)[0].timeout == 1  # Asterisk needs >= 1 s


@pytest.mark.parametrize("mode", ["phone", "console"])
async def test_the_engine_rings_the_offered_agents_device_as_the_offer_says(tmp_path, mode):
    f = Floor(tmp_path, mode=mode)
    rung: list[dict[str, Any]] = []

    async def originate(endpoint: str, channel_id: str, **kw: Any) -> None:
        rung.append({"endpoint": endpoint, "channel_id": channel_id, **kw})
    f.ari.originate = originate  # type: ignore[method-assign]
    try:
        f.eng.agent_login("a1", ["support"])
        cid = await f.inbound()
        await f.idle()
        call = f.eng.calls[cid]
        if mode == "console":
            assert rung == [] and call.agent_channel is None  # the console rings; no device leg yet
            f.eng.answer("a1", cid)
            await f.idle()
        assert rung == [{"endpoint": "PJSIP/100", "channel_id": call.agent_channel, "app_args": f"agentleg,{cid}",
                         "caller_id": '"support" <0612345678>', "timeout": 30,
                         "variables": {"CALLERID(name)": "support: 0612345678",
                                       **(dict(AUTO_ANSWER) if mode == "console" else {})}}]
    finally:
        await f.idle()
        f.close()


# -- what a transition writes down (the store's records, queue_log lines) as effects too ----------------


def test_a_transfers_records_queue_log_first():
    from cc_console.server.calls.effects import QueueLogWrite, Record
    from cc_console.server.calls.states import transferred_effects
    line = QueueLogWrite("blindtransfer", (10.0, "caller-1", "support", "a1", "queue:sales", "cc-console", 3, 7, 1))
    assert transferred_effects(line, 10.0, "a1", "queue:sales", "blind", 7.2, 1.5) == [
        line, Record("call.transferred", 10.0, (("agent", "a1"), ("to", "queue:sales"), ("mode", "blind"),
                                                 ("talk", 7.2), ("hold", 1.5)))]


async def test_the_engine_writes_a_transfers_lines_and_records_in_the_order_of_the_moves(floor, tmp_path):
    from cc_console.server.acd.queue_log import QueueLog, read_queue_log
    floor.eng.qlog = QueueLog(tmp_path / "queue_log")
    cid = await _connected(floor)
    since = max((e.seq for e in floor.eng.store.events()), default=0)
    floor.eng.hold("a1", True, cid)
    floor.eng.hold("a1", False, cid)
    floor.eng.transfer("a1", "queue:sales", cid)
    await floor.idle()
    kinds = [e.kind for e in floor.eng.store.events(since) if e.call_id == cid]
    # hold, unhold, the transfer, then the caller entering the other queue: the order of the moves
    assert kinds[:3] == ["call.hold", "call.unhold", "call.transferred"], kinds
    assert kinds.index("call.transferred") < kinds.index("call.queued"), kinds
    done = next(e for e in floor.eng.store.events(since) if e.kind == "call.transferred")
    assert done.data["agent"] == "a1" and done.data["to"] == "queue:sales" and done.data["mode"] == "blind"
    assert done.data["hold"] >= 0 and (done.data["call"] or {}).get("agent") in (None, "")
    floor.eng.qlog.close()
    verbs = [ln.event for ln in read_queue_log(tmp_path / "queue_log") if ln.callid == "caller-1"]
    # queue_log closes the stay in support with BLINDTRANSFER, then the caller enters sales
    assert verbs[verbs.index("BLINDTRANSFER") + 1] == "ENTERQUEUE", verbs


def test_an_agents_move_writes_queue_log_per_queue_then_the_store():
    from cc_console.server.calls.effects import AgentRecord, QueueLogWrite
    from cc_console.server.calls.states import agent_move_effects
    A_ = AgentState
    assert agent_move_effects("a1", ["support", "sales"], A_.READY, "", A_.PAUSED, 5.0, "lunch") == [
        QueueLogWrite("pause", (5.0, "support", "a1", "lunch")), QueueLogWrite("pause", (5.0, "sales", "a1", "lunch")),
        AgentRecord("agent.state", 5.0, (("from", "ready"),))]
    # unpausing names the reason of the pause it ends
    assert agent_move_effects("a1", ["support"], A_.PAUSED, "lunch", A_.READY, 9.0)[0] == \
        QueueLogWrite("unpause", (9.0, "support", "a1", "lunch"))
    assert agent_move_effects("a1", ["support"], A_.READY, "", A_.RINGING, 9.0, data=(("call", "c1"),)) == [
        AgentRecord("agent.state", 9.0, (("from", "ready"), ("call", "c1")))]


async def test_the_engine_writes_an_agents_pause_in_order(floor, tmp_path):
    from cc_console.server.acd.queue_log import QueueLog, read_queue_log
    floor.eng.qlog = QueueLog(tmp_path / "queue_log")
    floor.eng.agent_login("a1", ["support", "sales"])
    floor.eng.agent_pause("a1", "break")
    floor.eng.agent_ready("a1")
    floor.eng.qlog.close()
    lines = [(ln.event, ln.queue, ln.data) for ln in read_queue_log(tmp_path / "queue_log") if ln.agent == "a1"]
    assert [ev for ev in lines if ev[0] in ("PAUSE", "UNPAUSE")] == [
        ("PAUSE", "support", ["break"]), ("PAUSE", "sales", ["break"]),
        ("UNPAUSE", "support", ["break"]), ("UNPAUSE", "sales", ["break"])]
    moves = [(e.data.get("from"), (e.data.get("agent") or {}).get("state")) for e in floor.eng.store.events()
             if e.kind == "agent.state" and e.agent_id == "a1"]
    assert moves[-2:] == [("ready", "paused"), ("paused", "ready")], moves


def test_a_connect_and_a_ring_no_answer_write_queue_log_then_the_store():
    from cc_console.server.calls.effects import QueueLogWrite
    from cc_console.server.calls.states import connect_effects, ring_no_answer_effects
    assert connect_effects(20.0, "caller-1", "support", "a1", 12, "cc-1-1", 3, 12.4) == [
        QueueLogWrite("connect", (20.0, "caller-1", "support", "a1", 12, "cc-1-1", 3)),
        Record("call.connected", 20.0, (("agent", "a1"), ("wait", 12.4)))]
    # an overflow to an external number: no agent for queue_log to name
    assert connect_effects(20.0, "caller-1", "support", None, 12, "", 3, 12.4) == [
        Record("call.external_connected", None, (("wait", 12.4),))]
    assert ring_no_answer_effects(30.0, "caller-1", "support", "a1", 15000, "timeout") == [
        QueueLogWrite("ringnoanswer", (30.0, "caller-1", "support", "a1", 15000)),
        Record("call.ringnoanswer", None, (("agent", "a1"), ("why", "timeout")))]


async def test_the_engine_writes_a_connect_in_queue_log_and_the_store(floor, tmp_path):
    from cc_console.server.acd.queue_log import QueueLog, read_queue_log
    floor.eng.qlog = QueueLog(tmp_path / "queue_log")
    cid = await _connected(floor)
    floor.eng.qlog.close()
    lines = [ln for ln in read_queue_log(tmp_path / "queue_log") if ln.callid == "caller-1"]
    assert [ln.event for ln in lines] == ["ENTERQUEUE", "CONNECT"] and lines[1].agent == "a1"
    assert lines[1].data[1] == floor.eng.calls[cid].agent_channel  # the agent's leg, as app_queue names it
    done = [e for e in floor.eng.store.events() if e.call_id == cid and e.kind == "call.connected"]
    assert len(done) == 1 and done[0].data["agent"] == "a1" and done[0].data["wait"] >= 0


def test_joining_the_queue_writes_enterqueue_then_the_store_then_plays_the_music():
    from cc_console.server.calls.effects import Ari, Op, QueueLogWrite
    from cc_console.server.calls.states import enqueue_effects
    assert enqueue_effects(7.0, "caller-1", "support", "", 2, "cc-1", "tone") == [
        QueueLogWrite("enterqueue", (7.0, "caller-1", "support", "unknown", 2)),  # no number: app_queue's word
        Record("call.queued", 7.0, (("stage", "queue"), ("position", 2))), Ari(Op.START_MOH, "cc-1", "tone")]


def test_a_calls_end_writes_the_queue_log_lines_app_queue_writes():
    from cc_console.server.calls.effects import QueueLogWrite
    from cc_console.server.calls.states import end_queue_log

    def end(prev: CallState, by: str = "caller", outcome: str = "", agent: str | None = "a1", closed: bool = False,
            direction: str = "inbound") -> list[QueueLogWrite]:
        return end_queue_log(100.0, prev, by, outcome, "caller-1", "support", agent, direction, closed,
                             10.0, 40.0, 35.0, 2, 1)
    assert end(C.CONNECTED) == [QueueLogWrite("completecaller", (100.0, "caller-1", "support", "a1", 30, 60, 2))]
    assert end(C.CONNECTED, by="agent")[0].verb == "completeagent"
    # a transfer closed the stay already; an outbound call has none
    assert end(C.CONNECTED, closed=True) == [] and end(C.CONNECTED, direction="outbound") == []
    assert end(C.QUEUED) == [QueueLogWrite("abandon", (100.0, "caller-1", "support", 1, 2, 90))]
    assert [w.verb for w in end(C.RINGING)] == ["ringcanceled", "abandon"]
    assert end(C.RINGING)[0].args[-1] == 65000  # rang 65 s, in milliseconds
    # ended by us (not reached, a callback taken) or before the queue: nothing to write
    assert end(C.QUEUED, outcome="callback") == [] and end(C.ENTERING) == [] and end(C.VOICEMAIL) == []


# -- a call entering, being offered, overflowing and ending: their records as effects too ---------------


def test_entering_and_the_entrys_checks_return_their_records():
    from cc_console.server.calls.states import entered_effects, entry_effects
    assert entered_effects("5000") == [Record("call.entered", None, (("did", "5000"),))]
    # closed: only call.closed (its overflow follows), not the problem message
    assert entry_effects(True, "sound:problem") == [Record("call.closed")]
    assert entry_effects(False, "sound:problem") == [
        Record("call.announcement", None, (("what", "problem"), ("media", "sound:problem")))]
    assert entry_effects(False, None) == []


def test_an_offer_and_its_dialing_return_their_records():
    from cc_console.server.calls.states import dialing_effects, offered_effects
    assert offered_effects("a1") == [Record("call.offered", None, (("agent", "a1"),))]
    assert dialing_effects("cc-1-1", agent="a1") == [Record("call.dialing", None, (("agent", "a1"), ("leg", "cc-1-1")))]
    assert dialing_effects("cc-1-x1", number="PJSIP/0201@trunk") == [
        Record("call.dialing", None, (("number", "PJSIP/0201@trunk"), ("leg", "cc-1-x1")))]


def test_an_overflow_writes_why_it_did_not_join_then_the_store():
    from cc_console.server.calls.effects import QueueLogWrite
    from cc_console.server.calls.states import overflow_effects
    record = Record("call.overflow", None, (("when", "no_agents"), ("to", "queue:sales"), ("wait", 0.5)))
    assert overflow_effects(7.0, "no_agents", "queue:sales", 0.5, "caller-1", "support", "0612") == [
        QueueLogWrite("write", (7.0, "caller-1", "support", "NONE", "JOINEMPTY", "", "0612")), record]
    assert overflow_effects(7.0, "max_length", "hangup", 0.0, "caller-1", "support", "0612")[0].args[4] == "FULL"
    # closed, or waited too long (the queue's own EXITWITHTIMEOUT is written as the caller leaves): the record only
    assert [type(e) for e in overflow_effects(7.0, "closed", "voicemail", 0.0, "c", "q", "x")] == [Record]
    assert [type(e) for e in overflow_effects(7.0, "max_wait", "voicemail", 60.0, "c", "q", "x")] == [Record]


def test_a_calls_end_record():
    from cc_console.server.calls.states import end_record

    def end(prev: CallState, by: str = "caller", outcome: str = "", **kw: Any) -> tuple[Record, str]:
        return end_record(100.0, prev, by, 16, outcome, kw.pop("stage", "queue"), 10.0, 40.0, 5.0, **kw)
    assert end(C.CONNECTED, "agent") == (
        Record("call.completed", 100.0, (("by", "agent"), ("cause", 16), ("talk", 60.0), ("hold", 5.0))),
        "agent_hangup")
    assert end(C.CONNECTED, consult="talking")[0].data[-1] == ("consult", "talking")
    assert end(C.VOICEMAIL, callback="cb1") == (
        Record("call.voicemail", 100.0, (("by", "caller"), ("cause", 16), ("callback", "cb1"))), "voicemail")
    assert end(C.QUEUED, "system", "callback") == (
        Record("call.ended", 100.0, (("by", "system"), ("cause", 16), ("outcome", "callback"))), "callback")
    assert end(C.RINGING) == (Record("call.abandoned", 100.0, (("by", "caller"), ("cause", 16), ("stage", "ringing"),
                                                                ("wait", 90.0))), "caller_hangup")
    # hung up during the greeting: the stage it left from is the announcement
    assert dict(end(C.ENTERING, stage="queue")[0].data)["stage"] == "announcement"
    assert dict(end(C.ENTERING, stage="callback")[0].data)["stage"] == "callback"


async def test_the_engine_writes_a_calls_records_in_the_order_of_its_moves(floor, tmp_path):
    from cc_console.server.acd.queue_log import QueueLog, read_queue_log
    floor.eng.qlog = QueueLog(tmp_path / "queue_log")
    cid = await _connected(floor)
    await floor.event("ChannelDestroyed", "caller-1", cause=16)
    await floor.idle()
    floor.eng.qlog.close()
    events = list(floor.eng.store.events())
    kinds = [e.kind for e in events if e.call_id == cid]
    assert kinds == ["call.entered", "call.queued", "call.offered", "call.dialing", "call.connected",
                     "call.completed"], kinds
    mine = [e for e in events if e.call_id == cid]
    entered, offered, done = mine[0], mine[2], mine[-1]
    assert entered.data["did"] == "5000" and offered.data["agent"] == "a1"
    assert done.data["by"] == "caller" and done.data["talk"] >= 0 and (done.data["call"] or {})["state"] == "ended"
    # the agent rings once the call is offered, and is free only once the call is over
    seq = {(e.kind, (e.data.get("agent") or {}).get("state") if e.kind == "agent.state" else None): e.seq
           for e in events}
    assert seq[("agent.state", "ringing")] < seq[("call.offered", None)]
    assert seq[("call.completed", None)] < seq[("agent.state", "ready")]
    verbs = [ln.event for ln in read_queue_log(tmp_path / "queue_log") if ln.callid == "caller-1"]
    assert verbs == ["ENTERQUEUE", "CONNECT", "COMPLETECALLER"]


async def test_the_engine_writes_an_overflow_after_the_line_that_says_why(tmp_path):
    from cc_console.server.acd.queue_log import QueueLog, read_queue_log
    f = Floor(tmp_path)
    from cc_console.server.acd.config import Overflow
    f.eng.cfg.queues["support"].overflow["no_agents"] = Overflow.parse("queue:sales")
    f.eng.qlog = QueueLog(tmp_path / "queue_log")
    try:
        f.eng.agent_login("a2", ["sales"])
        cid = await f.inbound()  # nobody in support: on to sales, where a2 is rung
        f.eng.qlog.close()
        kinds = [e.kind for e in f.eng.store.events(call_id=cid)]
        assert kinds[:4] == ["call.entered", "call.overflow", "call.queued", "call.offered"], kinds
        ov = next(e for e in f.eng.store.events(call_id=cid) if e.kind == "call.overflow")
        assert ov.data["when"] == "no_agents" and ov.data["to"] == "queue:sales"
        assert (ov.data["call"] or {})["queue"] == "support"  # recorded before the call moved on
        lines = [(ln.event, ln.queue) for ln in read_queue_log(tmp_path / "queue_log") if ln.callid == "caller-1"]
        assert lines == [("JOINEMPTY", "support"), ("ENTERQUEUE", "sales")]
        assert f.eng.counters["support"].overflowed == 1
    finally:
        await f.idle()
        f.close()


async def test_a_caller_hanging_up_during_a_consultation_ends_the_call_before_its_agents_are_free(floor):
    """The call's end, then the consulted agent's and the call's own agent's moves: in the store and
    through the hooks, as for any call's end (the consulted agent was written first before)."""
    from cc_console.server.capability import CallHooks
    told: list[tuple[str, str]] = []

    class Spy(CallHooks):
        def call_ended(self, call: Any, kind: str) -> None:
            told.append(("call_ended", kind))

        def agent_state(self, agent: Any, previous: str) -> None:
            told.append((agent.id, agent.state))
    floor.eng.hooks.append(Spy())
    cid = await _connected(floor)
    floor.eng.agent_login("a2", ["support"])
    call = floor.eng.consult("a1", "agent:a2", cid)
    c = dict(call.consult)
    await floor.event("StasisStart", c["leg"], "consult", cid)
    await floor.idle()
    since = max(e.seq for e in floor.eng.store.events())
    told.clear()
    floor.sent.clear()
    await floor.event("ChannelDestroyed", "caller-1", cause=16)
    await floor.idle()
    after = [(e.kind, e.agent_id if e.kind == "agent.state" else None) for e in floor.eng.store.events(since)]
    assert after[0][0] == "call.completed", after
    assert ("agent.state", "a2") in after[1:] and ("agent.state", "a1") in after[1:], after
    done = next(e for e in floor.eng.store.events(since) if e.kind == "call.completed")
    assert done.data["consult"] == "talking"
    assert told[0] == ("call_ended", "call.completed") and ("a2", A.READY) in told[1:], told
    assert floor.eng.agents["a2"].state is A.READY and floor.eng.agents["a2"].call_id is None
    # the target's leg and the consult bridge go with the call
    assert ("hangup", (c["leg"],)) in floor.sent and ("destroy_bridge", (c["bridge"],)) in floor.sent


def test_leaving_the_queue_writes_app_queues_line():
    from cc_console.server.calls.effects import QueueLogWrite
    from cc_console.server.calls.states import leave_queue_effects
    assert leave_queue_effects(50.0, "EXITWITHKEY", "caller-1", "support", 1, 2, 40, "1") == [
        QueueLogWrite("exitwithkey", (50.0, "caller-1", "support", "1", 1, 2, 40))]
    assert leave_queue_effects(50.0, "EXITWITHTIMEOUT", "caller-1", "support", 1, 2, 40) == [
        QueueLogWrite("exitwithtimeout", (50.0, "caller-1", "support", 1, 2, 40))]
    assert leave_queue_effects(50.0, "EXITEMPTY", "c", "q", 3, 3, 9)[0].verb == "exitempty"


async def test_the_callers_key_writes_exitwithkey_then_the_callback(floor, tmp_path):
    from cc_console.server.acd.queue_log import QueueLog, read_queue_log
    floor.eng.qlog = QueueLog(tmp_path / "queue_log")
    cid = await floor.inbound()
    await floor.event("ChannelDtmfReceived", "caller-1", digit="1")
    floor.eng.qlog.close()
    lines = [ln for ln in read_queue_log(tmp_path / "queue_log") if ln.callid == "caller-1"]
    assert [ln.event for ln in lines] == ["ENTERQUEUE", "EXITWITHKEY"]
    assert lines[1].data[:3] == ["1", "1", "1"]  # the key, the position left from, the position on entry
    kinds = [e.kind for e in floor.eng.store.events(call_id=cid)]
    assert kinds[-1] == "call.callback_key", kinds


async def test_a_prompt_cut_short_by_the_callers_hang_up_does_not_move_the_call_on(floor):
    """Asterisk announces the hang-up, then ends the prompt the caller was hearing, then takes the
    channel out of Stasis: the prompt's end must not act as if it was heard (the IVR test saw a
    welcome cut short counted as heard, and the caller lost in the menu instead of before it)."""
    cid = await floor.inbound()
    floor.eng._playbacks["pb-1"] = (cid, "position")  # the caller hears their position in the queue
    await floor.idle()
    floor.sent.clear()
    await floor.event("ChannelHangupRequest", "caller-1", cause=16)
    await floor.eng.on_event(AriEvent("PlaybackFinished", raw={"playback": {"id": "pb-1", "state": "done"}}))
    await floor.idle()
    assert not [s for s in floor.sent if s[0] == "start_moh"], floor.sent
    await floor.event("StasisEnd", "caller-1")
    assert floor.path(cid) == ["entering", "queued", "ended"]
    assert not floor.eng._hanging_up  # forgotten when the channel leaves: nothing more may come
