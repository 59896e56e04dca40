"""The read model's first build split across processes (server/reports/split_build.py) gives the
single-process build's read model row for row: every table, with calls and agent states crossing the
parts' boundaries at midnight, a call still waiting at a boundary, a late category in a later part,
small batches inside each part; and its aggregates are the Python reference's."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

import cc_console.server.reports.cache as cache_mod
import cc_console.server.reports.split_build as split_build
from cc_console.server.reports import fold
from cc_console.server.reports.cache import TABLES, ReportCache
from cc_console.server.store import SQLiteStore

from .reports_reference import aggregates
from .reports_synth import write_random

D0 = datetime(2024, 4, 1, tzinfo=UTC).timestamp()
DAYS = 12
AGG = ("qagg", "qhist", "acalls", "ahist", "amiss", "atime", "hcum")


class _Collect:
    """Records what write_random writes, in its order, to merge it with the calls across midnight."""

    def __init__(self) -> None:
        self.evs: list[tuple[float, int, str, dict[str, Any]]] = []
        self.at = 0.0

    def record(self, kind: str, **kw: Any) -> None:
        self.at = max(self.at, kw["ts"])  # when it was recorded (a callback worked later keeps its own ts)
        self.evs.append((self.at, len(self.evs), kind, kw))


def _across_midnight() -> list[tuple[float, int, str, dict[str, Any]]]:
    """Each midnight: a call entered before it, answered after it by agent agx (whose states cross it too),
    a call entered before it and abandoned after it; on the last day, a category for the first night's call."""
    out: list[tuple[float, int, str, dict[str, Any]]] = []

    def add(ts: float, kind: str, **kw: Any) -> None:
        out.append((ts, 10**6 + len(out), kind, {**kw, "ts": ts}))

    for d in range(1, DAYS):
        mid = D0 + d * 86400
        c = {"id": f"x{d}", "queue": "q1", "caller": f"07{d:04d}", "state": "entering", "stage": "queue",
             "agent": None}
        add(mid - 600, "agent.state", agent={"id": "agx", "state": "ready"}, data={"from": "logged_out"})
        add(mid - 30, "call.entered", call=c, data={"did": "1"})
        add(mid - 30, "call.queued", call=c, data={"position": 1})
        add(mid - 10, "call.offered", call={**c, "agent": "agx"}, data={"agent": "agx"}, agent_id="agx")
        add(mid - 10, "agent.state", agent={"id": "agx", "state": "ringing"}, data={"call": c["id"]})
        add(mid + 5, "call.connected", call={**c, "agent": "agx"}, data={"agent": "agx", "wait": 35.0},
            agent_id="agx")
        add(mid + 5, "agent.state", agent={"id": "agx", "state": "on_call"}, data={"call": c["id"]})
        add(mid + 65, "call.completed", call={**c, "agent": "agx"}, data={"by": "caller", "talk": 60.0},
            agent_id="agx")
        add(mid + 65, "agent.state", agent={"id": "agx", "state": "wrap_up"}, data={"call": c["id"]})
        add(mid + 80, "agent.state", agent={"id": "agx", "state": "logged_out"}, data={})
        w = {**c, "id": f"w{d}", "caller": f"08{d:04d}"}
        add(mid - 2, "call.entered", call=w, data={"did": "1"})
        add(mid - 2, "call.queued", call=w, data={"position": 2})
        add(mid + 40, "call.abandoned", call=w, data={"by": "caller", "stage": "queue", "wait": 42.0})
    add(D0 + (DAYS - 1) * 86400 + 3600, "call.category", call={"id": "x1", "queue": "q1", "state": "ended"},
        data={"category": "late"})
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    col = _Collect()
    write_random(col, seed=31, days=DAYS, calls_per_day=40, day0=D0)
    st = SQLiteStore(tmp_path_factory.mktemp("split") / "cc.sqlite3")
    for _, _, kind, kw in sorted(col.evs + _across_midnight(), key=lambda e: (e[0], e[1])):
        st.record(kind, **kw)
    yield st
    st.close()


def _tables(cache: ReportCache) -> dict[str, list[tuple]]:
    cols = {"spans": 'agent, state, start, "end", reason, kind, call_id'}
    return {t: sorted(cache.db.execute(f"SELECT {cols.get(t, '*')} FROM {t}").fetchall(), key=repr)
            for t in TABLES if t != "meta"}


