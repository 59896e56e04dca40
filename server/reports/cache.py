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
misses; aggregate.py sums them for a report.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any, NamedTuple

from cc_console import service_level
from cc_console.server.store import EventReader, SQLiteEventReader, Store

from .facts import SEGMENT_FIELDS, Facts, Miss, Segment, Span, fold
from .figures import AGENT_TIMES, RAW_COUNTS, QueueAcc, aband_class, add_raw, ans_class, span_times, us

CHUNK = 200_000

SCHEMA_VERSION = "5"  # 5: transfers, outbound, callbacks completed, ring time, wrap-up per agent, agents' hold
# earlier:  # 4: talk excludes hold, hold from the completed call
# earlier:  # 2: per-15-minute aggregates (qagg, qhist, atime, acalls, amiss), microsecond sums
SLOT = 900  # seconds: the aggregates' grain (15 minutes)
SLOT_US = 900_000_000
DAY = 96  # slots in a (UTC) day: the aggregates' second level
DAY_S = 86400
DAY_US = 86_400_000_000
QAGG_SUMS = RAW_COUNTS + ["new_calls", "answered_wait", "abandon_wait", "talk", "hold", "wrapup", "talk_min"]
TABLES = ("meta", "segs", "spans", "open_spans", "misses", "pending", "agents", "qagg", "qhist", "atime", "acalls",
          "amiss", "ahist")
