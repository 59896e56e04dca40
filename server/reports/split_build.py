"""The read model's first build split across processes: each folds a part of the event log, the parent merges.

A year's first build is one fold over millions of events, and the fold (decoding, Python objects per
event) holds the GIL: a second thread does not help, a second process does. The event log is cut by
`seq` into parts, each starting at the first event of a UTC day (`plan`); a worker process per part
(`ProcessPoolExecutor`, "spawn": never a fork of a server with threads) builds a read model of its own
part in a file of its own, with the code every refresh runs (cache.py): the calls that arrive in its
part, the agent spans between its part's agent events, misses; its aggregates summed once at its end.
The parent then merges the parts into the read model in one transaction (`merge`): per-call rows
copied, aggregate rows summed where two parts share one (a day or a block of days on a part's edge),
and what no part could see alone added there:

* a call that began in one part and has events in a later one (across a boundary, or a late event) is
  folded again whole from its own events, as a refresh folds again a call it met before;
* each agent's state open at the end of a part is closed by that agent's first event in the next part
  that has one (a span across the boundary).

The result is the single-process build's, row for row (tests/test_reports_split_build.py). Only the
first build (an empty read model) is split; a refresh after it is the usual single-process one.
"""
from __future__ import annotations

import gc
import logging
import os
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from cc_console.server.store import SQLiteEventReader

from .cache import QAGG_SUMS
from .facts import Span
from .figures import AGENT_TIMES
from .levels import sum_blobs

log = logging.getLogger(__name__)

MIN_EVENTS = 1_000_000  # fewer events than this: one process (a split's start-up and merge cost more)
WORKERS: int | None = None  # None: os.cpu_count()
PARTS_PER_WORKER = 1
MAX_PARTS = 8  # SQLite attaches at most 10 databases at once
# Events a part reads and holds at once: the batch was most of a part's memory (about 50 MiB per 100,000 events;
# its cumulative histograms are summed a few days at a time). A smaller batch cost no more CPU on the year (the few
# calls open at a batch's end are read again): 10,000 events, a part's peak 54 MiB (79 at 50,000, 190 at 200,000).
PART_CHUNK = 10_000
DAY_S = 86400


@dataclass
class PartResult:
    index: int
    path: str
    events: int
    unknown: list[str]  # calls met in this part that began before it (or never arrived)
    late: list[str]  # of those, the ones with a late event (a category, a callback worked) here
    firsts: dict[str, float]  # each agent's first state in this part: when it began
    pid: int
    peak_rss_mib: float
    cpu_s: float
    wall_s: float


@dataclass
class SplitStats:
    """What a split build did (bench/reports.py prints it)."""
    workers: int = 0  # the processes that build parts: the parent (the first part) and its worker processes
    parts: int = 0
    events: int = 0
    parts_wall_s: float = 0.0
    merge_wall_s: float = 0.0
    merge_cpu_s: float = 0.0
    index_wall_s: float = 0.0  # of the merge: the read model's indexes built over all its rows
    first_cpu_s: float = 0.0  # the first part's, built by the parent
    folded_again: int = 0
    spans_across: int = 0
    peak_rss_mib: dict[int, float] = field(default_factory=dict)  # per worker process (pid), the parent's not
    part_cpu_s: list[float] = field(default_factory=list)
    part_wall_s: list[float] = field(default_factory=list)


class _Range:
    """An event reader limited to the events with seq in (lo, hi]: one part's view of the log."""

    def __init__(self, inner: Any, lo: int, hi: int) -> None:
        self.inner, self.lo, self.hi = inner, lo, hi

    def event_reader(self) -> _Range:
        return self

    def rows_after(self, seq: int, limit: int) -> list[tuple[Any, ...]]:
        rows = self.inner.rows_after(max(seq, self.lo), limit)
        if rows and rows[-1][0] > self.hi:
            rows = [r for r in rows if r[0] <= self.hi]
        return rows

    def rows_of_call(self, call_id: str, upto: int) -> list[tuple[Any, ...]]:
        return [r for r in self.inner.rows_of_call(call_id, min(upto, self.hi)) if r[0] > self.lo]

    def close(self) -> None:
        self.inner.close()


