"""Absences from iCalendar: a person's calendar file or feed, expanded into occurrences.

``icalendar`` parses (time zones from VTIMEZONE or IANA names), ``recurring-ical-events`` expands
RRULE/RDATE, removes EXDATEs and applies moved occurrences (RECURRENCE-ID), across DST changes.

Events whose SUMMARY starts with a subject code become absences:

    LUNCH:  MEETING:  VACATION:  SICK:   (also TRAVEL:, COURSE:, OUT:)

and each organisation may add its own words (``Ferie:``, ``Lunsj:``, ``Dovolená:``; matched without
case or accents). Exchange's busy status counts as Outlook shows it: an event marked out of office
(``X-MICROSOFT-CDO-BUSYSTATUS:OOF``) is an absence even without a code (``out`` unless its code
says more); one marked free or tentative is not an absence, whatever its subject.

The code is the absence type; the rest of the SUMMARY, the DESCRIPTION, LOCATION, attendees are
private and never stored. Events without a code, cancelled events and TRANSP:TRANSPARENT events
are skipped. All-day events cover whole days in the directory's local time zone.

Correct or refused: before anything is parsed, :func:`check_content_lines` reads the file line by
line (RFC 5545 3.1): a line that is not ``NAME[;PARAM=…]:value`` (a fold that lost its leading
space), an unknown property name, a date that is not a date, a BEGIN without its END (a truncated
file) refuse the whole calendar with the line number and the cause, so a caller replaces nothing.
A DURATION is elapsed time (RFC 5545 3.3.6): its days are calendar days, its hours, minutes and
seconds exact, so PT8H from 22:00 on the night the clocks go forward ends at 07:00, not 06:00.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import icalendar
import recurring_ical_events

from cc_console.protocol import ABSENCE_TYPES as SHARED_TYPES

from .normalize import fold

CODES = {"LUNCH": "lunch", "MEETING": "meeting", "VACATION": "vacation", "SICK": "sick",
         "TRAVEL": "travel", "COURSE": "course", "OUT": "out"}
ABSENCE_TYPES = tuple(dict.fromkeys(CODES.values())) + ("other",)
assert ABSENCE_TYPES == SHARED_TYPES, "the absence types the consoles and pages offer are the ones checked here"
_CODE = re.compile(r"^\s*([^\W\d_]+)\s*:")
_DEFAULT_CODES = {fold(k): v for k, v in CODES.items()}
NOT_ABSENT = {"FREE", "TENTATIVE"}  # Exchange busy statuses that leave the person reachable


class CalendarError(ValueError):
    pass


def codes_table(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The default codes plus an organisation's own words (folded: "Dovolená" = "DOVOLENA")."""
    table = dict(_DEFAULT_CODES)
    for word, kind in (extra or {}).items():
        if kind not in ABSENCE_TYPES:
            raise ValueError(f"subject code {word!r}: {kind!r} is not an absence type ({', '.join(ABSENCE_TYPES)})")
        table[fold(word.strip().rstrip(":"))] = kind
    return table


def subject_code(summary: str, codes: dict[str, str] | None = None) -> str | None:
    """The absence type for a SUMMARY ('VACATION: Crete' -> 'vacation'), None without a known code."""
    m = _CODE.match(summary or "")
    if not m:
        return None
    return (codes or _DEFAULT_CODES).get(fold(m.group(1)))


# -- content lines (RFC 5545 3.1) --------------------------------------------------------------------
_LINE = re.compile(r'^([A-Za-z0-9-]+)((?:;[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*)*):(.*)$',
                   re.S)
