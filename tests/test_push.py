"""Push subscriptions on a real server with a real Kannel (tests/kannel.py) and a real SMTP server
(aiosmtpd): subscribing on the web page and through an agent, an event pushed to 1,000 SMS
subscribers with Kannel's delivery reports counted, STOP by SMS, the signed unsubscribe link, the
daily digest and the log of what went to whom. docs/sms.md."""
from __future__ import annotations

import asyncio
import re
import time
from email import policy
from email.parser import BytesParser

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from cc_console.protocol import ProtocolError
from tests.dovecot import free_port
from tests.kannel import FakeSmsc, Kannel
from tests.test_sms import SECRET, until

TOPICS = {"news": "News from the region", "tenders": "Public tenders", "courses": "Courses"}
NEWS = "Krajský úřad: nové kurzy pro seniory od 1. 12. Přihlášky na podatelně."


class Outbox:
    def __init__(self) -> None:
        self.got = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.got.append(BytesParser(policy=policy.default).parsebytes(envelope.content))
        return "250 OK"


@pytest.fixture
def kannel():
    k = Kannel()
    yield k
    k.stop()


@pytest.fixture
def outbox():
    box = Outbox()
    ctl = Controller(box, hostname="127.0.0.1", port=free_port())
    ctl.start()
    box.port = ctl.port
    yield box
    ctl.stop()


@pytest.fixture
def settings(settings, kannel, outbox):
    settings.sections["sms"] = {
        "enabled": True, "sendsms_url": kannel.sendsms_url, "username": kannel.username,
        "password": kannel.password, "sender": "1234", "secret": SECRET, "timeout": 10.0,
        "push_topics": TOPICS, "push_link_secret": "link-signing-secret-0123456789",
        # a relay on this host for the test (production mail uses STARTTLS, docs/sms.md)
        "smtp": {"host": "127.0.0.1", "port": outbox.port, "tls": "none", "sender": "info@kraj.example"},
    }
    return settings


@pytest.fixture
async def smsc(server, kannel):
    base = f"http://127.0.0.1:{server.port}"
    server.capabilities["sms"].settings.callback_url = base
    server.capabilities["sms"].settings.push_public_url = base
    kannel.start(f"{base}/sms/kannel/inbound?key={SECRET}&id=%I&from=%p&to=%P&coding=%c&charset=%C&bin=%b")
    fake = FakeSmsc(kannel.smsc_port)
    await fake.connect()
    yield fake
    await fake.close()


async def test_a_push_to_1000_subscribers_over_sms_with_the_delivery_reports_counted(server, connect, smsc):
    push = server.capabilities["sms"].push
    numbers = [f"+42060{i:07d}" for i in range(1000)]
    for n in numbers:
        await push.subscribe("news", "sms", n, "immediate", by="test")
    await push.subscribe("tenders", "sms", "+420999000111", by="test")  # another topic: gets nothing
    sup = await connect("sup1")
    topics = {t["topic"]: t["subscribers"] for t in (await sup.call("push.topics", {}))["topics"]}
    assert topics == {"news": 1000, "tenders": 1, "courses": 0}

    t0 = time.monotonic()
    event = (await sup.call("push.publish", {"topic": "news", "title": "Kraj", "text": NEWS}))["event"]
    assert event["recipients"] == 1000 and event["now"] == 1000
    got = await smsc.expect(1000, timeout=240)
    sent_s = time.monotonic() - t0

    async def all_counted() -> bool:
        e = (await sup.call("push.event", {"id": event["id"]}))["event"]
        return e["by_state"] == {"delivered": 1000}
    try:
        await until(all_counted, timeout=120, what="1000 delivery reports")
    except AssertionError:
        e = (await sup.call("push.event", {"id": event["id"]}))["event"]
        raise AssertionError(f"delivery reports counted: {e['by_state']}") from None
    print(f"\npush to 1000 SMS subscribers: all at the SMSC after {sent_s:.1f} s, "
          f"all delivery reports counted after {time.monotonic() - t0:.1f} s")

    assert sorted(m.receiver for m in got) == numbers, "each subscriber once, nobody else"
    text = push.sms_text({"title": "Kraj", "text": NEWS})
    assert {m.data.decode("utf-16-be") for m in got} == {text}, "UCS-2, every letter intact"
    log = (await sup.call("push.log", {"event": event["id"], "limit": 5000}))["log"]
    assert len(log) == 1000 and {(r["channel"], r["outcome"], r["status"]) for r in log} == {
        ("sms", "sent", "delivered")}
    assert {r["address"] for r in log} == set(numbers)


