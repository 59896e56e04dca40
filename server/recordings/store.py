"""Recording metadata, evaluations, audit and purge log: an SQLite database of its own.

Beside the main database (``<db_path>.recordings.sqlite3``) so that recordings can grow, be backed
up and be moved on their own; with `[store] url` in PostgreSQL instead, in the schema
``recordings`` of the main store's database (server/store/portable.py, docs/storage.md). The SQL is
plain on purpose: no SQLite-only functions in queries, new ids by RETURNING.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cc_console.server.store.portable import open_db
from cc_console.server.store.postgres import is_url, redact

MIGRATIONS: list[str] = [
    """
    CREATE TABLE recordings (
        id           TEXT PRIMARY KEY,
        call_id      TEXT NOT NULL,
        leg          INTEGER NOT NULL,
        name         TEXT NOT NULL,          -- the recording's name in Asterisk (unique per leg)
        agent_id     TEXT NOT NULL DEFAULT '',
        agent_name   TEXT NOT NULL DEFAULT '',
        agent_number TEXT NOT NULL DEFAULT '',
        started      REAL NOT NULL,          -- epoch seconds, when the leg was connected
        ended        REAL,
        queue_time   REAL NOT NULL DEFAULT 0,
        talk         REAL NOT NULL DEFAULT 0,
        call_type    TEXT NOT NULL,          -- inbound, outbound, lost, not_reached
        queue        TEXT NOT NULL DEFAULT '',
        queue_number TEXT NOT NULL DEFAULT '',
        queue_name   TEXT NOT NULL DEFAULT '',
        tenant       TEXT NOT NULL DEFAULT 'default',
        category     TEXT NOT NULL DEFAULT '',
        caller       TEXT NOT NULL DEFAULT '',
        notes        TEXT NOT NULL DEFAULT '',
        transferred_to TEXT NOT NULL DEFAULT '',
        status       TEXT NOT NULL,          -- recording, stored, opted_out, not_recorded, no_audio, failed, purged
        reason       TEXT NOT NULL DEFAULT '',  -- why not recorded / failed
        file         TEXT NOT NULL DEFAULT '',  -- path relative to the recordings folder
        size         INTEGER NOT NULL DEFAULT 0,
        sha256       TEXT NOT NULL DEFAULT '',  -- of the plain WAV
        encrypted    INTEGER NOT NULL DEFAULT 0,
        duration     REAL NOT NULL DEFAULT 0,   -- seconds of audio
        legal_hold   INTEGER NOT NULL DEFAULT 0,
        expires      REAL NOT NULL,
        purged_at    REAL
    );
    CREATE INDEX rec_started ON recordings(started);
    CREATE INDEX rec_agent_started ON recordings(agent_id, started);
    CREATE INDEX rec_category_started ON recordings(category, started);
    CREATE INDEX rec_queue_started ON recordings(queue, started);
    CREATE INDEX rec_caller ON recordings(caller);
    CREATE INDEX rec_call ON recordings(call_id);
    CREATE INDEX rec_expires ON recordings(expires);
    CREATE TABLE evaluations (
        recording_id TEXT NOT NULL,
        evaluator    TEXT NOT NULL,
        scores       TEXT NOT NULL,          -- JSON object: criterion -> score
        total        REAL NOT NULL,
        comment      TEXT NOT NULL DEFAULT '',
        created      REAL NOT NULL,
        PRIMARY KEY (recording_id, evaluator)
    );
    CREATE TABLE marks (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        recording_id TEXT NOT NULL,
        at           REAL NOT NULL,          -- seconds into the recording
        author       TEXT NOT NULL,
        text         TEXT NOT NULL,
        created      REAL NOT NULL
    );
    CREATE INDEX marks_rec ON marks(recording_id, at);
    CREATE TABLE audit (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        ts           REAL NOT NULL,
        username     TEXT NOT NULL,
        action       TEXT NOT NULL,          -- listen, download, export, hold, purge, ...
        recording_id TEXT NOT NULL,
        outcome      TEXT NOT NULL,          -- ok, forbidden, not_found, error
        detail       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX audit_rec ON audit(recording_id, ts);
    CREATE INDEX audit_user ON audit(username, ts);
    CREATE TABLE purge_log (
        id           INTEGER PRIMARY KEY AUTOINCREMENT,
        ts           REAL NOT NULL,
        recording_id TEXT NOT NULL,
        file         TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        expired      REAL NOT NULL
    );
    """,
]

SORT_KEYS = {"started", "ended", "talk", "queue_time", "agent_id", "agent_name", "queue", "caller", "category",
             "call_type", "duration", "status"}
COLUMNS = ("id", "call_id", "leg", "name", "agent_id", "agent_name", "agent_number", "started", "ended",
           "queue_time", "talk", "call_type", "queue", "queue_number", "queue_name", "tenant", "category",
           "caller", "notes", "transferred_to", "status", "reason", "file", "size", "sha256", "encrypted",
           "duration", "legal_hold", "expires", "purged_at")


def default_path(main_db: Path) -> Path:
    return main_db.with_name(main_db.name + ".recordings.sqlite3")


class RecordingStore:
    def __init__(self, path: str | Path) -> None:
        """path: the SQLite file, or the main store's postgresql:// URL."""
        self.path = redact(str(path)) if is_url(path) else str(path)
        self._lock = threading.RLock()
        with self._lock:
            self._db = open_db(path, schema="recordings", migrations=MIGRATIONS)

    def close(self) -> None:
        # Under the lock: a purge still running in its thread when the server stops must not have the
        # connection closed under a statement (SQLite crashes the process then); it gets an error instead.
        with self._lock:
            self._db.close()

    # -- recordings ---------------------------------------------------------------------------------
    def insert(self, row: dict[str, Any]) -> dict[str, Any]:
        row = self.add(row)
        return self.get(row["id"]) or row

    def add(self, row: dict[str, Any]) -> dict[str, Any]:
        """Insert without reading the row back (a write nobody waits for); the row with its id."""
        row = dict(row)
        row.setdefault("id", uuid.uuid4().hex)
        cols = [c for c in COLUMNS if c in row]
        with self._lock:
            self._db.execute(f"INSERT INTO recordings ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                             [row[c] for c in cols])
        return row

    def insert_many(self, rows: Iterable[dict[str, Any]]) -> None:
        """Bulk load (the bench, imports): one transaction."""
        with self._lock:
            self._db.execute("BEGIN")
            for row in rows:
                cols = [c for c in COLUMNS if c in row]
                self._db.execute(f"INSERT INTO recordings ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})",
                                 [row[c] for c in cols])
            self._db.execute("COMMIT")

    def update(self, rec_id: str, **fields: Any) -> None:
        bad = set(fields) - set(COLUMNS)
        if bad:
            raise ValueError(f"unknown recording field(s) {sorted(bad)}")
        with self._lock:
            self._db.execute(f"UPDATE recordings SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                             [*fields.values(), rec_id])

    def get(self, rec_id: str) -> dict[str, Any] | None:
        r = self._db.execute("SELECT * FROM recordings WHERE id = ?", (rec_id,)).fetchone()
        return dict(r) if r else None

    def for_call(self, call_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM recordings WHERE call_id = ? ORDER BY leg",
                                                  (call_id,))]

    def search(self, *, agent: str | None = None, date_from: float | None = None, date_to: float | None = None,
               category: str | None = None, queue: str | None = None, caller: str | None = None,
               call_type: str | None = None, status: str | None = None, tenant: str | None = None,
               text: str | None = None, sort: str = "started", desc: bool = True, limit: int = 50,
               offset: int = 0) -> tuple[list[dict[str, Any]], bool]:
        """Rows matching every criterion given, sorted; and whether more follow (no COUNT: cheap)."""
        where, args = [], list[Any]()
        for col, val in (("agent_id", agent), ("category", category), ("queue", queue), ("caller", caller),
                         ("call_type", call_type), ("status", status), ("tenant", tenant)):
            if val:
                where.append(f"{col} = ?")
                args.append(val)
        if date_from is not None:
            where.append("started >= ?")
            args.append(date_from)
        if date_to is not None:
            where.append("started < ?")
            args.append(date_to)
        if text:
            where.append("(notes LIKE ? OR agent_name LIKE ? OR queue_name LIKE ?)")
            args += [f"%{text}%"] * 3
        if sort not in SORT_KEYS:
            raise ValueError(f"sort by one of {sorted(SORT_KEYS)}, not {sort!r}")
        limit = max(1, min(int(limit), 1000))
        sql = ("SELECT * FROM recordings" + (" WHERE " + " AND ".join(where) if where else "")
               + f" ORDER BY {sort} {'DESC' if desc else 'ASC'}, id LIMIT ? OFFSET ?")
        with self._lock:
            rows = [dict(r) for r in self._db.execute(sql, [*args, limit + 1, max(0, int(offset))])]
        return rows[:limit], len(rows) > limit

    def expired(self, now: float) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(
                "SELECT * FROM recordings WHERE expires < ? AND legal_hold = 0 AND status <> 'purged' "
                "AND status <> 'recording'", (now,))]

    # -- evaluations and marks ---------------------------------------------------------------------
    def evaluate(self, rec_id: str, evaluator: str, scores: dict[str, float], comment: str = "") -> dict[str, Any]:
        total = float(sum(scores.values()))
        with self._lock:
            self._db.execute("INSERT INTO evaluations (recording_id, evaluator, scores, total, comment, created) "
                             "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (recording_id, evaluator) DO UPDATE SET "
                             "scores = excluded.scores, total = excluded.total, comment = excluded.comment, "
                             "created = excluded.created",
                             (rec_id, evaluator, json.dumps(scores), total, comment, time.time()))
        return next(e for e in self.evaluations(rec_id) if e["evaluator"] == evaluator)

    def evaluations(self, rec_id: str) -> list[dict[str, Any]]:
        out = []
        for r in self._db.execute("SELECT * FROM evaluations WHERE recording_id = ? ORDER BY created", (rec_id,)):
            d = dict(r)
            d["scores"] = json.loads(d["scores"])
            out.append(d)
        return out

    def add_mark(self, rec_id: str, at: float, author: str, text: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute("INSERT INTO marks (recording_id, at, author, text, created) "
                                   "VALUES (?, ?, ?, ?, ?) RETURNING *",
                                   (rec_id, float(at), author, text, time.time())).fetchone()
        return dict(row)

    def marks(self, rec_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM marks WHERE recording_id = ? ORDER BY at, id",
                                                  (rec_id,))]

    # -- audit and purge log -----------------------------------------------------------------------
    def audit(self, username: str, action: str, rec_id: str, outcome: str, detail: str = "") -> None:
        with self._lock:
            self._db.execute("INSERT INTO audit (ts, username, action, recording_id, outcome, detail) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (time.time(), username, action, rec_id, outcome, detail))

    def audit_rows(self, *, rec_id: str | None = None, username: str | None = None,
                   limit: int = 200) -> list[dict[str, Any]]:
        where, args = [], []
        if rec_id:
            where.append("recording_id = ?")
            args.append(rec_id)
        if username:
            where.append("username = ?")
            args.append(username)
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id DESC LIMIT ?"
        return [dict(r) for r in self._db.execute(sql, [*args, limit])]

    def log_purge(self, rec: dict[str, Any], now: float) -> None:
        with self._lock:
            self._db.execute("INSERT INTO purge_log (ts, recording_id, file, sha256, expired) VALUES (?, ?, ?, ?, ?)",
                             (now, rec["id"], rec["file"], rec["sha256"], rec["expires"]))

    def purge_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._db.execute("SELECT * FROM purge_log ORDER BY id")]
