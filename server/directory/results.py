"""What the directory service answers when it changed something: typed records, turned into the
protocol's dicts (``to_dict``) by the front doors only. Persons and search rows stay the directory's
own rows (dicts of what an organisation's import brought, its extra fields included)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Absence:
    """An absence as operators see it: ``start`` is the wire's ``from`` (a Python keyword)."""

    id: str
    person_id: str  # <tenant>:<person>
    type: str
    start: float
    until: float
    message: str = ""
    substitute: str = ""
    source: str = "manual"

    @classmethod
    def of(cls, row: dict[str, Any]) -> Absence:
        """From the store's row (tenant, person, start, ...)."""
        return cls(row["id"], f"{row['tenant']}:{row['person']}", row["type"], row["start"], row["until"],
                   row.get("message", ""), row.get("substitute", ""), row.get("source", "manual"))

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "person_id": self.person_id, "type": self.type, "from": self.start,
                "until": self.until, "message": self.message, "substitute": self.substitute, "source": self.source}


@dataclass(frozen=True)
class AbsenceDeleted:
    id: str

    def to_dict(self) -> dict[str, Any]:
        return {"deleted": self.id}


@dataclass(frozen=True)
class LocalFields:
    """What only we keep about a person: notes, and (from the web page's form) attributes."""

    id: str
    notes: str
    attributes: dict[str, str] | None = None  # None: not changed (directory.notes sets only the notes)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "notes": self.notes}
        if self.attributes is not None:
            d["attributes"] = self.attributes
        return d


@dataclass(frozen=True)
class MessageSent:
    """A telephone message the mail server took for the person."""

    to: str
    message_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"sent": True, "to": self.to, "message_id": self.message_id}
