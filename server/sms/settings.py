"""The [sms] section of config.toml (docs/sms.md lists every key)."""
from __future__ import annotations

from dataclasses import dataclass, field

from cc_console.server.acd.routing_work import CHANNELS, Capacity
from cc_console.server.mail import MailSettings


@dataclass
class SmsSettings:
    enabled: bool = False  # no SMS is sent or taken until an administrator configures the gateway
    queue: str = "support"  # where new conversations wait
    # Kannel's smsbox: its sendsms HTTP interface and a sendsms-user (the password is never logged)
    sendsms_url: str = "http://127.0.0.1:13013/cgi-bin/sendsms"
    username: str = ""
    password: str = ""
    sender: str = ""  # our number or name, the "from" of what we send (empty: Kannel's default)
    smsc: str = ""  # route over this smsc-id of Kannel (empty: Kannel chooses)
    # how Kannel reaches us for delivery reports (dlr-url); the inbound get-url is in Kannel's config
    callback_url: str = "http://127.0.0.1:8080"
    secret: str = ""  # the key= of Kannel's get-url and of our dlr-url; requests without it are refused
    dlr_mask: int = 31  # delivered, failed, buffered, submitted to the SMSC, rejected by it
    timeout: float = 10.0  # seconds for one sendsms request
    max_parts: int = 10  # a longer message is refused before it costs anything
    sends_at_once: int = 8  # sendsms requests in flight (pushes to many subscribers)
    capacity: int = 3  # conversations an agent holds at once
    exclusive_with_call: bool = True  # no new SMS offered while the agent is on a call
    ring_timeout: float = 120.0  # an offered conversation not accepted in this time goes back to the queue
    service_level: float = 3600.0  # seconds: a conversation accepted within this counts as within service level
    categories: list[str] = field(default_factory=lambda: ["question", "complaint", "order", "other"])
    templates: dict[str, str] = field(default_factory=dict)  # name -> text ({agent})
    # push subscriptions (docs/sms.md): topics people subscribe to, and how the e-mails leave
    push_topics: dict[str, str] = field(default_factory=dict)  # topic -> its name as people read it
    push_public_url: str = ""  # the web address our unsubscribe links start with (this server as people reach it)
    push_link_secret: str = ""  # signs unsubscribe links (empty: `secret`)
    push_digest_hour: int = 7  # daily digests leave at this hour (server's local time)
    smtp: dict[str, object] = field(default_factory=dict)  # MailSettings fields, for subscribers by e-mail
    stop_words: list[str] = field(default_factory=lambda: ["STOP", "STOPP", "KONEC"])
    yes_words: list[str] = field(default_factory=lambda: ["YES", "ANO", "JA"])  # confirm a web subscription

    def capacity_rule(self) -> Capacity:
        if isinstance(self.capacity, bool) or not isinstance(self.capacity, int) or self.capacity < 0:
            raise ValueError(f"[sms] capacity = {self.capacity!r} must be a whole number, 0 or more")
        assert "sms" in CHANNELS
        return Capacity({"sms": self.capacity}, {"sms": frozenset({"call"})} if self.exclusive_with_call else {})

    def mail(self) -> MailSettings:
        known = set(MailSettings.__dataclass_fields__)
        bad = [k for k in self.smtp if k not in known]
        if bad:
            raise ValueError(f"[sms] smtp: unknown key(s) {', '.join(bad)}; use {', '.join(sorted(known))}")
        return MailSettings(**self.smtp)  # type: ignore[arg-type]

    def __repr__(self) -> str:  # a settings dump in a log must not carry the secrets
        return f"SmsSettings(enabled={self.enabled}, sendsms_url={self.sendsms_url!r}, username={self.username!r})"