# each call's closed wrap-up by the segment's agent, in microseconds (each span rounded on its own, as
# figures.us does)
WRAP_SQL = ("(SELECT SUM(CAST((w.\"end\" - w.start) * 1e6 + 0.5 AS INTEGER)) FROM spans w "
            "WHERE w.call_id = s.call_id AND w.agent = s.agent AND w.state = 'wrap_up')")
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
CREATE INDEX IF NOT EXISTS spans_call ON spans(call_id) WHERE state = 'wrap_up';
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
CREATE TABLE IF NOT EXISTS amiss (lvl INTEGER, t INTEGER, agent TEXT, queue TEXT, missed INTEGER, declined INTEGER,
                                  PRIMARY KEY (lvl, t, agent, queue)) WITHOUT ROWID;
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
    def __init__(self, source: Store | str | Path, cache_path: str | Path | None = None) -> None:
        """``source``: the event store (its reader and the place beside it), or its database file."""
        if isinstance(source, (str, Path)):
            self.ev: EventReader = SQLiteEventReader(source)
            default = str(source) + ".reports"
        else:
            self.ev = source.event_reader()
            default = source.beside(".reports")
        self.cache_path = Path(cache_path) if cache_path else Path(default)
        self._lock = threading.Lock()
        self.db = sqlite3.connect(str(self.cache_path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute("PRAGMA busy_timeout=5000")
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
        rows = self.ev.rows_after(mark, CHUNK)
        if not rows:
            return 0
        new = [_ev(r) for r in rows]
        pending = {r[0] for r in self.db.execute("SELECT call_id FROM pending")}
        touched = {e.call_id for e in new if e.call_id}
        again = pending & touched
        late = {e.call_id for e in new if e.call_id and e.kind in LATE_KINDS} - pending
        again |= {c for c in late if self.db.execute("SELECT 1 FROM segs WHERE call_id = ? LIMIT 1", (c,)).fetchone()}
        old: list[Ev] = []
        for cid in again:
            old += [_ev(r) for r in self.ev.rows_of_call(cid, mark)]
        events = sorted(old, key=lambda e: e.seq) + new if old else new
        if old:
            events.sort(key=lambda e: e.seq)
        opened = {r[0]: Span(*r) for r in self.db.execute(
            'SELECT agent, state, start, "end", reason, kind, call_id FROM open_spans')}
        opened = {a: Span(sp.agent, sp.state, sp.start, None, sp.reason, sp.kind, sp.call_id)
                  for a, sp in opened.items()}
        facts = fold(events, opened)
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            calls = {s.call_id for s in facts.segments}
            touched_q: set[int] = set()  # slots (by offered_ts) whose queue aggregates change
            touched_a: set[int] = set()  # slots (by answered_ts) whose handled-calls aggregates change
            for cid in again:
                for off, ans in db.execute("SELECT offered_ts, answered_ts FROM segs WHERE call_id = ?", (cid,)):
                    touched_q.add(int(off // SLOT))
                    if ans is not None:
                        touched_a.add(int(ans // SLOT))
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
            for sg in facts.segments:
                touched_q.add(int(sg.offered_ts // SLOT))
                if sg.answered_ts is not None:
                    touched_a.add(int(sg.answered_ts // SLOT))
            for sp in facts.spans:  # a closed wrap-up changes its call's figures
                if sp.state == "wrap_up" and sp.call_id:
                    for off, ans in db.execute("SELECT offered_ts, answered_ts FROM segs WHERE call_id = ? "
                                               "AND outcome = 'answered'", (sp.call_id,)):
                        touched_q.add(int(off // SLOT))
                        if ans is not None:
                            touched_a.add(int(ans // SLOT))
            self._agg_queue(touched_q)
            self._agg_handled({x // DAY for x in touched_a})
            self._agg_misses({int(m.ts // DAY_S) for m in facts.misses})
            self._agg_times(facts.spans)
            db.executemany("INSERT OR IGNORE INTO agents VALUES (?)",
                           [(a,) for a in {sp.agent for sp in facts.spans} | set(facts.agents_open)])
            db.execute("INSERT OR REPLACE INTO meta VALUES ('seq', ?)", (str(new[-1].seq),))
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
        return len(rows)

    # -- the aggregates --------------------------------------------------------------------------------
    # Every table is keyed (lvl, t, ...): lvl 0 = a 15-minute slot (t = epoch // 900), lvl 1 = a UTC day
    # (t = slot // 96), the sum of its slots. Queue, handled-call and miss aggregates of a touched slot are
    # recomputed from the per-call rows (so an outcome that changes, or a wrap-up that closes later, is
    # exact); agent times are only ever added (a closed span never changes).
    @staticmethod
    def _runs(slots: set[int]) -> list[tuple[int, int]]:
        """Sorted slots -> contiguous runs [lo, hi] (inclusive)."""
        out: list[tuple[int, int]] = []
        for x in sorted(slots):
            if out and x == out[-1][1] + 1:
                out[-1] = (out[-1][0], x)
            else:
                out.append((x, x))
        return out

    def _days(self, table: str, keys: str, sums: list[str], maxes: list[str], slots: set[int]) -> None:
        db = self.db
        agg = ", ".join([f"SUM({c})" for c in sums] + [f"MAX({c})" for c in maxes])
        for d0, d1 in self._runs({x // DAY for x in slots}):
            db.execute(f"DELETE FROM {table} WHERE lvl = 1 AND t >= ? AND t <= ?", (d0, d1))
            db.execute(f"INSERT INTO {table} SELECT 1, t / {DAY}, {keys}, {agg} FROM {table} "
                       f"WHERE lvl = 0 AND t >= ? AND t < ? GROUP BY t / {DAY}, {keys}", (d0 * DAY, (d1 + 1) * DAY))

    def _agg_queue(self, slots: set[int]) -> None:
        db = self.db
        cols = ", ".join("s." + f for f in SEGMENT_FIELDS)
        for s0, s1 in self._runs(slots):
            accs: dict[tuple[int, str, str], QueueAcc] = {}
            hist: dict[tuple[int, str, str, int, int], int] = defaultdict(int)
            for r in db.execute(f"SELECT {cols}, CASE WHEN s.outcome = 'answered' THEN {WRAP_SQL} END FROM segs s "
                                "WHERE s.offered_ts >= ? AND s.offered_ts < ?",
                                (s0 * float(SLOT), (s1 + 1) * float(SLOT))):
                sg = Segment(*r[:-1])
                k = (int(sg.offered_ts // SLOT), sg.queue, sg.category)
                acc = accs.get(k)
                if acc is None:
                    acc = accs[k] = QueueAcc(0, calls=False)
                add_raw(acc, sg, r[-1] or 0)
                if sg.outcome == "answered":
                    hist[k + (0, ans_class(sg.wait))] += 1
                    hist[k + (2, ans_class(sg.ring))] += 1
                elif sg.outcome == "abandoned":
                    hist[k + (1, aband_class(sg.wait))] += 1
            db.execute("DELETE FROM qagg WHERE lvl = 0 AND t >= ? AND t <= ?", (s0, s1))
            db.execute("DELETE FROM qhist WHERE lvl = 0 AND t >= ? AND t <= ?", (s0, s1))
            db.executemany(f"INSERT INTO qagg VALUES ({','.join('?' * (len(QAGG_SUMS) + 5))})",
                           [(0,) + k + tuple(a.n[c] for c in RAW_COUNTS) +
                            (a.new_calls, a.answered_wait, a.abandon_wait, a.talk, a.hold, a.wrapup, a.talk_min,
                             a.longest) for k, a in accs.items()])
            db.executemany("INSERT INTO qhist VALUES (0,?,?,?,?,?,?)", [k + (n,) for k, n in hist.items()])
        if slots:
            self._days("qagg", "queue, category", QAGG_SUMS, ["longest"], slots)
            self._days("qhist", "queue, category, kind, sec", ["n"], [], slots)

    # Agent aggregates are kept per UTC day only (lvl 1): a report's partial days at either end (under a day
    # each) are computed from the per-call rows and spans directly; per 15 minutes they would be one row per
    # agent per slot, a whole day long for an agent who stays logged in.
    def _agg_handled(self, days: set[int]) -> None:
        db = self.db
        for d0, d1 in self._runs(days):
            acc: dict[tuple[int, str, str], list[int]] = {}
            hist: dict[tuple[int, str, str, int, int], int] = defaultdict(int)
            for ans, agent, queue, talk, hold, tr, wait, ring, wrap in db.execute(
                    f"SELECT s.answered_ts, s.agent, s.queue, s.talk, s.hold, s.transferred_out, s.wait, s.ring, "
                    f"{WRAP_SQL} FROM segs s WHERE s.answered_ts >= ? AND s.answered_ts < ? AND s.outcome = 'answered'",
                    (d0 * float(DAY_S), (d1 + 1) * float(DAY_S))):
                if not agent:
                    continue
                k = (int(ans // DAY_S), agent, queue)
                v = acc.setdefault(k, [0, 0, 0, 0])
                v[0] += 1
                v[1] += us(talk) + us(hold) + (wrap or 0)
                v[2] += us(hold)
                v[3] += 1 if tr else 0
                hist[k + (0, ans_class(wait))] += 1
                hist[k + (2, ans_class(ring))] += 1
            db.execute("DELETE FROM acalls WHERE lvl = 1 AND t >= ? AND t <= ?", (d0, d1))
            db.executemany("INSERT INTO acalls VALUES (1,?,?,?,?,?,?,?)", [k + tuple(v) for k, v in acc.items()])
            db.execute("DELETE FROM ahist WHERE lvl = 1 AND t >= ? AND t <= ?", (d0, d1))
            db.executemany("INSERT INTO ahist VALUES (1,?,?,?,?,?,?)", [k + (n,) for k, n in hist.items()])

    def _agg_misses(self, days: set[int]) -> None:
        db = self.db
        for d0, d1 in self._runs(days):
            acc: dict[tuple[int, str, str], list[int]] = {}
            for ts, agent, queue, why in db.execute("SELECT ts, agent, queue, why FROM misses WHERE ts >= ? AND ts < ?",
                                                    (d0 * float(DAY_S), (d1 + 1) * float(DAY_S))):
                if not agent:
                    continue
                v = acc.setdefault((int(ts // DAY_S), agent, queue), [0, 0])
                v[0] += 1
                v[1] += why == "declined"
            db.execute("DELETE FROM amiss WHERE lvl = 1 AND t >= ? AND t <= ?", (d0, d1))
            db.executemany("INSERT INTO amiss VALUES (1,?,?,?,?,?)", [k + tuple(v) for k, v in acc.items()])

    def _agg_times(self, spans: list[Span]) -> None:
        add: dict[tuple[int, str], list[int]] = {}
        idx = {c: i for i, c in enumerate(AGENT_TIMES)}
        for sp in spans:
            if sp.state == "logged_out" or sp.end is None:
                continue
            cols = [idx[c] for c, _ in span_times(sp.state, sp.kind, 0)]
            a, b = us(sp.start), us(sp.end)
            for day in range(a // DAY_US, (b - 1) // DAY_US + 1) if b > a else ():
                d = min(b, (day + 1) * DAY_US) - max(a, day * DAY_US)
                v = add.get((day, sp.agent))
                if v is None:
                    v = add[(day, sp.agent)] = [0] * len(AGENT_TIMES)
                for i in cols:
                    v[i] += d
        sets = ", ".join(f"{c} = {c} + excluded.{c}" for c in AGENT_TIMES)
        self.db.executemany(f"INSERT INTO atime VALUES (1,?,?,{','.join('?' * len(AGENT_TIMES))}) "
                            f"ON CONFLICT (lvl, t, agent) DO UPDATE SET {sets}", [k + tuple(v) for k, v in add.items()])

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
        with self._lock:
            self._load_iv(ivs)
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS _thr (queue TEXT PRIMARY KEY, thr INTEGER)")
            self.db.execute("DELETE FROM _thr")
            self.db.executemany("INSERT INTO _thr VALUES (?,?)", thr)
            join = "FROM _iv iv CROSS JOIN {t} a ON a.lvl = iv.lvl AND a.t >= iv.lo AND a.t < iv.hi"
            rows = self.db.execute(
                f"SELECT iv.idx, a.queue, {cat}, {sums}, MAX(a.longest) {join.format(t='qagg')}{qf} "
                f"GROUP BY iv.idx, a.queue{', a.category' if category else ''}", queues).fetchall()
            hrows = self.db.execute(
                f"SELECT iv.idx, a.queue, {cat}, "
                f"SUM(CASE WHEN a.kind = 0 AND a.sec <= COALESCE(t.thr, {dflt}) THEN a.n ELSE 0 END), "
                f"SUM(CASE WHEN a.kind = 1 AND a.sec < {int(p.short_abandon)} THEN a.n ELSE 0 END), {bsums} "
                f"{join.format(t='qhist')} LEFT JOIN _thr t ON t.queue = a.queue WHERE 1{qf} "
                f"GROUP BY iv.idx, a.queue{', a.category' if category else ''}", queues).fetchall()
        return rows, hrows

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
        then by ring band (from the per-agent histograms)."""
        if not pieces:
            return []
        def bands(bounds: list[float], kind: int) -> list[str]:
            expr = ("CASE " + " ".join(f"WHEN a.sec <= {int(b)} THEN {j}" for j, b in enumerate(bounds)) +
                    f" ELSE {len(bounds)} END") if bounds else "0"
            return [f"SUM(CASE WHEN a.kind = {kind} AND {expr} = {j} THEN a.n ELSE 0 END)"
                    for j in range(len(bounds) + 1)]
        dflt = int(service_level.threshold(None, {}, p.sl_threshold))
        thr = [] if p.sl_threshold is not None else [(q, int(v)) for q, v in sl_of.items()]
        cols = ", ".join([f"SUM(CASE WHEN a.kind = 0 AND a.sec <= COALESCE(t.thr, {dflt}) THEN a.n ELSE 0 END)"] +
                         bands(p.buckets, 0) + bands(p.ring_buckets, 2))
        with self._lock:
            self._load_iv([pc + (0,) for pc in pieces])
            self.db.execute("CREATE TEMP TABLE IF NOT EXISTS _thr (queue TEXT PRIMARY KEY, thr INTEGER)")
            self.db.execute("DELETE FROM _thr")
            self.db.executemany("INSERT INTO _thr VALUES (?,?)", thr)
            return self.db.execute(
                f"SELECT a.agent, a.queue, {cols} FROM _iv iv CROSS JOIN ahist a ON a.lvl = iv.lvl AND a.t >= iv.lo "
                "AND a.t < iv.hi LEFT JOIN _thr t ON t.queue = a.queue GROUP BY a.agent, a.queue").fetchall()

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
