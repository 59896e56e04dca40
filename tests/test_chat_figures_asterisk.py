"""A real call and a chat with the same customer on the sandbox Asterisk: the channel report, the
agent's own figures and the customer's history show both, each in its channel."""
from __future__ import annotations

import asyncio
import time

import pytest

from tests.asterisk import until
from tests.chat_helpers import Events, Visitor

pytestmark = pytest.mark.asterisk

CALLER = "0633330000"


@pytest.fixture
def settings(settings):
    settings.sections["chat"] = {"capacity": {"call": 1, "chat": 2}, "tick": 0.1}
    return settings


async def settled(ask, pred, what: str, timeout: float = 10.0):
    """Ask again until pred(answer): the call's last events reach the store a moment after the hang-up."""
    end = time.monotonic() + timeout
    while True:
        got = await ask()
        if pred(got):
            return got
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}: {got!r}")
        await asyncio.sleep(0.1)


async def test_a_call_and_a_chat_side_by_side(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    a1 = await connect("agent1")
    sup = await connect("sup1")
    ev = Events(a1)
    await a1.call("contacts.save", {"contact": {"first_name": "Cora", "phone": CALLER, "email": "cora@example.org"}})
    await a1.call("agent.login", {})
    placed = await pbx.place_call("5000", caller=CALLER)
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="ringing")
    await a1.call("call.answer")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="connected")
    await pbx.hangup(placed.outer)
    await until(a1, lambda: a1.state.my_call is None, what="call over")
    async with Visitor(f"http://127.0.0.1:{server.port}") as v:
        await v.start(email="cora@example.org")
        await ev.expect("chat.offer", lambda d: d["id"] == v.id, timeout=15)  # after the call's wrap-up
        await a1.call("chat.accept", {"id": v.id})
        await a1.call("chat.close", {"id": v.id})

    def rows(r):
        return {(x[0], x[1]): dict(zip(r["report"]["columns"], x)) for x in r["report"]["rows"]}
    report = await settled(lambda: sup.call("report.run", {"kind": "channel"}),
                           lambda r: rows(r).get(("call", "support"), {}).get("handled") == 1, "the call reported")
    chat = rows(report)[("chat", "support")]
    assert (chat["offered"], chat["handled"]) == (1, 1)
    assert rows(report)[("call", "support")]["offered"] == 1

    fig = await settled(lambda: a1.call("agent.figures"),
                        lambda f: f["figures"]["windows"]["24h"]["all"]["handled"] == 1, "the call in my figures")
    day = fig["figures"]["windows"]["24h"]
    assert day["channels"]["chat"]["all"]["handled"] == 1
    assert sorted(r["channel"] for r in fig["figures"]["recent"]) == ["call", "chat"]

    history = (await a1.call("contacts.history", {"number": CALLER}))["history"]
    assert [r["channel"] for r in history] == ["chat", "call"], "newest first: the chat came after the call"
    assert history[1]["agent"] == "agent1" and history[0]["id"] == v.id
