"""What a chat taken to the phone became: typed, turned into the protocol's dict (``to_dict``) by
the front doors only."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cc_console.models import Call


@dataclass(frozen=True)
class Escalation:
    """Either the call to the visitor, dialled now, or the callback booked for them."""

    call: Call | None = None
    callback: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"call": self.call.to_dict()} if self.call is not None else {"callback": self.callback}
