"""Call scripts: the checker finds what a supervisor got wrong; answers are stored and move the
script on; `cc-console admin outbound script-check FILE`."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cc_console.server.outbound.campaigns import CampaignError
from cc_console.server.outbound.scripts import ScriptError, check, load_script, parse_and_check
from cc_console.server.outbound.service import OutboundService
from cc_console.server.outbound.store import OutboundStore

GOOD = """
start = "interest"
[questions.interest]
text = "Would you like to hear about our home insurance?"
answers = { yes = "budget", no = "end" }
[questions.budget]
text = "What do you pay a year now?"
next = "end"
"""

BAD = """
start = "interest"
[questions.interest]
text = "Interested?"
answers = { yes = "budget", no = "end", maybe = "nowhere" }
[questions.budget]
text = "Budget?"
next = "again"
[questions.again]
text = "Again?"
next = "budget"
[questions.orphan]
text = "Never asked"
next = "end"
"""


def test_the_checker_finds_unknown_targets_unreachable_questions_and_endless_loops() -> None:
    assert check(load_script(GOOD)) == []
    assert sorted(check(load_script(BAD))) == sorted([
        "question interest leads to an unknown question: nowhere",
        "question orphan is never reached",
        "question budget is in a loop that never reaches the end",
        "question again is in a loop that never reaches the end",
    ])
    with pytest.raises(ScriptError, match="both answers and next"):
        load_script('[questions.a]\ntext = "A"\nnext = "end"\nanswers = { x = "end" }\n')
    with pytest.raises(ScriptError, match="no \\[questions"):
        load_script('start = "a"\n')
    with pytest.raises(ScriptError, match="start names an unknown question: b"):
        parse_and_check('start = "b"\n[questions.a]\ntext = "A"\nnext = "end"\n')


def test_script_check_command(tmp_path) -> None:
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    cli = [sys.executable, "-m", "cc_console.cli", "admin", "outbound", "script-check"]
    ok = subprocess.run([*cli, str(good)], capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0 and "ok: 2 question(s), starting at interest" in ok.stdout
    no = subprocess.run([*cli, str(bad)], capture_output=True, text=True, timeout=60)
    assert no.returncode == 1
    assert "error: question orphan is never reached" in no.stderr and "not valid: 4 problem(s)" in no.stderr


def test_answers_are_stored_and_move_the_script_on() -> None:
    svc = OutboundService(OutboundStore(":memory:"))
    with pytest.raises(CampaignError, match="never reached"):
        svc.create({"name": "x", "queue": "sales", "script": BAD})
    c = svc.create({"name": "Home", "queue": "sales", "script": GOOD, "mapping": {"number": "Phone"},
                    "window": {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri",
                                                                          "sat", "sun"]}})
    svc.import_list(c.id, b"Phone\n5550101\n", "csv")
    svc.act(c.id, "start")
    (contact,) = svc.next_contacts(c.id, 1)
    svc.store.update_contact(contact["id"], svc.clock(), call_id="call-9")  # as the dialer does
    first = svc.script_for_call("call-9")
    assert first["current"] == "interest" and first["answers"] == []
    with pytest.raises(CampaignError, match="'perhaps' is not an answer to interest"):
        svc.answer("call-9", "interest", "perhaps", "agent1")
    assert svc.answer("call-9", "interest", "yes", "agent1")["current"] == "budget"
    done = svc.answer("call-9", "budget", "about 300 a year", "agent1")
    assert done["current"] == ""
    assert [(a["question"], a["answer"], a["agent"]) for a in svc.store.answers(c.id)] == [
        ("interest", "yes", "agent1"), ("budget", "about 300 a year", "agent1")]
    with pytest.raises(CampaignError, match="not part of a campaign"):
        svc.script_for_call("call-0")


def test_campaign_report_counts_outcomes_reach_and_script_answers() -> None:
    svc = OutboundService(OutboundStore(":memory:"))
    c = svc.create({"name": "Home", "queue": "sales", "script": GOOD, "mapping": {"number": "Phone"},
                    "retries": {"busy": {"delay": 0, "max_attempts": 2}},
                    "window": {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri",
                                                                          "sat", "sun"]}})
    svc.import_list(c.id, b"Phone\n5550101\n5550102\n5550103\n", "csv")
    assert svc.report(c.id)["reach_rate"] is None
    svc.act(c.id, "start")
    a, b, d = svc.next_contacts(c.id, 3)
    svc.dialing(a["id"], "call-a", "agent1")
    svc.record_outcome(a["id"], "answered", "call-a", "agent1")
    svc.answer("call-a", "interest", "no", "agent1")
    svc.record_outcome(b["id"], "busy", "call-b", "agent2")
    (b2,) = svc.next_contacts(c.id, 3)
    svc.dialing(b2["id"], "call-b2", "agent2")
    svc.record_outcome(b2["id"], "answered", "call-b2", "agent2")
    svc.answer("call-b2", "interest", "yes", "agent2")
    svc.record_outcome(d["id"], "abandoned", "call-d", "")
    r = svc.report(c.id)
    assert r["attempts"] == 4 and r["outcomes"] == {"answered": 2, "busy": 1, "abandoned": 1}
    assert r["contacts_tried"] == 3 and r["reached"] == 2 and r["reach_rate"] == pytest.approx(2 / 3)
    assert r["abandon_rate"] == pytest.approx(1 / 3)
    assert r["answered_by_agent"] == {"agent1": 1, "agent2": 1}
    assert r["answers"] == {"interest": {"no": 1, "yes": 1}}


def test_a_dead_end_is_reported_once_as_an_unknown_target_not_as_a_loop() -> None:
    script = load_script('start = "a"\n[questions.a]\ntext = "A"\nanswers = { yes = "b", no = "end" }\n'
                         '[questions.b]\ntext = "B"\nnext = "c"\n')
    assert check(script) == ["question b leads to an unknown question: c"]


def test_campaign_report_from_the_command_line(tmp_path) -> None:
    """`cc-console report campaign`: one row per campaign from the outbound store beside the event
    store; --answers counts the script's answers; xlsx to a file."""
    import csv
    import io

    from openpyxl import load_workbook
    from typer.testing import CliRunner

    from cc_console.cli_reports import report_app

    db = tmp_path / "cc.sqlite3"
    store = OutboundStore(f"{db}.outbound.sqlite3")
    svc = OutboundService(store, clock=lambda: 1_700_000_000.0)
    c = svc.create({"name": "Renewals", "queue": "support", "mode": "predictive", "script": GOOD,
                    "mapping": {"number": "Phone"}})
    svc.import_list(c.id, b"Phone\n710\n720\n730\n", "csv")
    svc.act(c.id, "start")
    seqs = [x["id"] for x in svc.contacts(c.id)]
    store.update_contact(seqs[0], 0, call_id="k1")
    svc.record_outcome(seqs[0], "answered", "k1", "agent1")
    svc.answer("k1", "interest", "yes", "agent1")
    svc.record_outcome(seqs[1], "abandoned", "k2", "")
    svc.record_outcome(seqs[2], "busy", "k3", "")
    store.add_occupancy([(c.id, "agent1", 100.0, 75.0)])
    store.close()

    res = CliRunner().invoke(report_app, ["campaign", "--db", str(db)])
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader(io.StringIO(res.output.split("\n\n", 1)[1])))
    assert len(rows) == 1
    row = rows[0]
    assert (row["name"], row["mode"], row["contacts"], row["attempts"], row["reached"]) == (
        "Renewals", "predictive", "3", "3", "1")
    assert (row["reach_pct"], row["abandon_pct"], row["occupancy_pct"]) == ("33.33", "50.0", "75.0")
    assert (row["answered"], row["busy"], row["abandoned"]) == ("1", "1", "1")

    res = CliRunner().invoke(report_app, ["campaign", c.id, "--answers", "--db", str(db)])
    assert res.exit_code == 0, res.output
    assert "interest,yes,1" in res.output

    out = tmp_path / "campaigns.xlsx"
    res = CliRunner().invoke(report_app, ["campaign", "--db", str(db), "-f", "xlsx", "-o", str(out)])
    assert res.exit_code == 0, res.output
    values = [c.value for c in next(iter(load_workbook(out).worksheets[0].iter_rows()))]
    assert values  # a real workbook

    res = CliRunner().invoke(report_app, ["campaign", "nosuch", "--db", str(db)])
    assert res.exit_code != 0 and "nosuch" in res.output
