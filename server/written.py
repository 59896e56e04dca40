"""Written work items (chats; e-mail and SMS conversations to come) as other capabilities read them:
the reports count them by channel, an agent's own figures and a contact's history show them beside
calls.

Why an interface and not events in the main store: the capability that owns the items keeps them in
its own database under its own retention rule (docs/chat.md: ``retention_days``); copies in the
event store would outlive that rule, and the owner already holds every figure a report needs
(enqueued, accepted, closed, outcome). So readers ask the owners, through ``Context.written``, and
never import them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class WrittenItem:
    id: str
    channel: str  # chat, email, sms
    queue: str
    agent: str  # who accepted it last ("" if nobody did)
    contact: str  # the customer's e-mail address (or the owner's contact id)
    name: str  # as the customer gave it
    created: float
    enqueued: float | None  # None: never offered to the ACD (a chatbot kept it)
    accepted: float | None
    closed: float | None  # None: still open
    outcome: str  # handled, abandoned, overflow, closed (outside hours, refused) or "" while open
    category: str
    within_sl: bool  # accepted within the owner's service level (seconds of waiting)

    @property
    def wait(self) -> float | None:
        """Seconds from queued to accepted (or to the end, when nobody accepted)."""
        if self.enqueued is None:
            return None
        end = self.accepted if self.accepted is not None else self.closed
        return None if end is None else max(0.0, end - self.enqueued)


class WrittenWork(Protocol):
    """What a capability with written work items offers readers. Async: the owner reads its own
    database on its own thread, never on the event loop."""

    async def items_between(self, start: float, end: float, *, agent: str = "") -> list[WrittenItem]:
        """Items offered to the ACD (enqueued) in [start, end), open or closed; with ``agent``,
        only the items that agent accepted."""

    async def of_contacts(self, contacts: list[str], limit: int = 50) -> list[WrittenItem]:
        """A customer's items, newest first, by their e-mail addresses (or contact ids)."""
