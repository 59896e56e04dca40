"""The SMS channel on a real server with a real Kannel (bearerbox + smsbox, started by the test) and
a fake SMSC speaking Kannel's fakesmsc protocol (tests/kannel.py): Czech and Norwegian text longer
than one SMS out and back, concatenation, UCS-2, delivery reports, conversations as work items, and
the daily record. docs/sms.md."""
from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import date

import aiohttp
import pytest

from cc_console.protocol import ProtocolError
from cc_console.server.sms import gsm
from cc_console.server.sms.kannel import decode, inbound
from tests.chat_helpers import Events
from tests.conftest import PASSWORD
from tests.kannel import FakeSmsc, Kannel

SECRET = "kannel-callback-key-0123456789"
CUSTOMER = "+420777123456"
CZECH = ("Dobrý den, paní Nováková: vaše žádost o proplacení (řeřicha, kůň, čočka) je vyřízená. "
         "Hei fra Bodø: æøå ÆØÅ, blåbærsyltetøy. Děkujeme a přejeme hezký den! ")
NORWEGIAN = ("Hei! Jeg har fått brevet om refusjonen, men beløpet på kontoen stemmer ikke. Kan dere se på det? "
             "Vennlig hilsen Åse Ødegård fra Bærum, på vei til Tromsø med blåbær og rømme.")


@pytest.fixture
def kannel():
    k = Kannel()
    yield k
    k.stop()


@pytest.fixture
def settings(settings, kannel):
    settings.sections["sms"] = {
        "enabled": True, "sendsms_url": kannel.sendsms_url, "username": kannel.username,
        "password": kannel.password, "sender": "1234", "secret": SECRET, "ring_timeout": 5.0, "timeout": 5.0,
        "templates": {"hello": "Dobrý den, píše {agent} z pojišťovny."},
    }
    return settings


@pytest.fixture
async def smsc(server, kannel):
    """Kannel started against this server (its port is known now), and the SMSC connected."""
    base = f"http://127.0.0.1:{server.port}"
    server.capabilities["sms"].settings.callback_url = base
    kannel.start(f"{base}/sms/kannel/inbound?key={SECRET}&id=%I&from=%p&to=%P&coding=%c&charset=%C&bin=%b")
    fake = FakeSmsc(kannel.smsc_port)
    await fake.connect()
    yield fake
    await fake.close()


async def agent(connect, user: str = "agent1"):
    c = await connect(user)
    ev = Events(c)
    await c.call("agent.login", {})
    return c, ev


