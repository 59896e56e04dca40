"""The transfer receiver's page: a call on the real sandbox Asterisk, the link by e-mail through a
real SMTP server (aiosmtpd), the page, and its expiry."""
from __future__ import annotations

import asyncio
import re
import time
from email import message_from_bytes
from email.policy import default as email_policy

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.app import Server
from tests.ports import free_port

from .asterisk import until
from .test_directory_fixtures import load_sample

pytestmark = pytest.mark.asterisk


class Sink:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.mail: asyncio.Queue[bytes] = asyncio.Queue()

    async def handle_DATA(self, server, session, envelope):
        # aiosmtpd runs its own loop in a thread: hand the message over to the test's loop.
        self.loop.call_soon_threadsafe(self.mail.put_nowait, envelope.content)
        return "250 OK"


async def test_transferred_call_link_by_mail_page_with_caller_and_note_then_expired(
        settings, clean_asterisk, sandbox, pbx, phone, connect_to):
    sink = Sink(asyncio.get_running_loop())
    port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    settings.sections["web"] = {"smtp_port": port, "smtp_from": "kontaktsenter@oslo.example", "link_ttl": 600}
    try:
        async with Server(settings) as srv:
            load_sample(srv.directory)
            pages = srv.capabilities["web"].pages
            pages.base_url = f"http://127.0.0.1:{srv.port}"
            await phone("1001", auto_answer=True)
            agent = await connect_to(srv, "agent1")
            other = await connect_to(srv, "agent2")
            await agent.call("agent.login")
            await pbx.place_call("5000", caller="0612340000")
            await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
            await agent.call("call.answer")
            call = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected" and c,
                               what="connected")

            # What the verified capability puts on a call whose caller disclosed attributes with their app.
            srv.engine.calls[call["id"]].verified = {"kind": "yivi", "attributes": {"Full name": "Jan Jansen",
                                                                                    "BSN": "999990019"}}
            res = await agent.call("transfer.share", {"call_id": call["id"], "person_id": "oslo:p3",
                                                      "note": "Asks about the noise complaint <b>urgent</b>"})
            assert res["sent"] and res["to"] == "antonin.dvorak@oslo.example"
            msg = message_from_bytes(await asyncio.wait_for(sink.mail.get(), 10), policy=email_policy)
            assert msg["To"] == "antonin.dvorak@oslo.example" and "0612340000" in msg["Subject"]
            url = re.search(r"http://\S+/web/transfer/\S+", msg.get_content()).group(0)

            async with aiohttp.ClientSession() as http:
                async with http.get(url) as r:
                    page = await r.text()
                assert r.status == 200 and "0612340000" in page and "Agent1" in page
                assert "Asks about the noise complaint &lt;b&gt;urgent&lt;/b&gt;" in page  # escaped, not markup
                assert "Verified identity" in page and "<dt>Full name</dt><dd>Jan Jansen</dd>" in page
                assert r.headers["Referrer-Policy"] == "no-referrer"
                async with http.get(url.rsplit("/", 1)[0] + "/not-a-token") as r:
                    assert r.status == 410
                pages.clock = lambda: time.time() + 601  # the link's ten minutes are over
                async with http.get(url) as r:
                    assert r.status == 410 and "expired" in await r.text()

            async def refused(client, args, code):
                with pytest.raises(ProtocolError) as exc:
                    await client.call("transfer.share", args)
                assert exc.value.code == code, exc.value.message

            await refused(other, {"call_id": call["id"], "person_id": "oslo:p3"}, ErrorCode.FORBIDDEN)
            await refused(agent, {"call_id": call["id"], "person_id": "oslo:p6"}, ErrorCode.CONFLICT)  # no e-mail
            await refused(agent, {"call_id": "nope", "person_id": "oslo:p3"}, ErrorCode.NOT_FOUND)
            smtp.stop()
            smtp = None
            await refused(agent, {"call_id": call["id"], "person_id": "oslo:p3"}, ErrorCode.UNAVAILABLE)
            await agent.call("call.hangup")
    finally:
        if smtp is not None:
            smtp.stop()


def test_refusals_of_sending_the_link_read_as_sentences_about_mail_not_the_phone_system():
    from cc_console.messages import refusal
    assert refusal("transfer.share", "unavailable", "the mail server did not take the message") == (
        "Send the caller's details: not done", "The mail server did not take the message; try again in a moment.")
    assert refusal("transfer.share", "conflict", "X has no e-mail address")[1].startswith("This person has no e-mail")
    assert refusal("transfer.share", "not_found", "no person 'oslo:x' in the directory")[1] == \
        "That person is not in the directory."
    assert refusal("transfer.share", "not_found", "no such call in progress")[1] == "That call has already ended."
    assert refusal("transfer.share", "forbidden", "this is not your call")[1] == "That call is not yours."
