"""The [chat] section of config.toml (docs/chat.md lists every key)."""
from __future__ import annotations

from dataclasses import dataclass, field

from cc_console.server.acd.routing_work import Capacity


@dataclass
class ChatSettings:
    queue: str = "support"  # where the widget's chats wait unless the page names another queue
    # items of each channel an agent holds at once, and which channels' work keeps one closed
    # ("no new chat or e-mail while on a call"); calls are still taken while chatting
    capacity: dict[str, int] = field(default_factory=lambda: {"call": 1, "chat": 3, "email": 5, "sms": 3})
    exclusive: dict[str, list[str]] = field(default_factory=lambda: {"chat": ["call"], "email": ["call"],
                                                                      "sms": ["call"]})
    ring_timeout: float = 30.0  # an offered chat not accepted in this time goes back to the queue
    rona_pause: float = 60.0  # ... and the agent gets no chat for this long
    wrapup: float = 0.0  # a closed chat holds the agent's slot this long
    max_wait: dict[str, float] = field(default_factory=dict)  # queue -> seconds before its overflow
    overflow: dict[str, str] = field(default_factory=dict)  # queue -> "queue:<name>" or "close"
    service_level: float = 60.0  # seconds: a chat accepted within this counts as in service level
    visitor_gone: float = 120.0  # a waiting chat whose visitor left this long ago is abandoned
    retention_days: int = 180
    tick: float = 1.0  # how often wait limits, pauses and wrap-ups are looked at
    max_message: int = 4000  # characters
    starts_per_minute: int = 30  # new chats from one address (an office behind one NAT address: not 1)
    max_open: int = 5000  # open conversations in all; past it new visitors are asked to come back
    categories: list[str] = field(default_factory=lambda: ["question", "complaint", "order", "other"])
    smtp_host: str = ""  # transcripts by e-mail; empty: not offered
    smtp_port: int = 25
    mail_from: str = "chat@localhost"

    def capacity_rule(self) -> Capacity:
        return Capacity(dict(self.capacity), {k: frozenset(v) for k, v in self.exclusive.items()})
