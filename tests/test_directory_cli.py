"""`cc-console directory …` straight on the directory database."""
from __future__ import annotations

import json

import typer
from typer.testing import CliRunner

from cc_console.cli_directory import directory_app

from .test_directory_fixtures import PERSONS_CSV, UNITS_CSV, write

app = typer.Typer()
app.add_typer(directory_app, name="directory")
runner = CliRunner()


def run(*args):
    return runner.invoke(app, ["directory", *args], catch_exceptions=False)


def test_import_search_absence(tmp_path):
    db = str(tmp_path / "d.sqlite3")
    units, persons = write(tmp_path, "u.csv", UNITS_CSV), write(tmp_path, "p.csv", PERSONS_CSV)
    r = run("import", "--units", str(units), "--persons", str(persons), "--tenant", "oslo", "--full", "--db", db)
    assert r.exit_code == 0, r.output
    assert "persons: 6 added, 0 changed, 0 unchanged, 0 removed, 0 rejected" in r.output
    r = run("search", "DVORAK", "--db", db)
    assert "oslo:p3" in r.output and "Antonín Dvořák" in r.output
    r = run("absence", "add", "oslo:p3", "--type", "vacation", "--from", "2030-07-01", "--until", "2030-07-15",
            "--db", db)
    assert r.exit_code == 0 and "vacation 2030-07-01 00:00" in r.output
    r = run("absence", "list", "oslo:p3", "--db", db)
    assert "vacation" in r.output and "manual" in r.output
    ics = write(tmp_path, "c.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:1\r\n"
                "DTSTART;VALUE=DATE:20300801\r\nDTEND;VALUE=DATE:20300802\r\nSUMMARY:SICK: flu\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n")
    r = run("absence", "import-ics", "oslo:p3", str(ics), "--db", db)
    assert r.exit_code == 0, r.output  # (outside the 400-day window today: 0 or 1 found)
    r = run("absence", "add", "oslo:p3", "--type", "holiday", "--from", "2030-07-01", "--db", db)
    assert r.exit_code == 1


def test_import_rejects_and_refuses(tmp_path):
    db = str(tmp_path / "d.sqlite3")
    units = write(tmp_path, "u.csv", UNITS_CSV)
    bad = write(tmp_path, "p.csv", "id,name,unit\np1,A,NOPE\np2,B,KOM\n")
    r = run("import", "--units", str(units), "--persons", str(bad), "--tenant", "oslo", "--db", db, "--json")
    assert r.exit_code == 3
    rep = json.loads(r.output)
    assert rep["persons"]["added"] == ["p2"]
    assert rep["persons"]["rejected"] == [{"where": "line 2", "line": 2, "id": "p1", "reason": "unknown unit 'NOPE'"}]
    latin = write(tmp_path, "l.csv", "id,name\np9,Åse\n", encoding="latin-1")
    r = runner.invoke(app, ["directory", "import", "--persons", str(latin), "--tenant", "oslo", "--db", db])
    assert r.exit_code == 2 and "not valid utf-8 at line 2" in r.output


async def test_search_asks_the_running_server(server, monkeypatch):
    """No --db: the answer comes from the running server's index (its directory is not on disk here)."""
    import asyncio

    from .conftest import PASSWORD
    from .test_directory_fixtures import load_sample
    load_sample(server.directory)
    monkeypatch.setenv("CC_CONSOLE_PASSWORD", PASSWORD)
    r = await asyncio.to_thread(run, "search", "dvorak", "--url", server.url, "--user", "agent1", "--json")
    assert r.exit_code == 0, r.output
    assert [row["id"] for row in json.loads(r.stdout)] == ["oslo:p3"], r.output
    r = await asyncio.to_thread(run, "search", "hnasen", "--url", server.url, "--user", "agent1")
    assert "oslo:p1" in r.output and "Øyvind Hansen" in r.output
    r = await asyncio.to_thread(run, "search", "x", "--url", "ws://127.0.0.1:9/ws", "--user", "agent1")
    assert r.exit_code == 1 and "cannot reach the server" in r.output


def test_ambiguous_local_times_carry_their_utc_offset():
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from cc_console.cli_directory import _fmt
    from cc_console.widgets.directory_results import hhmm
    oslo = ZoneInfo("Europe/Oslo")
    first = datetime(2025, 10, 26, 2, 30, tzinfo=oslo)  # 02:30 happens twice that night
    second = first.replace(fold=1)
    assert second.timestamp() - first.timestamp() == 3600
    assert _fmt(first.timestamp(), "Europe/Oslo") == "2025-10-26 02:30+02:00"
    assert _fmt(second.timestamp(), "Europe/Oslo") == "2025-10-26 02:30+01:00"
    assert _fmt(datetime(2025, 10, 26, 4, 30, tzinfo=oslo).timestamp(), "Europe/Oslo") == "2025-10-26 04:30"
    assert hhmm(first) == "02:30+02:00" and hhmm(second) == "02:30+01:00"
    assert hhmm(datetime(2025, 10, 26, 12, 0, tzinfo=oslo)) == "12:00"
