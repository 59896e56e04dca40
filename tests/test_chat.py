"""The chat capability on a real server (no Asterisk needed): a visitor on the widget's websocket,
agents on console clients, chatbots on REST. docs/chat.md."""
from __future__ import annotations

import aiohttp
import pytest

from cc_console.protocol import ProtocolError
from tests.chat_helpers import Events, Visitor
from tests.ports import free_port


@pytest.fixture
def settings(settings):
    settings.sections["chat"] = {"capacity": {"call": 1, "chat": 2}, "ring_timeout": 5.0, "tick": 0.1,
                                 "categories": ["question", "complaint"]}
    return settings


def base(server) -> str:
    return f"http://127.0.0.1:{server.port}"


async def agent(connect, user: str = "agent1"):
    c = await connect(user)
    ev = Events(c)  # before logging in: a waiting chat is offered the moment the agent is ready
    await c.call("agent.login", {})
    return c, ev


async def test_visitor_and_agent_chat_both_ways(server, connect):
    a1, ev = await agent(connect)
    async with Visitor(base(server)) as v:
        await v.start(email="vera@example.org")
        offer = await ev.expect("chat.offer")
        assert offer["name"] == "Vera Visitor" and offer["id"] == v.id
        await a1.call("chat.accept", {"id": v.id})
        await v.expect("agent", lambda f: f["name"] == "Agent1")
        await v.send(op="say", text="My card was declined")
        got = await ev.expect("chat.message", lambda d: d["message"]["sender"] == "visitor")
        assert got["message"]["text"] == "My card was declined"
        await v.send(op="typing", on=True)
        await ev.expect("chat.typing", lambda d: d["on"] and d["who"] == "visitor")
        await a1.call("chat.typing", {"id": v.id, "on": True})
        await v.expect("typing", lambda f: f["on"])
        await a1.call("chat.send", {"id": v.id, "text": "Let me look at it"})
        await v.expect("message", lambda f: f["message"]["text"] == "Let me look at it"
                       and f["message"]["author"] == "Agent1")
        with pytest.raises(ProtocolError) as bad:
            await a1.call("chat.close", {"id": v.id, "category": "nonsense"})
        assert "category" in bad.value.message.lower()
        await a1.call("chat.close", {"id": v.id, "category": "question", "notes": "card issue"})
        await v.expect("closed", lambda f: f["outcome"] == "handled")
    found = await a1.call("chat.search", {"q": "declin"})
    assert [c["id"] for c in found["chats"]] == [v.id]
    assert found["chats"][0]["category"] == "question"
    assert (await a1.call("chat.search", {"contact": "VERA@example.org"}))["chats"][0]["id"] == v.id
    assert (await a1.call("chat.search", {"q": "nothing-like-this"}))["chats"] == []
    stats = await a1.call("chat.stats")
    row = next(q for q in stats["queues"] if q["channel"] == "chat" and q["queue"] == "support")
    assert row["handled"] == 1 and row["abandoned"] == 0 and row["service_level"] == 100.0
    assert stats["agents"]["agent1"]["handled"] == 1


async def test_capacity_and_freed_capacity_offers_the_next_chat_at_once(server, connect):
    a1, ev = await agent(connect)
    async with Visitor(base(server)) as v1, Visitor(base(server)) as v2, Visitor(base(server)) as v3:
        for v in (v1, v2):
            await v.start()
            await ev.expect("chat.offer", lambda d, v=v: d["id"] == v.id)
        await v3.start()
        await v3.expect("position", lambda f: f["position"] == 1)
        mark = ev.mark()
        await a1.call("chat.accept", {"id": v1.id})
        # the agent holds two chats (capacity 2): the third waits
        stats = await a1.call("chat.stats")
        assert next(q for q in stats["queues"] if q["queue"] == "support")["waiting"] == 1
        assert not [d for k, d in ev.seen[mark:] if k == "chat.offer"]
        await a1.call("chat.close", {"id": v1.id})
        offer = await ev.expect("chat.offer", lambda d: d["id"] == v3.id, timeout=1.0, start=mark)
        assert offer["agent"] == "agent1"


