"""The reports' read model: facts folded from the event store, kept in a separate SQLite file.

The event store is opened read-only (ATTACH ... mode=ro); the store's schema is never touched.
`refresh()` folds the events after the last one seen (a watermark) and keeps the facts in
`<db>.reports.sqlite3`: one row per call segment, agent span and ring-no-answer. Calls still in
progress are folded again from their own events on the next refresh; each agent's open span is
carried over. Deleting the file is always safe: the next refresh rebuilds it from the events.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

from .facts import SEGMENT_FIELDS, Facts, Miss, Segment, Span, fold

CHUNK = 200_000

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segs ({", ".join(SEGMENT_FIELDS)}, PRIMARY KEY (call_id, seg));
CREATE INDEX IF NOT EXISTS segs_offered ON segs(offered_ts);
CREATE INDEX IF NOT EXISTS segs_answered ON segs(answered_ts) WHERE answered_ts IS NOT NULL;
CREATE TABLE IF NOT EXISTS spans (agent TEXT, state TEXT, start REAL, "end" REAL, reason TEXT, kind TEXT,
                                  call_id TEXT);
CREATE INDEX IF NOT EXISTS spans_end ON spans("end");
CREATE INDEX IF NOT EXISTS spans_call ON spans(call_id) WHERE state = 'wrap_up';
CREATE TABLE IF NOT EXISTS open_spans (agent TEXT PRIMARY KEY, state TEXT, start REAL, "end" REAL, reason TEXT,
                                       kind TEXT, call_id TEXT);
CREATE TABLE IF NOT EXISTS misses (ts REAL, agent TEXT, call_id TEXT, queue TEXT, why TEXT,
                                   UNIQUE (call_id, ts, agent));
CREATE INDEX IF NOT EXISTS misses_ts ON misses(ts);
CREATE TABLE IF NOT EXISTS pending (call_id TEXT PRIMARY KEY);
"""


class Ev(NamedTuple):
    seq: int
    ts: float
    kind: str
    call_id: str | None
    agent_id: str | None
    queue: str | None
    data: dict[str, Any]


def _ev(r: tuple[Any, ...]) -> Ev:
    return Ev(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]))


class ReportCache:
    def __init__(self, db_path: str | Path, cache_path: str | Path | None = None) -> None:
        self.db_path = Path(db_path)
        if not self.db_path.exists():
            raise FileNotFoundError(f"no event store at {self.db_path}")
        self.cache_path = Path(cache_path) if cache_path else self.db_path.with_name(self.db_path.name + ".reports")
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(self.cache_path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
        self.db.executescript(SCHEMA)
        uri = f"file:{self.db_path.resolve()}?mode=ro"
        self.ev = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.ev.execute("PRAGMA busy_timeout=5000")

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
            while True:
                n = self._refresh_chunk()
                total += n
                if n < CHUNK:
                    return total

    def _refresh_chunk(self) -> int:
        mark = self.watermark
        rows = self.ev.execute("SELECT seq, ts, kind, call_id, agent_id, queue, data FROM events "
                               "WHERE seq > ? ORDER BY seq LIMIT ?", (mark, CHUNK)).fetchall()
        if not rows:
            return 0
        new = [_ev(r) for r in rows]
        pending = {r[0] for r in self.db.execute("SELECT call_id FROM pending")}
        touched = {e.call_id for e in new if e.call_id}
        again = pending & touched
        old: list[Ev] = []
        for cid in again:
            old += [_ev(r) for r in self.ev.execute(
                "SELECT seq, ts, kind, call_id, agent_id, queue, data FROM events WHERE call_id = ? AND seq <= ?",
                (cid, mark))]
        events = sorted(old, key=lambda e: e.seq) + new if old else new
        if old:
            events.sort(key=lambda e: e.seq)
        opened = {r[0]: Span(*r) for r in self.db.execute(
            'SELECT agent, state, start, "end", reason, kind, call_id FROM open_spans')}
        opened = {a: Span(sp.agent, sp.state, sp.start, None, sp.reason, sp.kind, sp.call_id) for a, sp in opened.items()}
        facts = fold(events, opened)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            calls = {s.call_id for s in facts.segments}
            db.executemany("DELETE FROM segs WHERE call_id = ?", [(c,) for c in calls])
            db.executemany(f"INSERT INTO segs VALUES ({','.join('?' * len(SEGMENT_FIELDS))})",
                           [s.as_row() for s in facts.segments])
            db.executemany("INSERT INTO spans VALUES (?,?,?,?,?,?,?)", [s.as_row() for s in facts.spans])
            db.execute("DELETE FROM open_spans")
            db.executemany("INSERT INTO open_spans VALUES (?,?,?,?,?,?,?)",
                           [s.as_row() for s in facts.agents_open.values()])
            db.executemany("INSERT OR IGNORE INTO misses VALUES (?,?,?,?,?)",
                           [(m.ts, m.agent, m.call_id, m.queue, m.why) for m in facts.misses])
            db.executemany("DELETE FROM pending WHERE call_id = ?", [(c,) for c in calls - facts.calls_open])
            db.executemany("INSERT OR IGNORE INTO pending VALUES (?)", [(c,) for c in facts.calls_open])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(new[-1].seq),))
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
        return len(rows)

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
            wrap = ('(SELECT SUM(w."end" - w.start) FROM spans w WHERE w.call_id = s.call_id '
                    "AND w.state = 'wrap_up')")
            wr = self.db.execute(
                f"SELECT s.call_id, {wrap} FROM segs s WHERE s.offered_ts >= ? AND s.offered_ts < ?"
                f"{q.replace('queue', 's.queue')} AND s.outcome = 'answered'", params).fetchall()
            if agents:
                wr += self.db.execute(
                    f"SELECT s.call_id, {wrap} FROM segs s WHERE s.answered_ts >= ? AND s.answered_ts < ?",
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
        wraps: dict[str, float] = defaultdict(float)
        for cid, w in wr:
            if w is not None:
                wraps[cid] = w
        for sp in opened.values():
            if sp.state == "wrap_up" and sp.call_id:
                wraps[sp.call_id] += max(0.0, now - sp.start)
        segs = [Segment(*r) for r in rows]
        for s in segs:
            s.callback = bool(s.callback)
            s.voicemail = bool(s.voicemail)
        return Facts(segments=segs, spans=spans, misses=misses, agents_open=opened, wrapups=wraps)
