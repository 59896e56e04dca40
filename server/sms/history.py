"""The SMS capability's conversations as written work items (server/written.py) for the reports, an
agent's own figures and a contact's history. Keyed by the customer's number (normalised as the
conversations are). Reads run on the SMS store's own thread."""
from __future__ import annotations

from typing import Any

from cc_console.server.written import WrittenItem

from .service import normalise
from .store import SmsStore


def _item(r: dict[str, Any], service_level: float) -> WrittenItem:
    enqueued, accepted, closed = r["enqueued"], r["accepted"], r["closed"]
    return WrittenItem(id=r["id"], channel="sms", queue=r["queue"], agent=r["agent"] or "", contact=r["number"],
                       name=r["number"], created=r["created"], enqueued=enqueued, accepted=accepted, closed=closed,
                       outcome=r["outcome"] if closed is not None else "", category=r["category"],
                       within_sl=(enqueued is not None and accepted is not None
                                  and accepted - enqueued <= service_level))


class SmsHistory:
    """server.written.WrittenWork over the SMS store."""

    def __init__(self, store: SmsStore, service_level: float) -> None:
        self.store = store
        self.service_level = service_level

    def _between(self, start: float, end: float, agent: str) -> list[WrittenItem]:
        rows = self.store.conversations_between(start, end)
        if agent:
            rows = [r for r in rows if r["agent"] == agent and r["accepted"] is not None]
        return [_item(r, self.service_level) for r in rows]

    def _of_contacts(self, contacts: list[str], limit: int) -> list[WrittenItem]:
        numbers = sorted({normalise(c) for c in contacts if c and "@" not in c and normalise(c)})
        if not numbers:
            return []
        return [_item(r, self.service_level) for r in self.store.conversations_of(numbers, limit)]

    async def items_between(self, start: float, end: float, *, agent: str = "") -> list[WrittenItem]:
        return await self.store.run(self._between, start, end, agent)

    async def of_contacts(self, contacts: list[str], limit: int = 50) -> list[WrittenItem]:
        return await self.store.run(self._of_contacts, contacts, limit)
