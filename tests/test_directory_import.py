"""Imports: CSV and JSON, full and incremental, rejected rows with line numbers, nothing half-imported."""
from __future__ import annotations

import json

import pytest

from cc_console.server.directory import DirectoryService, DirectoryStore, ImportRefused

from .test_directory_fixtures import PERSONS_CSV, UNITS_CSV

NOW = 1_750_000_000.0


@pytest.fixture
def svc(tmp_path):
    s = DirectoryService(DirectoryStore(tmp_path / "dir.sqlite3"), clock=lambda: NOW)
    yield s
    s.store.close()


def snapshot(svc):
    return (sorted((p["id"], json.dumps(p, sort_keys=True)) for p in svc.store.persons()),
            sorted((u["id"], json.dumps(u, sort_keys=True)) for u in svc.store.units()))


def test_full_import_then_incremental_reports_what_changed(svc):
    r = svc.import_files(units=UNITS_CSV.encode(), persons=PERSONS_CSV.encode(), tenant="oslo", full=True)
    assert sorted(r.units.added) == ["BYGG", "KOM", "PLAN"]
    assert sorted(r.persons.added) == ["p1", "p2", "p3", "p4", "p5", "p6"]
    assert not r.persons.rejected and not r.persons.changed and not r.persons.removed
    p1 = svc.store.person("oslo", "p1")
    assert p1["name"] == "Øyvind Hansen" and p1["subjects"] == ["building permits", "byggesak"]
    assert p1["mobile"] == "+47 900 11 001" and p1["substitutes"] == ["p2"]
    # incremental: one changed, one new, one marked gone by status; others untouched
    inc = ("id,given_name,family_name,title,unit,desk,status\n"
           "p2,Kari,Nordmann,Avdelingsdirektør,PLAN,+47 22 24 45 90,\n"
           "p7,Per,Persen,Jurist,PLAN,1007,\n"
           "p6,,,,,,gone\n")
    r = svc.import_files(persons=inc.encode(), tenant="oslo")
    assert r.persons.added == ["p7"] and r.persons.changed == ["p2"] and r.persons.removed == ["p6"]
    assert svc.store.person("oslo", "p2")["title"] == "Avdelingsdirektør"
    assert svc.store.person("oslo", "p1")["gone"] is None
    # the same incremental again changes nothing
    r = svc.import_files(persons=inc.encode(), tenant="oslo")
    assert not r.persons.added and not r.persons.changed and r.persons.unchanged == 2


def test_full_import_marks_missing_persons_gone_but_findable(svc):
    svc.import_files(units=UNITS_CSV.encode(), persons=PERSONS_CSV.encode(), tenant="oslo", full=True)
    fewer = "\n".join(line for line in PERSONS_CSV.splitlines() if not line.startswith("p5,")) + "\n"
    r = svc.import_files(persons=fewer.encode(), tenant="oslo", full=True)
    assert r.persons.removed == ["p5"] and r.persons.unchanged == 5
    rows = svc.search("ola nordmann")
    assert rows[0]["name"] == "Ola Nordmann" and rows[0]["status"] == "gone" and rows[0]["gone"]
    assert rows[0]["substitute"]["name"] == "Øyvind Hansen"  # so the operator can name the successor
    # present persons rank before gone ones
    assert [r["name"] for r in svc.search("nordmann")] == ["Kari Nordmann", "Ola Nordmann"]
    # coming back in a later feed revives them
    r = svc.import_files(persons=PERSONS_CSV.encode(), tenant="oslo", full=True)
    assert r.persons.changed == ["p5"] and svc.search("ola nordmann")[0]["status"] == "in"


def test_local_attributes_survive_imports(svc):
    svc.import_files(units=UNITS_CSV.encode(), persons=PERSONS_CSV.encode(), tenant="oslo", full=True)
    svc.set_notes("oslo:p1", "Prefers e-mail; deaf in left ear")
    svc.import_files(persons=PERSONS_CSV.replace("Saksbehandler", "Seniorrådgiver").encode(), tenant="oslo",
                     full=True)
    p = svc.person("oslo:p1")
    assert p["title"] == "Seniorrådgiver" and p["notes"] == "Prefers e-mail; deaf in left ear"


