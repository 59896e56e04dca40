"""Calling windows: when a campaign may call, checked in the campaign's zone AND in the contact's.

A contact in another time zone is only called when it is inside the window where the contact is
(the law in most places speaks of the callee's local time), and inside the campaign's own window
(when the agents are there).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class WindowError(ValueError):
    pass


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise WindowError(f"Unknown time zone: {name[:60]}") from None


def _hhmm(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise WindowError(f"Not a time of day (HH:MM): {text}") from None


@dataclass(frozen=True)
class Window:
    start: dt.time = dt.time(9, 0)
    end: dt.time = dt.time(20, 0)
    days: tuple[str, ...] = DAYS[:5]

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Window:
        d = d or {}
        start = _hhmm(str(d.get("start", "09:00")))
        end = _hhmm(str(d.get("end", "20:00")))
        if end <= start:
            raise WindowError("The calling window must end after it starts")
        days = tuple(str(x).lower()[:3] for x in d.get("days", DAYS[:5]))
        bad = [x for x in days if x not in DAYS]
        if bad or not days:
            raise WindowError(f"Days are mon, tue, wed, thu, fri, sat, sun (got {', '.join(bad) or 'none'})")
        return cls(start, end, days)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M"), "days": list(self.days)}

    def open_at(self, when: float, tz: str) -> bool:
        local = dt.datetime.fromtimestamp(when, zone(tz))
        return DAYS[local.weekday()] in self.days and self.start <= local.time() < self.end


def may_call(window: Window, when: float, campaign_tz: str, contact_tz: str) -> bool:
    """Inside the window both where the agents are and where the contact is."""
    return window.open_at(when, campaign_tz) and window.open_at(when, contact_tz or campaign_tz)
