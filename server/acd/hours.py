"""Working hours: a weekly schedule plus holidays and exceptions, in the queue's time zone. Pure."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def parse_ranges(text: str) -> list[tuple[time, time]]:
    """"08:00-12:00, 13:00-17:00" -> [(08:00, 12:00), (13:00, 17:00)]; "" or "closed" -> []; "24:00" ends a day."""
    text = text.strip().lower()
    if text in ("", "closed"):
        return []
    out = []
    for part in text.split(","):
        m = _RANGE.match(part)
        if not m:
            raise ValueError(f"bad time range {part.strip()!r}: write HH:MM-HH:MM")
        h1, m1, h2, m2 = map(int, m.groups())
        if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"bad time in {part.strip()!r}")
        start = time(h1, m1)
        end = time.max if h2 == 24 else time(h2, m2)
        if end <= start:
            raise ValueError(f"range {part.strip()!r} ends before it starts")
        out.append((start, end))
    return out


@dataclass
class Schedule:
    tz: str = "UTC"
    # Weekday -> open ranges. A weekday missing from the map is closed; an empty map is always open.
    week: dict[str, list[tuple[time, time]]] = field(default_factory=dict)
    holidays: set[date] = field(default_factory=set)  # closed all day
    exceptions: dict[date, list[tuple[time, time]]] = field(default_factory=dict)  # replace that day's hours

    @classmethod
    def from_config(cls, tz: str = "UTC", hours: dict[str, str] | None = None,
                    holidays: list[str] | None = None, exceptions: dict[str, str] | None = None) -> Schedule:
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r}") from None
        week = {}
        for day, text in (hours or {}).items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use {', '.join(DAYS)}")
            week[day] = parse_ranges(text)
        hol = {date.fromisoformat(d) for d in holidays or []}
        exc = {date.fromisoformat(d): parse_ranges(t) for d, t in (exceptions or {}).items()}
        return cls(tz, week, hol, exc)

    @property
    def always_open(self) -> bool:
        return not self.week and not self.holidays and not self.exceptions

    def is_open(self, when: float | datetime) -> bool:
        if self.always_open:
            return True
        if not isinstance(when, datetime):
            when = datetime.fromtimestamp(when, tz=UTC)
        local = when.astimezone(ZoneInfo(self.tz))
        day, now = local.date(), local.time()
        if day in self.exceptions:
            ranges = self.exceptions[day]
        elif day in self.holidays:
            return False
        elif self.week:
            ranges = self.week.get(DAYS[local.weekday()], [])
        else:
            return True
        return any(start <= now < end or (end == time.max and now >= start) for start, end in ranges)
