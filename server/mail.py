"""Sending e-mail over SMTP the one way every capability should: STARTTLS (or implicit TLS) with the
server's certificate checked and TLS 1.2 or newer, a login when configured, a bounded time; in clear
only when explicitly configured for a relay on this host. Blocking: call it from a worker thread
(`send_async` does)."""
from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage


@dataclass
class MailSettings:
    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "cc-console@localhost"
    user: str = ""
    password: str = ""
    # "starttls": required (the server must offer it); "tls": implicit TLS (port 465);
    # "none": in clear, for a relay on this host only.
    tls: str = "starttls"
    ca_file: str = ""  # the CA that signed the mail server's certificate; empty: the system's
    timeout: float = 30.0


class MailRefused(Exception):
    """The message was not sent; the text says why, for an administrator."""


def tls_context(cfg: MailSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cfg.ca_file or None)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def send(cfg: MailSettings, msg: EmailMessage) -> None:
    if cfg.tls not in ("starttls", "tls", "none"):
        raise MailRefused(f"mail tls must be starttls, tls or none, not {cfg.tls!r}")
    try:
        if cfg.tls == "tls":
            client: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout,
                                                    context=tls_context(cfg))
        else:
            client = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
        with client as smtp:
            if cfg.tls == "starttls":
                smtp.ehlo()
                if not smtp.has_extn("starttls"):
                    raise MailRefused(f"the mail server {cfg.host}:{cfg.port} offers no STARTTLS; "
                                      "nothing is sent in clear (set tls = \"none\" only for a local relay)")
                smtp.starttls(context=tls_context(cfg))
                smtp.ehlo()
            if cfg.user:
                smtp.login(cfg.user, cfg.password)
            smtp.send_message(msg)
    except MailRefused:
        raise
    except (OSError, smtplib.SMTPException) as exc:
        raise MailRefused(f"the mail server {cfg.host}:{cfg.port} did not take the message: "
                          f"{type(exc).__name__}: {exc}") from None


async def send_async(cfg: MailSettings, msg: EmailMessage) -> None:
    await asyncio.to_thread(send, cfg, msg)