async def test_reload_keeps_the_conversation(server, connect):
    a1, ev = await agent(connect)
    async with Visitor(base(server)) as v:
        await v.start()
        await ev.expect("chat.offer")
        await a1.call("chat.accept", {"id": v.id})
        await v.send(op="say", text="before the reload")
        await ev.expect("chat.message", lambda d: d["message"]["text"] == "before the reload")
        await v.drop()
        await a1.call("chat.send", {"id": v.id, "text": "while you were away"})
        v.frames.clear()
        await v.open()
        await v.send(op="resume", token=v.token)
        f = await v.expect("resumed")
        assert [m["text"] for m in f["messages"] if m["sender"] != "system"] == \
            ["before the reload", "while you were away"]
        await v.send(op="say", text="after the reload")
        await ev.expect("chat.message", lambda d: d["message"]["text"] == "after the reload")
    async with Visitor(base(server)) as stranger:
        await stranger.send(op="resume", token="not-a-token")
        err = await stranger.expect("error")
        assert err["message"] == "That conversation has ended."


async def test_transfer_to_agent_and_queue_and_invite(server, connect):
    a1, ev1 = await agent(connect, "agent1")
    a2, ev2 = await agent(connect, "agent2")
    sup = await connect("sup1")
    evs = Events(sup)
    async with Visitor(base(server)) as v:
        await v.start()
        offer = await ev1.expect("chat.offer") if "agent1" else None
        first = offer["agent"]
        me, other, other_ev = (a1, "agent2", ev2) if first == "agent1" else (a2, "agent1", ev1)
        await me.call("chat.accept", {"id": v.id})
        await me.call("chat.invite", {"id": v.id, "user": "sup1"})
        await evs.expect("chat.invite", lambda d: d["id"] == v.id)
        await sup.call("chat.send", {"id": v.id, "text": "A supervisor here"})
        await v.expect("message", lambda f: f["message"]["text"] == "A supervisor here")
        with pytest.raises(ProtocolError):
            await me.call("chat.transfer", {"id": v.id})
        await me.call("chat.transfer", {"id": v.id, "agent": other})
        got = await other_ev.expect("chat.offer", lambda d: d["id"] == v.id)
        assert any(m["text"] == "A supervisor here" for m in got["messages"]), "the transcript goes with it"
        other_client = a2 if other == "agent2" else a1
        await other_client.call("chat.accept", {"id": v.id})
        await v.expect("agent", lambda f: f["name"] == other.title())
        await other_client.call("chat.transfer", {"id": v.id, "queue": "sales"})
        assert (await other_client.call("chat.list"))["chats"] == []


async def test_no_answer_returns_the_chat_and_pauses_chats_for_that_agent(server, connect):
    server.capabilities["chat"].service.s.ring_timeout = 0.3
    a1, ev1 = await agent(connect, "agent1")
    async with Visitor(base(server)) as v:
        await v.start()
        await ev1.expect("chat.offer")
        await ev1.expect("chat.update", lambda d: d.get("missed"), timeout=3)
        a2, ev2 = await agent(connect, "agent2")
        await ev2.expect("chat.offer", lambda d: d["id"] == v.id, timeout=3)


async def test_visitor_leaving_the_queue_is_abandoned(server, connect):
    a1 = await connect("agent1")
    async with Visitor(base(server)) as v:
        await v.start()
        await v.send(op="end")
        await v.expect("closed", lambda f: f["outcome"] == "abandoned")
    stats = await a1.call("chat.stats")
    assert next(q for q in stats["queues"] if q["queue"] == "support")["abandoned"] == 1


async def test_max_wait_overflows(server, connect):
    svc = server.capabilities["chat"].service
    svc.s.max_wait = {"support": 0.2}
    svc.s.overflow = {"support": "close"}
    async with Visitor(base(server)) as v:
        await v.start()
        await v.expect("closed", lambda f: f["outcome"] == "overflow", timeout=3)
        await v.expect("message", lambda f: "busy" in f["message"]["text"])


