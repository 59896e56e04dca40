"""The e-mail channel on a real server with a real Dovecot (IMAPS, IDLE) and a real SMTP server
(aiosmtpd, STARTTLS required), both started by the test: a customer's e-mail routed to an agent,
acknowledged, answered in the console, and the customer's answer threading back. docs/email.md."""
from __future__ import annotations

import asyncio
import imaplib
import ssl
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid

import aiohttp
import pytest
import trustme
from aiosmtpd.controller import Controller

from cc_console.protocol import ProtocolError
from cc_console.server.email.parse import html_to_text, parse
from tests.chat_helpers import Events
from tests.dovecot import Dovecot, free_port

CUSTOMER = "jana.novakova@example.cz"


class Outbox:
    """What the SMTP server received: each message parsed, and whether it came over TLS."""

    def __init__(self) -> None:
        self.got: list[tuple[EmailMessage, bool]] = []
        self.new = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        msg = BytesParser(policy=policy.default).parsebytes(envelope.content)
        self.got.append((msg, session.ssl is not None))
        self.loop.call_soon_threadsafe(self.new.set)
        return "250 OK"

    async def expect(self, pred, timeout: float = 15.0) -> EmailMessage:
        async def wait() -> EmailMessage:
            while True:
                for msg, tls in self.got:
                    if pred(msg):
                        assert tls, "a message left without TLS"
                        return msg
                self.new.clear()
                await self.new.wait()
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"no such mail sent; got {[str(m['Subject']) for m, _ in self.got]}") from None


@pytest.fixture
def ca():
    return trustme.CA()


@pytest.fixture
def dovecot(ca):
    cert = ca.issue_cert("127.0.0.1", "localhost")
    d = Dovecot(cert.cert_chain_pems[0].bytes().decode(), cert.private_key_pem.bytes().decode())
    d.start()
    yield d
    d.stop()


@pytest.fixture
async def outbox(ca):
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(ctx)
    box = Outbox()
    ctl = Controller(box, hostname="127.0.0.1", port=free_port(), tls_context=ctx, require_starttls=True)
    ctl.start()
    box.port = ctl.port
    yield box
    ctl.stop()


@pytest.fixture
def settings(settings, dovecot, outbox, ca, tmp_path):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings.sections["email"] = {
        "enabled": True, "imap_host": "127.0.0.1", "imap_port": dovecot.port, "imap_tls": "tls",
        "imap_ca_file": str(ca_file), "imap_user": dovecot.user, "imap_password": dovecot.password,
        "reconnect": 0.2, "address": "podpora@example.org", "ring_timeout": 5.0,
        "smtp": {"host": "127.0.0.1", "port": outbox.port, "tls": "starttls", "ca_file": str(ca_file),
                 "timeout": 5.0},
        "templates": {"thanks": "Dobrý den, {name},\n\nděkujeme za zprávu ({ref})."},
    }
    return settings


async def deliver(dovecot: Dovecot, msg: EmailMessage) -> None:
    """The customer's mail arrives in the mailbox (as the MTA would put it there)."""
    def append() -> None:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the test's own server
        m = imaplib.IMAP4_SSL("127.0.0.1", dovecot.port, ssl_context=ctx)
        try:
            m.login(dovecot.user, dovecot.password)
            typ, _ = m.append("INBOX", None, None, msg.as_bytes())
            assert typ == "OK"
        finally:
            m.logout()
    await asyncio.to_thread(append)