def _opener(ev: Any) -> tuple[Any, tuple[Any, ...]] | None:
    """How a worker process opens its own reader of the same log (picklable), or None: not splittable."""
    if isinstance(ev, SQLiteEventReader):
        return SQLiteEventReader, (str(ev.path),)
    return None


def last_seq(ev: Any) -> int:
    """The last event's seq, by the reader's own interface (a few dozen one-row reads)."""
    if not ev.rows_after(0, 1):
        return 0
    hi = 1
    while ev.rows_after(hi, 1):
        hi *= 2
    lo = hi // 2 if hi > 1 else 0  # events after lo, none after hi
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if ev.rows_after(mid, 1):
            lo = mid
        else:
            hi = mid
    return hi


def _first_at(ev: Any, t: float, lo: int, hi: int) -> int:
    """The seq before the first event at or after time t among seq (lo, hi] (the log is in time order)."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        r = ev.rows_after(mid - 1, 1)
        if r and r[0][1] >= t:
            hi = mid
        else:
            lo = mid
    return lo


def plan(ev: Any, last: int, parts: int) -> list[tuple[int, int]]:
    """Parts (lo, hi] of seq, about as many events each, each cut at the start of a UTC day."""
    cuts = [0]
    for k in range(1, parts):
        target = last * k // parts
        r = ev.rows_after(target - 1, 1)
        if not r:
            continue
        midnight = r[0][1] // DAY_S * DAY_S
        cut = _first_at(ev, midnight, cuts[-1], target)
        if cut > cuts[-1]:
            cuts.append(cut)
    cuts.append(last)
    return [(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while a batch is folded: the fold makes hundreds of thousands of objects, none
    in a cycle (freed by reference counting), and the collector walked them again and again (a fifth of the
    fold's time); it runs between batches, so what other threads make is still collected."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _part(index: int, opener: tuple[Any, tuple[Any, ...]], path: str, lo: int, hi: int, chunk: int) -> PartResult:
    """One part (a worker process's, or the first: the parent's own, on its refreshing thread): the read model of
    the events (lo, hi] in a file of its own, read in batches of `chunk` events."""
    from . import cache as cache_mod
    t0, c0 = time.perf_counter(), time.process_time()
    cls, args = opener
    ev = _Range(cls(*args), lo, hi)
    cache = cache_mod.ReportCache(ev, path)  # type: ignore[arg-type]
    db = cache.db
    # No journal (a part that fails is thrown away), and none of the indexes only reports read: its aggregates
    # are summed once over all its rows (a scan, aggregate_all); the adopted read model builds them once.
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    for ix in cache_mod.INDEXES:
        db.execute(f"DROP INDEX IF EXISTS {ix}")
    cache.unknown, cache.firsts = set(), {}
    events = 0
    while True:
        with _collector_paused():
            n = cache._refresh_chunk(aggregate=False, limit=chunk)
        events += n
        if n < chunk:
            break
    cache.aggregate_all()
    unknown, late = sorted(cache.unknown), sorted(cache.unknown_late)
    firsts = cache.firsts  # (kept as the batches closed them: no scan of the part's spans by agent)
    for agent, start in db.execute("SELECT agent, start FROM open_spans"):  # none closed in the part
        firsts.setdefault(agent, start)
    cache.close()
    return PartResult(index, path, events, unknown, late, firsts, os.getpid(),
                      resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      time.process_time() - c0, time.perf_counter() - t0)


def build(cache: Any) -> SplitStats | None:
    """The first build of `cache` (an empty read model) split across processes; None when it is not worth it
    (a small log), not possible (a reader a worker process cannot open) or failed (logged; the merge rolled
    back): then the caller folds as usual. Runs on the caller's thread (a worker thread in the server, never
    the event loop's) and blocks it."""
    opener = _opener(cache.ev)
    if opener is None:
        return None
    last = last_seq(cache.ev)
    if last < MIN_EVENTS:
        return None
    workers = WORKERS or os.cpu_count() or 1
    parts = plan(cache.ev, last, min(MAX_PARTS, workers * PARTS_PER_WORKER))
    if len(parts) < 2:
        return None
    stats = SplitStats(workers=min(workers, len(parts)), parts=len(parts))
    where = Path(tempfile.mkdtemp(prefix=cache.cache_path.name + ".parts-", dir=cache.cache_path.parent))
    try:
        return _build(cache, opener, parts, last, where, stats)
    except Exception:  # no worker process (a sandbox), a part that failed: the merge rolled back, fold as usual
        log.warning("reports: the split first build failed; building in one process", exc_info=True)
        return None
    finally:
        shutil.rmtree(where, ignore_errors=True)