async def test_subscribe_on_the_web_page_confirm_by_sms_and_leave_by_stop(server, connect, smsc):
    """A web subscription waits for the citizen's YES (nobody gets messages on a stranger's word);
    an agent's is confirmed at once; STOP ends it; neither YES nor STOP opens a conversation."""
    a1 = await connect("agent1")
    await a1.call("agent.login", {})
    by_agent = (await a1.call("push.subscribe", {"topic": "courses", "channel": "sms",
                                                  "address": "+420777000222"}))["subscription"]
    assert by_agent["by"] == "agent1" and by_agent["confirmed"]
    with pytest.raises(ProtocolError) as exc:
        await a1.call("push.subscribe", {"topic": "courses", "channel": "sms", "address": "hello"})
    assert exc.value.message == "That is not a phone number."

    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as http:
        body = {"topic": "courses", "channel": "sms", "address": "+420 777 000 111", "frequency": "immediate"}
        async with http.post(f"{base}/api/v1/push/subscriptions", json=body) as r:
            assert r.status == 201, await r.text()
            sub = (await r.json())["subscription"]
        async with http.post(f"{base}/api/v1/push/subscriptions", json={**body, "topic": "weather"}) as r:
            assert r.status == 400 and "no topic" in (await r.json())["detail"]
    ask = (await smsc.expect(1))[0]
    assert ask.receiver == "+420777000111" and "Reply YES" in ask.data.decode()

    sup = await connect("sup1")
    event = (await sup.call("push.publish", {"topic": "courses", "text": "Kurz angličtiny"}))["event"]
    assert event["recipients"] == 1, "not confirmed yet: not a recipient"
    assert (await smsc.expect(2))[1].receiver == "+420777000222"

    await smsc.deliver("+420777000111", "1234", "ano")
    welcome = (await smsc.expect(3))[2]
    assert welcome.receiver == "+420777000111" and "messages about: Courses" in welcome.data.decode()
    subs = (await a1.call("push.subscriptions", {"topic": "courses"}))["subscriptions"]
    assert {s["id"] for s in subs} == {sub["id"], by_agent["id"]}

    await smsc.deliver("+420777000111", "1234", "Stop")
    answer = (await smsc.expect(4))[3]
    assert answer.receiver == "+420777000111" and "no more messages about: Courses" in answer.data.decode()
    subs = (await a1.call("push.subscriptions", {"address": "+420777000111", "all": True}))["subscriptions"]
    assert [(s["id"], s["ended_by"]) for s in subs] == [(sub["id"], "stop")]
    assert server.capabilities["sms"].service.live == {}, "YES and STOP are not conversations"

    event = (await sup.call("push.publish", {"topic": "courses", "text": "Kurz němčiny"}))["event"]
    assert event["recipients"] == 1
    assert (await smsc.expect(5))[4].receiver == "+420777000222"


async def test_the_signed_link_the_daily_digest_and_the_log(server, connect, smsc, outbox):
    push = server.capabilities["sms"].push
    sup = await connect("sup1")
    now = (await sup.call("push.subscribe", {"topic": "tenders", "channel": "email",
                                             "address": "Jana@Example.cz"}))["subscription"]
    daily = (await sup.call("push.subscribe", {"topic": "tenders", "channel": "email", "address": "petr@example.cz",
                                               "frequency": "daily"}))["subscription"]
    await sup.call("push.publish", {"topic": "tenders", "title": "Tender 17/2026", "text": "Oprava silnice II/150"})
    await sup.call("push.publish", {"topic": "tenders", "title": "Tender 18/2026", "text": "Školní jídelna"})

    async def two_mails() -> bool:
        return len(outbox.got) >= 2
    await until(two_mails, what="the two immediate e-mails")
    assert {m["To"] for m in outbox.got} == {"jana@example.cz"}
    mail = outbox.got[0]
    link = re.search(r"(http://\S+/push/unsubscribe\?\S+)", mail.get_content()).group(1)
    assert mail["List-Unsubscribe"] == f"<{link}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    assert await push.send_digests() == 1
    digest = outbox.got[2]
    assert digest["To"] == "petr@example.cz"
    assert "Oprava silnice II/150" in digest.get_content() and "Školní jídelna" in digest.get_content()
    assert await push.send_digests() == 0, "each event once in a digest"

    async with aiohttp.ClientSession() as http:
        async with http.get(link) as r:  # a mail scanner opening the link changes nothing
            assert r.status == 200 and "Unsubscribe" in await r.text()
        assert [s["id"] for s in (await sup.call("push.subscriptions", {"topic": "tenders"}))["subscriptions"]] == [
            now["id"], daily["id"]]
        async with http.post(link.replace(now["id"], daily["id"])) as r:  # the signature is the subscription's
            assert r.status == 404
        async with http.post(link) as r:
            assert r.status == 200 and "no more messages" in await r.text()
    assert [s["id"] for s in (await sup.call("push.subscriptions", {"topic": "tenders"}))["subscriptions"]] == [
        daily["id"]]

    log = (await sup.call("push.log", {"address": "jana@example.cz"}))["log"]
    assert [(r["title"], r["channel"], r["outcome"]) for r in log] == [
        ("Tender 18/2026", "email", "sent"), ("Tender 17/2026", "email", "sent")]
    with pytest.raises(ProtocolError):
        a1 = await connect("agent1")
        await a1.call("push.publish", {"topic": "tenders", "text": "x"})  # publishing is for supervisors

    # on the web page by e-mail: a confirmation link first, signed for confirming only
    sent = len(outbox.got)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{server.port}/api/v1/push/subscriptions",
                             json={"topic": "courses", "channel": "email", "address": "eva@example.cz"}) as r:
            assert r.status == 201
            web_sub = (await r.json())["subscription"]

        async def asked() -> bool:
            return len(outbox.got) > sent
        await until(asked, what="the confirmation e-mail")
        confirm = re.search(r"(http://\S+/push/confirm\?\S+)", outbox.got[sent].get_content()).group(1)
        assert [s["id"] for s in (await sup.call("push.subscriptions", {"topic": "courses"}))["subscriptions"]] == []
        async with http.post(confirm.replace("/push/confirm", "/push/unsubscribe")) as r:
            assert r.status == 404, "a confirmation link does not unsubscribe"
        async with http.get(confirm) as r:
            assert r.status == 200 and "Confirm" in await r.text()
        async with http.post(confirm) as r:
            assert r.status == 200 and "you will get our messages" in await r.text()
    subs = (await sup.call("push.subscriptions", {"topic": "courses"}))["subscriptions"]
    assert [(s["id"], s["confirmed"], s["by"]) for s in subs] == [(web_sub["id"], True, "web")]


