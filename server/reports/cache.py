"""The reports' read model: facts folded from the event store, kept in a separate SQLite file.

The events are read through the store's interface (``Store.event_reader()``: a read-only reader of
its own for the thread that refreshes), never by opening the store's file; the store's schema is
never touched. A tool without a running store (the CLI, a bench) gives the database file instead.
`refresh()` folds the events after the last one seen (a watermark) and keeps the facts in
`<db>.reports.sqlite3`: one row per call segment, agent span and ring-no-answer. Calls still in
progress are folded again from their own events on the next refresh; each agent's open span is
carried over. Deleting the file is always safe: the next refresh rebuilds it from the events.

It also keeps aggregates (see docs/reports.md, "Aggregates"): per queue per category per 15-minute slot
the queue counts and sums and wait histograms, per agent per UTC day the agent times, handled calls and
misses; each also per block of days, and the histograms as cumulative counts from the day up (levels.py);
aggregate.py sums them for a report.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Iterator
from itertools import groupby
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from cc_console import service_level
from cc_console.server.store import EventReader, SQLiteEventReader, Store

from . import rollup
from .facts import SEGMENT_FIELDS, Facts, Miss, Segment, Span, fold_rows
from .figures import AGENT_TIMES, RAW_COUNTS, us
from .levels import FAN, KINDS, TOP, Cuts, cumulate, pack, sum_blobs, unpack

CHUNK = 200_000

SCHEMA_VERSION = "8"  # 8: each call's wrap-up per agent summed once (wraps), aggregates summed by SQL
# earlier:  # 7: abandons before and in the IVR (stages before_ivr, ivr)
# earlier:  # 6: blocks of days (levels 2..5), cumulative wait histograms (hcum)
# earlier:  # 5: transfers, outbound, callbacks completed, ring time, wrap-up per agent, agents' hold
# earlier:  # 4: talk excludes hold, hold from the completed call
# earlier:  # 2: per-15-minute aggregates (qagg, qhist, atime, acalls, amiss), microsecond sums
SLOT = 900  # seconds: the aggregates' grain (15 minutes)
SLOT_US = 900_000_000
DAY = 96  # slots in a (UTC) day: the aggregates' second level
DAY_S = 86400
DAY_US = 86_400_000_000
QAGG_SUMS = RAW_COUNTS + ["new_calls", "answered_wait", "abandon_wait", "talk", "hold", "wrapup", "talk_min"]
TABLES = ("meta", "segs", "spans", "open_spans", "misses", "pending", "agents", "qagg", "qhist", "atime", "acalls",
          "amiss", "ahist", "hcum", "wraps")
WRAP_SQL = rollup.WRAP
# events that may come after the call ended and change its segments: the call is folded again
LATE_KINDS = ("call.category", "callback.saved")

_QCOLS = ", ".join(f"{c} INTEGER" for c in QAGG_SUMS) + ", longest REAL"
_ACOLS = ", ".join(f"{c} INTEGER" for c in AGENT_TIMES)

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segs ({", ".join(SEGMENT_FIELDS)}, PRIMARY KEY (call_id, seg));
CREATE INDEX IF NOT EXISTS segs_offered ON segs(offered_ts);
CREATE INDEX IF NOT EXISTS segs_answered ON segs(answered_ts) WHERE answered_ts IS NOT NULL;
CREATE TABLE IF NOT EXISTS spans (agent TEXT, state TEXT, start REAL, "end" REAL, reason TEXT, kind TEXT,
                                  call_id TEXT);
CREATE INDEX IF NOT EXISTS spans_end ON spans("end");
CREATE TABLE IF NOT EXISTS wraps (call_id TEXT, agent TEXT, us INTEGER, PRIMARY KEY (call_id, agent)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS open_spans (agent TEXT PRIMARY KEY, state TEXT, start REAL, "end" REAL, reason TEXT,
                                       kind TEXT, call_id TEXT);
CREATE TABLE IF NOT EXISTS misses (ts REAL, agent TEXT, call_id TEXT, queue TEXT, why TEXT,
                                   UNIQUE (call_id, ts, agent));
CREATE INDEX IF NOT EXISTS misses_ts ON misses(ts);
CREATE TABLE IF NOT EXISTS pending (call_id TEXT PRIMARY KEY);
CREATE INDEX IF NOT EXISTS segs_overflow ON segs(offered_ts) WHERE seg > 0;
CREATE INDEX IF NOT EXISTS spans_agent ON spans(agent, start);
CREATE INDEX IF NOT EXISTS spans_pause ON spans(start) WHERE state = 'paused';
CREATE TABLE IF NOT EXISTS agents (agent TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS qagg (lvl INTEGER, t INTEGER, queue TEXT, category TEXT, {_QCOLS},
                                 PRIMARY KEY (lvl, t, queue, category)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS qhist (lvl INTEGER, t INTEGER, queue TEXT, category TEXT, kind INTEGER, sec INTEGER,
                                  n INTEGER, PRIMARY KEY (lvl, t, queue, category, kind, sec)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS atime (lvl INTEGER, t INTEGER, agent TEXT, {_ACOLS},
                                  PRIMARY KEY (lvl, t, agent)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS acalls (lvl INTEGER, t INTEGER, agent TEXT, queue TEXT, handled INTEGER, aht INTEGER,
                                   hold INTEGER, transfers INTEGER, PRIMARY KEY (lvl, t, agent, queue)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ahist (lvl INTEGER, t INTEGER, agent TEXT, queue TEXT, kind INTEGER, sec INTEGER,
                                  n INTEGER, PRIMARY KEY (lvl, t, agent, queue, kind, sec)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hcum (h INTEGER, lvl INTEGER, t INTEGER, k1 TEXT, k2 TEXT, cum BLOB,
                                 PRIMARY KEY (h, lvl, t, k1, k2)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS amiss (lvl INTEGER, t INTEGER, agent TEXT, queue TEXT, missed INTEGER, declined INTEGER,
                                  PRIMARY KEY (lvl, t, agent, queue)) WITHOUT ROWID;
"""


