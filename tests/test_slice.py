"""The walking skeleton end to end on the real sandbox Asterisk with real SIP phones (baresip).

A call dialled into Asterisk enters our Stasis app, waits in its bridge with music on hold, is
offered to the ready agent, rings the agent's phone, is bridged, ends; every step is stored.
"""
from __future__ import annotations

import asyncio

import pytest

from cc_console.server.app import Server
from cc_console.server.pbx.phones import tone_level
from cc_console.server.pbx.sandbox import CALLER_TONE_FREQ

from .asterisk import SandboxPbx, still_there, until

pytestmark = pytest.mark.asterisk


def kinds(server: Server, call_id: str) -> list[str]:
    return [e.kind for e in server.store.events(call_id=call_id)]


def agent_states(server: Server, agent: str) -> list[str]:
    return [e.data["agent"]["state"] for e in server.store.events(kinds=("agent.state",)) if e.agent_id == agent]


def my_call(client):
    return client.state.my_call


async def test_call_rings_agent_is_answered_and_hung_up(server, connect, pbx: SandboxPbx, phone):
    p1 = await phone("1001", auto_answer=True)
    agent = await connect("agent1")
    await agent.call("agent.login")
    assert agent.state.my_agent["state"] == "ready"

    call = await pbx.place_call("5000", caller="0611111111")
    ringing = await until(agent, lambda: (c := my_call(agent)) and c["state"] == "ringing" and c, what="ringing")
    assert ringing["caller"] == "0611111111" and ringing["queue"] == "support" and ringing["did"] == "5000"
    assert agent.state.my_agent["state"] == "ringing"
    # While it rings the caller waits in its own bridge, hearing music on hold.
    await server.engine.idle()
    bridge = await pbx.bridge(ringing["bridge"])
    assert bridge is not None and call.inner in bridge["channels"]

    await agent.call("call.answer")
    connected = await until(agent, lambda: (c := my_call(agent)) and c["state"] == "connected" and c, what="connected")
    assert agent.state.my_agent["state"] == "on_call"
    await server.engine.idle()
    bridge = await pbx.bridge(connected["bridge"])
    assert set(bridge["channels"]) == {call.inner, connected["agent_channel"]}
    await p1.wait_call_state("ESTABLISHED", timeout=10)
    await asyncio.sleep(1.5)  # talk: let real audio flow through the bridge for a while

    await agent.call("call.hangup")
    await until(agent, lambda: agent.state.my_agent["state"] == "ready" and not my_call(agent), what="ready again")
    await server.engine.idle()
    assert not await still_there(pbx, {call.inner, connected["agent_channel"]})
    assert await pbx.bridge(connected["bridge"]) is None

    assert kinds(server, connected["id"]) == [
        "call.entered", "call.queued", "call.offered", "call.dialing", "call.connected", "call.completed"]
    assert agent_states(server, "agent1") == ["ready", "ringing", "on_call", "ready"]
    done = list(server.store.events(kinds=("call.completed",)))[-1]
    assert done.data["by"] == "agent" and done.data["call"]["caller"] == "0611111111"
    # The agent's phone really heard the caller: the caller's tone is in what the phone played.
    await p1.wait_call_state("CLOSED", timeout=10)
    heard = p1.recorded_wav()
    assert heard is not None
    assert tone_level(heard, CALLER_TONE_FREQ) > 0.05
    assert tone_level(heard, 1234) < 0.01


async def test_phone_mode_rings_phone_and_caller_hangs_up(server, connect, pbx, phone):
    p3 = await phone("1003", auto_answer=True)
    agent = await connect("agent3")  # answer_mode=phone: the phone rings at once
    await agent.call("agent.login")
    call = await pbx.place_call("5000")
    c = await until(agent, lambda: (c := my_call(agent)) and c["state"] == "connected" and c, what="connected")
    await p3.wait_call_state("ESTABLISHED", timeout=10)
    await pbx.hangup(call.outer)  # the caller hangs up
    await until(agent, lambda: agent.state.my_agent["state"] == "ready", what="ready")
    assert kinds(server, c["id"])[-1] == "call.completed"
    assert list(server.store.events(call_id=c["id"]))[-1].data["by"] == "caller"