def _build(cache: Any, opener: tuple[Any, tuple[Any, ...]], parts: list[tuple[int, int]], last: int, where: Path,
           stats: SplitStats) -> SplitStats:
    from . import cache as cache_mod
    chunk = min(PART_CHUNK, cache_mod.CHUNK)  # (a test sets a small CHUNK: several batches per part)
    t = time.perf_counter()
    # The parent builds the first part itself while the workers build the others (it would only wait), and that
    # part's file becomes the read model: the merge copies only the other parts into it.
    with ProcessPoolExecutor(max(1, stats.workers - 1), mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_part, i, opener, str(where / f"part{i}.sqlite3"), lo, hi, chunk)
                   for i, (lo, hi) in enumerate(parts) if i > 0]
        try:
            first = _part(0, opener, str(where / "part0.sqlite3"), *parts[0], chunk)
        except BaseException:
            for f in futures:
                f.cancel()
            raise
        results = [f.result() for f in futures]
    stats.parts_wall_s = time.perf_counter() - t
    stats.first_cpu_s = first.cpu_s
    for r in (first, *results):
        stats.events += r.events
        stats.part_cpu_s.append(r.cpu_s)
        stats.part_wall_s.append(r.wall_s)
    for r in results:
        stats.peak_rss_mib[r.pid] = max(stats.peak_rss_mib.get(r.pid, 0.0), r.peak_rss_mib)
    t, c = time.perf_counter(), time.process_time()
    cache.adopt(first.path)
    try:
        merge(cache, results, last, stats)
    except BaseException:  # the adopted first part alone is not the read model: empty again, built in one process
        cache.reset()
        raise
    finally:
        cache.wal()
    stats.merge_wall_s, stats.merge_cpu_s = time.perf_counter() - t, time.process_time() - c
    log.info("reports: first build split in %d parts on %d processes: %d events, %.1f s for the parts, "
             "%.1f s to merge", stats.parts, stats.workers, stats.events, stats.parts_wall_s, stats.merge_wall_s)
    return stats


# -- the merge ---------------------------------------------------------------------------------------------
_SUMS = {  # aggregate table -> (key columns, summed columns, maxed columns)
    "qagg": ("lvl, t, queue, category", None, ["longest"]),
    "qhist": ("lvl, t, queue, category, kind, sec", ["n"], []),
    "atime": ("lvl, t, agent", list(AGENT_TIMES), []),
    "acalls": ("lvl, t, agent, queue", ["handled", "aht", "hold", "transfers"], []),
    "amiss": ("lvl, t, agent, queue", ["missed", "declined"], []),
    "ahist": ("lvl, t, agent, queue, kind, sec", ["n"], []),
}
_SPAN_COLS = 'agent, state, start, "end", reason, kind, call_id'


