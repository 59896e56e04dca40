"""Transfers in and out, outbound calls, callbacks completed, hold per agent and categories set in the
console, from the events (a scripted hour; tests/test_reports_asterisk.py does the same on real calls).
Each figure on both paths (the per-call rows and the aggregates), and after events that come late."""
from __future__ import annotations

import pytest

from cc_console.server.reports import params_from, run
from cc_console.server.reports.cache import ReportCache
from cc_console.server.store import SQLiteStore

from .reports_synth import T, routing, write_transfers_day, write_transfers_late

A, B = T("09:45:00"), T("11:00:00")


@pytest.fixture
def hour(tmp_path):
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    write_transfers_day(store)
    cache = ReportCache(tmp_path / "cc.sqlite3")
    cache.refresh()  # the read model has seen the calls end before the late events come
    write_transfers_late(store)
    yield store, cache
    cache.close()
    store.close()


def rep(cache, kind, path, **kw):
    r = run(cache, routing(), params_from(kind, A, B, **kw), path=path)
    return {row[r.columns[0]]: row for row in r.records()}


@pytest.mark.parametrize("path", ["calls", "aggregates"])
def test_transfers_outbound_callbacks_and_hold_per_queue(hour, path):
    _, cache = hour
    q = rep(cache, "queue", path)
    q1 = q["q1"]
    assert {k: q1[k] for k in ("received", "offered", "answered", "transferred_in", "transferred_out", "outbound",
                               "callbacks_requested", "callbacks_completed")} == \
        dict(received=3, offered=3, answered=2, transferred_in=0, transferred_out=2, outbound=1,
             callbacks_requested=1, callbacks_completed=1)
    # each agent's part: X1 talk 26 - 6 held, X2 50 - 20 held (the rest is ag2's, after the transfer)
    assert (q1["talk_s"], q1["hold_s"], q1["wrapup_s"]) == (50.0, 26.0, 10.0)
    q2 = q["q2"]
    assert {k: q2[k] for k in ("received", "offered", "overflow_in", "transferred_in", "answered", "asa_s",
                               "talk_s", "hold_s", "wrapup_s")} == \
        dict(received=1, offered=1, overflow_in=0, transferred_in=1, answered=1, asa_s=3.0, talk_s=60.0, hold_s=0.0,
             wrapup_s=5.0)
    assert q["(no queue)"]["outbound"] == 1 and q["(no queue)"]["received"] == 0
    assert q["all"]["outbound"] == 2 and q["all"]["received"] == 4


@pytest.mark.parametrize("path", ["calls", "aggregates"])
def test_agent_hold_and_transfers_match_the_queue_report(hour, path):
    _, cache = hour
    a = rep(cache, "agent", path)
    assert (a["ag1"]["handled"], a["ag1"]["transfers"], a["ag1"]["hold_s"]) == (2, 2, 26.0)
    assert (a["ag2"]["handled"], a["ag2"]["transfers"], a["ag2"]["hold_s"]) == (1, 0, 0.0)
    # AHT: each agent's own talk + hold + wrap-up (ag1: 20+6+10 and 30+20+0; ag2: 60+0+5)
    assert (a["ag1"]["aht_s"], a["ag2"]["aht_s"]) == (43.0, 65.0)
    q = rep(cache, "queue", path)
    assert sum(r["hold_s"] for r in a.values()) == q["all"]["hold_s"]


@pytest.mark.parametrize("path", ["calls", "aggregates"])
def test_category_set_in_the_console_after_the_call(hour, path):
    _, cache = hour
    c = rep(cache, "category", path)
    assert c["billing"]["received"] == 2  # X1 in q1 and, transferred, in q2
    assert c["(none)"]["received"] == 2


def test_the_late_events_are_counted_by_a_fresh_read_model_too(hour, tmp_path):
    store, cache = hour
    fresh = ReportCache(tmp_path / "cc.sqlite3", tmp_path / "fresh.reports")
    try:
        for kind in ("queue", "agent", "category"):
            p = params_from(kind, A, B)
            assert run(fresh, routing(), p).rows == run(cache, routing(), p).rows, kind
    finally:
        fresh.close()


# -- what the insurer's tender lists: bands and service level per agent, ring bands, busiest periods ----
@pytest.mark.parametrize("path", ["calls", "aggregates"])
def test_service_level_wait_and_ring_bands_per_agent(hour, path):
    _, cache = hour
    a = rep(cache, "agent", path, sl_threshold=5.0, buckets=[5, 10], ring_buckets=[1, 2])
    # ag1 answered X1 after 4 s (rang 2 s) and X2 after 10 s (rang 1 s); ag2 X1 in q2 after 3 s (rang 2 s)
    ag1, ag2 = a["ag1"], a["ag2"]
    assert (ag1["answered_within"], ag1["service_level_pct"]) == (1, 50.0)
    assert (ag1["wait_0-5s"], ag1["wait_5-10s"], ag1["wait_over_10s"]) == (1, 1, 0)
    assert (ag1["ring_0-1s"], ag1["ring_1-2s"], ag1["ring_over_2s"]) == (1, 1, 0)
    assert (ag2["answered_within"], ag2["service_level_pct"], ag2["wait_0-5s"], ag2["ring_1-2s"]) == (1, 100.0, 1, 1)
    # each queue's own threshold (20 s) by default
    assert rep(cache, "agent", path)["ag1"]["service_level_pct"] == 100.0


