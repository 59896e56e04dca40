"""Calls and chats mixed on the real sandbox Asterisk: an agent on a call gets no chat ("no chat
while on a call"), the chat is offered as soon as the call is over; an agent full of chats still
gets calls. Chat capacity 2."""
from __future__ import annotations

import pytest

from tests.asterisk import until
from tests.chat_helpers import Events, Visitor

pytestmark = pytest.mark.asterisk


@pytest.fixture
def settings(settings):
    settings.sections["chat"] = {"capacity": {"call": 1, "chat": 2}, "tick": 0.1}
    return settings


async def test_no_chat_to_an_agent_on_a_call_then_offered_when_the_call_ends(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    a1 = await connect("agent1")
    ev = Events(a1)
    ticks = Events(await connect("sup1"))  # chat.stats, pushed to supervisors on every routing tick
    await a1.call("agent.login", {})
    placed = await pbx.place_call("5000", caller="0611110000")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="ringing")
    await a1.call("call.answer")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="connected")
    async with Visitor(f"http://127.0.0.1:{server.port}") as v:
        await v.start()
        await v.expect("position", lambda f: f["position"] == 1)
        mark = ev.mark()
        for _ in range(3):  # three routing rounds (ticks) pass with the agent on the call
            await ticks.expect("chat.stats", start=ticks.mark())
        assert not [k for k, _ in ev.seen[mark:] if k == "chat.offer"], "a chat was offered during a call"
        await pbx.hangup(placed.outer)
        offer = await ev.expect("chat.offer", lambda d: d["id"] == v.id, timeout=15)
        assert offer["agent"] == "agent1"
        assert a1.state.my_call is None


async def test_an_agent_full_of_chats_still_gets_a_call(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    a1 = await connect("agent1")
    ev = Events(a1)
    ticks = Events(await connect("sup1"))  # chat.stats, pushed to supervisors on every routing tick
    await a1.call("agent.login", {})
    base = f"http://127.0.0.1:{server.port}"
    async with Visitor(base) as v1, Visitor(base) as v2, Visitor(base) as v3:
        for v in (v1, v2):
            await v.start()
            await ev.expect("chat.offer", lambda d, v=v: d["id"] == v.id)
            await a1.call("chat.accept", {"id": v.id})
        await v3.start()
        await v3.expect("position", lambda f: f["position"] == 1)
        placed = await pbx.place_call("5000", caller="0622220000")
        call = await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing" and c, what="ringing")
        assert call["caller"] == "0622220000"
        await a1.call("call.answer")
        await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="connected")
        # a chat closes while the agent is on the call: the freed slot stays shut (chats not while on a call)
        mark = ev.mark()
        await a1.call("chat.close", {"id": v1.id})
        for _ in range(3):
            await ticks.expect("chat.stats", start=ticks.mark())
        assert not [d for k, d in ev.seen[mark:] if k == "chat.offer"]
        await pbx.hangup(placed.outer)
        await ev.expect("chat.offer", lambda d: d["id"] == v3.id, timeout=15)


async def test_escalate_a_chat_to_a_phone_call(server, connect, pbx, phone):
    """The agent calls the visitor from the chat: the agent's phone and the visitor's number are
    bridged; the visitor reads that we are calling; the chat stays open beside the call."""
    await phone("1001", auto_answer=True)
    visitor_phone = await phone("1004", auto_answer=True)
    a1 = await connect("agent1")
    ev = Events(a1)
    await a1.call("agent.login", {})
    async with Visitor(f"http://127.0.0.1:{server.port}") as v:
        await v.start()
        await ev.expect("chat.offer", lambda d: d["id"] == v.id)
        await a1.call("chat.accept", {"id": v.id})
        res = await a1.call("chat.escalate", {"id": v.id, "mode": "call", "number": "1004"})
        cid = res["call"]["id"]
        await v.expect("message", lambda f: f["message"]["text"] == "We are calling you now.")
        await until(a1, lambda: (c := a1.state.calls.get(cid)) and c["state"] == "connected", what="reached")
        await visitor_phone.wait_call_state("ESTABLISHED", timeout=10)
        assert [c["id"] for c in (await a1.call("chat.list"))["chats"]] == [v.id]
        await a1.call("call.hangup")
        await until(a1, lambda: not a1.state.my_agent["call_id"], what="call over")
