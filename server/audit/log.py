"""The audit log: who did what, when, from where, with what outcome; append-only, hash-chained.

Each entry's hash covers its own fields and the previous entry's hash, so changing, inserting or
deleting a row in the middle breaks the chain at that row, and `verify()` says where. A purge of
entries older than the retention keeps the chain checkable: the first kept entry's ``prev`` is the
hash of the last purged one, which the purge entry itself records.

Writes run on one dedicated thread in order (the chain needs one writer and the event loop must not
wait on the database); `record()` returns at once. Reads (query, verify, export) run in threads too.

An SQLite file, or with `[store] url` the schema ``audit`` of the main store's PostgreSQL
(server/store/portable.py): never a local file then, since the servers sharing that database (a
leader and its standby) and the CLI all append to the one chain. Each append holds the database's
write lock from reading the last hash to its insert (SQLite's BEGIN IMMEDIATE, on PostgreSQL an
advisory lock of the schema), so two writers never both follow the same entry.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from cc_console.server.store import capability_target
from cc_console.server.store.portable import open_db

log = logging.getLogger(__name__)

MIGRATIONS = [
    """
    CREATE TABLE audit (
        id      INTEGER PRIMARY KEY,
        ts      REAL NOT NULL,
        actor   TEXT NOT NULL,
        remote  TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT NOT NULL,
        outcome TEXT NOT NULL,
        detail  TEXT NOT NULL,
        prev    TEXT NOT NULL,
        hash    TEXT NOT NULL
    );
    CREATE INDEX audit_ts ON audit(ts);
    CREATE INDEX audit_actor ON audit(actor, ts);
    CREATE INDEX audit_action ON audit(action, ts)
    """,
]

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    ts: float
    actor: str  # the user name, "api:<client>", "cli:<os user>" or "-" when nobody signed in
    remote: str  # the client's address, or "cli"
    action: str  # "login", "call.answer", "recording.download", "user.disable", ...
    target: str = ""  # what it was done to: a user, a call id, a recording id, a report scope
    outcome: str = "ok"  # "ok", or the refusal (its code: "forbidden", "auth_failed", ...)
    detail: dict[str, Any] = field(default_factory=dict)
    id: int = 0
    prev: str = ""
    hash: str = ""

    def public(self) -> dict[str, Any]:
        return asdict(self)


def entry_hash(prev: str, e: AuditEntry) -> str:
    body = json.dumps([prev, round(e.ts, 6), e.actor, e.remote, e.action, e.target, e.outcome, e.detail],
                      sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    entries: int
    broken_at: int | None = None  # the id of the first entry whose chain does not hold
    problem: str = ""


class AuditLog:
    @staticmethod
    def path_for(db_file: str) -> str:
        """The audit log beside a main database (as Context.db_path("audit") names it)."""
        return ":memory:" if db_file == ":memory:" else f"{db_file}.audit.sqlite3"

    @staticmethod
    def target(settings: Any, db: str | None = None) -> str:
        """Where the configured server keeps its audit log (an explicit SQLite main file, ``--db``,
        wins over `[store] url`)."""
        return AuditLog.path_for(db) if db else capability_target(settings, "audit")

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = open_db(path, schema="audit", migrations=MIGRATIONS)
        self._lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit-writer")
        self._last: Future[Any] | None = None
        self._closed = False

    # -- writing --------------------------------------------------------------------------------
    def record(self, actor: str, action: str, *, remote: str = "", target: str = "", outcome: str = "ok",
               detail: dict[str, Any] | None = None, ts: float | None = None) -> Future[Any]:
        """Queue one entry (returns at once); the future completes when it is on disk."""
        e = AuditEntry(ts or time.time(), actor or "-", remote or "", action, target or "", outcome,
                       _clean(detail or {}))
        if self._closed:
            raise RuntimeError("the audit log is closed")
        fut = self._writer.submit(self._append, e)
        fut.add_done_callback(_log_failure)
        self._last = fut
        return fut

    def record_now(self, actor: str, action: str, **kw: Any) -> AuditEntry:
        """Write one entry and wait for it (the CLI: an admin action is not done until it is audited)."""
        entry: AuditEntry = self.record(actor, action, **kw).result()
        return entry

    def _append(self, e: AuditEntry) -> AuditEntry:
        with self._lock:
            # One transaction from reading the last hash to the insert: the server and an admin's CLI
            # may append at the same time, and the chain must stay one line.
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute("SELECT hash FROM audit ORDER BY id DESC LIMIT 1").fetchone()
                prev = row[0] if row else self._anchor()
                h = entry_hash(prev, e)
                new_id = self._db.execute(
                    "INSERT INTO audit(ts,actor,remote,action,target,outcome,detail,prev,hash) "
                    "VALUES (?,?,?,?,?,?,?,?,?) RETURNING id",
                    (e.ts, e.actor, e.remote, e.action, e.target, e.outcome,
                     json.dumps(e.detail, sort_keys=True, ensure_ascii=False), prev, h)).fetchone()[0]
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return AuditEntry(e.ts, e.actor, e.remote, e.action, e.target, e.outcome, e.detail,
                              int(new_id), prev, h)

    def _anchor(self) -> str:
        return GENESIS

    def flush(self, timeout: float = 10.0) -> None:
        if self._last is not None:
            self._last.result(timeout)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.shutdown(wait=True)
        self._db.close()

    # -- reading --------------------------------------------------------------------------------
    def query(self, *, since: float | None = None, until: float | None = None, actor: str | None = None,
              action: str | None = None, target: str | None = None, outcome: str | None = None,
              after_id: int = 0, limit: int = 100) -> list[AuditEntry]:
        """Entries in order of id; `action` may end with '*' (a prefix: "recording.*"). Entries
        recorded before the call are included (it waits for the writer)."""
        self.flush()
        where: list[str] = ["id > ?"]
        args: list[Any] = [after_id]
        for col, val in (("actor", actor), ("target", target), ("outcome", outcome)):
            if val is not None:
                where.append(f"{col} = ?")
                args.append(val)
        if action is not None:
            if action.endswith("*"):
                where.append("action LIKE ? ESCAPE '\\'")
                args.append(action[:-1].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
            else:
                where.append("action = ?")
                args.append(action)
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if until is not None:
            where.append("ts < ?")
            args.append(until)
        sql = f"SELECT * FROM audit WHERE {' AND '.join(where)} ORDER BY id LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [*args, max(1, min(limit, 10_000))]).fetchall()
        return [_entry(r) for r in rows]

    def iter_all(self, **kw: Any) -> Iterator[AuditEntry]:
        after = 0
        while True:
            page = self.query(after_id=after, limit=1000, **kw)
            if not page:
                return
            yield from page
            after = page[-1].id

    def verify(self) -> ChainCheck:
        """Walk the chain from the first kept entry; the first entry that does not hold is named."""
        self.flush()
        n = 0
        prev: str | None = None
        with self._lock:
            rows = self._db.execute("SELECT * FROM audit ORDER BY id").fetchall()
        for r in rows:
            e = _entry(r)
            n += 1
            if prev is None:
                prev = e.prev  # the first kept entry: GENESIS, or the last purged entry's hash
                if e.prev != GENESIS and not self._anchored(e.prev):
                    return ChainCheck(False, n, e.id, "the first entry follows no purge that the log records")
            if e.prev != prev:
                return ChainCheck(False, n, e.id, "an entry before this one was changed, removed or inserted")
            if entry_hash(e.prev, e) != e.hash:
                return ChainCheck(False, n, e.id, "this entry was changed after it was written")
            prev = e.hash
        return ChainCheck(True, n)

    def _anchored(self, h: str) -> bool:
        row = self._db.execute("SELECT 1 FROM audit WHERE action='audit.purge' AND detail LIKE ? LIMIT 1",
                               (f'%"{h}"%',)).fetchone()
        return row is not None

    # -- retention ------------------------------------------------------------------------------
    def purge(self, older_than: float, *, actor: str, remote: str = "") -> int:
        """Delete entries older than a time; the purge itself is logged with the hash it cut at."""
        def run() -> int:
            with self._lock:
                row = self._db.execute("SELECT id, hash FROM audit WHERE ts < ? ORDER BY id DESC LIMIT 1",
                                       (older_than,)).fetchone()
                if row is None:
                    return 0
                last_id, last_hash = row
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    n = int(self._db.execute("DELETE FROM audit WHERE id <= ?", (last_id,)).rowcount)
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            self._append(AuditEntry(time.time(), actor, remote, "audit.purge", "", "ok",
                                    {"deleted": n, "older_than": older_than, "cut_at": last_hash}))
            return n
        result: int = self._writer.submit(run).result()
        return result


def _entry(r: Any) -> AuditEntry:
    return AuditEntry(r["ts"], r["actor"], r["remote"], r["action"], r["target"], r["outcome"],
                      json.loads(r["detail"]), r["id"], r["prev"], r["hash"])


_SECRET_KEYS = ("password", "totp", "token", "secret", "code")


def _clean(detail: dict[str, Any]) -> dict[str, Any]:
    """Never a secret in the audit log: keys that name one are dropped."""
    return {k: v for k, v in detail.items() if not any(s in k.lower() for s in _SECRET_KEYS)}


def _log_failure(fut: Future[Any]) -> None:
    exc = fut.exception()
    if exc is not None:
        log.error("an audit entry could not be written: %s", exc)