def test_a_split_build_equals_the_single_process_build(store, tmp_path, monkeypatch):
    one = ReportCache(store.path, tmp_path / "one.reports")
    one.split = False
    one.refresh()
    assert one.split_stats is None
    monkeypatch.setattr(split_build, "MIN_EVENTS", 0)
    monkeypatch.setattr(split_build, "WORKERS", 2)
    monkeypatch.setattr(split_build, "PARTS_PER_WORKER", 2)
    monkeypatch.setattr(cache_mod, "CHUNK", 1500)  # several batches in each part
    split = ReportCache(store.path, tmp_path / "split.reports")
    split.refresh()
    stats = split.split_stats
    assert stats is not None and stats.parts == 4 and stats.workers == 2, stats
    assert stats.events == one.watermark == split.watermark
    # the parts' edges are at midnights, where the calls and agx's states cross
    assert stats.folded_again >= stats.parts - 1 and stats.spans_across >= stats.parts - 1, stats
    a, b = _tables(one), _tables(split)
    for t in a:
        assert b[t] == a[t], t
    assert any(r[0] == "x1" and r[6] == "late" for r in b["segs"])  # the late category, in the last part
    ref = aggregates(fold(store.events()))
    for t in AGG:
        assert b[t] == sorted(ref[t], key=repr), t
    # a refresh after the split build is the usual one: a new call lands in the same read model
    c = {"id": "new1", "queue": "q2", "caller": "0699", "state": "entering", "stage": "queue", "agent": None}
    store.record("call.entered", ts=D0 + DAYS * 86400, call=c, data={"did": "1"})
    store.record("call.abandoned", ts=D0 + DAYS * 86400 + 9, call=c, data={"stage": "queue", "wait": 9.0})
    split.split_stats = None
    assert split.refresh() == 2 and split.split_stats is None
    assert split.segments_of("new1")[0].outcome == "abandoned"
    one.close()
    split.close()


def test_a_split_build_that_fails_builds_in_one_process(store, tmp_path, monkeypatch, caplog):
    """A worker that cannot read the log (here: a store file that is not there) costs the split, not the
    build: the merge never ran, the read model is built in one process, the fault is in the log."""
    from cc_console.server.store import SQLiteEventReader
    monkeypatch.setattr(split_build, "MIN_EVENTS", 0)
    monkeypatch.setattr(split_build, "WORKERS", 2)
    monkeypatch.setattr(split_build, "_opener", lambda ev: (SQLiteEventReader, (str(tmp_path / "gone.sqlite3"),)))
    one = ReportCache(store.path, tmp_path / "one.reports")
    one.split = False
    one.refresh()
    cache = ReportCache(store.path, tmp_path / "fell-back.reports")
    with caplog.at_level("WARNING", logger="cc_console.server.reports.split_build"):
        cache.refresh()
    assert cache.split_stats is None
    assert "split first build failed" in caplog.text and "no event store" in caplog.text
    assert _tables(cache) == _tables(one)
    assert not list(tmp_path.glob("*.parts-*"))  # the parts' files are gone
    one.close()
    cache.close()


def test_a_merge_that_fails_empties_the_adopted_first_part_and_builds_in_one_process(store, tmp_path, monkeypatch,
                                                                                       caplog):
    """The parent's own first part becomes the read model before the others are merged into it: a merge that fails
    there leaves neither that part alone (a read model without the other parts' calls) nor a half merge, but the
    read model built in one process."""
    monkeypatch.setattr(split_build, "MIN_EVENTS", 0)
    monkeypatch.setattr(split_build, "WORKERS", 2)

    def fail(db, src):
        raise RuntimeError("disk full")

    monkeypatch.setattr(split_build, "_merge_hcum", fail)
    one = ReportCache(store.path, tmp_path / "one.reports")
    one.split = False
    one.refresh()
    cache = ReportCache(store.path, tmp_path / "fell-back.reports")
    with caplog.at_level("WARNING", logger="cc_console.server.reports.split_build"):
        assert cache.refresh() == one.watermark
    assert cache.split_stats is None
    assert "split first build failed" in caplog.text and "disk full" in caplog.text
    assert _tables(cache) == _tables(one)
    assert not list(tmp_path.glob("*.parts-*"))
    one.close()
    cache.close()