PROPERTIES = frozenset("""
BEGIN END VERSION PRODID CALSCALE METHOD UID DTSTAMP DTSTART DTEND DURATION DUE SUMMARY DESCRIPTION LOCATION
RRULE RDATE EXDATE EXRULE RECURRENCE-ID STATUS TRANSP CLASS CREATED LAST-MODIFIED SEQUENCE ORGANIZER ATTENDEE
CATEGORIES PRIORITY URL GEO RESOURCES CONTACT COMMENT RELATED-TO ATTACH REQUEST-STATUS COMPLETED PERCENT-COMPLETE
TZID TZNAME TZOFFSETFROM TZOFFSETTO TZURL ACTION TRIGGER REPEAT FREEBUSY NAME REFRESH-INTERVAL SOURCE COLOR IMAGE
CONFERENCE ACKNOWLEDGED PROXIMITY STRUCTURED-DATA STYLED-DESCRIPTION LOCATION-TYPE PARTICIPANT-TYPE
CALENDAR-ADDRESS TZUNTIL TZID-ALIAS-OF LINK REFID CONCEPT
""".split())
_DATE = re.compile(r"^\d{8}(T\d{6}Z?)?$")
_DURATION = re.compile(r"^[+-]?P(\d+W|(\d+D)?(T(\d+H)?(\d+M)?(\d+S)?)?)$")
_DATED = ("DTSTART", "DTEND", "DUE", "RECURRENCE-ID", "EXDATE", "DTSTAMP", "CREATED", "LAST-MODIFIED")


