"""Search as you type: case and diacritics, ranking, numbers, tenants, absence and cover in rows."""
from __future__ import annotations

import pytest

from cc_console.server.directory import DirectoryService, DirectoryStore
from cc_console.server.directory.normalize import fold

from .test_directory_fixtures import load_sample

NOW = 1_750_000_000.0  # 2025-06-15


@pytest.fixture
def svc(tmp_path):
    s = DirectoryService(DirectoryStore(tmp_path / "dir.sqlite3"), clock=lambda: NOW,
                         devices=lambda: {"PJSIP/1001": "on_call", "PJSIP/1003": "ready"})
    load_sample(s)
    yield s
    s.store.close()


def names(rows):
    return [r["name"] for r in rows]


@pytest.mark.parametrize("text,folded", [("Øyvind", "oyvind"), ("Dvořák", "dvorak"), ("IJsselmeer", "ijsselmeer"),
                                         ("ĲSSELMEER", "ijsselmeer"), ("Straße", "strasse"), ("Ærø", "aero")])
def test_fold(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize("q,expected", [
    ("oyvind", "Øyvind Hansen"), ("ØYVIND", "Øyvind Hansen"), ("øyv", "Øyvind Hansen"),
    ("dvorak", "Antonín Dvořák"), ("Dvořák", "Antonín Dvořák"), ("DVORÁK", "Antonín Dvořák"),
    ("antonin", "Antonín Dvořák"), ("ijsselmeer", "Anneke IJsselmeer"), ("IJssel", "Anneke IJsselmeer"),
    ("ĳsselmeer", "Anneke IJsselmeer"),
])
def test_case_and_diacritics(svc, q, expected):
    assert names(svc.search(q, tenant="oslo"))[0] == expected


def test_prefix_of_name_ranks_before_other_fields(svc):
    # "ola": Ola Nordmann (first name) before Oddvar Olanes (family name starts with ola too, but later in the
    # alphabet of full-name starts) and before anyone whose unit/title merely matches.
    rows = names(svc.search("ola", tenant="oslo"))
    assert rows[0] == "Ola Nordmann"
    assert "Oddvar Olanes" in rows
    # "nordmann ola" (family first) still puts Ola first; "kari nord" finds Kari.
    assert names(svc.search("nordmann ola"))[0] == "Ola Nordmann"
    assert names(svc.search("kari nord")) == ["Kari Nordmann"]


def test_name_match_before_unit_and_subject_match(svc):
    # "byg": nobody is called Byg*, so unit (Byggesak, Plan- og bygningsetaten) and subject matches show.
    rows = names(svc.search("byg", tenant="oslo"))
    assert set(rows) >= {"Øyvind Hansen", "Ola Nordmann", "Kari Nordmann"}
    # "building permits" is a subject: who handles building permits
    assert set(names(svc.search("building permits"))) == {"Øyvind Hansen", "Ola Nordmann"}
    # title
    assert names(svc.search("direktør")) == ["Anneke IJsselmeer"]


def test_phone_numbers(svc):
    assert names(svc.search("+47 22 24 45 90")) == ["Kari Nordmann"]
    assert names(svc.search("4590")) == ["Kari Nordmann"]  # any part of the number
    assert names(svc.search("1003"))[0] == "Antonín Dvořák"  # the whole number ranks first
    assert names(svc.search("2200")) == ["Anneke IJsselmeer"]  # switchboard-only number


def test_substring_inside_name_as_last_resort(svc):
    assert names(svc.search("ansen")) == ["Øyvind Hansen"]


def test_tenant_filter(svc):
    assert set(names(svc.search("oyvind"))) == {"Øyvind Hansen", "Oyvind Berg"}
    assert names(svc.search("oyvind", tenant="bergen")) == ["Oyvind Berg"]


def test_rows_show_absence_cover_and_line(svc):
    a = svc.add_absence("t", "oslo:p1", "lunch", NOW - 600, NOW + 1200, message="back soon")
    row = svc.search("hansen")[0]
    assert row["status"] == "absent"
    assert row["absence"]["type"] == "lunch" and row["absence"]["until"] == NOW + 1200
    assert row["substitute"]["name"] == "Kari Nordmann"  # p1's first substitute, who is in
    assert row["line"] == "busy"  # desk 1001 is PJSIP/1001, on a call
    assert svc.search("dvorak")[0]["line"] == "free"
    assert svc.search("kari")[0]["line"] == "unknown"  # not on our PBX
    # substitute absent too -> the next listed substitute who is in; here none listed, so the first
    svc.add_absence("t", "oslo:p2", "meeting", NOW - 60, NOW + 60)
    assert svc.search("hansen")[0]["substitute"]["name"] == "Kari Nordmann"
    # an explicit substitute on the absence wins
    svc.update_absence(a.id, substitute="p5")
    assert svc.search("hansen")[0]["substitute"]["name"] == "Ola Nordmann"
    # back-to-back absences: until = the end of the whole stretch
    svc.add_absence("t", "oslo:p1", "course", NOW + 1200, NOW + 7200)
    assert svc.search("hansen")[0]["absence"]["until"] == NOW + 7200
    assert svc.search("ola nordmann")[0]["status"] == "in"