def customer_mail(subject: str, text: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Jana Nováková <{CUSTOMER}>"
    msg["To"], msg["Subject"] = "podpora@example.org", subject
    msg["Message-ID"] = make_msgid(domain="example.cz")
    for k, v in headers.items():
        msg[k.replace("_", "-")] = v
    msg.set_content(text)
    return msg


async def agent(connect, user: str = "agent1"):
    c = await connect(user)
    ev = Events(c)
    await c.call("agent.login", {})
    return c, ev


async def test_an_email_is_routed_answered_and_the_customers_answer_threads_back(server, connect, dovecot,
                                                                                   outbox):
    cap = server.capabilities["email"]
    try:
        await asyncio.wait_for(cap.reader.connected.wait(), 15)  # IDLE is on: what comes now is pushed
    except TimeoutError:
        raise AssertionError(f"the mailbox was not read: {dovecot.log()}") from None
    a1, ev = await agent(connect)

    first = customer_mail("Pojistná událost č. 4711", "")
    first.set_content("Dobrý den, posílám fotografie škody.")
    first.add_alternative("<p>Dobrý den, <b>posílám</b> fotografie škody.</p>"
                          "<script>alert('x')</script><img src='http://tracker.example/x.png'>", subtype="html")
    first.add_attachment(b"\x89PNG fake image bytes", maintype="image", subtype="png", filename="skoda.png")
    await deliver(dovecot, first)

    offer = await ev.expect("email.offer")
    tid = offer["id"]
    assert offer["customer"] == CUSTOMER and offer["name"] == "Jana Nováková"
    assert offer["subject"] == "Pojistná událost č. 4711"
    got = offer["messages"][0]
    assert got["text"] == "Dobrý den, posílám fotografie škody."  # the plain part, no markup
    [att] = got["attachments"]
    assert att["filename"] == "skoda.png" and att["size"] == len(b"\x89PNG fake image bytes")

    # the automatic acknowledgement, in the thread (an answer to it comes back here too)
    ack = await outbox.expect(lambda m: m["To"] == CUSTOMER and "received" in str(m["Subject"]))
    assert ack["In-Reply-To"] == first["Message-ID"] and ack["Auto-Submitted"] == "auto-replied"
    assert tid in ack.get_content()

    # the attachment, downloadable by the thread's agent
    async with aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{server.port}{att['url']}"
        async with http.get(url, headers={"Authorization": f"Bearer {a1.token}"}) as r:
            assert r.status == 200 and await r.read() == b"\x89PNG fake image bytes"
            assert r.headers["Content-Disposition"].startswith("attachment")
        async with http.get(url) as r:
            assert r.status == 401

    with pytest.raises(ProtocolError) as early:
        await a1.call("email.reply", {"id": tid, "text": "too early"})
    assert "Accept" in early.value.message
    await a1.call("email.accept", {"id": tid})
    sent = await a1.call("email.reply", {"id": tid, "template": "thanks", "text": "Škodu vyřídíme do pátku."})
    reply = await outbox.expect(lambda m: m["Message-ID"] == sent["message"]["message_id"])
    assert reply["To"] == CUSTOMER and reply["From"] == "podpora@example.org"
    assert str(reply["Subject"]) == "Re: Pojistná událost č. 4711"
    assert reply["In-Reply-To"] == first["Message-ID"]
    assert first["Message-ID"] in reply["References"]
    body = reply.get_content()
    assert "Dobrý den, Jana Nováková" in body and "Škodu vyřídíme do pátku." in body

    # the customer answers the agent's reply: it joins the same thread, pushed to the same agent
    answer = customer_mail("Re: Pojistná událost č. 4711", "Děkuji, ještě přikládám fakturu.",
                           In_Reply_To=reply["Message-ID"],
                           References=f"{first['Message-ID']} {reply['Message-ID']}")
    await deliver(dovecot, answer)
    pushed = await ev.expect("email.message", lambda d: d["message"]["direction"] == "in")
    assert pushed["id"] == tid and pushed["message"]["text"] == "Děkuji, ještě přikládám fakturu."
    listed = (await a1.call("email.list"))["emails"]
    assert [t["id"] for t in listed] == [tid]
    assert [m["direction"] for m in listed[0]["messages"]] == ["in", "ack", "out", "in"]
    assert len([k for k, d in ev.seen if k == "email.offer"]) == 1  # no second thread was made

    # closed, then the customer writes again in the thread: it opens again, for the same agent
    await a1.call("email.close", {"id": tid, "category": "question"})
    assert (await a1.call("email.list"))["emails"] == []
    mark = ev.mark()
    again = customer_mail("Re: Pojistná událost č. 4711", "Ještě jedna otázka.", In_Reply_To=answer["Message-ID"])
    await deliver(dovecot, again)
    reopened = await ev.expect("email.offer", start=mark)
    assert reopened["id"] == tid and reopened["messages"][-1]["text"] == "Ještě jedna otázka."
    # an answer to a thread sends no second acknowledgement
    assert len([m for m, _ in outbox.got if m["Auto-Submitted"] == "auto-replied"]) == 1


def test_html_is_shown_as_safe_text():
    text = html_to_text("<html><head><title>t</title><style>p{}</style></head><body><p>Hello &amp; "
                        "<b>welcome</b></p><script>alert(1)</script><p>\x1b[31mred</p><ul><li>one</li></ul>")
    assert text == "Hello & welcome\n\n[31mred\n\n- one"
    assert "<" not in text and "alert" not in text and "\x1b" not in text


def test_an_html_only_mail_and_an_auto_reply():
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "Ola <ola@example.no>", "Hei", "<1@example.no>"
    msg["Auto-Submitted"] = "auto-replied"
    msg.set_content("<div>Blåbær&nbsp;og <i>øl</i></div>", subtype="html")
    m = parse(msg.as_bytes())
    assert m.text == "Blåbær og øl" and m.sender == "ola@example.no" and m.automatic


async def test_the_agent_answers_an_email_in_the_console(server, dovecot, outbox):
    from cc_console.tui import CCConsoleApp
    from tests.conftest import PASSWORD
    from tests.test_tui_e2e import agent_screen_ready, wait_screen

    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
        panel = app.screen.query_one("#emails")
        assert not panel.display, "no e-mail: no panel"
        await wait_screen(pilot, lambda: app.screen.query_one("#agent-state").state == "logged_out", what="state")
        await pilot.press("l")
        await wait_screen(pilot, lambda: app.screen.query_one("#agent-state").state == "ready", what="ready")
        mail = customer_mail("Faktura <b>[red]", "")
        mail.set_content("<p>Kde je moje <i>faktura</i>? [bold]x[/bold]</p>", subtype="html")
        await deliver(dovecot, mail)
        await wait_screen(pilot, lambda: len(panel.order) == 1, what="an e-mail offered")
        tid = panel.order[0]
        assert panel.display
        await pilot.press("E")
        await wait_screen(pilot, lambda: panel.emails[tid]["state"] == "active", what="accepted")
        shown = str(panel.query_one("#email-log").render())
        assert "Kde je moje faktura? [bold]x[/bold]" in shown  # as text: no markup of the customer's applies
        await pilot.press(*"Posilame ji znovu.", "ctrl+s")
        reply = await outbox.expect(lambda m: str(m["Subject"]).startswith("Re:"))
        assert reply.get_content().strip() == "Posilame ji znovu." and reply["In-Reply-To"] == mail["Message-ID"]
        await wait_screen(pilot, lambda: panel.emails[tid]["messages"][-1]["direction"] == "out", what="on screen")
        await pilot.press(*"/transfer queue:nowhere", "ctrl+s")  # refused: the thread stays, the agent is told
        await wait_screen(pilot, lambda: any("no such queue" in n.message for n in app._notifications),
                          what="the refusal in words")
        assert tid in panel.order
        await pilot.press(*"/close question", "ctrl+s")
        await wait_screen(pilot, lambda: not panel.order and not panel.display, what="panel hidden again")
    assert server.capabilities["email"].service.live == {}


def test_a_mail_in_an_unknown_charset_is_still_read():
    raw = (b"From: Petr <petr@example.cz>\r\nSubject: x\r\nMessage-ID: <9@example.cz>\r\n"
           b"Content-Type: text/plain; charset=x-unknown-8\r\n\r\nDobr\xc3\xbd den\r\n")
    m = parse(raw)
    assert m.text == "Dobrý den" and m.sender == "petr@example.cz"


async def test_a_message_that_cannot_be_taken_does_not_stop_the_mailbox(dovecot, ca, tmp_path):
    from cc_console.server.email.imap import MailboxReader
    from cc_console.server.email.settings import EmailSettings

    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    s = EmailSettings(enabled=True, imap_host="127.0.0.1", imap_port=dovecot.port, imap_ca_file=str(ca_file),
                      imap_user=dovecot.user, imap_password=dovecot.password, reconnect=0.1)
    taken: list[str] = []
    both = asyncio.Event()

    async def take(raw: bytes) -> None:
        subject = str(parse(raw).subject)
        if subject == "bad":
            raise RuntimeError("the store is unhappy with this one")
        taken.append(subject)
        if "good" in taken and "later" in taken:
            both.set()

    await deliver(dovecot, customer_mail("bad", "x"))
    await deliver(dovecot, customer_mail("good", "y"))
    reader = MailboxReader(s, take)
    task = asyncio.create_task(reader.run())
    try:
        await asyncio.wait_for(reader.connected.wait(), 15)
        await deliver(dovecot, customer_mail("later", "z"))  # pushed by IDLE after the failure
        await asyncio.wait_for(both.wait(), 15)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert taken == ["good", "later"]


async def test_a_reply_the_mail_server_refuses_is_said_in_words_and_not_recorded(server, connect, dovecot):
    a1, ev = await agent(connect)
    await deliver(dovecot, customer_mail("Dotaz", "Kdy máte otevřeno?"))
    offer = await ev.expect("email.offer")
    await a1.call("email.accept", {"id": offer["id"]})
    svc = server.capabilities["email"].service
    svc.mail.port = free_port()  # the mail server goes away
    with pytest.raises(ProtocolError) as refused:
        await a1.call("email.reply", {"id": offer["id"], "text": "Od osmi."})
    assert refused.value.message == "The answer could not be sent just now; please try again."
    thread = (await a1.call("email.list"))["emails"][0]
    assert [m["direction"] for m in thread["messages"]] == ["in", "ack"]


async def test_open_threads_survive_a_restart_and_mail_is_not_taken_twice(settings, clean_asterisk, connect_to,
                                                                           dovecot, outbox):
    from cc_console.server.app import Server
    first = Server(settings)
    await first.start()
    try:
        a1 = await connect_to(first, "agent1")
        ev = Events(a1)
        await a1.call("agent.login", {})
        await deliver(dovecot, customer_mail("Reklamace", "Rozbitá věc."))
        offer = await ev.expect("email.offer")
        await a1.call("email.accept", {"id": offer["id"]})
    finally:
        await first.stop()
    settings.server.port = 0
    second = Server(settings)
    await second.start()
    try:
        await asyncio.wait_for(second.capabilities["email"].reader.connected.wait(), 15)
        a1 = await connect_to(second, "agent1")
        [thread] = (await a1.call("email.list"))["emails"]
        assert thread["id"] == offer["id"] and thread["state"] == "active" and thread["agent"] == "agent1"
        assert [m["direction"] for m in thread["messages"]] == ["in", "ack"]
        sent = await a1.call("email.reply", {"id": thread["id"], "text": "Pošlete ji prosím zpět."})
        reply = await outbox.expect(lambda m: m["Message-ID"] == sent["message"]["message_id"])
        assert reply["In-Reply-To"] == thread["messages"][0]["message_id"]
    finally:
        await second.stop()
    acks = [m for m, _ in outbox.got if m["Auto-Submitted"] == "auto-replied"]
    assert len(acks) == 1, "the mail was taken once, not again after the restart"


async def test_a_customers_answer_to_a_closed_thread_goes_back_to_its_agent(server, connect, dovecot, outbox):
    a1, ev1 = await agent(connect, "agent1")
    await deliver(dovecot, customer_mail("Smlouva", "Potřebuji kopii smlouvy."))
    offer = await ev1.expect("email.offer")
    await a1.call("email.accept", {"id": offer["id"]})
    sent = await a1.call("email.reply", {"id": offer["id"], "text": "Posíláme ji."})
    await a1.call("email.close", {"id": offer["id"]})
    a2, ev2 = await agent(connect, "agent2")
    await a1.call("agent.pause", {"reason": "break"})
    await a1.call("agent.ready", {})  # agent1 is now the one idle for less time: a new e-mail goes to agent2
    other = customer_mail("Jiná věc", "Dobrý den.")
    other.replace_header("From", "Karel <karel@example.cz>")
    await deliver(dovecot, other)
    control = await ev2.expect("email.offer")
    assert control["customer"] == "karel@example.cz"
    await a2.call("email.accept", {"id": control["id"]})
    await a2.call("email.close", {"id": control["id"]})  # agent2 free again, and idle longer than agent1
    mark = ev1.mark()
    await deliver(dovecot, customer_mail("Re: Smlouva", "Děkuji, a ještě dodatek?",
                                         In_Reply_To=sent["message"]["message_id"]))
    back = await ev1.expect("email.offer", start=mark)
    assert back["id"] == offer["id"] and back["messages"][-1]["text"] == "Děkuji, a ještě dodatek?"
    assert [k for k, d in ev2.seen if k == "email.offer"] == ["email.offer"], "agent2 got only the other e-mail"


async def test_an_out_of_office_answer_to_a_closed_thread_does_not_open_it_again(server, connect, dovecot, outbox):
    a1, ev = await agent(connect)
    await deliver(dovecot, customer_mail("Adresa", "Změnila jsem adresu."))
    offer = await ev.expect("email.offer")
    await a1.call("email.accept", {"id": offer["id"]})
    sent = await a1.call("email.reply", {"id": offer["id"], "text": "Zapsáno."})
    await a1.call("email.close", {"id": offer["id"]})
    mark = ev.mark()
    await deliver(dovecot, customer_mail("Automatická odpověď: Re: Adresa", "Jsem na dovolené do 5. 8.",
                                         In_Reply_To=sent["message"]["message_id"], Auto_Submitted="auto-replied"))
    later = customer_mail("Jiná věc", "Dobrý den.")
    later.replace_header("From", "Karel <karel@example.cz>")
    await deliver(dovecot, later)  # the mailbox is read in order: once this is offered, the auto-reply was read
    await ev.expect("email.offer", lambda d: d["customer"] == "karel@example.cz", start=mark)
    assert offer["id"] not in [d["id"] for k, d in ev.seen[mark:] if k == "email.offer"]
    store = server.capabilities["email"].store
    kept = await store.run(store.thread, offer["id"])
    assert kept["state"] == "closed" and kept["messages"][-1]["text"] == "Jsem na dovolené do 5. 8."


async def test_an_agent_transfers_a_thread_to_a_colleague(server, connect, dovecot, outbox):
    a1, ev1 = await agent(connect, "agent1")
    await deliver(dovecot, customer_mail("Pojistka", "Chci změnit pojistku."))
    offer = await ev1.expect("email.offer")
    await a1.call("email.accept", {"id": offer["id"]})
    with pytest.raises(ProtocolError) as nobody:
        await a1.call("email.transfer", {"id": offer["id"], "agent": "agent2"})
    assert nobody.value.message == "Agent2 cannot take the e-mail now."  # not logged in
    a2, ev2 = await agent(connect, "agent2")
    mark = ev1.mark()
    await a1.call("email.transfer", {"id": offer["id"], "agent": "agent2"})
    got = await ev2.expect("email.offer")
    assert got["id"] == offer["id"] and got["messages"][0]["text"] == "Chci změnit pojistku."
    await ev1.expect("email.update", lambda d: d["id"] == offer["id"] and d["agent"] is None, start=mark)
    assert (await a1.call("email.list"))["emails"] == []
    await a2.call("email.accept", {"id": offer["id"]})
    sent = await a2.call("email.reply", {"id": offer["id"], "text": "Změnu jsme provedli."})
    assert sent["message"]["author"] == "Agent2"