def test_rejected_rows_are_reported_with_lines_and_the_rest_applied_atomically(svc):
    svc.import_files(units=UNITS_CSV.encode(), tenant="oslo", full=True)
    bad = ("id,given_name,family_name,title,unit,desk,email\n"    # line 1
           "p1,Øyvind,Hansen,Saksbehandler,BYGG,1001,oyvind@oslo.example\n"  # 2 ok
           "p2,Kari,Nordmann,Sjef,PLAN,1002\n"                 # 3 malformed: too few fields
           "p3,Dup,One,,PLAN,1003,\n"                           # 4 duplicate id
           "p3,Dup,Two,,PLAN,1004,\n"                           # 5 duplicate id
           "p4,Ann,Unit,,NOPE,1005,\n"                          # 6 unknown unit
           ",No,Id,,PLAN,1006,\n"                               # 7 missing id
           "p5,Bad,Phone,,PLAN,call me,\n"                      # 8 malformed number
           "p6,Bad,Mail,,PLAN,1008,not-an-address\n"            # 9 malformed e-mail
           "p7,,,,PLAN,1009,\n"                                 # 10 no name
           '"p8,Quote,Open,,PLAN,1010,\n'                      # 11 open quote swallows the rest
           )
    r = svc.import_files(persons=bad.encode(), tenant="oslo")
    assert r.persons.added == ["p1"]
    rej = {(x.line, x.id): x.reason for x in r.persons.rejected}
    assert "malformed row: 6 fields where the header has 7" in rej[(3, "")]
    assert "duplicate id 'p3' (line 4, line 5)" in rej[(4, "p3")] and (5, "p3") in rej
    assert "unknown unit 'NOPE'" in rej[(6, "p4")]
    assert "missing id" in rej[(7, "")]
    assert "malformed desk number 'call me'" in rej[(8, "p5")]
    assert "malformed e-mail" in rej[(9, "p6")]
    assert "missing name" in rej[(10, "p7")]
    assert any(x.line == 11 for x in r.persons.rejected)
    assert [p["id"] for p in svc.store.persons()] == ["p1"]
    text = r.text()
    assert "rejected persons line 6 id p4: unknown unit 'NOPE'" in text


def test_unknown_parent_and_loops_in_units(svc):
    units = "id,name,parent\nA,Alpha,\nB,Beta,X\nC,Gamma,D\nD,Delta,C\n"
    r = svc.import_files(units=units.encode(), tenant="t")
    assert r.units.added == ["A"]
    reasons = {x.id: x.reason for x in r.units.rejected}
    assert "unknown parent unit 'X'" in reasons["B"]
    assert "loop" in reasons["C"] or "loop" in reasons["D"]


def test_latin1_file_declared_utf8_is_refused_whole(svc):
    svc.import_files(units=UNITS_CSV.encode(), persons=PERSONS_CSV.encode(), tenant="oslo", full=True)
    before = snapshot(svc)
    lines = [line for line in PERSONS_CSV.replace("p6,Oddvar", "p6,Åsmund").splitlines() if not line.startswith("p3,")]
    latin1 = ("\n".join(lines) + "\n").encode("latin-1")  # (Dvořák's ř is not in Latin-1)
    with pytest.raises(ImportRefused) as exc:
        svc.import_files(persons=latin1, persons_name="ansatte.csv", tenant="oslo", full=True)
    msg = str(exc.value)
    assert "ansatte.csv: not valid utf-8 at line 2" in msg and "cp1252" in msg and "nothing was imported" in msg
    assert snapshot(svc) == before
    # declared correctly it imports, with the letters right
    r = svc.import_files(persons=latin1, tenant="oslo", full=True, encoding="latin-1")
    assert not r.persons.rejected and svc.store.person("oslo", "p6")["given_name"] == "Åsmund"