async def test_agent_does_not_answer_call_goes_back_to_queue(server, connect, pbx, phone):
    await phone("1002", auto_answer=True)
    a1 = await connect("agent1")
    await a1.call("agent.login")
    a2 = await connect("agent2")
    await a2.call("agent.login")  # agent1 has been idle longer: it is offered first
    call = await pbx.place_call("5000")
    first = await until(a1, lambda: (c := my_call(a1)) and c["state"] == "ringing" and c, what="offer to agent1")
    # agent1 never answers; after the ring timeout the call goes back and on to agent2.
    await until(a2, lambda: (c := my_call(a2)) and c["state"] == "ringing", timeout=20, what="offer to agent2")
    await until(a1, lambda: a1.state.my_agent["state"] == "paused", what="agent1 paused")
    assert a1.state.my_agent["reason"] == "no answer"
    await a2.call("call.answer")
    await until(a2, lambda: (c := my_call(a2)) and c["state"] == "connected", what="connected to agent2")
    assert kinds(server, first["id"])[:6] == [
        "call.entered", "call.queued", "call.offered", "call.ringnoanswer", "call.offered", "call.dialing"]
    await pbx.hangup(call.outer)
    await until(a2, lambda: not my_call(a2), what="ended")


async def test_phone_that_does_not_answer_returns_call(server, connect, pbx, phone):
    await phone("1003", auto_answer=False)  # rings, nobody picks up
    agent = await connect("agent3")
    await agent.call("agent.login")
    call = await pbx.place_call("5000")
    c = await until(agent, lambda: (c := my_call(agent)) and c["state"] == "ringing" and c, what="ringing")
    await until(agent, lambda: agent.state.my_agent["state"] == "paused", timeout=20, what="no answer")
    assert server.engine.calls[c["id"]].state == "queued"
    await server.engine.idle()
    assert c["agent_channel"] is None or not await still_there(pbx, {c["agent_channel"]})
    await pbx.hangup(call.outer)
    await until(agent, lambda: not server.engine.calls, what="abandoned")
    ab = list(server.store.events(kinds=("call.abandoned",)))[-1]
    assert ab.data["stage"] == "queue"


async def test_caller_hangs_up_while_queued(server, connect, pbx):
    sup = await connect("sup1")
    call = await pbx.place_call("5000")
    c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["state"] == "queued"), None),
                    what="queued")
    # Queue figures are coalesced (a few pushes a second): await them.
    await until(sup, lambda: sup.state.queues["support"]["waiting"] == 1, what="waiting 1")
    await pbx.hangup(call.outer)
    await until(sup, lambda: c["id"] not in sup.state.calls, what="gone")
    await until(sup, lambda: sup.state.queues["support"]["waiting"] == 0, what="waiting 0")
    assert sup.state.queues["support"]["abandoned"] == 1
    ab = list(server.store.events(call_id=c["id"]))[-1]
    assert ab.kind == "call.abandoned" and ab.data["stage"] == "queue" and ab.data["by"] == "caller"
    await server.engine.idle()
    assert await pbx.bridge(c["bridge"]) is None


async def test_caller_hangs_up_while_ringing(server, connect, pbx):
    agent = await connect("agent1")
    await agent.call("agent.login")
    call = await pbx.place_call("5000")
    c = await until(agent, lambda: (c := my_call(agent)) and c["state"] == "ringing" and c, what="ringing")
    await pbx.hangup(call.outer)
    await until(agent, lambda: agent.state.my_agent["state"] == "ready" and not my_call(agent), what="ready")
    ab = list(server.store.events(call_id=c["id"]))[-1]
    assert ab.kind == "call.abandoned" and ab.data["stage"] == "ringing"


async def test_unknown_did_is_rejected_and_recorded(server, connect, pbx):
    sup = await connect("sup1")
    ended: list[dict] = []
    sup.add_listener(lambda kind, data: ended.append(data) if kind == "call.ended" else None)
    call = await pbx.place_call("5999")
    await until(sup, lambda: ended, timeout=10, what="rejected")
    assert ended[0]["end_reason"] == "unknown_did" and ended[0]["did"] == "5999"
    assert [e.kind for e in server.store.events(call_id=ended[0]["id"])] == ["call.rejected"]
    await server.engine.idle()
    assert not await still_there(pbx, {call.inner})  # Asterisk drops the channel once our hang-up lands


