"""What the contacts service answers beyond its records (contacts, notes, callbacks: the store's
rows): typed results that the front doors turn into the protocol's dicts (``to_dict``)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cc_console.models import Call


@dataclass(frozen=True)
class DialBack:
    """A callback being called back: the work-list item (claimed, its attempt counted) and the call."""

    item: dict[str, Any]
    call: Call

    def to_dict(self) -> dict[str, Any]:
        return {"item": self.item, "call": self.call.to_dict()}