async def until(pred, timeout: float = 15.0, what: str = "") -> None:
    async def wait() -> None:
        while not await pred():
            await asyncio.sleep(0.05)
    try:
        await asyncio.wait_for(wait(), timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


def test_coding_and_parts():
    assert gsm.coding(NORWEGIAN) == gsm.GSM7  # æ ø å are in the GSM default alphabet
    assert gsm.coding("řůč") == gsm.UCS2
    assert gsm.parts("x" * 160) == 1 and gsm.parts("x" * 161) == 2
    assert gsm.parts("€" * 80) == 1 and gsm.parts("€" * 81) == 2  # € takes two septets
    assert gsm.parts("ř" * 70) == 1 and gsm.parts("ř" * 71) == 2 and gsm.parts("ř" * 135) == 3


def test_the_inbound_bytes_are_read_by_coding_and_charset():
    assert decode("Odpověď".encode("utf-16-be"), "2", "UTF-16BE") == "Odpověď"
    assert decode("blåbær".encode(), "0", "UTF-8") == "blåbær"
    assert decode("blåbær".encode("latin-1"), "1", "ISO-8859-1") == "blåbær"
    q = "from=%2B420777123456&to=1234&id=abc&coding=2&charset=UTF-16BE&bin=" + "".join(
        f"%{b:02X}" for b in "řů".encode("utf-16-be"))
    sms = inbound(q)
    assert (sms.sender, sms.text, sms.kannel_id) == (CUSTOMER, "řů", "abc")


async def test_an_sms_round_trip_in_czech_and_norwegian_through_kannel(server, connect, smsc):
    """A customer's long Norwegian SMS (concatenated by the handset, joined by Kannel) becomes a work
    item; the agent answers in Czech with Norwegian letters, longer than one SMS: Kannel sends it as
    UCS-2 in parts that the handset joins to the same text; the delivery reports mark it delivered;
    the customer's Czech answer (UCS-2) joins the same conversation; the daily record lists it."""
    cap = server.capabilities["sms"]
    a1, ev = await agent(connect)

    await smsc.deliver(CUSTOMER, "1234", NORWEGIAN, split=2)
    offer = await ev.expect("sms.offer", timeout=20)
    assert offer["number"] == CUSTOMER
    assert [m["text"] for m in offer["messages"]] == [NORWEGIAN], "Kannel joins the parts; every letter intact"
    conv = (await a1.call("sms.accept", {"id": offer["id"]}))["sms"]
    assert conv["state"] == "active"

    sent = await a1.call("sms.send", {"id": conv["id"], "text": CZECH})
    msg = sent["message"]
    assert msg["coding"] == gsm.UCS2 and msg["parts"] == gsm.parts(CZECH) > 1
    got = (await smsc.expect(1))[0]
    assert got.receiver == CUSTOMER and got.sender == "1234"
    assert len(got.parts) == msg["parts"], "Kannel split it as we counted"
    assert all(p.udh for p in got.parts), "each part carries the concatenation header"
    assert got.data.decode("utf-16-be") == CZECH.strip(), "UCS-2 on the air, every letter intact"

    status = await ev.expect("sms.status", lambda d: d["message"] == msg["id"] and d["status"] == "delivered")
    assert status["id"] == conv["id"]

    answer = ("Děkuji mnohokrát, přijde to na můj účet u České spořitelny, nebo na účet manžela? "
              "Zdraví Řehoř Dvořák (Å ø æ)")
    assert gsm.parts(answer) > 1
    await smsc.deliver(CUSTOMER, "1234", answer, ucs2=True)
    joined = await ev.expect("sms.message", lambda d: d["message"]["direction"] == "in")
    assert joined["id"] == conv["id"], "an SMS from the number joins its open conversation"
    assert joined["message"]["text"] == answer

    rows = (await a1.call("sms.list", {}))["conversations"]
    assert [len(r["messages"]) for r in rows] == [3]
    await a1.call("sms.close", {"id": conv["id"], "category": "question"})
    history = (await a1.call("contacts.history", {"number": "00420 777 123 456"}))["history"]
    assert [(h["channel"], h["id"], h["outcome"], h["category"]) for h in history] == [
        ("sms", conv["id"], "handled", "question")], "the conversation in the customer's history"

    sup = await connect("sup1")
    record = (await sup.call("sms.record", {"day": date.today().isoformat()}))["messages"]
    assert [(r["number"], r["text"], r["status"], r["parts"], r["coding"]) for r in record] == [
        (CUSTOMER, CZECH.strip(), "delivered", msg["parts"], "UCS-2")]
    assert record[0]["agent"] == "Agent1"
    token = server.auth.login("sup1", PASSWORD, None).token
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{server.port}/api/v1/sms/record", params={"day": date.today().isoformat()},
            headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await r.text())))
    assert [(x["number"], x["text"], x["status"]) for x in rows] == [(CUSTOMER, CZECH.strip(), "delivered")]
    with pytest.raises(ProtocolError):
        await a1.call("sms.record", {"day": date.today().isoformat()})  # the record is for supervisors
    report = (await sup.call("report.run", {"kind": "channel"}))["report"]
    rows = {(r[0], r[1]): dict(zip(report["columns"], r)) for r in report["rows"]}
    sms = rows[("sms", "support")]
    assert (sms["offered"], sms["handled"], sms["handled_within"]) == (1, 1, 1), "in the channel report"
    assert cap.service.live == {}


