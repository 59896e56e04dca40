"""The chat capability's conversations as written work items (server/written.py) for the reports,
an agent's own figures and a contact's history. Reads run on the chat store's own thread."""
from __future__ import annotations

from typing import Any

from cc_console.server.written import WrittenItem

from .store import ChatStore

_COLUMNS = "id, channel, queue, agent, contact, name, created, enqueued, accepted, closed, outcome, category"


def _item(r: Any, service_level: float) -> WrittenItem:
    (cid, channel, queue, agent, contact, name, created, enqueued, accepted, closed, outcome, category) = tuple(r)
    return WrittenItem(id=cid, channel=channel, queue=queue, agent=agent or "", contact=contact, name=name,
                       created=created, enqueued=enqueued, accepted=accepted, closed=closed,
                       outcome=outcome if closed is not None else "", category=category,
                       within_sl=(enqueued is not None and accepted is not None
                                  and accepted - enqueued <= service_level))


class ChatHistory:
    """server.written.WrittenWork over the chat store."""

    def __init__(self, store: ChatStore, service_level: float) -> None:
        self.store = store
        self.service_level = service_level

    def _between(self, start: float, end: float, agent: str) -> list[WrittenItem]:
        sql = f"SELECT {_COLUMNS} FROM conversations WHERE enqueued >= ? AND enqueued < ?"
        args: list[Any] = [start, end]
        if agent:
            sql += " AND agent = ? AND accepted IS NOT NULL"
            args.append(agent)
        return [_item(r, self.service_level) for r in self.store.db.execute(sql + " ORDER BY enqueued", args)]

    def _of_contacts(self, contacts: list[str], limit: int) -> list[WrittenItem]:
        keys = sorted({c.strip().lower() for c in contacts if c and c.strip()})
        if not keys:
            return []
        marks = ", ".join("?" * len(keys))
        rows = self.store.db.execute(
            f"SELECT {_COLUMNS} FROM conversations WHERE contact IN ({marks}) OR email IN ({marks}) "
            "ORDER BY created DESC LIMIT ?", (*keys, *keys, limit))
        return [_item(r, self.service_level) for r in rows]

    async def items_between(self, start: float, end: float, *, agent: str = "") -> list[WrittenItem]:
        return await self.store.run(self._between, start, end, agent)

    async def of_contacts(self, contacts: list[str], limit: int = 50) -> list[WrittenItem]:
        return await self.store.run(self._of_contacts, contacts, limit)
