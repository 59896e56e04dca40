"""Reports read the events through the store's interface (its event reader), never by the store's
file path; the read model lives where the store says (beside it)."""
from __future__ import annotations

from cc_console.server.reports import params_from, run
from cc_console.server.reports.cache import ReportCache
from cc_console.server.reports.service import cache_for
from cc_console.server.store import SQLiteStore

from .reports_synth import T, routing, write_day


class _Reader:
    def __init__(self, rows):
        self.rows = rows
        self.closed = False

    def rows_after(self, seq, limit):
        return [r for r in self.rows if r[0] > seq][:limit]

    def rows_of_call(self, call_id, upto):
        return [r for r in self.rows if r[3] == call_id and r[0] <= upto]

    def close(self):
        self.closed = True


class _MemoryStore:
    """A store with no database file at all: only its interface."""

    def __init__(self, rows, folder):
        self.rows, self.folder = rows, folder

    def event_reader(self):
        return _Reader(self.rows)

    def beside(self, suffix):
        return str(self.folder / f"events{suffix}")


def test_the_read_model_reads_events_through_the_store_interface(tmp_path):
    """A store with no database file: its reader alone gives the read model the same day."""
    real = SQLiteStore(tmp_path / "cc.sqlite3")
    write_day(real)
    rows = real.event_reader().rows_after(0, 10**6)
    real.close()
    (tmp_path / "mem").mkdir()
    store = _MemoryStore(rows, tmp_path / "mem")
    cache = ReportCache(store)
    assert cache.refresh() == len(rows)
    assert cache.cache_path == tmp_path / "mem" / "events.reports"
    by_path = ReportCache(tmp_path / "cc.sqlite3")  # the CLI's way: the database file
    for kind in ("queue", "agent"):
        p = params_from(kind, T("08:00:00"), T("09:15:00"))
        assert run(cache, routing(), p).records() == run(by_path, routing(), p).records()
    assert run(cache, routing(), params_from("queue", T("08:00:00"), T("09:15:00"))).records()
    cache.close()
    by_path.close()


def test_a_servers_report_cache_comes_from_its_store(tmp_path):
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    store.record("call.queued", ts=1_700_000_000.0, call={"id": "c9", "queue": "support", "state": "queued",
                                                          "caller": "0612", "channel": "ch9"},
                 queue="support", call_id="c9")
    cache = cache_for(store)
    assert cache is cache_for(store)  # one read model per store
    assert cache.cache_path == tmp_path / "cc.sqlite3.reports"
    assert cache.refresh() == 1
    store.close()
