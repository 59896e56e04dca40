"""Absences from iCalendar: a person's calendar file or feed, expanded into occurrences.

``icalendar`` parses (time zones from VTIMEZONE or IANA names), ``recurring-ical-events`` expands
RRULE/RDATE, removes EXDATEs and applies moved occurrences (RECURRENCE-ID), across DST changes.

Only events whose SUMMARY starts with a subject code become absences:

    LUNCH:  MEETING:  VACATION:  SICK:   (also TRAVEL:, COURSE:, OUT:)

The code is the absence type; the rest of the SUMMARY, the DESCRIPTION, LOCATION, attendees are
private and never stored. Events without a code, cancelled events and TRANSP:TRANSPARENT events
are skipped. All-day events cover whole days in the directory's local time zone.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

CODES = {"LUNCH": "lunch", "MEETING": "meeting", "VACATION": "vacation", "SICK": "sick",
         "TRAVEL": "travel", "COURSE": "course", "OUT": "out"}
ABSENCE_TYPES = tuple(dict.fromkeys(CODES.values())) + ("other",)
_CODE = re.compile(r"^\s*([A-Za-z]+)\s*:")


class CalendarError(ValueError):
    pass


def subject_code(summary: str) -> str | None:
    """The absence type for a SUMMARY ('VACATION: Crete' -> 'vacation'), None without a known code."""
    m = _CODE.match(summary or "")
    if not m:
        return None
    return CODES.get(m.group(1).upper())


def _to_epoch(value: date | datetime, tz: tzinfo) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # floating time: the directory's local time
            value = value.replace(tzinfo=tz)
        return value.timestamp()
    return datetime.combine(value, time(0), tzinfo=tz).timestamp()


def parse_calendar(raw: bytes | str) -> icalendar.Calendar:
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except Exception as exc:  # icalendar raises ValueError and friends
        raise CalendarError(f"not a valid iCalendar file: {exc}") from None
    if cal.name != "VCALENDAR":
        raise CalendarError("not a VCALENDAR")
    return cal


def absences_from_ics(raw: bytes | str, *, start: datetime, end: datetime,
                      tz: str | tzinfo = "Europe/Oslo") -> list[dict[str, Any]]:
    """Occurrences between ``start`` and ``end`` as dicts: type, start, until (epoch), uid.

    Only the subject code leaves this function; the private part of the event does not.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    cal = parse_calendar(raw)
    out: list[dict[str, Any]] = []
    try:
        events = recurring_ical_events.of(cal).between(start, end)
    except Exception as exc:
        raise CalendarError(f"cannot expand the calendar: {exc}") from None
    for ev in events:
        kind = subject_code(str(ev.get("SUMMARY", "")))
        if kind is None:
            continue
        if str(ev.get("STATUS", "")).upper() == "CANCELLED" or str(ev.get("TRANSP", "")).upper() == "TRANSPARENT":
            continue
        dtstart = ev.decoded("DTSTART")
        if "DTEND" in ev:
            dtend = ev.decoded("DTEND")
        elif "DURATION" in ev:
            dtend = dtstart + ev.decoded("DURATION")
        else:
            dtend = dtstart + (timedelta(days=1) if not isinstance(dtstart, datetime) else timedelta(0))
        s, u = _to_epoch(dtstart, zone), _to_epoch(dtend, zone)
        if u <= s:
            continue
        rid = ev.get("RECURRENCE-ID")
        out.append({"type": kind, "start": s, "until": u, "uid": str(ev.get("UID", "")),
                    "all_day": not isinstance(dtstart, datetime),
                    "recurrence_id": rid.dt.isoformat() if rid is not None else ""})
    out.sort(key=lambda a: (a["start"], a["until"]))
    return out


def window(now: float, *, back_days: int = 1, ahead_days: int = 400) -> tuple[datetime, datetime]:
    t = datetime.fromtimestamp(now, tz=UTC)
    return t - timedelta(days=back_days), t + timedelta(days=ahead_days)
