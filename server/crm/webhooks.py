"""Webhooks: JSON events POSTed to each subscription that asked for them, signed per subscription.

Body: ``{"id": <event id>, "event": <name>, "ts": <epoch>, "data": {...}}``. Headers:
``X-CC-Event-Id`` (the same id: receivers drop one they have seen), ``X-CC-Timestamp`` and
``X-CC-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>" with the subscription's secret>``.
The signature is made when the item is sent, so a rotated secret signs what is still queued.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

from .store import NewItem, OutboxItem, Subscription

if TYPE_CHECKING:
    from .service import CrmService

WEBHOOK_EVENTS = ("call.offered", "call.connected", "call.ended", "agent.state", "callback.created",
                  "callback.done", "recording.ready")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def verify(secret: str, headers: Any, body: bytes, tolerance: float = 300.0) -> bool:
    """What a receiver does (and our tests): the signature matches and the timestamp is recent."""
    ts = headers.get("X-CC-Timestamp", "")
    try:
        fresh = abs(time.time() - float(ts)) <= tolerance
    except ValueError:
        return False
    return fresh and hmac.compare_digest(signature(secret, ts, body), headers.get("X-CC-Signature", ""))


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Webhooks:
    def __init__(self, svc: CrmService) -> None:
        self.svc = svc
        self.subs: dict[str, Subscription] = {}

    def load(self, subs: list[Subscription]) -> None:
        self.subs = {s.id: s for s in subs}

    def emit(self, event: str, data: dict[str, Any]) -> None:
        items = []
        for sub in self.subs.values():
            if event not in sub.events and "*" not in sub.events:
                continue
            eid = uuid.uuid4().hex
            body = json.dumps({"id": eid, "event": event, "ts": self.svc.clock(), "data": data},
                              separators=(",", ":"), default=str)
            items.append(NewItem(f"hook:{sub.id}", "webhook", event, "POST", sub.url, body,
                                 {"Content-Type": "application/json"}, id=eid))
        if items:
            self.svc.write(items)

    def sign(self, item: OutboxItem, body: bytes) -> dict[str, str] | None:
        sub = self.subs.get(item.stream.removeprefix("hook:"))
        if sub is None:
            return None
        ts = str(int(time.time()))
        return {"X-CC-Timestamp": ts, "X-CC-Signature": signature(sub.secret, ts, body)}
