"""The [email] section of config.toml (docs/email.md lists every key)."""
from __future__ import annotations

from dataclasses import dataclass, field

from cc_console.server.acd.routing_work import CHANNELS, Capacity
from cc_console.server.mail import MailSettings


@dataclass
class EmailSettings:
    enabled: bool = False  # no mailbox is read until an administrator configures one
    queue: str = "support"  # where new threads wait
    # the mailbox, over IMAP with IDLE: "tls" (IMAPS, the certificate checked) or "none" (a server on this host)
    imap_host: str = "127.0.0.1"
    imap_port: int = 993
    imap_tls: str = "tls"
    imap_ca_file: str = ""  # the CA of the IMAP server's certificate; empty: the system's
    imap_user: str = ""
    imap_password: str = ""
    mailbox: str = "INBOX"
    idle_renew: float = 600.0  # IDLE is restarted this often (servers drop it after 30 minutes)
    reconnect: float = 5.0  # seconds before a lost IMAP connection is tried again
    # replies and acknowledgements leave over SMTP through server/mail.py (STARTTLS required by default)
    smtp: dict[str, object] = field(default_factory=dict)  # MailSettings fields: host, port, sender, tls, ...
    address: str = "support@localhost"  # the mailbox's own address: From of replies, never acknowledged
    ack_subject: str = "We have received your message: {subject}"
    ack_text: str = ("Dear {name},\n\nthank you for your message. We have received it under the "
                     "reference {ref} and will answer as soon as we can.\n")
    templates: dict[str, str] = field(default_factory=dict)  # name -> reply text ({name}, {subject}, {ref}, {agent})
    capacity: int = 5  # threads an agent holds at once
    exclusive_with_call: bool = True  # no new e-mail offered while the agent is on a call
    ring_timeout: float = 120.0  # an offered thread not accepted in this time goes back to the queue
    max_attachment: int = 20_000_000  # bytes; larger parts are not stored (the agent is told)
    categories: list[str] = field(default_factory=lambda: ["question", "complaint", "order", "other"])

    def capacity_rule(self) -> Capacity:
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int) or self.capacity < 0:
            raise ValueError(f"[email] capacity = {self.capacity!r} must be a whole number, 0 or more")
        assert "email" in CHANNELS
        return Capacity({"email": self.capacity},
                        {"email": frozenset({"call"})} if self.exclusive_with_call else {})

    def mail(self) -> MailSettings:
        known = set(MailSettings.__dataclass_fields__)
        bad = [k for k in self.smtp if k not in known]
        if bad:
            raise ValueError(f"[email] smtp: unknown key(s) {', '.join(bad)}; use {', '.join(sorted(known))}")
        cfg = MailSettings(**self.smtp)  # type: ignore[arg-type]
        if "sender" not in self.smtp:
            cfg.sender = self.address
        return cfg