async def test_chatbot_hands_over_with_its_transcript(server, connect):
    token = server.api_clients.add("helpbot", "agent")
    a1, ev = await agent(connect)
    hdr = {"Authorization": f"Bearer {token}"}
    api = f"{base(server)}/api/v1/commands/"
    async with aiohttp.ClientSession(headers=hdr) as http:
        async def cmd(command, **args):
            async with http.post(api + command, json=args) as r:
                body = await r.json()
                assert r.status == 200, body
                return body
        started = await cmd("chat.bot_start", name="Bob Customer", text="I want to change my address")
        cid = started["id"]
        await cmd("chat.bot_say", id=cid, text="I can help with that. Which address?", **{"as": "bot"})
        await cmd("chat.bot_say", id=cid, text="I want a person")
        assert not [k for k, _ in ev.seen if k == "chat.offer"], "a bot's conversation is not routed"
        await cmd("chat.bot_handover", id=cid)
        offer = await ev.expect("chat.offer", lambda d: d["id"] == cid)
        assert [m["sender"] for m in offer["messages"]] == ["visitor", "bot", "visitor", "system"]
        await a1.call("chat.accept", {"id": cid})
        await a1.call("chat.send", {"id": cid, "text": "Hello Bob, I am a person"})
        read = await cmd("chat.bot_read", id=cid, after=4)
        assert [m["text"] for m in read["messages"] if m["sender"] == "agent"] == ["Hello Bob, I am a person"]
        async with http.post(api + "chat.bot_say", json={"id": cid, "text": "x", "as": "bot"}) as r:
            assert r.status == 409, "the bot may not answer once a person has it"
        other = server.api_clients.add("otherbot", "agent")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {other}"}) as h2, \
                h2.post(api + "chat.bot_read", json={"id": cid}) as r:
            assert r.status == 404, "one bot does not read another's conversation"
    # the same operations on the widget's websocket, with the bot's token
    async with Visitor(base(server), hdr) as bot:
        await bot.start(name="Carla", bot=True)
        await bot.send(op="reply", text="Hi, I am the bot")
        await bot.expect("message", lambda f: f["message"]["sender"] == "bot")
        await bot.send(op="handover")
        await ev.expect("chat.offer", lambda d: d["id"] == bot.id)
    async with Visitor(base(server)) as anonymous:
        await anonymous.start(name="Dan", bot=True)
        await anonymous.send(op="reply", text="pretending to be a bot")
        await anonymous.expect("error")


