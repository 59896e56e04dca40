"""Absences from iCalendar: RRULE, EXDATE, moved occurrences, DST in Europe/Oslo, all-day, codes."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cc_console.server.directory import DirectoryService, DirectoryStore
from cc_console.server.directory.ics import CalendarError, absences_from_ics, subject_code

from .test_directory_fixtures import load_sample

OSLO = ZoneInfo("Europe/Oslo")
UTC = UTC


def ical(*events: str) -> bytes:
    body = "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//cc-console tests//EN", *events, "END:VCALENDAR"])
    return (body + "\r\n").encode()


def event(uid: str, summary: str, *lines: str) -> str:
    return "\r\n".join(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", f"SUMMARY:{summary}", *lines,
                        "END:VEVENT"])


def local(a, key="start"):
    return datetime.fromtimestamp(a[key], OSLO)


def between(raw, start, end):
    return absences_from_ics(raw, start=start, end=end, tz="Europe/Oslo")


# Weekly Monday lunch 11:30-12:00 Oslo time, across both 2025 DST changes (30 March, 26 October).
LUNCH = event("lunch-1", "LUNCH: with Kari about the budget",
              "DTSTART;TZID=Europe/Oslo:20250317T113000", "DTEND;TZID=Europe/Oslo:20250317T120000",
              "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=40",
              "EXDATE;TZID=Europe/Oslo:20250407T113000")
MOVED = event("lunch-1", "LUNCH: moved", "RECURRENCE-ID;TZID=Europe/Oslo:20250414T113000",
              "DTSTART;TZID=Europe/Oslo:20250415T130000", "DTEND;TZID=Europe/Oslo:20250415T133000")


def test_rrule_keeps_local_time_across_march_dst():
    got = between(ical(LUNCH), datetime(2025, 3, 16, tzinfo=UTC), datetime(2025, 4, 6, tzinfo=UTC))
    starts = [local(a) for a in got]
    assert [s.date().isoformat() for s in starts] == ["2025-03-17", "2025-03-24", "2025-03-31"]
    assert all((s.hour, s.minute) == (11, 30) for s in starts)
    # the wall clock stays, the UTC instant moves: CET (+1) before 30 March, CEST (+2) after
    assert [datetime.fromtimestamp(a["start"], UTC).hour for a in got] == [10, 10, 9]
    assert all(a["until"] - a["start"] == 1800 for a in got)


def test_rrule_keeps_local_time_across_october_dst():
    got = between(ical(LUNCH), datetime(2025, 10, 19, tzinfo=UTC), datetime(2025, 11, 4, tzinfo=UTC))
    assert [local(a).date().isoformat() for a in got] == ["2025-10-20", "2025-10-27", "2025-11-03"]
    assert [datetime.fromtimestamp(a["start"], UTC).hour for a in got] == [9, 10, 10]
    assert all((local(a).hour, local(a).minute) == (11, 30) for a in got)


def test_exdate_removes_and_recurrence_id_moves():
    got = between(ical(LUNCH, MOVED), datetime(2025, 4, 1, tzinfo=UTC), datetime(2025, 4, 30, tzinfo=UTC))
    days = [local(a).date().isoformat() for a in got]
    assert "2025-04-07" not in days  # EXDATE
    assert "2025-04-14" not in days and "2025-04-15" in days  # moved to Tuesday 13:00
    moved = next(a for a in got if local(a).date().isoformat() == "2025-04-15")
    assert (local(moved).hour, local(moved).minute) == (13, 0) and moved["until"] - moved["start"] == 1800
    assert days == ["2025-04-15", "2025-04-21", "2025-04-28"]


def test_all_day_events_cover_whole_local_days():
    raw = ical(event("vac", "VACATION: Crete", "DTSTART;VALUE=DATE:20250707", "DTEND;VALUE=DATE:20250712"),
               event("sick", "SICK:", "DTSTART;VALUE=DATE:20251027"))  # no DTEND: one day, 25 hours (DST)
    got = between(raw, datetime(2025, 7, 1, tzinfo=UTC), datetime(2025, 11, 1, tzinfo=UTC))
    vac, sick = got
    assert vac["type"] == "vacation" and vac["all_day"]
    assert local(vac) == datetime(2025, 7, 7, tzinfo=OSLO) and local(vac, "until") == datetime(2025, 7, 12, tzinfo=OSLO)
    assert sick["type"] == "sick" and local(sick) == datetime(2025, 10, 27, tzinfo=OSLO)
    assert sick["until"] - sick["start"] == 24 * 3600
    dst_day = between(ical(event("c", "COURSE: x", "DTSTART;VALUE=DATE:20251026")),
                      datetime(2025, 10, 25, tzinfo=UTC), datetime(2025, 10, 28, tzinfo=UTC))[0]
    assert dst_day["until"] - dst_day["start"] == 25 * 3600  # the October change makes that day 25 h


@pytest.mark.parametrize("summary,kind", [
    ("LUNCH: Kari", "lunch"), ("MEETING: board", "meeting"), ("VACATION: Crete", "vacation"), ("SICK: flu", "sick"),
    ("sick:flu", "sick"), ("  Meeting : x", "meeting"), ("Dentist", None), ("Re: LUNCH: x", None),
    ("FOO: bar", None), ("", None),
])
def test_subject_codes(summary, kind):
    assert subject_code(summary) == kind


def test_uncoded_cancelled_and_free_events_skipped_private_text_never_kept():
    raw = ical(event("a", "MEETING: secret merger talks", "DTSTART:20250602T080000Z", "DTEND:20250602T090000Z",
                     "DESCRIPTION:very private", "LOCATION:Room 7"),
               event("b", "Dentist", "DTSTART:20250602T100000Z", "DTEND:20250602T110000Z"),
               event("c", "MEETING: cancelled", "STATUS:CANCELLED", "DTSTART:20250603T100000Z",
                     "DTEND:20250603T110000Z"),
               event("d", "MEETING: optional", "TRANSP:TRANSPARENT", "DTSTART:20250604T100000Z",
                     "DTEND:20250604T110000Z"),
               event("e", "OUT:", "DTSTART;TZID=Europe/Oslo:20250605T090000", "DURATION:PT2H"))
    got = between(raw, datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 6, 30, tzinfo=UTC))
    assert [a["type"] for a in got] == ["meeting", "out"]
    assert got[1]["until"] - got[1]["start"] == 7200
    assert "secret" not in repr(got) and "private" not in repr(got) and "Room" not in repr(got)


def test_bad_calendar_refused():
    with pytest.raises(CalendarError):
        between(b"this is not a calendar", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 2, 1, tzinfo=UTC))


def test_service_import_replaces_calendar_absences_and_keeps_manual_ones(tmp_path):
    now = datetime(2025, 3, 20, 12, tzinfo=OSLO).timestamp()
    svc = DirectoryService(DirectoryStore(tmp_path / "d.sqlite3"), clock=lambda: now)
    load_sample(svc)
    manual = svc.add_absence("sup1", "oslo:p1", "meeting", now + 3600, now + 7200)
    first = svc.import_ics("oslo:p1", ical(LUNCH, MOVED))
    assert first and all(a["source"] == "ics" for a in first)
    again = svc.import_ics("oslo:p1", ical(LUNCH, MOVED))  # re-import replaces, never doubles
    stored = svc.store.absences(tenant="oslo", person="p1")
    assert len(stored) == len(again) + 1 and manual.id in {a["id"] for a in stored}
    assert not any("Kari" in str(v) or "budget" in str(v) for a in stored for v in a.values())
    # Monday 24 March 11:45 Oslo: at lunch until 12:00
    monday = datetime(2025, 3, 24, 11, 45, tzinfo=OSLO).timestamp()
    row = svc.search("hansen", now=monday)[0]
    assert row["status"] == "absent" and row["absence"]["type"] == "lunch"
    assert row["absence"]["until"] == datetime(2025, 3, 24, 12, 0, tzinfo=OSLO).timestamp()
    svc.store.close()
