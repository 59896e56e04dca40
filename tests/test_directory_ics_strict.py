"""Correct or refused: broken content lines, exact DURATION across DST, Exchange busy status, local codes."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from cc_console.server.directory import DirectoryService, DirectoryStore
from cc_console.server.directory.ics import CalendarError, absences_from_ics, codes_table

from .test_directory_fixtures import load_sample
from .test_directory_ics import event, ical

OSLO = ZoneInfo("Europe/Oslo")


def between(raw, codes=None):
    return absences_from_ics(raw, start=datetime(2025, 1, 1, tzinfo=UTC), end=datetime(2025, 12, 31, tzinfo=UTC),
                             tz="Europe/Oslo", codes=codes)


def test_duration_is_elapsed_time_across_the_night_the_clocks_go_forward():
    # 29 March 2025 22:00 Oslo (+01:00) + PT8H = 30 March 07:00 (+02:00): eight hours, not seven
    raw = ical(event("n", "SICK: night", "DTSTART;TZID=Europe/Oslo:20250329T220000", "DURATION:PT8H"))
    [a] = between(raw)
    assert a["until"] - a["start"] == 8 * 3600
    assert datetime.fromtimestamp(a["until"], OSLO).strftime("%H:%M%z") == "07:00+0200"


def test_recurring_duration_and_nominal_days_across_october():
    # weekly night duty with DURATION over 25/26 October (clocks back): every occurrence 10 hours
    raw = ical(event("w", "OUT: duty", "DTSTART;TZID=Europe/Oslo:20251018T210000", "DURATION:PT10H",
                     "RRULE:FREQ=WEEKLY;COUNT=3"))
    got = between(raw)
    assert [a["until"] - a["start"] for a in got] == [36000, 36000, 36000]
    # P1D is a calendar day: from 12:00 to 12:00 the next day, 25 hours on the night the clocks go back
    raw = ical(event("d", "COURSE: x", "DTSTART;TZID=Europe/Oslo:20251025T120000", "DURATION:P1D"))
    [a] = between(raw)
    assert a["until"] - a["start"] == 25 * 3600
    assert datetime.fromtimestamp(a["until"], OSLO).strftime("%d %H:%M") == "26 12:00"


def test_moved_occurrence_keeps_its_own_end():
    raw = ical(event("m", "LUNCH: x", "DTSTART;TZID=Europe/Oslo:20250602T113000", "DURATION:PT30M",
                     "RRULE:FREQ=DAILY;COUNT=2"),
               event("m", "LUNCH: moved", "RECURRENCE-ID;TZID=Europe/Oslo:20250603T113000",
                     "DTSTART;TZID=Europe/Oslo:20250603T130000", "DTEND;TZID=Europe/Oslo:20250603T140000"))
    assert [a["until"] - a["start"] for a in between(raw)] == [1800, 3600]


@pytest.mark.parametrize("lines,where,cause", [
    # a SUMMARY folded without the leading space on its continuation line (line 7)
    (["BEGIN:VEVENT", "UID:1", "DTSTAMP:20250101T000000Z", "DTSTART:20250602T080000Z", "DURATION:PT1H",
      "SUMMARY:VACATION: a long", "summary that was folded badly", "END:VEVENT"], "line 10", "not a content line"),
    (["BEGIN:VEVENT", "UID:1", "DTSTART:20250602T080000Z", "DURATION:PT1H", "SUMMARY:VACATION: a long",
      "DESCRIPTION;LANGUAGE=en:folded", "bad: here", "END:VEVENT"], "line 10", "unknown property BAD"),
    (["BEGIN:VEVENT", "UID:1", "DTSTART:2025-06-02", "SUMMARY:SICK:", "END:VEVENT"], "line 6",
     "is not a date"),
    (["BEGIN:VEVENT", "UID:1", "DTSTART:20250602T080000Z", "DURATION:1 hour", "SUMMARY:SICK:", "END:VEVENT"],
     "line 7", "is not a duration"),
    (["BEGIN:VEVENT", "UID:1", "DTSTART:20250602T080000Z", "SUMMARY:SICK:", "END:VTODO"], "line 8",
     "does not close BEGIN:VEVENT"),
])
def test_broken_content_lines_are_refused_with_line_and_cause(lines, where, cause):
    raw = ical(*lines)
    with pytest.raises(CalendarError) as exc:
        between(raw)
    assert str(exc.value).startswith(where + ":") and cause in str(exc.value), str(exc.value)


def test_truncated_feed_is_refused():
    raw = ical(event("1", "SICK:", "DTSTART:20250602T080000Z", "DURATION:PT1H"))
    cut = raw[: raw.index(b"END:VEVENT")]
    with pytest.raises(CalendarError) as exc:
        between(cut)
    assert "ends inside BEGIN:VEVENT of line 4 (truncated)" in str(exc.value)


def test_refused_feed_changes_nothing(tmp_path):
    now = datetime(2025, 6, 1, 12, tzinfo=OSLO).timestamp()
    svc = DirectoryService(DirectoryStore(tmp_path / "d.sqlite3"), clock=lambda: now)
    load_sample(svc)
    good = ical(event("1", "VACATION:", "DTSTART;VALUE=DATE:20250601", "DTEND;VALUE=DATE:20250610"))
    assert len(svc.import_ics("oslo:p1", good)) == 1
    broken = good.replace(b"SUMMARY:VACATION:", b"SUMMARY:VACATION: x\r\ny")
    with pytest.raises(CalendarError):
        svc.import_ics("oslo:p1", broken)
    assert [a["type"] for a in svc.store.absences(tenant="oslo", person="p1")] == ["vacation"]
    assert svc.search("hansen")[0]["status"] == "absent"
    svc.store.close()


def test_exchange_busy_status():
    raw = ical(event("a", "Conference in Bergen", "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
                     "DTSTART:20250602T080000Z", "DTEND:20250602T160000Z"),
               event("b", "VACATION: maybe", "X-MICROSOFT-CDO-BUSYSTATUS:TENTATIVE",
                     "DTSTART:20250603T080000Z", "DTEND:20250603T160000Z"),
               event("c", "LUNCH: free lunch", "X-MICROSOFT-CDO-BUSYSTATUS:FREE",
                     "DTSTART:20250604T110000Z", "DTEND:20250604T113000Z"),
               event("d", "SICK:", "X-MICROSOFT-CDO-BUSYSTATUS:OOF",
                     "DTSTART:20250605T080000Z", "DTEND:20250605T160000Z"),
               event("e", "Planning", "X-MICROSOFT-CDO-BUSYSTATUS:BUSY",
                     "DTSTART:20250606T080000Z", "DTEND:20250606T160000Z"))
    assert [a["type"] for a in between(raw)] == ["out", "sick"]


def test_subject_codes_per_organisation():
    raw = ical(event("a", "Ferie: Kreta", "DTSTART;VALUE=DATE:20250701", "DTEND;VALUE=DATE:20250702"),
               event("b", "lunsj: kantina", "DTSTART:20250702T110000Z", "DTEND:20250702T113000Z"),
               event("c", "Dovolená: Šumava", "DTSTART;VALUE=DATE:20250703", "DTEND;VALUE=DATE:20250704"),
               event("d", "VACATION: still", "DTSTART;VALUE=DATE:20250705", "DTEND;VALUE=DATE:20250706"))
    assert [a["type"] for a in between(raw)] == ["vacation"]  # the default codes only
    codes = codes_table({"Ferie": "vacation", "Lunsj:": "lunch", "DOVOLENÁ": "vacation"})
    assert [a["type"] for a in between(raw, codes)] == ["vacation", "lunch", "vacation", "vacation"]
    with pytest.raises(ValueError):
        codes_table({"Ferie": "holiday"})