async def test_transcript_by_email(server, connect, tmp_path):
    from aiosmtpd.controller import Controller
    got: list[bytes] = []

    class Handler:
        async def handle_DATA(self, srv, session, envelope):
            got.append(envelope.content)
            return "250 OK"
    port = free_port()
    ctl = Controller(Handler(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        svc = server.capabilities["chat"].service
        svc.s.smtp_host, svc.s.smtp_port = "127.0.0.1", port
        async with Visitor(base(server)) as v:
            await v.start(email="vera@example.org")
            await v.send(op="say", text="please mail this")
            await v.send(op="transcript")
            f = await v.expect("transcript_sent")
            assert f["email"] == "vera@example.org"
        assert got and b"please mail this" in got[0] and b"vera@example.org" in got[0]
    finally:
        ctl.stop()


async def test_widget_files_are_served(server):
    async with aiohttp.ClientSession() as http:
        for path, kind in (("/chat/widget.js", "javascript"), ("/chat/widget.css", "css"), ("/chat/", "html")):
            async with http.get(base(server) + path) as r:
                assert r.status == 200 and kind in r.headers["Content-Type"]
                body = await r.text()
                assert "http://" not in body.replace("http://127", "") and "https://" not in body.split("*/")[-1] \
                    or path == "/chat/", f"{path} must load nothing from elsewhere"


async def test_closed_queue_refuses_a_chat(server):
    from cc_console.server.acd.hours import Schedule
    server.engine.cfg.queues["support"].schedule = Schedule.from_config("UTC", {"mon": "closed"})
    async with Visitor(base(server)) as v:
        await v.send(op="start", name="Late")
        err = await v.expect("error")
        assert "closed" in err["message"]


async def test_open_chats_survive_a_restart_of_our_server(settings, clean_asterisk, connect_to):
    from cc_console.server.app import Server
    first = Server(settings)
    await first.start()
    try:
        a1 = await connect_to(first, "agent1")
        ev = Events(a1)
        await a1.call("agent.login", {})
        v = Visitor(base(first))
        async with v, Visitor(base(first)) as waiting:
            await v.start()
            await ev.expect("chat.offer", lambda d: d["id"] == v.id)
            await a1.call("chat.accept", {"id": v.id})
            await v.send(op="say", text="before the restart")
            await ev.expect("chat.message", lambda d: d["message"]["text"] == "before the restart")
            await waiting.start(name="Offered Only")
            await ev.expect("chat.offer", lambda d: d["id"] == waiting.id)
    finally:
        await first.stop()
    settings.server.port = 0
    second = Server(settings)
    await second.start()
    try:
        async with Visitor(base(second)) as again:
            await again.send(op="resume", token=v.token)
            f = await again.expect("resumed")
            assert f["conversation"]["state"] == "active" and f["conversation"]["agent"] == "agent1"
            assert [m["text"] for m in f["messages"] if m["sender"] == "visitor"] == ["before the restart"]
            a1 = await connect_to(second, "agent1")
            ev = Events(a1)
            chats = {c["id"]: c for c in (await a1.call("chat.list"))["chats"]}
            assert chats[v.id]["state"] == "active"
            if waiting.id not in chats:  # offered again (not kept from before), now or a moment later
                await ev.expect("chat.offer", lambda d: d["id"] == waiting.id)
            else:
                assert chats[waiting.id]["state"] == "offered"
            await a1.call("chat.send", {"id": v.id, "text": "after the restart"})
            await again.expect("message", lambda f: f["message"]["text"] == "after the restart")
    finally:
        await second.stop()


async def test_retention_deletes_old_conversations_and_their_words(server, connect):
    a1, ev = await agent(connect)
    async with Visitor(base(server)) as v:
        await v.start(email="old@example.org")
        await v.send(op="say", text="ancient zebra words")
        await ev.expect("chat.offer")
        await a1.call("chat.accept", {"id": v.id})
        await a1.call("chat.close", {"id": v.id})
    store = server.capabilities["chat"].store
    assert (await a1.call("chat.search", {"q": "zebra"}))["chats"]
    assert await store.run(store.purge, 0.0) == 0, "nothing is older than the epoch"
    import time
    assert await store.run(store.purge, time.time() + 1) == 1
    assert (await a1.call("chat.search", {"q": "zebra"}))["chats"] == []
    words = "messages" if store.pg else "messages_fts"  # PostgreSQL's word index is on the messages
    assert await store.run(lambda: store.db.execute(f"SELECT count(*) FROM {words}").fetchone()[0]) == 0


async def test_sticky_agent_gets_the_returning_visitor(server, connect):
    a1, ev1 = await agent(connect, "agent1")
    a2, ev2 = await agent(connect, "agent2")
    base_url = base(server)
    async with Visitor(base_url) as v, Visitor(base_url) as other, Visitor(base_url) as again:
        await v.start(email="back@example.org")
        first = await ev1.expect("chat.offer", lambda d: d["id"] == v.id)
        assert first["agent"] == "agent1"  # idle longest
        await a1.call("chat.accept", {"id": v.id})
        await a1.call("chat.close", {"id": v.id})
        await other.start()  # agent1 now idle the longest again: give them a chat so agent2 ranks first
        await ev1.expect("chat.offer", lambda d: d["id"] == other.id)
        await a1.call("chat.accept", {"id": other.id})
        await again.start(email="back@example.org")
        offer = await ev1.expect("chat.offer", lambda d: d["id"] == again.id)
        assert offer["agent"] == "agent1", "the visitor's last agent, though agent2 has fewer chats"
    assert not [(d["id"], d["name"]) for k, d in ev2.seen if k == "chat.offer"], (v.id, other.id, again.id)


async def test_escalate_to_a_callback(server, connect):
    a1, ev = await agent(connect)
    async with Visitor(base(server)) as v:
        await v.start()
        await ev.expect("chat.offer")
        await a1.call("chat.accept", {"id": v.id})
        res = await a1.call("chat.escalate", {"id": v.id, "mode": "callback", "number": "+4712345678"})
        assert res["callback"]["caller"] == "+4712345678" and res["callback"]["queue"] == "support"
        await v.expect("message", lambda f: "call you back" in f["message"]["text"])
        items = (await a1.call("callbacks.list", {}))
        assert any(i["caller"] == "+4712345678" for i in items.get("items", items.get("callbacks", [])))


async def test_bot_handover_outside_working_hours_is_refused(server, connect):
    from cc_console.server.acd.hours import Schedule
    token = server.api_clients.add("nightbot", "agent")
    server.engine.cfg.queues["support"].schedule = Schedule.from_config("UTC", {"mon": "closed"})
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        api = f"{base(server)}/api/v1/commands/"
        async with http.post(api + "chat.bot_start", json={"name": "Night Owl"}) as r:
            cid = (await r.json())["id"]
        async with http.post(api + "chat.bot_handover", json={"id": cid}) as r:
            assert r.status == 409
            assert "closed" in (await r.json())["detail"]


async def test_chats_started_from_one_address_are_limited(server):
    server.capabilities["chat"].service.s.starts_per_minute = 2
    async with Visitor(base(server)) as a, Visitor(base(server)) as b, Visitor(base(server)) as c:
        await a.start()
        await b.start()
        await c.send(op="start", name="Third")
        err = await c.expect("error")
        assert err["message"] == "Too many chats from here just now; please try again in a minute."
    server.capabilities["chat"].service.s.max_open = len(server.capabilities["chat"].service.live)
    server.capabilities["chat"].visitors._starts.clear()
    async with Visitor(base(server)) as d:
        await d.send(op="start", name="Too many")
        assert "busy" in (await d.expect("error"))["message"]


async def test_agents_own_chat_figures(server, connect):
    a1, ev = await agent(connect)
    async with Visitor(base(server)) as v:
        await v.start()
        await ev.expect("chat.offer")
        await a1.call("chat.accept", {"id": v.id})
        await a1.call("chat.close", {"id": v.id})
    store = server.capabilities["chat"].store
    await store.run(lambda: None)  # the close is written (the store's thread runs in order)
    f = await a1.call("chat.figures")
    assert f["windows"]["24h"]["handled"] == 1 and f["windows"]["30d"]["service_level"] == 100.0
    assert f["windows"]["24h"]["queues"]["chat:support"]["handled"] == 1
    a2 = await connect("agent2")
    with pytest.raises(ProtocolError):
        await a2.call("chat.figures", {"agent": "agent1"})
    assert (await a2.call("chat.figures"))["windows"]["7d"]["handled"] == 0
    sup = await connect("sup1")
    assert (await sup.call("chat.figures", {"agent": "agent1"}))["windows"]["24h"]["handled"] == 1


async def test_a_flood_of_frames_is_refused_and_a_new_chat_can_follow_an_ended_one(server, connect, monkeypatch):
    a1, ev = await agent(connect)
    async with Visitor(base(server)) as v:
        await v.start()
        for i in range(40):
            await v.send(op="typing", on=bool(i % 2))
        err = await v.expect("error", lambda f: f.get("code") == "rate_limited")
        assert err["message"] == "Please slow down a little."
        from cc_console.server.chat import visitors
        monkeypatch.setattr(visitors, "_RATE", 10_000.0)  # the bucket refills at once from here on
        await ev.expect("chat.offer", lambda d: d["id"] == v.id)
        await a1.call("chat.accept", {"id": v.id})
        await a1.call("chat.close", {"id": v.id})
        await v.expect("closed")
        first = v.id
        mark = len(v.frames)
        await v.send(op="start", name="Vera again")
        started = await v.expect("started", start=mark)
        assert started["id"] != first
        await ev.expect("chat.offer", lambda d: d["id"] == started["id"])


async def test_a_bot_conversation_that_ends_with_the_bot_is_no_abandoned_chat(server, connect):
    token = server.api_clients.add("selfservice", "agent")
    async with Visitor(base(server), {"Authorization": f"Bearer {token}"}) as bot:
        await bot.start(name="Quick Question", bot=True)
        await bot.send(op="reply", text="The opening hours are 8 to 16.")
        await bot.send(op="end")
        await bot.expect("closed", lambda f: f["outcome"] == "self_served")
    stats = await (await connect("sup1")).call("chat.stats")
    assert all(q["abandoned"] == 0 for q in stats["queues"])


def test_capacity_settings_are_checked():
    from cc_console.server.chat.settings import ChatSettings
    assert ChatSettings(capacity={"call": 1, "chat": 4}).capacity_rule().limit("chat") == 4
    for bad in ({"capacity": {"chats": 3}}, {"exclusive": {"chat": ["phone"]}}, {"capacity": {"chat": -1}},
                {"capacity": {"chat": "3"}}):
        with pytest.raises(ValueError, match=r"\[chat\]"):
            ChatSettings(**bad).capacity_rule()
