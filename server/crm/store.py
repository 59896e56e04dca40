"""The CRM capability's own database (``ctx.db_path("crm")``): the outbox with its delivery log and
dead letters, the open CTI contacts per agent, webhook subscriptions and cases.

Every method is blocking: the service runs them on its one writer thread (never on the event loop),
which also keeps the outbox's order the order in which the hooks wrote it. With `[store] url` it is in
PostgreSQL instead, in the schema ``crm`` of the main store's database (server/store/portable.py,
docs/storage.md): the SQL is plain for that (upserts by ON CONFLICT, not INSERT OR REPLACE).
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from cc_console.server.store.portable import SerialDb

MIGRATIONS: list[str] = [
    """
    CREATE TABLE outbox (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        id         TEXT NOT NULL UNIQUE,
        stream     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        event      TEXT NOT NULL,
        method     TEXT NOT NULL,
        url        TEXT NOT NULL,
        body       TEXT NOT NULL DEFAULT '',
        headers    TEXT NOT NULL DEFAULT '{}',
        created    REAL NOT NULL,
        state      TEXT NOT NULL DEFAULT 'pending',
        attempts   INTEGER NOT NULL DEFAULT 0,
        next_at    REAL NOT NULL,
        last_error TEXT NOT NULL DEFAULT '',
        delivered  REAL
    );
    CREATE INDEX outbox_pending ON outbox(state, stream, seq);
    CREATE TABLE deliveries (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        outbox_seq INTEGER NOT NULL,
        attempt    INTEGER NOT NULL,
        ts         REAL NOT NULL,
        status     INTEGER,
        error      TEXT NOT NULL DEFAULT '',
        ms         REAL NOT NULL DEFAULT 0
    );
    CREATE INDEX deliveries_item ON deliveries(outbox_seq);
    CREATE TABLE cti_open (
        call_id  TEXT NOT NULL,
        agent    TEXT NOT NULL,
        started  REAL NOT NULL,
        callerid TEXT NOT NULL,
        url      TEXT NOT NULL,
        method   TEXT NOT NULL,
        redirect INTEGER NOT NULL,
        PRIMARY KEY (call_id, agent)
    );
    CREATE TABLE subscriptions (
        id      TEXT PRIMARY KEY,
        url     TEXT NOT NULL,
        secret  TEXT NOT NULL,
        events  TEXT NOT NULL,
        created REAL NOT NULL,
        active  INTEGER NOT NULL DEFAULT 1
    );
    CREATE TABLE cases (
        id         TEXT PRIMARY KEY,
        call_id    TEXT NOT NULL,
        channel    TEXT NOT NULL DEFAULT 'phone',
        caller     TEXT NOT NULL DEFAULT '',
        contact_id TEXT,
        subject    TEXT NOT NULL DEFAULT '',
        notes      TEXT NOT NULL DEFAULT '',
        level      INTEGER NOT NULL DEFAULT 1,
        queue      TEXT NOT NULL DEFAULT '',
        agent      TEXT NOT NULL DEFAULT '',
        state      TEXT NOT NULL DEFAULT 'open',
        outcome    TEXT NOT NULL DEFAULT '',
        created    REAL NOT NULL,
        updated    REAL NOT NULL,
        closed     REAL,
        history    TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX cases_call ON cases(call_id);
    CREATE INDEX cases_contact ON cases(contact_id);
    CREATE INDEX cases_caller ON cases(caller);
    """,
]


@dataclass(frozen=True)
class OutboxItem:
    seq: int
    id: str
    stream: str
    kind: str
    event: str
    method: str
    url: str
    body: str
    headers: dict[str, str]
    created: float
    state: str
    attempts: int
    next_at: float
    last_error: str
    delivered: float | None

    @classmethod
    def of(cls, row: Any) -> OutboxItem:
        d = dict(row)
        d["headers"] = json.loads(d["headers"])
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("headers")  # may carry a bearer token for the records system
        return d


@dataclass(frozen=True)
class NewItem:
    """One delivery to write: the stream orders it (an agent's CTI feed, one subscription)."""

    stream: str
    kind: str  # cti, webhook, records
    event: str
    method: str
    url: str
    body: str = ""
    headers: dict[str, str] | None = None
    id: str = ""


@dataclass(frozen=True)
class Subscription:
    id: str
    url: str
    secret: str
    events: tuple[str, ...]
    created: float
    active: bool

    def public(self) -> dict[str, Any]:
        """What an admin or the API sees: never the secret."""
        return {"id": self.id, "url": self.url, "events": list(self.events), "created": self.created,
                "active": self.active}


class CrmStore(SerialDb):
    def __init__(self, path: str) -> None:
        super().__init__(path, MIGRATIONS, schema="crm")

    # -- outbox ---------------------------------------------------------------------------------------
    def add(self, items: list[NewItem], now: float, cti_open: tuple[str, ...] = (),
            cti_close: tuple[tuple[str, str], ...] = (), cases: tuple[dict[str, Any], ...] = ()) -> list[str]:
        """Write deliveries and the state they follow from (open CTI contacts, a case) in one transaction."""
        ids = []
        with self.tx() as db:
            for case in cases:
                self._save_case(db, case)
            for it in items:
                iid = it.id or uuid.uuid4().hex
                ids.append(iid)
                db.execute("INSERT INTO outbox(id, stream, kind, event, method, url, body, headers, created, next_at) "
                           "VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT(id) DO NOTHING",
                           (iid, it.stream, it.kind, it.event, it.method, it.url, it.body,
                            json.dumps(it.headers or {}), now, now))
            for row in cti_open:
                db.execute("INSERT INTO cti_open(call_id, agent, started, callerid, url, method, redirect) "
                           "VALUES (?,?,?,?,?,?,?) ON CONFLICT(call_id, agent) DO UPDATE SET started=excluded.started, "
                           "callerid=excluded.callerid, url=excluded.url, method=excluded.method, "
                           "redirect=excluded.redirect", row)
            for call_id, agent in cti_close:
                db.execute("DELETE FROM cti_open WHERE call_id=? AND agent=?", (call_id, agent))
        return ids

    def heads(self, busy: set[str], limit: int) -> list[OutboxItem]:
        """The first pending item of each stream not being delivered right now (due or not)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT o.* FROM outbox o JOIN (SELECT stream, MIN(seq) AS seq FROM outbox WHERE state='pending' "
                "GROUP BY stream) h ON o.seq = h.seq ORDER BY o.next_at").fetchall()
        out = [OutboxItem.of(r) for r in rows if r["stream"] not in busy]
        return out[:limit] if limit else out

    def attempted(self, item: OutboxItem, *, ok: bool, status: int | None, error: str, ms: float, now: float,
                  next_at: float, dead: bool) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO deliveries(outbox_seq, attempt, ts, status, error, ms) VALUES (?,?,?,?,?,?)",
                       (item.seq, item.attempts + 1, now, status, error, ms))
            if ok:
                db.execute("UPDATE outbox SET state='delivered', attempts=attempts+1, delivered=?, last_error='' "
                           "WHERE seq=?", (now, item.seq))
            else:
                db.execute("UPDATE outbox SET state=?, attempts=attempts+1, next_at=?, last_error=? WHERE seq=?",
                           ("dead" if dead else "pending", next_at, error, item.seq))

    def items(self, state: str | None = None, stream: str | None = None, limit: int = 100,
              after: int = 0) -> list[OutboxItem]:
        sql = "SELECT * FROM outbox WHERE seq > ?"
        args: list[Any] = [after]
        if state:
            sql += " AND state=?"
            args.append(state)
        if stream:
            sql += " AND stream=?"
            args.append(stream)
        sql += " ORDER BY seq LIMIT ?"
        args.append(limit)
        with self._lock:
            return [OutboxItem.of(r) for r in self._db.execute(sql, args).fetchall()]

    def find(self, key: str) -> list[OutboxItem]:
        """By event id or outbox number."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM outbox WHERE id=? OR CAST(seq AS TEXT)=?", (key, key)).fetchall()
        return [OutboxItem.of(r) for r in rows]

    def log(self, seq: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT attempt, ts, status, error, ms FROM deliveries WHERE outbox_seq=? "
                                    "ORDER BY seq", (seq,)).fetchall()
        return [dict(r) for r in rows]

    def replay(self, ids: list[str] | None, now: float) -> int:
        """Dead letters (the given ones, or all) go back to pending, due now, their retries counted anew."""
        with self.tx() as db:
            if ids:
                n = 0
                for i in ids:
                    n += db.execute("UPDATE outbox SET state='pending', next_at=?, created=? WHERE state='dead' "
                                    "AND (id=? OR CAST(seq AS TEXT)=?)", (now, now, i, i)).rowcount
                return n
            return db.execute("UPDATE outbox SET state='pending', next_at=?, created=? WHERE state='dead'",
                              (now, now)).rowcount

    def purge_delivered(self, before: float) -> int:
        """Forget delivered items (and their log) written before ``before``: the log is kept, not hoarded."""
        with self.tx() as db:
            db.execute("DELETE FROM deliveries WHERE outbox_seq IN (SELECT seq FROM outbox WHERE state='delivered' "
                       "AND created < ?)", (before,))
            return int(db.execute("DELETE FROM outbox WHERE state='delivered' AND created < ?", (before,)).rowcount)

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}

    # -- CTI contacts open per agent -------------------------------------------------------------------
    def cti_open(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM cti_open").fetchall()]

    # -- webhook subscriptions -------------------------------------------------------------------------
    def add_subscription(self, url: str, secret: str, events: tuple[str, ...]) -> Subscription:
        sid = uuid.uuid4().hex[:12]
        now = time.time()
        with self.tx() as db:
            db.execute("INSERT INTO subscriptions(id, url, secret, events, created) VALUES (?,?,?,?,?)",
                       (sid, url, secret, json.dumps(list(events)), now))
        return Subscription(sid, url, secret, events, now, True)

    def subscriptions(self) -> list[Subscription]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM subscriptions WHERE active=1 ORDER BY created").fetchall()
        return [Subscription(r["id"], r["url"], r["secret"], tuple(json.loads(r["events"])), r["created"], True)
                for r in rows]

    def remove_subscription(self, sid: str) -> bool:
        with self.tx() as db:
            return db.execute("UPDATE subscriptions SET active=0 WHERE id=? AND active=1", (sid,)).rowcount > 0

    # -- cases -------------------------------------------------------------------------------------------
    _CASE_COLS = ("id", "call_id", "channel", "caller", "contact_id", "subject", "notes", "level", "queue", "agent",
                  "state", "outcome", "created", "updated", "closed", "history")

    def _save_case(self, db: Any, case: dict[str, Any]) -> None:
        row = {**case, "history": json.dumps(case.get("history", []))}
        cols = self._CASE_COLS
        db.execute(f"INSERT INTO cases({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)}) "
                   f"ON CONFLICT(id) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in cols[1:])}",
                   tuple(row.get(c) for c in cols))

    def save_case(self, case: dict[str, Any]) -> None:
        with self.tx() as db:
            self._save_case(db, case)

    @staticmethod
    def _case(row: Any) -> dict[str, Any]:
        d = dict(row)
        d["history"] = json.loads(d["history"])
        return d

    def case(self, case_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM cases WHERE id=?", (case_id,)).fetchone()
        return self._case(row) if row else None

    def case_of_call(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM cases WHERE call_id=? ORDER BY created DESC LIMIT 1",
                                   (call_id,)).fetchone()
        return self._case(row) if row else None

    def open_cases(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM cases WHERE state='open'").fetchall()
        return [self._case(r) for r in rows]

    def cases_of(self, contact_id: str = "", caller: str = "", limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            if contact_id:
                rows = self._db.execute("SELECT * FROM cases WHERE contact_id=? ORDER BY created DESC LIMIT ?",
                                        (contact_id, limit)).fetchall()
            else:
                rows = self._db.execute("SELECT * FROM cases WHERE caller=? ORDER BY created DESC LIMIT ?",
                                        (caller, limit)).fetchall()
        return [self._case(r) for r in rows]
