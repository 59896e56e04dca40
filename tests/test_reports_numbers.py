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