def check_content_lines(raw: bytes | str) -> None:
    """Refuse a calendar that is not well formed, with the line number and the cause (see the
    module doc); return quietly when it is."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            at = raw.count(b"\n", 0, exc.start) + 1
            raise CalendarError(f"line {at}: not UTF-8 (bytes {raw[exc.start:exc.start + 4].hex(' ')})") from None
    else:
        text = raw
    physical = text.split("\n")
    logical: list[tuple[int, str]] = []
    for n, line in enumerate(physical, start=1):
        line = line.removesuffix("\r")
        if line[:1] in (" ", "\t"):
            if not logical:
                raise CalendarError(f"line {n}: a folded continuation with no line before it")
            start, prev = logical[-1]
            logical[-1] = (start, prev + line[1:])
        elif line:
            logical.append((n, line))
    stack: list[tuple[str, int]] = []
    seen_calendar = False
    for n, line in logical:
        m = _LINE.match(line)
        if m is None:
            raise CalendarError(f"line {n}: not a content line (NAME:value): {line[:40]!r} — a fold without its "
                                "leading space, or a cut line")
        name, value = m.group(1).upper(), m.group(3)
        if name not in PROPERTIES and not name.startswith("X-"):
            raise CalendarError(f"line {n}: unknown property {name} — a fold without its leading space?")
        if name == "BEGIN":
            if not stack and value.upper() != "VCALENDAR":
                raise CalendarError(f"line {n}: the calendar must start with BEGIN:VCALENDAR, not BEGIN:{value}")
            stack.append((value.upper(), n))
            seen_calendar = True
        elif name == "END":
            if not stack or stack[-1][0] != value.upper():
                open_ = f"BEGIN:{stack[-1][0]} of line {stack[-1][1]}" if stack else "nothing"
                raise CalendarError(f"line {n}: END:{value} does not close {open_}")
            stack.pop()
        elif not stack:
            raise CalendarError(f"line {n}: {name} outside BEGIN:VCALENDAR … END:VCALENDAR")
        elif name in _DATED and "VALUE=PERIOD" not in m.group(2).upper():
            for part in value.split(","):
                if not _DATE.match(part.strip()):
                    raise CalendarError(f"line {n}: {name} {part!r} is not a date or a date-time")
        elif name == "DURATION" and not _DURATION.match(value.strip()):
            raise CalendarError(f"line {n}: DURATION {value!r} is not a duration (RFC 5545 3.3.6)")
    if stack:
        what, n = stack[-1]
        raise CalendarError(f"line {len(physical)}: the file ends inside BEGIN:{what} of line {n} "
                            "(truncated)")
    if not seen_calendar:
        raise CalendarError("line 1: not an iCalendar file (no BEGIN:VCALENDAR)")


def exact_end(start: date | datetime, duration: timedelta) -> date | datetime:
    """DTSTART + DURATION as RFC 5545 3.3.6 says: days on the calendar, the rest elapsed time."""
    if not isinstance(start, datetime) or start.tzinfo is None:
        return start + duration
    days = timedelta(days=duration.days)
    rest = duration - days
    wall = start + days  # aware + timedelta keeps the wall-clock time: a calendar day
    return (wall.astimezone(UTC) + rest).astimezone(start.tzinfo)


def _to_epoch(value: date | datetime, tz: tzinfo) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:  # floating time: the directory's local time
            value = value.replace(tzinfo=tz)
        return value.timestamp()
    return datetime.combine(value, time(0), tzinfo=tz).timestamp()


def parse_calendar(raw: bytes | str) -> icalendar.Calendar:
    check_content_lines(raw)
    try:
        cal = icalendar.Calendar.from_ical(raw)
    except Exception as exc:  # icalendar raises ValueError and friends
        raise CalendarError(f"not a valid iCalendar file: {exc}") from None
    if cal.name != "VCALENDAR":
        raise CalendarError("not a VCALENDAR")
    return cal


def _durations(cal: icalendar.Calendar) -> tuple[dict[tuple[str, str], timedelta], set[tuple[str, str]]]:
    """Each VEVENT's DURATION by (UID, RECURRENCE-ID or ''), and which occurrences have a VEVENT
    of their own (moved ones): the expansion turns DURATION into a wall-clock DTEND, so the exact
    end is computed again from these."""
    out: dict[tuple[str, str], timedelta] = {}
    own: set[tuple[str, str]] = set()
    for comp in cal.walk("VEVENT"):
        rid = comp.get("RECURRENCE-ID")
        key = (str(comp.get("UID", "")), rid.dt.isoformat() if rid is not None else "")
        if rid is not None:
            own.add(key)
        if "DURATION" in comp and "DTEND" not in comp:
            out[key] = comp.decoded("DURATION")
    return out, own


def event_kind(ev: Any, codes: dict[str, str] | None = None) -> str | None:
    """The absence type of an event, or None when it is not an absence (see the module doc)."""
    busy = str(ev.get("X-MICROSOFT-CDO-BUSYSTATUS", "")).upper()
    if busy in NOT_ABSENT:
        return None
    kind = subject_code(str(ev.get("SUMMARY", "")), codes)
    if kind is None and busy == "OOF":
        kind = "out"
    return kind


def absences_from_ics(raw: bytes | str, *, start: datetime, end: datetime,
                      tz: str | tzinfo = "Europe/Oslo", codes: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Occurrences between ``start`` and ``end`` as dicts: type, start, until (epoch), uid.

    ``codes`` is the organisation's :func:`codes_table`. Only the subject code leaves this
    function; the private part of the event does not.
    """
    zone = ZoneInfo(tz) if isinstance(tz, str) else tz
    cal = parse_calendar(raw)
    durations, own = _durations(cal)
    out: list[dict[str, Any]] = []
    try:
        events = recurring_ical_events.of(cal).between(start, end)
    except Exception as exc:
        raise CalendarError(f"cannot expand the calendar: {exc}") from None
    for ev in events:
        kind = event_kind(ev, codes)
        if kind is None:
            continue
        if str(ev.get("STATUS", "")).upper() == "CANCELLED" or str(ev.get("TRANSP", "")).upper() == "TRANSPARENT":
            continue
        dtstart = ev.decoded("DTSTART")
        uid, rid = str(ev.get("UID", "")), ev.get("RECURRENCE-ID")
        key = (uid, rid.dt.isoformat() if rid is not None else "")
        duration = durations.get(key) if key in own or rid is None else durations.get((uid, ""))
        if duration is not None:
            dtend = exact_end(dtstart, duration)
        elif "DTEND" in ev:
            dtend = ev.decoded("DTEND")
        elif "DURATION" in ev:
            dtend = exact_end(dtstart, ev.decoded("DURATION"))
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
