"""The read model decodes stored events' JSON straight into typed structs (server/reports/decode.py):
the fold over the raw rows gives exactly the facts of the fold over the store's dicts, and data of
an unexpected type is read field by field instead of stopping the refresh."""
from __future__ import annotations

import json
import sqlite3

from cc_console.server.reports.decode import decode, from_dict
from cc_console.server.reports.facts import fold, fold_rows
from cc_console.server.store import SQLiteStore

from .reports_synth import write_random, write_transfers_day


def test_fold_over_raw_rows_equals_the_fold_over_dicts(tmp_path):
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    write_random(store, seed=3, days=2, calls_per_day=120)
    write_transfers_day(store)
    con = sqlite3.connect(tmp_path / "cc.sqlite3")
    rows = con.execute("SELECT seq, ts, kind, call_id, agent_id, queue, data FROM events ORDER BY seq").fetchall()
    raw, dicts = fold_rows(rows), fold(store.events())
    assert raw.segments == dicts.segments and len(raw.segments) > 200
    assert raw.spans == dicts.spans and raw.misses == dicts.misses
    assert raw.calls_open == dicts.calls_open and raw.agents_open == dicts.agents_open
    con.close()
    store.close()


def test_data_of_an_unexpected_type_is_read_field_by_field():
    odd = {"wait": "12.5", "talk": 30, "call": ["not", "a", "record"], "agent": {"id": 7, "state": "ready"},
           "item": "done", "to": None, "why": 3}
    for d in (decode(json.dumps(odd)), from_dict(odd)):
        assert d.wait == 12.5 and d.talk == 30.0
        assert d.call is None and d.item is None
        assert d.agent.id == "7" and d.agent.state == "ready"
        assert d.to is None and d.why == "3"
    assert decode(b'{"call": {"queue": "q1", "caller": "0612", "extra": {"deep": [1, 2]}}}').call.queue == "q1"
