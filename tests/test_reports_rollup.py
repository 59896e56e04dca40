"""The read model's aggregates, summed by SQL (server/reports/rollup.py), equal the Python reference
(tests/reports_reference.py: the code that summed them before) row for row, on a generated month with
every kind of event the read model folds, built in one pass and in many small refreshes."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from cc_console.server.reports import fold
from cc_console.server.reports.cache import ReportCache
from cc_console.server.store import SQLiteStore

from .reports_reference import aggregates
from .reports_synth import write_random

TABLES = ("qagg", "qhist", "acalls", "ahist", "amiss", "atime", "hcum")
D0 = datetime(2024, 4, 1, tzinfo=UTC).timestamp()


def _ivr_and_odd_calls(store: SQLiteStore) -> None:
    """What write_random has not: abandons before and in an IVR, a queue chosen by the IVR, an overflow to
    an agent, a call answered on a UTC midnight and a wait just under a 15-minute edge, a state held across
    midnight, a span of zero length."""
    def call(cid: str, queue: str) -> dict:
        return {"id": cid, "queue": queue, "caller": "0600" + cid, "state": "entering", "stage": "ivr",
                "agent": None}
    t = D0 + 5 * 86400 + 9 * 3600
    for i, stage in enumerate(("before_ivr", "ivr")):
        c = call(f"iv{i}", "q1")
        store.record("call.entered", ts=t + i, call=c, data={"did": "1"})
        store.record("call.abandoned", ts=t + i + 4, call=c, data={"by": "caller", "stage": stage, "wait": 4.0})
    c = call("iv2", "q1")  # the IVR sends it to q3: it counts there
    store.record("call.entered", ts=t + 10, call=c, data={"did": "1"})
    store.record("call.queued", ts=t + 30, call={**c, "queue": "q3", "stage": "queue"}, data={"position": 1})
    store.record("call.abandoned", ts=t + 45, call={**c, "queue": "q3"}, data={"stage": "queue", "wait": 15.0})
    c = call("ov1", "q2")  # overflow to an agent (re-enters the same queue), answered there
    store.record("call.entered", ts=t + 100, call=c, data={"did": "1"})
    store.record("call.queued", ts=t + 100, call=c, data={"position": 1})
    store.record("call.overflow", ts=t + 160, call={**c, "stage": "queue"},
                 data={"when": "max_wait", "to": "agent:ag3", "wait": 60.0})
    store.record("call.connected", ts=t + 170, call={**c, "agent": "ag3"}, data={"agent": "ag3", "wait": 10.0},
                 agent_id="ag3")
    store.record("call.completed", ts=t + 230, call={**c, "agent": "ag3"}, data={"talk": 60.0}, agent_id="ag3")
    mid = D0 + 7 * 86400  # answered at midnight sharp, offered 899.9999 s into a slot
    c = call("mn1", "q1")
    store.record("call.entered", ts=mid - 900.0001, call=c, data={"did": "1"})
    store.record("call.queued", ts=mid - 900.0001, call=c, data={"position": 1})
    store.record("agent.state", ts=mid - 3600, agent={"id": "ag9", "state": "ready"}, data={"from": "logged_out"})
    store.record("call.connected", ts=mid, call={**c, "agent": "ag9"}, data={"agent": "ag9", "wait": 900.0001},
                 agent_id="ag9")
    store.record("agent.state", ts=mid, agent={"id": "ag9", "state": "on_call"}, data={"call": "mn1"})
    store.record("call.completed", ts=mid + 61, call={**c, "agent": "ag9"}, data={"talk": 61.0}, agent_id="ag9")
    store.record("agent.state", ts=mid + 61, agent={"id": "ag9", "state": "wrap_up"}, data={"call": "mn1"})
    store.record("agent.state", ts=mid + 61, agent={"id": "ag9", "state": "ready"}, data={})
    store.record("agent.state", ts=mid + 2 * 86400 + 5, agent={"id": "ag9", "state": "logged_out"}, data={})


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    d = tmp_path_factory.mktemp("month")
    store = SQLiteStore(d / "cc.sqlite3")
    write_random(store, seed=23, days=30, calls_per_day=40, day0=D0)
    _ivr_and_odd_calls(store)
    ref = aggregates(fold(store.events()))
    yield store, ref
    store.close()


def _table(cache: ReportCache, t: str) -> list[tuple]:
    return sorted(cache.db.execute(f"SELECT * FROM {t}").fetchall())


def test_the_month_has_every_kind_of_segment(month):
    store, ref = month
    facts = fold(store.events())
    outcomes = {s.outcome for s in facts.segments}
    assert outcomes >= {"answered", "abandoned", "overflow", "callback", "voicemail", "closed", "ended",
                        "in_progress", "outbound"}, outcomes
    assert {s.stage for s in facts.segments if s.outcome == "abandoned"} >= {
        "announcement", "queue", "ringing", "before_ivr", "ivr"}
    assert {s.entry for s in facts.segments} >= {"new", "overflow", "transfer", "outbound"}
    assert any(s.transferred_out for s in facts.segments) and any(s.callback_done for s in facts.segments)
    assert any(m.why == "declined" for m in facts.misses)
    assert {sp.kind for sp in facts.spans if sp.state == "paused"} >= {"work", "private"}
    assert all(ref[t] for t in TABLES)


def test_a_first_build_sums_exactly_what_python_summed(month, tmp_path):
    store, ref = month
    cache = ReportCache(store.path, tmp_path / "one.reports")
    cache.refresh()
    for t in TABLES:
        assert _table(cache, t) == ref[t], t
    cache.close()


def test_many_small_refreshes_sum_exactly_what_python_summed(month, tmp_path):
    """Chunk edges inside calls (folded again), wrap-ups closing a refresh later, days touched twice."""
    import cc_console.server.reports.cache as cache_mod
    store, ref = month
    cache = ReportCache(store.path, tmp_path / "steps.reports")
    old = cache_mod.CHUNK
    cache_mod.CHUNK = 1777
    try:
        cache.refresh()
    finally:
        cache_mod.CHUNK = old
    for t in TABLES:
        assert _table(cache, t) == ref[t], t
    cache.close()