# The indexes only reports read (none is a key): a split build's parts go without them, and the read model it
# adopts builds them once, after its merge (split_build.py).
INDEXES = {ix: sql.strip() for ix, sql in ((ln.split()[5], ln) for ln in SCHEMA.splitlines()
                                           if ln.startswith("CREATE INDEX"))}

EV_COLS = "seq, ts, kind, call_id, agent_id, queue, data"
seg_row = attrgetter(*SEGMENT_FIELDS)
span_row = attrgetter("agent", "state", "start", "end", "reason", "kind", "call_id")


def _diff(old_rows: Any, new: dict[tuple[int, str, str, int, int], int]) -> set[tuple[str, str]]:
    """The keys (the histogram rows' 2nd and 3rd columns) whose rows differ between old and new."""
    old = {r[:5]: r[5] for r in old_rows}
    return {k[1:3] for k in old.keys() ^ new.keys()} | {k[1:3] for k, n in new.items() if old.get(k) != n}


class ReportCache:
    def __init__(self, source: Store | str | Path, cache_path: str | Path | None = None) -> None:
        """``source``: the event store (its reader and the place beside it), or its database file."""
        if isinstance(source, (str, Path)):
            self.ev: EventReader = SQLiteEventReader(source)
            default = str(source) + ".reports"
        else:
            self.ev = source.event_reader()
            default = source.beside(".reports") if cache_path is None else ""
        self.cache_path = Path(cache_path) if cache_path else Path(default)
        self._lock = threading.Lock()
        self.db = self._connect()
        row = None
        try:
            row = self.db.execute("SELECT v FROM meta WHERE k='schema'").fetchone()
        except sqlite3.OperationalError:
            pass
        if row is None or row[0] != SCHEMA_VERSION:  # an older read model: rebuild it from the events
            for t in TABLES:
                self.db.execute(f"DROP TABLE IF EXISTS {t}")
        self.db.executescript(SCHEMA)
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        # a split build's part (split_build.py) sets these: the calls it met that began in an earlier part,
        # and those of them with a late event in it
        self.unknown: set[str] | None = None
        self.unknown_late: set[str] = set()
        self.firsts: dict[str, float] | None = None  # and there, each agent's first closed state: when it began
        self._empty = False  # aggregate_all on a read model with no aggregate rows yet
        self.split = True  # a first build may be split across processes (split_build.py)
        self.split_stats: Any = None  # what the last split build did (the benches print it)

    def _connect(self, wal: bool = True) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.cache_path), isolation_level=None, check_same_thread=False)
        if wal:
            db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA busy_timeout=5000")
        return db

    def adopt(self, path: str | Path) -> None:
        """The read model becomes the file at `path` (a split build's first part, built by the same code: it is
        moved, not copied). Called by the refreshing thread, which holds the lock. Its journal is a rollback
        journal until `wal()`: the merge into it appends far more pages than it changes, and the write-ahead log
        would write each of them twice (to the log, then to the file)."""
        self.db.close()
        os.replace(path, self.cache_path)
        for suffix in ("-wal", "-shm"):  # the empty read model's, if its connection left them
            Path(str(self.cache_path) + suffix).unlink(missing_ok=True)
        self.db = self._connect(wal=False)

    def wal(self) -> None:
        self.db.execute("PRAGMA journal_mode=WAL")

    def reset(self) -> None:
        """Empty the read model (a split build that failed after adopting its first part: built again)."""
        for t in TABLES:
            self.db.execute(f"DROP TABLE IF EXISTS {t}")
        self.db.executescript(SCHEMA)
        self.db.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))

    def close(self) -> None:
        with self._lock:
            self.db.close()
            self.ev.close()

    # -- refresh -----------------------------------------------------------------------------------
    @property
    def watermark(self) -> int:
        row = self.db.execute("SELECT v FROM meta WHERE k='seq'").fetchone()
        return int(row[0]) if row else 0

    def refresh(self) -> int:
        """Fold new events into the read model; returns how many events were read."""
        total = 0
        with self._lock:
            if self.split and self.watermark == 0:  # the first build: across processes when the log is long
                from . import split_build
                self.split_stats = split_build.build(self)
                total = self.split_stats.events if self.split_stats else 0
            while True:
                n = self._refresh_chunk()
                total += n
                if n < CHUNK:
                    return total

    def _refresh_chunk(self, aggregate: bool = True, limit: int | None = None) -> int:
        mark = self.watermark
        rows = self.ev.rows_after(mark, limit or CHUNK)
        if not rows:
            return 0
        last, n = rows[-1][0], len(rows)
        self.fold_in(rows, mark, last, aggregate=aggregate)
        return n

    def fold_in(self, rows: list[Any], mark: int, last: int, *, again: set[str] | None = None,
                extra_spans: list[Span] | None = None, aggregate: bool = True, tx: bool = True) -> None:
        """Fold rows (the events after `mark` up to `last`) into the read model; `again`: calls to fold again
        from all their events up to `mark` besides those the rows touch; `extra_spans`: closed agent spans to
        add (a split build's spans across its parts). aggregate=False writes the per-call rows only (a split
        build's part sums its aggregates once at its end: `aggregate_all`); tx=False: in the caller's
        transaction."""
        pending = {r[0] for r in self.db.execute("SELECT call_id FROM pending")}
        touched = {r[3] for r in rows if r[3]}
        again = (pending & touched) | (again or set())
        late = {r[3] for r in rows if r[3] and r[2] in LATE_KINDS} - pending
        again |= {c for c in late if self.db.execute("SELECT 1 FROM segs WHERE call_id = ? LIMIT 1", (c,)).fetchone()}
        if again:  # calls folded before and touched now: folded again from all their events
            for cid in again:
                rows += self.ev.rows_of_call(cid, mark)
            rows.sort(key=itemgetter(0))
        opened = {r[0]: Span(r[0], r[1], r[2], None, r[4], r[5], r[6]) for r in self.db.execute(
            'SELECT agent, state, start, "end", reason, kind, call_id FROM open_spans')}
        unknown: set[str] | None = set() if self.unknown is not None else None
        facts = fold_rows(rows, opened, unknown)
        if self.firsts is not None:  # an agent's spans close in order: its first here is its first in the part
            for sp in facts.spans:
                self.firsts.setdefault(sp.agent, sp.start)
        if unknown:  # calls that began before this part (or never): its split build folds them again whole
            self.unknown.update(c for c in unknown if not self.db.execute(  # type: ignore[union-attr]
                "SELECT 1 FROM segs WHERE call_id = ? LIMIT 1", (c,)).fetchone())
            self.unknown_late.update(r[3] for r in rows if r[2] in LATE_KINDS and r[3] in unknown)
        if extra_spans:
            facts.spans[:0] = extra_spans
        del rows
        db = self.db
        if tx:
            db.execute("BEGIN IMMEDIATE")
        try:
            calls = {s.call_id for s in facts.segments}
            touched_q: set[int] = set()  # slots (by offered_ts) whose queue aggregates change
            touched_a: set[int] = set()  # slots (by answered_ts) whose handled-calls aggregates change
            for cid in (again if aggregate else ()):
                for off, ans in db.execute("SELECT offered_ts, answered_ts FROM segs WHERE call_id = ?", (cid,)):
                    touched_q.add(int(off // SLOT))
                    if ans is not None:
                        touched_a.add(int(ans // SLOT))
            # Only a call folded again has rows to delete; one that arrived in this batch has none, unless its
            # id was used before (then its rows are replaced: a refresh never stops on it).
            db.executemany("DELETE FROM segs WHERE call_id = ?", [(c,) for c in calls & again])
            db.executemany(f"INSERT OR REPLACE INTO segs VALUES ({','.join('?' * len(SEGMENT_FIELDS))})",
                           map(seg_row, facts.segments))
            after = db.execute("SELECT COALESCE(MAX(rowid), 0) FROM spans").fetchone()[0]
            db.executemany("INSERT INTO spans VALUES (?,?,?,?,?,?,?)", map(span_row, facts.spans))
            db.execute(rollup.WRAPS_ADD, (after,))
            db.execute("DELETE FROM open_spans")
            db.executemany("INSERT INTO open_spans VALUES (?,?,?,?,?,?,?)", map(span_row, facts.agents_open.values()))
            db.executemany("INSERT OR IGNORE INTO misses VALUES (?,?,?,?,?)",
                           [(m.ts, m.agent, m.call_id, m.queue, m.why) for m in facts.misses])
            db.executemany("DELETE FROM pending WHERE call_id = ?",
                           [(c,) for c in (calls & pending) - facts.calls_open])
            db.executemany("INSERT OR IGNORE INTO pending VALUES (?)", [(c,) for c in facts.calls_open])
            answered: dict[str, list[Segment]] = {}  # this batch's answered segments by call
            for sg in (facts.segments if aggregate else ()):
                touched_q.add(int(sg.offered_ts // SLOT))
                if sg.answered_ts is not None:
                    touched_a.add(int(sg.answered_ts // SLOT))
                    if sg.outcome == "answered":
                        answered.setdefault(sg.call_id, []).append(sg)
            for sp in (facts.spans if aggregate else ()):  # a closed wrap-up changes its call's figures
                if sp.state == "wrap_up" and sp.call_id:
                    here = answered.get(sp.call_id)
                    offs = ([(sg.offered_ts, sg.answered_ts) for sg in here] if here is not None else db.execute(
                        "SELECT offered_ts, answered_ts FROM segs WHERE call_id = ? AND outcome = 'answered'",
                        (sp.call_id,)))
                    for off, ans in offs:
                        touched_q.add(int(off // SLOT))
                        if ans is not None:
                            touched_a.add(int(ans // SLOT))
            if aggregate:
                self._agg_queue(touched_q)
                self._agg_handled({x // DAY for x in touched_a})
                self._agg_misses({int(m.ts // DAY_S) for m in facts.misses})
                self._agg_times(after)
            db.executemany("INSERT OR IGNORE INTO agents VALUES (?)",
                           [(a,) for a in {sp.agent for sp in facts.spans} | set(facts.agents_open)])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(last),))
            if tx:
                db.execute("COMMIT")
        except Exception:
            if tx:
                db.execute("ROLLBACK")
            raise

    def aggregate_all(self) -> None:
        """Sum every aggregate from the per-call rows at once (a split build's part, written with
        aggregate=False): every slot, day and block, as the batches would have."""
        db = self.db
        # no aggregate row yet: the histograms' rows need no comparing with older ones
        self._empty = db.execute("SELECT 1 FROM qhist LIMIT 1").fetchone() is None and db.execute(
            "SELECT 1 FROM ahist LIMIT 1").fetchone() is None
        def span(sql: str) -> set[int]:  # every slot or day from the first to the last: one run, one scan
            lo, hi = db.execute(sql).fetchone()
            return set(range(lo, hi + 1)) if lo is not None else set()
        db.execute("BEGIN IMMEDIATE")
        try:
            self._agg_queue(span(f"SELECT MIN({rollup.floor_div('offered_ts', SLOT)}), "
                                 f"MAX({rollup.floor_div('offered_ts', SLOT)}) FROM segs"))
            self._agg_handled(span(f"SELECT MIN({rollup.floor_div('answered_ts', DAY_S)}), "
                                   f"MAX({rollup.floor_div('answered_ts', DAY_S)}) FROM segs"))
            self._agg_misses(span(f"SELECT MIN({rollup.floor_div('ts', DAY_S)}), "
                                  f"MAX({rollup.floor_div('ts', DAY_S)}) FROM misses"))
            self._agg_times(0)
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
        finally:
            self._empty = False

    # -- the aggregates --------------------------------------------------------------------------------
    # Every table is keyed (lvl, t, ...): lvl 0 = a 15-minute slot (t = epoch // 900), lvl 1 = a UTC day
    # (t = slot // 96), the sum of its slots, lvl 2..5 = a block of 4, 16, 64, 256 days (t = day // its
    # size), the sum of its four children. Queue, handled-call and miss aggregates of a touched slot are
    # recomputed from the per-call rows (so an outcome that changes, or a wrap-up that closes later, is
    # exact); agent times are only ever added (a closed span never changes).
    @staticmethod
    def _runs(slots: set[int], gap: int = 0) -> list[tuple[int, int]]:
        """Sorted slots -> runs [lo, hi] (inclusive), contiguous but for gaps of up to `gap` (summing a few
        untouched slots again costs less than a statement per run: a day's calls stop at night)."""
        out: list[tuple[int, int]] = []
        for x in sorted(slots):
            if out and x <= out[-1][1] + 1 + gap:
                out[-1] = (out[-1][0], x)
            else:
                out.append((x, x))
        return out

    @staticmethod
    def _pieces(runs: list[tuple[int, int]], n: int) -> Iterator[tuple[int, int]]:
        """Runs [lo, hi] (inclusive) cut into pieces of at most n."""
        for lo, hi in runs:
            for a in range(lo, hi + 1, n):
                yield a, min(hi, a + n - 1)

    def _days(self, table: str, keys: str, sums: list[str], maxes: list[str], slots: set[int]) -> None:
        db = self.db
        agg = ", ".join([f"SUM({c})" for c in sums] + [f"MAX({c})" for c in maxes])
        for d0, d1 in self._runs({x // DAY for x in slots}):
            db.execute(f"DELETE FROM {table} WHERE lvl = 1 AND t >= ? AND t <= ?", (d0, d1))
            db.execute(f"INSERT INTO {table} SELECT 1, t / {DAY}, {keys}, {agg} FROM {table} "
                       f"WHERE lvl = 0 AND t >= ? AND t < ? GROUP BY t / {DAY}, {keys}", (d0 * DAY, (d1 + 1) * DAY))

    def _blocks(self, table: str, keys: str, sums: list[str], maxes: list[str], days: set[int]) -> None:
        """The blocks (levels 2..TOP) over these days, each summed from its four children."""
        db = self.db
        agg = ", ".join([f"SUM({c})" for c in sums] + [f"MAX({c})" for c in maxes])
        touched = set(days)
        for lvl in range(2, TOP + 1):
            touched = {t // FAN for t in touched}
            for b0, b1 in self._runs(touched):
                db.execute(f"DELETE FROM {table} WHERE lvl = ? AND t >= ? AND t <= ?", (lvl, b0, b1))
                db.execute(f"INSERT INTO {table} SELECT ?, t / {FAN}, {keys}, {agg} FROM {table} "
                           f"WHERE lvl = ? AND t >= ? AND t < ? GROUP BY t / {FAN}, {keys}",
                           (lvl, lvl - 1, b0 * FAN, (b1 + 1) * FAN))

    def _cum(self, h: int, days: set[int], keys: set[tuple[str, str]]) -> None:
        """The cumulative wait histograms (hcum, h 0: per queue and category from qhist, 1: per agent and
        queue from ahist) of these keys on these days, and of the blocks over them (a refresh during the
        day changes a few agents' rows: only theirs are summed again, not every agent's year)."""
        if not keys:
            return
        db = self.db
        table, cols = ("qhist", ("queue", "category")) if h == 0 else ("ahist", ("agent", "queue"))
        db.execute("CREATE TEMP TABLE IF NOT EXISTS _keys (k1 TEXT, k2 TEXT, PRIMARY KEY (k1, k2))")
        db.execute("DELETE FROM _keys")
        db.executemany("INSERT INTO _keys VALUES (?, ?)", keys)
        # a run of days (or blocks) in pieces: a piece's vectors are held at once (a year's would be tens of MiB)
        for d0, d1 in self._pieces(self._runs(days), 8):
            db.execute("DELETE FROM hcum WHERE h = ? AND lvl = 1 AND t >= ? AND t <= ? "
                       "AND (k1, k2) IN (SELECT k1, k2 FROM _keys)", (h, d0, d1))
            out = []
            for (t, k1, k2), rows in groupby(db.execute(
                    f"SELECT a.t, a.{cols[0]}, a.{cols[1]}, a.kind, a.sec, a.n FROM {table} a CROSS JOIN _keys k "
                    f"ON a.{cols[0]} = k.k1 AND a.{cols[1]} = k.k2 WHERE a.lvl = 1 AND a.t >= ? AND a.t <= ? "
                    "ORDER BY 1, 2, 3, 4, 5", (d0, d1)), key=itemgetter(0, 1, 2)):
                per: list[list[tuple[int, int]]] = [[] for _ in range(KINDS)]
                for r in rows:
                    per[r[3]].append((r[4], r[5]))
                out.append((h, t, k1, k2, pack([cumulate(x) for x in per])))
            db.executemany("INSERT INTO hcum VALUES (?, 1, ?, ?, ?, ?)", out)
        touched = set(days)
        for lvl in range(2, TOP + 1):
            touched = {t // FAN for t in touched}
            for b0, b1 in self._pieces(self._runs(touched), 2):
                db.execute("DELETE FROM hcum WHERE h = ? AND lvl = ? AND t >= ? AND t <= ? "
                           "AND (k1, k2) IN (SELECT k1, k2 FROM _keys)", (h, lvl, b0, b1))
                rows = db.execute("SELECT c.t / ?, c.k1, c.k2, c.cum FROM hcum c CROSS JOIN _keys k ON c.k1 = k.k1 "
                                  "AND c.k2 = k.k2 WHERE c.h = ? AND c.lvl = ? AND c.t >= ? AND c.t < ? "
                                  "ORDER BY 1, 2, 3", (FAN, h, lvl - 1, b0 * FAN, (b1 + 1) * FAN))
                db.executemany("INSERT INTO hcum VALUES (?, ?, ?, ?, ?, ?)",
                               [(h, lvl, t, k1, k2, sum_blobs(r[3] for r in grp))
                                for (t, k1, k2), grp in groupby(rows.fetchall(), key=itemgetter(0, 1, 2))])

    def _hist(self, table: str, keys: tuple[str, str], lvl: int, t0: int, t1: int, select: str,
              params: tuple[float, ...]) -> set[tuple[str, str]]:
        """Replace the histogram rows of [t0, t1] at this level with `select`'s; returns the keys whose rows
        changed (only theirs need their cumulative histograms summed again)."""
        db = self.db
        if self._empty:  # nothing to compare with (a split build's part): every key is new, no copy to compare
            db.execute(f"INSERT INTO {table} SELECT ?, * FROM ({select})", (lvl, *params))
            return set(db.execute(f"SELECT DISTINCT {keys[0]}, {keys[1]} FROM {table} WHERE lvl = ? AND t >= ? "
                                  "AND t <= ?", (lvl, t0, t1)))
        db.execute("CREATE TEMP TABLE IF NOT EXISTS _h (t INTEGER, k1 TEXT, k2 TEXT, kind INTEGER, sec INTEGER, "
                   "n INTEGER)")
        db.execute("DELETE FROM _h")
        db.execute(f"INSERT INTO _h {select}", params)
        old = (f"SELECT t, {keys[0]} AS k1, {keys[1]} AS k2, kind, sec, n FROM {table} "
               "WHERE lvl = ? AND t >= ? AND t <= ?")
        changed = set(db.execute(f"SELECT k1, k2 FROM ({old} EXCEPT SELECT * FROM _h) "
                                 f"UNION SELECT k1, k2 FROM (SELECT * FROM _h EXCEPT {old})", (lvl, t0, t1) * 2))
        db.execute(f"DELETE FROM {table} WHERE lvl = ? AND t >= ? AND t <= ?", (lvl, t0, t1))
        db.execute(f"INSERT INTO {table} SELECT ?, * FROM _h", (lvl,))
        return changed

    def _agg_queue(self, slots: set[int]) -> None:
        db = self.db
        changed: set[tuple[str, str]] = set()  # (queue, category) whose histogram rows changed
        for s0, s1 in self._runs(slots, gap=DAY):
            lo, hi = s0 * float(SLOT), (s1 + 1) * float(SLOT)
            db.execute("DELETE FROM qagg WHERE lvl = 0 AND t >= ? AND t <= ?", (s0, s1))
            db.execute(f"INSERT INTO qagg {rollup.QAGG_SELECT}", (lo, hi))
            changed |= self._hist("qhist", ("queue", "category"), 0, s0, s1, rollup.QHIST_SELECT, (lo, hi) * 3)
        if slots:
            self._days("qagg", "queue, category", QAGG_SUMS, ["longest"], slots)
            self._days("qhist", "queue, category, kind, sec", ["n"], [], slots)
            days = {x // DAY for x in slots}
            self._blocks("qagg", "queue, category", QAGG_SUMS, ["longest"], days)
            self._cum(0, days, changed)

    # Agent aggregates are kept per UTC day only (lvl 1): a report's partial days at either end (under a day
    # each) are computed from the per-call rows and spans directly; per 15 minutes they would be one row per
    # agent per slot, a whole day long for an agent who stays logged in.
    def _agg_handled(self, days: set[int]) -> None:
        db = self.db
        changed: set[tuple[str, str]] = set()  # (agent, queue) whose histogram rows changed
        for d0, d1 in self._runs(days):
            lo, hi = d0 * float(DAY_S), (d1 + 1) * float(DAY_S)
            db.execute("DELETE FROM acalls WHERE lvl = 1 AND t >= ? AND t <= ?", (d0, d1))
            db.execute(f"INSERT INTO acalls {rollup.ACALLS_SELECT}", (lo, hi))
            changed |= self._hist("ahist", ("agent", "queue"), 1, d0, d1, rollup.AHIST_SELECT, (lo, hi) * 2)
        if days:
            self._blocks("acalls", "agent, queue", ["handled", "aht", "hold", "transfers"], [], days)
            self._cum(1, days, changed)

    def _agg_misses(self, days: set[int]) -> None:
        db = self.db
        for d0, d1 in self._runs(days):
            db.execute("DELETE FROM amiss WHERE lvl = 1 AND t >= ? AND t <= ?", (d0, d1))
            db.execute(f"INSERT INTO amiss {rollup.AMISS_SELECT}", (d0 * float(DAY_S), (d1 + 1) * float(DAY_S)))
        if days:
            self._blocks("amiss", "agent, queue", ["missed", "declined"], [], days)

    def _agg_times(self, after: int) -> None:
        """Add the time of the spans closed in this refresh (rowid > after) to their agents' days."""
        db = self.db
        db.execute(f"CREATE TEMP TABLE IF NOT EXISTS _at (t INTEGER, agent TEXT, {_ACOLS})")
        db.execute("DELETE FROM _at")
        db.execute(f"INSERT INTO _at {rollup.ATIME_SELECT}", (after,))
        sets = ", ".join(f"{c} = {c} + excluded.{c}" for c in AGENT_TIMES)
        db.execute(f"INSERT INTO atime SELECT 1, * FROM _at WHERE true "
                   f"ON CONFLICT (lvl, t, agent) DO UPDATE SET {sets}")
        days = {r[0] for r in db.execute("SELECT DISTINCT t FROM _at")}
        if days:
            self._blocks("atime", "agent", AGENT_TIMES, [], days)

    # -- loading facts for a range --------------------------------------------------------------------
    def facts(self, start: float, end: float, *, queues: list[str] | None = None, agents: bool = False,
              now: float | None = None) -> Facts:
        """The facts a report over [start, end) needs: segments offered in it (with their wrap-up
        summed), and with agents=True the agent spans overlapping it, answered segments and misses."""
        now = end if now is None else now
        q = ""
        params: list[Any] = [start, end]
        if queues:
            q = f" AND queue IN ({','.join('?' * len(queues))})"
            params += list(queues)
        cols = ", ".join(SEGMENT_FIELDS)
        with self._lock:
            rows = self.db.execute(f"SELECT {cols} FROM segs WHERE offered_ts >= ? AND offered_ts < ?{q}",
                                   params).fetchall()
            if agents:
                rows += self.db.execute(f"SELECT {cols} FROM segs WHERE answered_ts >= ? AND answered_ts < ? "
                                        f"AND NOT (offered_ts >= ? AND offered_ts < ?){q}",
                                        [start, end, start, end] + params[2:]).fetchall()
            wrap = WRAP_SQL
            wr = self.db.execute(
                f"SELECT s.call_id, s.agent, {wrap} FROM segs s WHERE s.offered_ts >= ? AND s.offered_ts < ?"
                f"{q.replace('queue', 's.queue')} AND s.outcome = 'answered'", params).fetchall()
            if agents:
                wr += self.db.execute(
                    f"SELECT s.call_id, s.agent, {wrap} FROM segs s WHERE s.answered_ts >= ? AND s.answered_ts < ?",
                    (start, end)).fetchall()
            opened = {r[0]: Span(*r) for r in self.db.execute(
                'SELECT agent, state, start, "end", reason, kind, call_id FROM open_spans')}
            spans: list[Span] = []
            misses: list[Miss] = []
            if agents:
                spans = [Span(*r) for r in self.db.execute(
                    'SELECT agent, state, start, "end", reason, kind, call_id FROM spans WHERE "end" > ? AND start < ?',
                    (start, end))]
                misses = [Miss(*r) for r in self.db.execute(
                    "SELECT ts, agent, call_id, queue, why FROM misses WHERE ts >= ? AND ts < ?", (start, end))]
        wraps: dict[tuple[str, str], int] = defaultdict(int)
        for cid, ag, w in wr:
            if w is not None:
                wraps[(cid, ag)] = w
        for sp in opened.values():
            if sp.state == "wrap_up" and sp.call_id:
                wraps[(sp.call_id, sp.agent)] += us(max(0.0, now - sp.start))
        segs = [Segment(*r) for r in rows]
        for s in segs:
            s.callback = bool(s.callback)
            s.voicemail = bool(s.voicemail)
            s.transferred_out = bool(s.transferred_out)
            s.callback_done = bool(s.callback_done)
        return Facts(segments=segs, spans=spans, misses=misses, agents_open=opened, wrapups=wraps)

    # -- reading the aggregates (aggregate.py) --------------------------------------------------------------
    _SPAN_COLS = 'agent, state, start, "end", reason, kind, call_id'

    def _load_iv(self, ivs: list[tuple[int, int, int, int]]) -> None:
        self.db.execute("CREATE TEMP TABLE IF NOT EXISTS _iv (lvl INTEGER, lo INTEGER, hi INTEGER, idx INTEGER)")
        self.db.execute("DELETE FROM _iv")
        self.db.executemany("INSERT INTO _iv VALUES (?,?,?,?)", ivs)

    def queue_aggregates(self, ivs: list[tuple[int, int, int, int]], queues: list[str], category: bool, p: Any,
                         sl_of: dict[str, float]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """Per (piece's idx, queue, category if asked): the summed counts and sums (QAGG_SUMS, longest), and
        from the histograms (answered_within, short_abandons, each wait bucket). `ivs`: (lvl, lo, hi, idx)."""
        if not ivs:
            return [], []
        cat = "a.category" if category else "''"
        qf = f" AND a.queue IN ({','.join('?' * len(queues))})" if queues else ""
        sums = ", ".join(f"SUM(a.{c})" for c in QAGG_SUMS)
        nb = len(p.buckets)
        bexpr = "CASE " + " ".join(f"WHEN a.sec <= {int(b)} THEN {j}" for j, b in enumerate(p.buckets)) \
            + f" ELSE {nb} END" \
            if p.buckets else "0"
        bsums = ", ".join(f"SUM(CASE WHEN a.kind = 0 AND {bexpr} = {j} THEN a.n ELSE 0 END)" for j in range(nb + 1))
        nr = len(p.ring_buckets)
        rexpr = "CASE " + " ".join(f"WHEN a.sec <= {int(b)} THEN {j}" for j, b in enumerate(p.ring_buckets)) + \
            f" ELSE {nr} END" if p.ring_buckets else "0"
        bsums += ", " + ", ".join(f"SUM(CASE WHEN a.kind = 2 AND {rexpr} = {j} THEN a.n ELSE 0 END)"
                                  for j in range(nr + 1))
        dflt = int(service_level.threshold(None, {}, p.sl_threshold))
        thr = [] if p.sl_threshold is not None else [(q, int(v)) for q, v in sl_of.items()]
        slots = [iv for iv in ivs if iv[0] == 0]  # the histograms' slot rows; days and blocks are in hcum
        with self._lock:
            self._load_iv(ivs)
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS _thr (queue TEXT PRIMARY KEY, thr INTEGER)")
            self.db.execute("DELETE FROM _thr")
            self.db.executemany("INSERT INTO _thr VALUES (?,?)", thr)
            join = "FROM _iv iv CROSS JOIN {t} a ON a.lvl = iv.lvl AND a.t >= iv.lo AND a.t < iv.hi"
            rows = self.db.execute(
                f"SELECT iv.idx, a.queue, {cat}, {sums}, MAX(a.longest) {join.format(t='qagg')}{qf} "
                f"GROUP BY iv.idx, a.queue{', a.category' if category else ''}", queues).fetchall()
            hrows = []
            if slots:
                self._load_iv(slots)
                hrows = self.db.execute(
                    f"SELECT iv.idx, a.queue, {cat}, "
                    f"SUM(CASE WHEN a.kind = 0 AND a.sec <= COALESCE(t.thr, {dflt}) THEN a.n ELSE 0 END), "
                    f"SUM(CASE WHEN a.kind = 1 AND a.sec < {int(p.short_abandon)} THEN a.n ELSE 0 END), {bsums} "
                    f"{join.format(t='qhist')} LEFT JOIN _thr t ON t.queue = a.queue WHERE 1{qf} "
                    f"GROUP BY iv.idx, a.queue{', a.category' if category else ''}", queues).fetchall()
            blobs = self._cum_rows(0, [iv for iv in ivs if iv[0] > 0], queues)
        thr_of = dict(thr)
        short = Cuts([int(p.short_abandon) - 1], [])
        rings = Cuts([], p.ring_buckets)
        waits: dict[int, Cuts] = {}  # by threshold
        for i, q, c, blob in blobs:
            v = unpack(blob)
            t = thr_of.get(q, dflt)
            w = waits.get(t)
            if w is None:
                w = waits[t] = Cuts([t], p.buckets)
            wv = w(v[0])
            hrows.append((i, q, c if category else "", wv[0], short(v[1])[0], *wv[1:], *rings(v[2])))
        return rows, hrows

    def _cum_rows(self, h: int, ivs: list[tuple[int, int, int, int]], k1s: list[str] | None = None,
                  k2s: list[str] | None = None) -> list[tuple[Any, ...]]:
        """(piece's idx, k1, k2, cumulative blob) of each hcum row in the pieces (levels >= 1)."""
        if not ivs:
            return []
        self._load_iv(ivs)
        f = ""
        if k1s:
            f += f" AND c.k1 IN ({','.join('?' * len(k1s))})"
        if k2s:
            f += f" AND c.k2 IN ({','.join('?' * len(k2s))})"
        return self.db.execute(
            "SELECT iv.idx, c.k1, c.k2, c.cum FROM _iv iv CROSS JOIN hcum c ON c.h = ? AND c.lvl = iv.lvl "
            f"AND c.t >= iv.lo AND c.t < iv.hi WHERE 1{f}", [h] + list(k1s or []) + list(k2s or [])).fetchall()

    def _sum_pieces(self, table: str, keys: str, sums: list[str], pieces: list[tuple[int, int, int]]) -> list[tuple]:
        if not pieces:
            return []
        with self._lock:
            self._load_iv([pc + (0,) for pc in pieces])
            return self.db.execute(
                f"SELECT {', '.join('a.' + k for k in keys.split(', '))}, {', '.join(f'SUM(a.{c})' for c in sums)} "
                f"FROM _iv iv CROSS JOIN {table} a ON a.lvl = iv.lvl AND a.t >= iv.lo AND a.t < iv.hi "
                f"GROUP BY {keys}").fetchall()

    def agent_times(self, pieces: list[tuple[int, int, int]]) -> list[tuple]:
        return self._sum_pieces("atime", "agent", AGENT_TIMES, pieces)

    def handled(self, pieces: list[tuple[int, int, int]]) -> list[tuple]:
        return self._sum_pieces("acalls", "agent, queue", ["handled", "aht", "hold", "transfers"], pieces)

    def agent_hists(self, pieces: list[tuple[int, int, int]], p: Any, sl_of: dict[str, float]) -> list[tuple]:
        """Per (agent, queue) over whole days: calls handled within the service level, then by wait band,
        then by ring band (from the per-agent cumulative histograms)."""
        dflt = int(service_level.threshold(None, {}, p.sl_threshold))
        thr_of = {} if p.sl_threshold is not None else {q: int(v) for q, v in sl_of.items()}
        with self._lock:
            blobs = self._cum_rows(1, [pc + (0,) for pc in pieces])
        acc: dict[tuple[str, str], list[list[int]]] = defaultdict(list)
        rings = Cuts([], p.ring_buckets)
        waits: dict[int, Cuts] = {}  # by threshold
        for _, ag, q, blob in blobs:
            v = unpack(blob)
            t = thr_of.get(q, dflt)
            w = waits.get(t)
            if w is None:
                w = waits[t] = Cuts([t], p.buckets)
            acc[(ag, q)].append(w(v[0]) + rings(v[2]))
        return [(ag, q, *map(sum, zip(*parts))) for (ag, q), parts in acc.items()]

    def missed(self, pieces: list[tuple[int, int, int]]) -> list[tuple]:
        return self._sum_pieces("amiss", "agent, queue", ["missed", "declined"], pieces)

    def open_spans(self) -> list[Span]:
        with self._lock:
            return [Span(r[0], r[1], r[2], None, r[4], r[5], r[6]) for r in self.db.execute(
                f"SELECT {self._SPAN_COLS} FROM open_spans")]

    def segments_of(self, call_id: str) -> list[Segment]:
        with self._lock:
            return [Segment(*r) for r in self.db.execute(
                f"SELECT {', '.join(SEGMENT_FIELDS)} FROM segs WHERE call_id = ?", (call_id,))]

    def overflow_segments(self, start: float, end: float) -> list[tuple]:
        """(call id, queue, the call's arrival queue, its arrival time) of each overflow into a queue in range."""
        with self._lock:
            return self.db.execute(
                "SELECT o.call_id, o.queue, z.queue, z.offered_ts FROM segs o LEFT JOIN segs z "
                "ON z.call_id = o.call_id AND z.seg = 0 WHERE o.seg > 0 AND o.offered_ts >= ? AND o.offered_ts < ?",
                (start, end)).fetchall()

    def agent_names(self) -> list[str]:
        with self._lock:
            return [r[0] for r in self.db.execute("SELECT agent FROM agents ORDER BY agent")]

    def _cover(self, agent: str, t: float) -> Span | None:
        """The agent's closed span that started last before t (the one in force at t, if it ends after)."""
        r = self.db.execute(f"SELECT {self._SPAN_COLS} FROM spans WHERE agent = ? AND start < ? "
                            'ORDER BY start DESC, "end" DESC LIMIT 1', (agent, t)).fetchone()
        return Span(*r) if r else None

    def spans_around(self, agents: list[str], lo: float, hi: float) -> list[Span]:
        """Each agent's closed spans that may overlap [lo, hi) (an agent's spans follow each other)."""
        out: list[Span] = []
        with self._lock:
            for ag in agents:
                c = self._cover(ag, lo)
                if c is not None:
                    out.append(c)
                out += [Span(*r) for r in self.db.execute(
                    f"SELECT {self._SPAN_COLS} FROM spans WHERE agent = ? AND start >= ? AND start < ?",
                    (ag, lo, hi + 1e-6))]
        return out

    def pauses_around(self, agents: list[str], start: float, end: float) -> list[Span]:
        """Closed pauses that may overlap [start, end)."""
        with self._lock:
            out = [c for c in (self._cover(ag, start) for ag in agents) if c is not None and c.state == "paused"]
            out += [Span(*r) for r in self.db.execute(
                f"SELECT {self._SPAN_COLS} FROM spans WHERE state = 'paused' AND start >= ? AND start < ?",
                (start, end + 1e-6))]
        return out

    def agent_present(self, agent: str, start: float, end: float, a_us: int, b_us: int) -> bool:
        """Has the agent a closed span (any state) overlapping [start, end)?"""
        with self._lock:
            c = self._cover(agent, start)
            cand = [c] if c is not None else []
            cand += [Span(*r) for r in self.db.execute(
                f"SELECT {self._SPAN_COLS} FROM spans WHERE agent = ? AND start >= ? AND start < ? "
                'AND "end" > start LIMIT 3', (agent, start, end + 1e-6))]
        return any(min(us(sp.end), b_us) > max(us(sp.start), a_us) for sp in cand if sp.end is not None)

    def answered_in(self, start: float, end: float, now: float) -> list[tuple[Any, ...]]:
        """(agent, queue, talk + hold + wrap-up in microseconds, hold in microseconds, transferred 0/1, wait, ring)
        of each call answered in [start, end) by an agent (an open wrap-up counts up to now)."""
        with self._lock:
            rows = self.db.execute(
                f"SELECT s.agent, s.queue, s.talk, s.hold, s.call_id, s.transferred_out, s.wait, s.ring, {WRAP_SQL} "
                "FROM segs s "
                "WHERE s.answered_ts >= ? AND s.answered_ts < ? AND s.outcome = 'answered'", (start, end)).fetchall()
            opened = [(r[0], r[1], r[2]) for r in self.db.execute(
                "SELECT call_id, agent, start FROM open_spans WHERE state = 'wrap_up' AND call_id != ''")]
        extra: dict[tuple[str, str], int] = defaultdict(int)
        for cid, ag, st in opened:
            extra[(cid, ag)] += us(max(0.0, now - st))
        return [(ag, q, us(talk) + us(hold) + (w or 0) + extra.get((cid, ag), 0), us(hold), 1 if tr else 0, wait,
                 ring) for ag, q, talk, hold, cid, tr, wait, ring, w in rows if ag]

    def misses_in(self, start: float, end: float) -> list[tuple[str, str, str]]:
        with self._lock:
            return self.db.execute("SELECT agent, queue, why FROM misses WHERE ts >= ? AND ts < ? AND agent != ''",
                                   (start, end)).fetchall()