def test_units_refused_means_persons_not_imported_either(svc):
    with pytest.raises(ImportRefused):
        svc.import_files(units=b"id,name\nA,\xe6\xf8\xe5\n", persons=PERSONS_CSV.encode(), tenant="oslo")
    assert svc.store.persons() == [] and svc.store.units() == []


def test_failure_while_applying_rolls_everything_back(svc, monkeypatch):
    svc.import_files(units=UNITS_CSV.encode(), tenant="oslo", full=True)
    before = snapshot(svc)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(svc.store, "mark_persons_gone", boom)  # after units and persons were written
    with pytest.raises(RuntimeError):
        svc.import_files(units=UNITS_CSV.replace("Byggesak", "Byggesaker").encode(),
                         persons=PERSONS_CSV.encode(), tenant="oslo", full=True)
    assert snapshot(svc) == before


def test_json_import_with_lists_and_phones_object(svc):
    units = json.dumps([{"id": "KOM", "name": "Oslo kommune"}, {"id": "PLAN", "name": "Plan", "parent": "KOM"}])
    persons = json.dumps({"persons": [
        {"id": "j1", "name": "Jens Stoltenberg", "unit": "PLAN", "phones": {"desk": "1011", "mobile": "+47 9"},
         "subjects": ["finance", "nato"], "substitutes": ["j2"]},
        {"id": "j2", "given_name": "Erna", "family_name": "Solberg", "unit": "KOM", "desk": "1012"},
        {"id": "j3", "name": "No Unit", "unit": "ZZZ"},
        "not an object",
        {"id": "j1", "name": "Duplicate"},
        {"id": "j4", "name": ["not", "text"]},
    ]}, ensure_ascii=False)
    r = svc.import_files(units=units.encode(), persons=persons.encode(), tenant="oslo", persons_name="p.json",
                         units_name="u.json")
    assert r.persons.added == ["j2"]
    rej = {x.where: x.reason for x in r.persons.rejected}
    assert rej == {"item 1": "duplicate id 'j1' (item 1, item 5)", "item 5": "duplicate id 'j1' (item 1, item 5)",
                   "item 3": "unknown unit 'ZZZ'", "item 4": "not an object but str",
                   "item 6": "'name' must be text"}
    with pytest.raises(ImportRefused, match="not valid JSON"):
        svc.import_files(persons=b'[{"id": "x",', persons_name="p.json", tenant="oslo")


def test_csv_without_id_column_or_tenant(svc):
    with pytest.raises(ImportRefused, match="no 'id' column"):
        svc.import_files(persons=b"name,unit\nA,B\n", tenant="oslo")
    r = svc.import_files(units=b"id,name\nA,Alpha\n")
    assert "no tenant" in r.units.rejected[0].reason
    # a tenant column spreads one file over organisations
    r = svc.import_files(units=b"id,name,tenant\nA,Alpha,x\nA,Alpha,y\n")
    assert r.units.added == ["A", "A"] and r.tenants == ["x", "y"]


def test_semicolon_csv_with_bom(svc):
    data = "\ufeffid;name;parent\nA;Ålesund kommune;\n".encode()
    r = svc.import_files(units=data, tenant="aal")
    assert r.units.added == ["A"] and svc.store.units("aal")[0]["name"] == "Ålesund kommune"


def test_gone_rows_with_unknown_ids_are_rejected_not_dropped(svc):
    svc.import_files(units=UNITS_CSV.encode(), persons=PERSONS_CSV.encode(), tenant="oslo", full=True)
    r = svc.import_files(persons=b"id,name,status\np1,,gone\np99,,gone\n", units=b"id,name,status\nNOPE,,gone\n",
                         tenant="oslo")
    assert r.persons.removed == ["p1"]
    assert [(x.where, x.id, x.reason) for x in r.persons.rejected] == [
        ("line 3", "p99", "marked gone, but the directory has no person with this id")]
    assert [(x.where, x.id) for x in r.units.rejected] == [("line 2", "NOPE")]
    assert "1 rejected" in r.persons.summary()