async def test_stop_with_a_topic_ends_that_topic_only(server, connect, smsc):
    a1 = await connect("agent1")
    for topic in ("news", "tenders"):
        await a1.call("push.subscribe", {"topic": topic, "channel": "sms", "address": "+4791234567"})
    await smsc.deliver("+4791234567", "1234", "STOP tenders")
    assert "Public tenders" in (await smsc.expect(1))[0].data.decode()
    active = (await a1.call("push.subscriptions", {"address": "+4791234567"}))["subscriptions"]
    assert [s["topic"] for s in active] == ["news"]
    await smsc.deliver("+4791234567", "1234", "stopp")
    assert "News from the region" in (await smsc.expect(2))[1].data.decode()
    assert (await a1.call("push.subscriptions", {"address": "+4791234567"}))["subscriptions"] == []
    await smsc.deliver("+4791234567", "1234", "Takk for hjelpen")  # an ordinary SMS: a conversation
    await until(lambda: _one_conversation(server), what="the conversation")
    assert len(smsc.messages) == 2, "no answer to an ordinary SMS"


async def _one_conversation(server) -> bool:
    return len(server.capabilities["sms"].service.live) == 1


async def test_a_stop_during_a_push_to_a_hung_gateway_is_quick_and_the_log_says_interrupted(settings, connect_to):
    """The gateway takes the connection and never answers: stopping the server does not wait for
    the push; the next start marks what was not sent as interrupted."""
    from cc_console.server.app import Server

    async def hang(reader, writer):
        await reader.read()  # never answers
    hung = await asyncio.start_server(hang, "127.0.0.1", 0)
    port = hung.sockets[0].getsockname()[1]
    settings.sections["sms"].update(sendsms_url=f"http://127.0.0.1:{port}/cgi-bin/sendsms", timeout=60.0)
    first = Server(settings)
    await first.start()
    try:
        push = first.capabilities["sms"].push
        for i in range(20):
            await push.subscribe("news", "sms", f"+42060{i:07d}", by="test")
        event = await push.publish("news", "", "Uzavírka silnice", by="test")
    finally:
        t0 = time.monotonic()
        await first.stop()
        stopped = time.monotonic() - t0
    hung.close()
    assert stopped < 10, f"the stop waited for the push: {stopped:.1f} s"
    second = Server(settings)
    await second.start()
    try:
        sup = await connect_to(second, "sup1")
        summary = (await sup.call("push.event", {"id": event["id"]}))["event"]
        assert summary["by_state"] == {"interrupted": 20}
    finally:
        await second.stop()


async def test_the_subscription_form_works_without_javascript(server, smsc):
    """The web page's form (GET /push/subscribe): labelled fields, the topics by name; a wrong
    number is said in words with what was typed kept; a right one asks for the YES by SMS."""
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/push/subscribe") as r:
            page = await r.text()
            assert r.status == 200 and 'name="topic"' in page and ">Courses</option>" in page
            assert '<label for="address">' in page and '<label for="topic">' in page
        form = {"topic": "courses", "channel": "sms", "address": "not a number", "frequency": "daily"}
        async with http.post(f"{base}/push/subscribe", data=form) as r:
            page = await r.text()
            assert r.status == 400 and "That is not a phone number." in page
            assert 'value="not a number"' in page and 'value="daily" selected' in page
        async with http.post(f"{base}/push/subscribe", data={**form, "address": "+420 777 000 333"}) as r:
            assert r.status == 200 and "Reply YES" in await r.text()
    ask = (await smsc.expect(1))[0]
    assert ask.receiver == "+420777000333" and "Reply YES" in ask.data.decode()
