"""Chats beside calls in an agent's own figures (agent.figures) and in a customer's history
(contacts.history), read from the chat capability through server/written.py."""
from __future__ import annotations

import pytest

from tests.chat_helpers import Events, Visitor


@pytest.fixture
def settings(settings):
    settings.sections["chat"] = {"capacity": {"call": 1, "chat": 2}, "ring_timeout": 5.0, "tick": 0.1,
                                 "service_level": 60.0}
    return settings


async def handle_chat(server, a1, ev, email: str) -> str:
    async with Visitor(f"http://127.0.0.1:{server.port}") as v:
        await v.start(email=email)
        await ev.expect("chat.offer", lambda d: d["id"] == v.id)
        await a1.call("chat.accept", {"id": v.id})
        await a1.call("chat.close", {"id": v.id, "category": "question"})
        await v.expect("closed", lambda f: f["outcome"] == "handled")
        return v.id


async def test_my_figures_count_my_chats_beside_calls(server, connect):
    a1 = await connect("agent1")
    ev = Events(a1)
    await a1.call("agent.login", {})
    cid = await handle_chat(server, a1, ev, "vera@example.org")
    fig = (await a1.call("agent.figures"))["figures"]
    day = fig["windows"]["24h"]
    assert day["channels"]["chat"]["all"] == {"handled": 1, "service_level": 1.0}
    assert day["channels"]["chat"]["queues"]["support"]["handled"] == 1
    assert day["all"]["handled"] == 0, "the calls' figures stay the calls'"
    assert [(r["channel"], r.get("id")) for r in fig["recent"]] == [("chat", cid)]
    assert fig["recent"][0]["caller"] == "Vera Visitor"
    other = (await (await connect("sup1")).call("agent.figures", {"agent": "agent2"}))["figures"]
    assert other["windows"]["24h"]["channels"] == {}, "agent2 handled no chat"


async def test_caller_history_has_the_customers_chats(server, connect):
    a1 = await connect("agent1")
    ev = Events(a1)
    await a1.call("agent.login", {})
    await a1.call("contacts.save", {"contact": {"first_name": "Vera", "phone": "+4712345678",
                                                "email": "vera@example.org"}})
    cid = await handle_chat(server, a1, ev, "Vera@Example.org")
    await handle_chat(server, a1, ev, "someone.else@example.org")
    history = (await a1.call("contacts.history", {"number": "+4712345678"}))["history"]
    assert [(r["channel"], r.get("id")) for r in history] == [("chat", cid)]
    row = history[0]
    assert (row["agent"], row["outcome"], row["category"], row["queue"]) == ("agent1", "handled", "question", "support")
    assert (await a1.call("contacts.history", {"number": "+4799999999"}))["history"] == []


async def test_a_failing_chat_store_leaves_the_calls_shown(server, connect):
    class Broken:
        async def items_between(self, start, end, *, agent=""):
            raise RuntimeError("disk gone")

        async def of_contacts(self, contacts, limit=50):
            raise RuntimeError("disk gone")

    a1 = await connect("agent1")
    await a1.call("contacts.save", {"contact": {"first_name": "Vera", "phone": "+4712345678",
                                                "email": "vera@example.org"}})
    written = server.capabilities["contacts"].service.written
    written.append(Broken())
    try:
        fig = (await a1.call("agent.figures"))["figures"]
        assert fig["windows"]["24h"]["all"]["handled"] == 0 and fig["windows"]["24h"]["channels"] == {}
        assert (await a1.call("contacts.history", {"number": "+4712345678"}))["history"] == []
        with pytest.raises(Exception) as refused:
            await (await connect("sup1")).call("report.run", {"kind": "channel"})
        assert "chat figures cannot be read" in str(refused.value)
    finally:
        written.remove(written[-1])
