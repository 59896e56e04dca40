"""SQLite backend (WAL): the embedded default.

`SQLiteStore` writes synchronously: right for the CLI, tests and tools. The server does not
call it to write events: another process may hold the database's write lock for seconds, and a
synchronous write would then freeze the event loop. The server's events go through
`BufferedStore` (server/store/buffered.py) to a writer thread (server/store/writer.py) that
applies them with `apply_entries` below, in order, each one once (by its event id, `eid`).
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .base import StoredEvent
from .reader import SQLiteEventReader
from .sqlite_db import connect, migrate

log = logging.getLogger(__name__)

# Each migration runs once, in order; PRAGMA user_version records how far a database has come.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE events (
        seq     INTEGER PRIMARY KEY AUTOINCREMENT,
        ts      REAL NOT NULL,
        kind    TEXT NOT NULL,
        call_id TEXT,
        agent_id TEXT,
        queue   TEXT,
        data    TEXT NOT NULL
    );
    CREATE INDEX events_call ON events(call_id);
    CREATE INDEX events_kind_ts ON events(kind, ts);
    CREATE TABLE calls (
        id     TEXT PRIMARY KEY,
        state  TEXT NOT NULL,
        data   TEXT NOT NULL
    );
    CREATE INDEX calls_state ON calls(state);
    CREATE TABLE agents (
        id   TEXT PRIMARY KEY,
        data TEXT NOT NULL
    );
    CREATE TABLE users (
        username      TEXT PRIMARY KEY,
        name          TEXT NOT NULL,
        role          TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        totp_secret   TEXT,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        device        TEXT NOT NULL DEFAULT '',
        answer_mode   TEXT NOT NULL DEFAULT 'console',
        queues        TEXT NOT NULL DEFAULT '[]',
        disabled      INTEGER NOT NULL DEFAULT 0,
        created       REAL NOT NULL
    );
    CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username   TEXT NOT NULL,
        expires    REAL NOT NULL
    );
    """,
    """
    CREATE TABLE callbacks (
        id        TEXT PRIMARY KEY,
        kind      TEXT NOT NULL,
        queue     TEXT NOT NULL,
        state     TEXT NOT NULL,
        requested REAL NOT NULL,
        data      TEXT NOT NULL
    );
    CREATE INDEX callbacks_state ON callbacks(state, requested);
    """,
    # Each event written by the server carries its own id, so replaying a journal after a crash
    # between the database's commit and the journal's truncation applies every event once.
    """
    ALTER TABLE events ADD COLUMN eid TEXT;
    CREATE UNIQUE INDEX events_eid ON events(eid) WHERE eid IS NOT NULL;
    """,
    # Identity (docs/identity.md): where an account comes from (local, or a directory such as LDAP
    # or Active Directory, which then owns its password, name and role), the attributes the
    # directory gives (tenant, site, team), and the local password's history for the policy.
    """
    ALTER TABLE users ADD COLUMN source TEXT NOT NULL DEFAULT 'local';
    ALTER TABLE users ADD COLUMN attrs TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE users ADD COLUMN password_history TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE users ADD COLUMN password_changed REAL NOT NULL DEFAULT 0;
    """,
    # Roles as sets of permissions (server/auth/roles.py), and each user's report filter.
    """
    CREATE TABLE roles (
        name        TEXT PRIMARY KEY,
        base        TEXT NOT NULL,
        permissions TEXT NOT NULL,
        queues      TEXT
    );
    ALTER TABLE users ADD COLUMN report_scope TEXT NOT NULL DEFAULT '{}';
    """,
]

_USER_JSON = ("queues", "attrs", "password_history", "report_scope")


