"""E-mail leaves over STARTTLS with the mail server's certificate checked (a real aiosmtpd server
with a certificate made by trustme), and nothing is sent in clear to a server without STARTTLS."""
from __future__ import annotations

from email.message import EmailMessage

import pytest
import trustme
from aiosmtpd.controller import Controller

from cc_console.server.mail import MailRefused, MailSettings, send
from tests.ports import free_port as _port


class Inbox:
    def __init__(self) -> None:
        self.got: list[tuple[str, bool]] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.got.append((envelope.content.decode(errors="replace"), session.ssl is not None))
        return "250 OK"


@pytest.fixture
def ca():
    return trustme.CA()


@pytest.fixture
def tls_smtp(ca):
    import ssl
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=_port(), tls_context=server_ctx, require_starttls=True)
    ctl.start()
    yield ctl, inbox
    ctl.stop()


def message() -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "cc@example.org", "eva@example.org", "Telefonní zpráva"
    msg.set_content("Volal pan Dvořák; prosí o zavolání.")
    return msg


def test_starttls_with_the_certificate_checked(tls_smtp, ca, tmp_path):
    ctl, inbox = tls_smtp
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    send(MailSettings("127.0.0.1", ctl.port, tls="starttls", ca_file=str(ca_file)), message())
    assert len(inbox.got) == 1 and inbox.got[0][1] is True  # delivered, and over TLS


def test_an_untrusted_certificate_sends_nothing(tls_smtp, tmp_path):
    ctl, inbox = tls_smtp
    other = tmp_path / "other.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    with pytest.raises(MailRefused, match="did not take"):
        send(MailSettings("127.0.0.1", ctl.port, tls="starttls", ca_file=str(other)), message())
    assert inbox.got == []


def test_no_starttls_offered_means_nothing_sent_in_clear():
    inbox = Inbox()
    ctl = Controller(inbox, hostname="127.0.0.1", port=_port())
    ctl.start()
    try:
        with pytest.raises(MailRefused, match="offers no STARTTLS"):
            send(MailSettings("127.0.0.1", ctl.port, tls="starttls"), message())
        assert inbox.got == []
        send(MailSettings("127.0.0.1", ctl.port, tls="none"), message())  # a local relay, said so
        assert len(inbox.got) == 1 and inbox.got[0][1] is False
    finally:
        ctl.stop()