async def test_an_agent_writes_from_the_contact_card_and_the_answer_comes_back(server, connect, smsc):
    a1, ev = await agent(connect)
    out = await a1.call("sms.send", {"number": "00420 777 123 456", "text": "Hei! Rett svar: æøå ÆØÅ."})
    assert out["sms"]["number"] == CUSTOMER and out["sms"]["agent"] == "agent1"
    assert out["message"]["coding"] == gsm.GSM7 and out["message"]["parts"] == 1
    got = (await smsc.expect(1))[0]
    assert got.data.decode() == "Hei! Rett svar: æøå ÆØÅ."  # Kannel hands 7-bit text over as UTF-8
    await smsc.deliver(CUSTOMER, "1234", "Takk skal du ha")
    back = await ev.expect("sms.message", lambda d: d["message"]["direction"] == "in")
    assert back["id"] == out["sms"]["id"]
    with pytest.raises(ProtocolError) as exc:
        await a1.call("sms.send", {"number": "not a number", "text": "x"})
    assert "phone number" in exc.value.message


async def test_kannels_callbacks_need_the_key(server, smsc):
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession() as http:
        for path in ("/sms/kannel/inbound?from=%2B4799999999&bin=x", "/sms/kannel/dlr?id=x&status=1"):
            async with http.get(base + path) as r:
                assert r.status == 403
            async with http.get(base + path + "&key=wrong-key-wrong-key-wrong") as r:
                assert r.status == 403
    assert server.capabilities["sms"].service.live == {}


async def test_a_retried_get_url_is_taken_once(server, connect, smsc):
    a1, ev = await agent(connect)
    base = f"http://127.0.0.1:{server.port}/sms/kannel/inbound?key={SECRET}"
    url = base + "&id=same-kannel-id&from=%2B4791234567&to=1234&coding=0&charset=UTF-8&bin=Hei%20igjen"
    async with aiohttp.ClientSession() as http:
        for _ in range(2):
            async with http.get(url) as r:
                assert r.status == 200
    offer = await ev.expect("sms.offer")
    assert [m["text"] for m in offer["messages"]] == ["Hei igjen"]
    with pytest.raises(ProtocolError) as exc:  # from the contact card, while it is offered to me
        await a1.call("sms.send", {"number": "+4791234567", "text": "Hei"})
    assert exc.value.message == "This number's conversation is offered to you: accept it first."


async def test_a_message_the_gateway_refuses_is_said_in_words(server, connect, kannel, caplog):
    """Kannel not running: the agent reads a sentence, the message is recorded as not sent, and the
    log says why without the sendsms password."""
    caplog.set_level("DEBUG")
    a1, _ = await agent(connect)
    t0 = time.time()
    with pytest.raises(ProtocolError) as exc:
        await a1.call("sms.send", {"number": CUSTOMER, "text": "Dobrý den"})
    assert exc.value.message == "The SMS could not be sent just now; please try again."
    assert server.capabilities["sms"].service.live == {}
    rows = await server.capabilities["sms"].service.record(date.today().isoformat())
    assert [r["status"] for r in rows] == ["not sent"] and time.time() - t0 < 10
    assert "sendsms could not be reached" in caplog.text
    assert kannel.password not in caplog.text and SECRET not in caplog.text