class SQLiteStore:
    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = str(path)
        self._db = connect(self.path, foreign_keys=True, busy_timeout=busy_timeout)
        self._lock = threading.Lock()  # the CLI's admin commands and the server may share a store object
        self.migrate()

    # -- schema -----------------------------------------------------------------------------------
    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> None:
        with self._lock:
            migrate(self._db, MIGRATIONS)

    # -- event log + projections ------------------------------------------------------------------
    def record(self, kind: str, *, ts: float, call: dict[str, Any] | None = None,
               agent: dict[str, Any] | None = None, queue: str | None = None,
               data: dict[str, Any] | None = None, call_id: str | None = None,
               agent_id: str | None = None) -> int:
        entry = record_entry(kind, ts=ts, call=call, agent=agent, queue=queue, data=data,
                             call_id=call_id, agent_id=agent_id)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                seq = _apply(self._db, entry)
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise
            return seq

    def events(self, since: int = 0, kinds: tuple[str, ...] | None = None,
               call_id: str | None = None) -> Iterator[StoredEvent]:
        for ev, _eid in self.events_with_ids(since, kinds, call_id):
            yield ev

    def events_with_ids(self, since: int = 0, kinds: tuple[str, ...] | None = None,
                        call_id: str | None = None) -> list[tuple[StoredEvent, str | None]]:
        """The events with their event ids (None for events not written by the server's writer)."""
        sql = "SELECT * FROM events WHERE seq > ?"
        params: list[Any] = [since]
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            params += list(kinds)
        if call_id:
            sql += " AND call_id = ?"
            params.append(call_id)
        sql += " ORDER BY seq"
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
        return [(StoredEvent(r["seq"], r["ts"], r["kind"], r["call_id"], r["agent_id"], r["queue"],
                             json.loads(r["data"])), r["eid"]) for r in rows]

    def written_eids(self, eids: list[str]) -> set[str]:
        """Which of these event ids are in the database."""
        found: set[str] = set()
        with self._lock:
            for i in range(0, len(eids), 500):  # under SQLite's limit of bound parameters
                part = eids[i:i + 500]
                found.update(r[0] for r in self._db.execute(
                    f"SELECT eid FROM events WHERE eid IN ({','.join('?' * len(part))})", part))
        return found

    def last_seq(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM events").fetchone()[0])

    def active_calls(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM calls WHERE state != 'ended'").fetchall()
        return [json.loads(r[0]) for r in rows]

    def call(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM calls WHERE id = ?", (call_id,)).fetchone()
        return json.loads(row[0]) if row else None

    def agents(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM agents ORDER BY id").fetchall()
        return [json.loads(r[0]) for r in rows]

    # -- callbacks and voicemails -------------------------------------------------------------------
    def save_callback(self, item: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                _apply(self._db, callback_entry(item))
                self._db.execute("COMMIT")
            except Exception:
                self._db.execute("ROLLBACK")
                raise

    def callbacks(self, state: str | None = "open") -> list[dict[str, Any]]:
        with self._lock:
            if state and state != "all":
                rows = self._db.execute("SELECT data FROM callbacks WHERE state=? ORDER BY requested", (state,))
            else:
                rows = self._db.execute("SELECT data FROM callbacks ORDER BY requested")
            return [json.loads(r[0]) for r in rows.fetchall()]

    # -- users and sessions -----------------------------------------------------------------------
    def add_user(self, user: dict[str, Any]) -> None:
        u = {k: (json.dumps(v) if k in _USER_JSON else v) for k, v in user.items()}
        cols = ",".join(u)
        with self._lock:
            try:
                self._db.execute(f"INSERT INTO users({cols}) VALUES ({','.join('?' * len(u))})", list(u.values()))
            except sqlite3.IntegrityError:
                raise ValueError(f"user {user['username']!r} already exists") from None

    def update_user(self, username: str, **fields: Any) -> None:
        if not fields:
            return
        sets = ",".join(f"{k}=?" for k in fields)
        values = [json.dumps(v) if k in _USER_JSON else v for k, v in fields.items()]
        with self._lock:
            cur = self._db.execute(f"UPDATE users SET {sets} WHERE username=?", [*values, username])
        if cur.rowcount == 0:
            raise KeyError(username)

    def _user(self, row: sqlite3.Row) -> dict[str, Any]:
        d = dict(row)
        for k in _USER_JSON:
            d[k] = json.loads(d[k])
        return d

    def get_user(self, username: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM users WHERE username=?", (username,)).fetchone()
        return self._user(row) if row else None

    def list_users(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM users ORDER BY username").fetchall()
        return [self._user(r) for r in rows]

    def delete_user(self, username: str) -> None:
        """The account and its sessions (a session of a deleted account resumes nothing anyway)."""
        with self._lock:
            cur = self._db.execute("DELETE FROM users WHERE username=?", (username,))
            self._db.execute("DELETE FROM sessions WHERE username=?", (username,))
        if cur.rowcount == 0:
            raise KeyError(username)

    def roles(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM roles ORDER BY name").fetchall()
        return [{"name": r["name"], "base": r["base"], "permissions": json.loads(r["permissions"]),
                 "queues": json.loads(r["queues"]) if r["queues"] is not None else None} for r in rows]

    def get_role(self, name: str) -> dict[str, Any] | None:
        return next((r for r in self.roles() if r["name"] == name), None)

    def save_role(self, role: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO roles VALUES (?,?,?,?)",
                             (role["name"], role["base"], json.dumps(sorted(role["permissions"])),
                              json.dumps(sorted(role["queues"])) if role.get("queues") is not None else None))

    def delete_role(self, name: str) -> None:
        with self._lock:
            users = self._db.execute("SELECT username FROM users WHERE role=?", (name,)).fetchall()
            if users:
                raise ValueError(f"the role {name} is still given to: {', '.join(u[0] for u in users)}")
            if self._db.execute("DELETE FROM roles WHERE name=?", (name,)).rowcount == 0:
                raise KeyError(name)

    def save_session(self, token_hash: str, username: str, expires: float) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO sessions VALUES (?,?,?)", (token_hash, username, expires))

    def get_session(self, token_hash: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM sessions WHERE token_hash=?", (token_hash,)).fetchone()
        return dict(row) if row else None

    def delete_session(self, token_hash: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_hash=?", (token_hash,))

    # -- read models --------------------------------------------------------------------------------
    def event_reader(self) -> SQLiteEventReader:
        return SQLiteEventReader(self.path)

    def beside(self, suffix: str) -> str:
        return self.path + suffix

    def close(self) -> None:
        with self._lock:
            self._db.close()


# -- entries: one write each, as the server queues and journals them ---------------------------------
# An entry is a JSON-able dict: {"eid", "op": "record", "kind", "ts", "call_id", "agent_id", "queue",
# "data", "call", "agent"}, {"eid", "op": "callback", "item"}, or {"op": "session", "token_hash",
# "username", "expires"} (expires None: the session is deleted). Built at the moment the server
# decides the change (so "ts" is when it happened, however late it is written).

def record_entry(kind: str, *, ts: float, call: dict[str, Any] | None = None,
                 agent: dict[str, Any] | None = None, queue: str | None = None,
                 data: dict[str, Any] | None = None, call_id: str | None = None,
                 agent_id: str | None = None, eid: str | None = None) -> dict[str, Any]:
    payload = dict(data or {})
    if call is not None:
        payload.setdefault("call", call)
        call_id = call_id or call["id"]
        queue = queue or call.get("queue")
    if agent is not None:
        payload.setdefault("agent", agent)
        agent_id = agent_id or agent["id"]
    return {"eid": eid, "op": "record", "kind": kind, "ts": ts, "call_id": call_id, "agent_id": agent_id,
            "queue": queue, "data": payload, "call": call, "agent": agent}


def callback_entry(item: dict[str, Any], eid: str | None = None) -> dict[str, Any]:
    return {"eid": eid, "op": "callback", "item": item}


def entry_event(entry: dict[str, Any], seq: int = 0) -> StoredEvent:
    """The event an entry appends, as `events()` returns it (seq: the caller's provisional one)."""
    if entry["op"] == "callback":
        item = entry["item"]
        return StoredEvent(seq, item["requested"], f"{item['kind']}.saved", item.get("call_id"), item.get("agent"),
                           item["queue"], {"item": item})
    return StoredEvent(seq, entry["ts"], entry["kind"], entry["call_id"], entry["agent_id"], entry["queue"],
                       entry["data"])


def _apply(db: sqlite3.Connection, entry: dict[str, Any]) -> int:
    """Write one entry inside the caller's transaction: the event and the projection it changes.
    An entry whose eid is in the log already is skipped (0): it was applied before."""
    if entry["op"] == "session":  # idempotent, no event: applying it twice is harmless
        if entry["expires"] is None:
            db.execute("DELETE FROM sessions WHERE token_hash=?", (entry["token_hash"],))
        else:
            db.execute("INSERT OR REPLACE INTO sessions VALUES (?,?,?)",
                       (entry["token_hash"], entry["username"], entry["expires"]))
        return 0
    eid = entry.get("eid")
    if eid and db.execute("SELECT 1 FROM events WHERE eid = ?", (eid,)).fetchone():
        return 0
    if entry["op"] == "callback":
        item = entry["item"]
        db.execute(
            "INSERT INTO callbacks(id, kind, queue, state, requested, data) VALUES (?,?,?,?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET state=excluded.state, data=excluded.data",
            (item["id"], item["kind"], item["queue"], item["state"], item["requested"], json.dumps(item, default=str)))
        cur = db.execute(
            "INSERT INTO events(ts, kind, call_id, agent_id, queue, data, eid) VALUES (?,?,?,?,?,?,?)",
            (item["requested"], f"{item['kind']}.saved", item.get("call_id"), item.get("agent"), item["queue"],
             json.dumps({"item": item}, default=str), eid))
        return int(cur.lastrowid or 0)
    cur = db.execute(
        "INSERT INTO events(ts, kind, call_id, agent_id, queue, data, eid) VALUES (?,?,?,?,?,?,?)",
        (entry["ts"], entry["kind"], entry["call_id"], entry["agent_id"], entry["queue"],
         json.dumps(entry["data"], default=str), eid))
    call, agent = entry.get("call"), entry.get("agent")
    if call is not None:
        db.execute(
            "INSERT INTO calls(id, state, data) VALUES (?,?,?) "
            "ON CONFLICT(id) DO UPDATE SET state=excluded.state, data=excluded.data",
            (call["id"], str(call["state"]), json.dumps(call, default=str)))
    if agent is not None:
        db.execute(
            "INSERT INTO agents(id, data) VALUES (?,?) ON CONFLICT(id) DO UPDATE SET data=excluded.data",
            (agent["id"], json.dumps(agent, default=str)))
    return int(cur.lastrowid or 0)


def apply_entries(db: sqlite3.Connection, entries: list[dict[str, Any]]) -> None:
    """Write entries in order in one transaction (all or none); raises sqlite3.Error as it came."""
    db.execute("BEGIN IMMEDIATE")
    try:
        for entry in entries:
            try:
                _apply(db, entry)
            except (sqlite3.IntegrityError, KeyError, TypeError, ValueError):
                # A malformed entry can never be written; retrying it would hold up all the
                # others for ever. The log keeps it.
                log.exception("store: an entry that can never be written is dropped: %.500s", entry)
        db.execute("COMMIT")
    except BaseException:
        if db.in_transaction:
            db.execute("ROLLBACK")
        raise