async def test_server_restart_mid_call_call_survives(settings, connect_to, pbx, phone):
    await phone("1001", auto_answer=True)
    first = Server(settings)
    await first.start()
    agent = await connect_to(first, "agent1")
    await agent.call("agent.login")
    call = await pbx.place_call("5000")
    await until(agent, lambda: (c := my_call(agent)) and c["state"] == "ringing", what="ringing")
    await agent.call("call.answer")
    c = await until(agent, lambda: (c := my_call(agent)) and c["state"] == "connected" and c, what="connected")
    await first.engine.idle()
    await first.stop()  # our server goes away; Asterisk keeps the call up

    assert {call.inner, c["agent_channel"]} <= await pbx.channel_ids()
    second = Server(settings)
    await second.start()
    try:
        await asyncio.wait_for(second.ari.connected.wait(), 10)
        rebuilt = second.engine.calls[c["id"]]
        assert rebuilt.state == "connected" and rebuilt.agent == "agent1"
        assert second.engine.agents["agent1"].state == "on_call"
        bridge = await pbx.bridge(c["bridge"])
        assert set(bridge["channels"]) == {call.inner, c["agent_channel"]}
        agent2 = await connect_to(second, "agent1")
        assert agent2.state.my_call["id"] == c["id"]
        await agent2.call("call.hangup")
        await until(agent2, lambda: agent2.state.my_agent["state"] == "ready", what="ready")
        assert [e.kind for e in second.store.events(call_id=c["id"])].count("call.connected") == 1
        assert [e.kind for e in second.store.events(call_id=c["id"])][-1] == "call.completed"
    finally:
        await second.stop()


async def test_ari_websocket_dropped_and_restored(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    sup = await connect("sup1")
    agent = await connect("agent1")
    await agent.call("agent.login")
    talking = await pbx.place_call("5000", caller="0600000001")
    await until(agent, lambda: (c := my_call(agent)) and c["state"] == "ringing", what="ringing")
    await agent.call("call.answer")
    c1 = await until(agent, lambda: (c := my_call(agent)) and c["state"] == "connected" and c, what="connected")
    waiting = await pbx.place_call("5000", caller="0600000002")
    c2 = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["caller"] == "0600000002"), None),
                     what="second call queued")
    await server.engine.idle()

    ari = server.ari
    connections = ari.connections
    ari.reconnect_gate.clear()
    await ari.drop_connection()
    await until(sup, lambda: sup.state.server.get("ari") == "down", what="ari down")
    await pbx.hangup(waiting.outer)  # this hang-up's events are lost to us
    while waiting.inner in await pbx.channel_ids():
        await asyncio.sleep(0.05)
    ari.reconnect_gate.set()
    await until(sup, lambda: sup.state.server.get("ari") == "up", what="ari up")
    assert ari.connections == connections + 1

    await until(sup, lambda: c2["id"] not in sup.state.calls, what="lost hang-up found by resync")
    assert server.engine.calls[c1["id"]].state == "connected"
    all_kinds = [e.kind for e in server.store.events(call_id=c1["id"])]
    assert all_kinds.count("call.queued") == 1 and all_kinds.count("call.connected") == 1
    k2 = [e.kind for e in server.store.events(call_id=c2["id"])]
    assert k2 == ["call.entered", "call.queued", "call.abandoned"]
    await pbx.hangup(talking.outer)
    await until(agent, lambda: not my_call(agent), what="ended")
    queued = list(server.store.events(kinds=("call.queued",)))
    assert len(queued) == 2


async def test_asterisk_restart_mid_call(server, connect, pbx, phone, sandbox):
    """Asterisk dies under a live call: we reconnect, re-register the app, end what is gone, carry on."""
    from cc_console.server.pbx import sandbox as sb
    await phone("1001", auto_answer=True)
    sup = await connect("sup1")
    agent = await connect("agent1")
    await agent.call("agent.login")
    await pbx.place_call("5000")
    await until(agent, lambda: (c := my_call(agent)) and c["state"] == "ringing", what="ringing")
    await agent.call("call.answer")
    c = await until(agent, lambda: (c := my_call(agent)) and c["state"] == "connected" and c, what="connected")
    connections = server.ari.connections

    await asyncio.to_thread(sb.restart_asterisk, sandbox, lambda m: None)
    await until(sup, lambda: server.ari.connections > connections and sup.state.server.get("ari") == "up",
                timeout=60, what="ARI back")
    await until(agent, lambda: not my_call(agent) and agent.state.my_agent["state"] == "ready", what="call ended")
    last = list(server.store.events(call_id=c["id"]))[-1]
    assert last.kind == "call.completed"
    # The phone re-registers with the new Asterisk; the app is registered again: a new call is routed.
    p = await phone("1001", auto_answer=True)  # a fresh registration, without waiting for baresip's retry timer
    call = await pbx.place_call("5000")
    await until(agent, lambda: (c := my_call(agent)) and c["state"] == "ringing", what="new call ringing")
    await agent.call("call.answer")
    await until(agent, lambda: (c := my_call(agent)) and c["state"] == "connected", what="new call connected")
    await pbx.hangup(call.outer)
    await until(agent, lambda: not my_call(agent), what="ended")
    assert p is not None