async def test_the_agent_answers_an_sms_in_the_console_and_writes_to_the_customer_on_the_card(server, smsc):
    from cc_console.tui import CCConsoleApp
    from tests.test_tui_e2e import agent_screen_ready, wait_screen

    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
        panel = app.screen.query_one("#sms")
        assert not panel.display, "no SMS: no panel"
        await wait_screen(pilot, lambda: app.screen.query_one("#agent-state").state == "logged_out", what="state")
        await pilot.press("l")
        await wait_screen(pilot, lambda: app.screen.query_one("#agent-state").state == "ready", what="ready")
        await smsc.deliver(CUSTOMER, "1234", "Dobrý den, [bold]kdy[/bold] přijde karta?", ucs2=True)
        await wait_screen(pilot, lambda: len(panel.order) == 1, what="an SMS offered")
        cid = panel.order[0]
        await pilot.press("S")
        await wait_screen(pilot, lambda: panel.convs[cid]["state"] == "active", what="accepted")
        assert "Dobrý den, [bold]kdy[/bold] přijde karta?" in str(panel.query_one("#sms-log").render())
        await pilot.press(*"Zitra.", "ctrl+s")
        got = (await smsc.expect(1))[0]
        assert got.data.decode() == "Zitra."
        await wait_screen(pilot, lambda: "delivered" in str(panel.query_one("#sms-log").render()),
                          what="the delivery report on screen")
        await pilot.press(*"/close question", "ctrl+s")
        await wait_screen(pilot, lambda: not panel.order and not panel.display, what="panel hidden again")

        # the card of the call in hand (as the registration sets it during a call)
        app.screen.reg = {"call_id": "", "caller": "+420601000111", "contact": {"mobile": "+420 777 555 444"}}
        await pilot.press("escape", "M")
        await wait_screen(pilot, lambda: panel.display and panel.draft_to == "+420 777 555 444", what="a draft")
        await pilot.press(*"Vase karta je na ceste.", "ctrl+s")
        got = (await smsc.expect(2))[1]
        assert got.receiver == "+420777555444" and got.data.decode() == "Vase karta je na ceste."
        await wait_screen(pilot, lambda: len(panel.order) == 1 and panel.draft_to == "", what="its conversation")


async def test_an_open_conversation_survives_a_restart_and_the_next_sms_joins_it(settings, kannel, connect_to):
    """Kannel keeps running while the server restarts on the same port: the open conversation is
    loaded back, the customer's next SMS joins it, and its delivery state is still known."""
    from cc_console.server.app import Server
    from tests.dovecot import free_port
    settings.server.port = free_port()
    base = f"http://127.0.0.1:{settings.server.port}"
    settings.sections["sms"]["callback_url"] = base
    first = Server(settings)
    await first.start()
    kannel.start(f"{base}/sms/kannel/inbound?key={SECRET}&id=%I&from=%p&to=%P&coding=%c&charset=%C&bin=%b")
    fake = FakeSmsc(kannel.smsc_port)
    await fake.connect()
    try:
        try:
            a1 = await connect_to(first, "agent1")
            ev = Events(a1)
            await a1.call("agent.login", {})
            await fake.deliver(CUSTOMER, "1234", "Ahoj, mám dotaz k faktuře.", ucs2=True)
            offer = await ev.expect("sms.offer")
            await a1.call("sms.accept", {"id": offer["id"]})
            sent = (await a1.call("sms.send", {"id": offer["id"], "text": "Dobrý den, ptejte se."}))["message"]
            await ev.expect("sms.status", lambda d: d["message"] == sent["id"] and d["status"] == "delivered")
        finally:
            await first.stop()
        second = Server(settings)
        await second.start()
        try:
            a1 = await connect_to(second, "agent1")
            ev = Events(a1)
            [conv] = (await a1.call("sms.list"))["conversations"]
            assert conv["id"] == offer["id"] and conv["state"] == "active" and conv["agent"] == "agent1"
            assert [(m["direction"], m["status"]) for m in conv["messages"]] == [("in", "received"),
                                                                              ("out", "delivered")]
            await fake.deliver(CUSTOMER, "1234", "Kdy bude splatná?", ucs2=True)
            joined = await ev.expect("sms.message", lambda d: d["message"]["direction"] == "in")
            assert joined["id"] == offer["id"] and joined["message"]["text"] == "Kdy bude splatná?"
        finally:
            await second.stop()
    finally:
        await fake.close()