def _upsert(db: Any, table: str, src: str) -> None:
    keys, sums, maxes = _SUMS[table]
    sets = [f"{c} = {c} + excluded.{c}" for c in (sums if sums is not None else QAGG_SUMS)]
    sets += [f"{c} = MAX({c}, excluded.{c})" for c in maxes]
    db.execute(f"INSERT INTO {table} SELECT * FROM {src}.{table} WHERE true "
               f"ON CONFLICT ({keys}) DO UPDATE SET {', '.join(sets)}")


def _merge_hcum(db: Any, src: str) -> None:
    """A part's cumulative histograms: summed with the rows another part has for the same key and day or block
    (cumulative counts add up), copied where none has."""
    shared = db.execute(f"SELECT a.h, a.lvl, a.t, a.k1, a.k2, a.cum, b.cum FROM {src}.hcum a JOIN main.hcum b "
                        "ON b.h = a.h AND b.lvl = a.lvl AND b.t = a.t AND b.k1 = a.k1 AND b.k2 = a.k2").fetchall()
    db.execute(f"INSERT INTO hcum SELECT * FROM {src}.hcum WHERE true ON CONFLICT (h, lvl, t, k1, k2) DO NOTHING")
    db.executemany("UPDATE hcum SET cum = ? WHERE h = ? AND lvl = ? AND t = ? AND k1 = ? AND k2 = ?",
                   [(sum_blobs((x, y)), h, lvl, t, k1, k2) for h, lvl, t, k1, k2, x, y in shared])


def merge(cache: Any, results: list[PartResult], last: int, stats: SplitStats) -> None:
    """The parts after the first into the read model (the first part's file, adopted), in one transaction."""
    from .cache import INDEXES
    db = cache.db
    names = [f"part{r.index}" for r in results]
    for r, name in zip(results, names):
        db.execute("ATTACH DATABASE ? AS " + name, (r.path,))
    try:
        db.execute("BEGIN IMMEDIATE")
        try:
            # each agent's state open at the end of the parts merged so far (at first: the first part's)
            carry: dict[str, Span] = {row[0]: Span(row[0], row[1], row[2], None, *row[4:]) for row in db.execute(
                f"SELECT {_SPAN_COLS} FROM open_spans")}
            across: list[Span] = []
            for r, name in zip(results, names):
                db.execute(f"INSERT OR REPLACE INTO segs SELECT * FROM {name}.segs")
                db.execute(f"INSERT INTO spans SELECT {_SPAN_COLS} FROM {name}.spans ORDER BY rowid")
                db.execute(f"INSERT INTO wraps SELECT * FROM {name}.wraps WHERE true "
                           "ON CONFLICT (call_id, agent) DO UPDATE SET us = us + excluded.us")
                for t in ("misses", "pending", "agents"):
                    db.execute(f"INSERT OR IGNORE INTO {t} SELECT * FROM {name}.{t}")
                for t in _SUMS:
                    _upsert(db, t, name)
                _merge_hcum(db, name)
                opened = {row[0]: Span(row[0], row[1], row[2], None, *row[4:]) for row in db.execute(
                    f"SELECT {_SPAN_COLS} FROM {name}.open_spans")}
                for ag, ts in r.firsts.items():  # the agent's state before this part ends at its first event here
                    prev = carry.get(ag)
                    if prev is not None:
                        prev.end = ts
                        across.append(prev)
                carry.update(opened)
            db.execute("DELETE FROM open_spans")
            db.executemany("INSERT INTO open_spans VALUES (?,?,?,?,?,?,?)", [sp.as_row() for sp in carry.values()])
            t0 = time.perf_counter()
            for sql in INDEXES.values():  # once over all the rows (a sort each), before folding again reads by time
                db.execute(sql)
            stats.index_wall_s = time.perf_counter() - t0
            pending = {r[0] for r in db.execute("SELECT call_id FROM pending")}
            again = {c for r in results for c in r.unknown if c in pending} | {c for r in results for c in r.late}
            stats.folded_again, stats.spans_across = len(again), len(across)
            cache.fold_in([], last, last, again=again, extra_spans=across, tx=False)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    finally:
        for name in names:
            db.execute("DETACH DATABASE " + name)