@pytest.mark.parametrize("path", ["calls", "aggregates"])
def test_ring_bands_per_queue(hour, path):
    _, cache = hour
    q = rep(cache, "queue", path, ring_buckets=[1, 2])
    assert (q["q1"]["ring_0-1s"], q["q1"]["ring_1-2s"], q["q1"]["ring_over_2s"]) == (1, 1, 0)
    assert (q["q2"]["ring_0-1s"], q["q2"]["ring_1-2s"]) == (0, 1)
    assert sum(q["all"][c] for c in ("ring_0-1s", "ring_1-2s", "ring_over_2s")) == q["all"]["answered"]


@pytest.mark.parametrize("path", ["calls", "aggregates"])
def test_busiest_periods_by_a_chosen_interval(hour, path):
    _, cache = hour
    b15 = run(cache, routing(), params_from("busiest", A, B, interval="15", top=2), path=path)
    assert b15.title == "Busiest 15 minutes (top 2)" and b15.columns[0] == "period"
    assert [(r["period"], r["offered"]) for r in b15.records()] == [("2024-03-04 10:00", 3), ("2024-03-04 10:15", 1)]
    b30 = rep(cache, "busiest", path, interval="30", top=5)
    assert {k: v["offered"] for k, v in b30.items()} == {"2024-03-04 10:00": 4}
    day = rep(cache, "busiest", path, interval="day", top=5)
    assert {k: v["offered"] for k, v in day.items()} == {"2024-03-04": 4}
    assert list(rep(cache, "busiest", path)) == ["2024-03-04 10:00"]  # no interval: hours


def test_cli_ring_bands_and_busiest_interval(hour, tmp_path):
    from typer.testing import CliRunner

    from cc_console.cli_reports import report_app
    store, _ = hour
    routing_file = tmp_path / "routing.toml"
    routing_file.write_text('[queues.q1]\ntenant = "acme"\n[queues.q2]\ntenant = "globex"\n')
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[server]\nrouting_file = "{routing_file}"\ndb_path = "{store.path}"\n')
    common = ["-c", str(cfg), "--from", "2024-03-04T09:45", "--to", "2024-03-04T11:00", "--tz", "UTC"]
    res = CliRunner().invoke(report_app, ["agent", *common, "--ring-buckets", "1,2", "--sl", "5"])
    assert res.exit_code == 0, res.output
    lines = [x for x in res.output.splitlines() if x and not x.startswith(("#", "\"#"))]
    head = lines[0].split(",")
    ag1 = dict(zip(head, next(x for x in lines if x.startswith("ag1,")).split(",")))
    assert (ag1["service_level_pct"], ag1["ring_0-1s"], ag1["ring_1-2s"]) == ("50.0", "1", "1")
    res = CliRunner().invoke(report_app, ["busiest", *common, "--interval", "15", "--top", "1"])
    assert res.exit_code == 0 and "2024-03-04 10:00,3,0,3," in res.output, res.output


def test_exports_carry_the_new_figures(hour):
    import io

    from openpyxl import load_workbook

    from cc_console.server.reports.export import render
    _, cache = hour
    for kind in ("queue", "agent"):
        r = run(cache, routing(), params_from(kind, A, B))
        assert {"ring_0-5s", "ring_over_30s"} <= set(r.columns)
        csv = render(r, "csv").decode()
        assert "ring_0-5s" in csv and "ring bands" in csv
        ws = load_workbook(io.BytesIO(render(r, "xlsx"))).active
        values = {c.value for row in ws.iter_rows() for c in row}
        assert {"ring_0-5s", "hold_s", "transfers" if kind == "agent" else "transferred_out"} <= values
        assert render(r, "pdf").startswith(b"%PDF")


async def test_ring_bands_and_busiest_interval_over_the_protocol(connect, server):
    write_transfers_day(server.store)
    write_transfers_late(server.store)
    sup = await connect("sup1")
    res = await sup.call("report.run", {"kind": "agent", "from": str(A), "to": str(B),
                                        "options": {"tz": "UTC", "ring_buckets": [1, 2], "sl": 5}})
    rows = {r[0]: dict(zip(res["report"]["columns"], r)) for r in res["report"]["rows"]}
    assert (rows["ag1"]["ring_0-1s"], rows["ag1"]["ring_1-2s"], rows["ag1"]["service_level_pct"]) == (1, 1, 50.0)
    res = await sup.call("report.run", {"kind": "busiest", "from": str(A), "to": str(B), "interval": "15",
                                        "options": {"tz": "UTC", "top": 1}})
    assert res["report"]["title"] == "Busiest 15 minutes (top 1)" and res["report"]["rows"][0][0] == "2024-03-04 10:00"
