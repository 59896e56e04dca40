"""SMS conversations, their messages with delivery state, the delivery reports, and the push
subscriptions, in the SMS capability's own database: an SQLite file, or with `[store] url` the schema
``sms`` of the main store's PostgreSQL (server/store/portable.py).

Blocking: every method runs on the store's one thread (SmsStore.run), never on the event loop, in
submission order.
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cc_console.server.store.portable import Step, open_db, upsert

T = TypeVar("T")

MIGRATIONS: list[Step] = [
    """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY, number TEXT NOT NULL, queue TEXT NOT NULL, state TEXT NOT NULL, agent TEXT,
        agents TEXT NOT NULL, created REAL NOT NULL, enqueued REAL, accepted REAL, closed REAL,
        outcome TEXT NOT NULL, category TEXT NOT NULL);
    CREATE INDEX conversations_number ON conversations (number, created);
    CREATE TABLE messages (
        id TEXT PRIMARY KEY, conversation TEXT NOT NULL, at REAL NOT NULL, direction TEXT NOT NULL,
        number TEXT NOT NULL, author TEXT NOT NULL, text TEXT NOT NULL, coding INTEGER NOT NULL,
        parts INTEGER NOT NULL, status TEXT NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
        kind TEXT NOT NULL DEFAULT 'agent', kannel_id TEXT NOT NULL DEFAULT '');
    CREATE INDEX messages_conversation ON messages (conversation, at);
    CREATE INDEX messages_at ON messages (at);
    CREATE UNIQUE INDEX messages_kannel ON messages (kannel_id) WHERE kannel_id != '';
    CREATE TABLE reports (message TEXT NOT NULL, at REAL NOT NULL, status INTEGER NOT NULL, answer TEXT NOT NULL);
    CREATE INDEX reports_message ON reports (message);
    CREATE TABLE subscriptions (
        id TEXT PRIMARY KEY, topic TEXT NOT NULL, channel TEXT NOT NULL, address TEXT NOT NULL,
        frequency TEXT NOT NULL, created REAL NOT NULL, by TEXT NOT NULL, ended REAL, ended_by TEXT NOT NULL DEFAULT '',
        UNIQUE (topic, channel, address));
    CREATE TABLE push_events (
        id TEXT PRIMARY KEY, topic TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, at REAL NOT NULL,
        by TEXT NOT NULL);
    CREATE TABLE push_log (
        event TEXT NOT NULL, subscription TEXT NOT NULL, channel TEXT NOT NULL, address TEXT NOT NULL,
        at REAL, message TEXT NOT NULL DEFAULT '', outcome TEXT NOT NULL, PRIMARY KEY (event, subscription));
    CREATE INDEX push_log_message ON push_log (message) WHERE message != ''
    """,
    # a subscription made on the public web page waits for the citizen's confirmation (double opt-in)
    "ALTER TABLE subscriptions ADD COLUMN confirmed REAL",
    # Messages and log rows in the order they were written, where their times are equal: SQLite
    # has the rowid for that, PostgreSQL gets a column of that name (never in a SELECT *'s place:
    # the reads name their columns).
    ("SELECT 1", "ALTER TABLE messages ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY; "
                 "ALTER TABLE push_log ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY"),
]

_CONV = ("id", "number", "queue", "state", "agent", "agents", "created", "enqueued", "accepted", "closed",
         "outcome", "category")
_MSG = ("id", "conversation", "at", "direction", "number", "author", "text", "coding", "parts", "status",
        "delivered", "kind", "kannel_id")
_MSG_COLS = ", ".join(_MSG)


class SmsStore:
    def __init__(self, path: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sms-store")
        self.db: Any = open_db(path, schema="sms", migrations=MIGRATIONS)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.db.close()

    # -- conversations ------------------------------------------------------------------------------------
    def save_conversation(self, row: dict[str, Any]) -> None:
        values = [json.dumps(row[f]) if f == "agents" else row[f] for f in _CONV]
        self.db.execute(upsert("conversations", _CONV, ("id",)), values)

    def open_conversations(self) -> list[dict[str, Any]]:
        out = []
        for r in self.db.execute("SELECT * FROM conversations WHERE closed IS NULL ORDER BY created"):
            d = dict(r)
            d["agents"] = json.loads(d["agents"])
            d["messages"] = self.messages(d["id"])
            out.append(d)
        return out

    def conversations_between(self, start: float, end: float) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM conversations WHERE enqueued >= ? AND enqueued < ? ORDER BY enqueued",
                               (start, end)).fetchall()
        return [{**dict(r), "agents": json.loads(r["agents"])} for r in rows]

    def conversations_of(self, numbers: list[str], limit: int) -> list[dict[str, Any]]:
        marks = ", ".join("?" * len(numbers))
        rows = self.db.execute(f"SELECT * FROM conversations WHERE number IN ({marks}) ORDER BY created DESC "
                               "LIMIT ?", (*numbers, limit)).fetchall()
        return [{**dict(r), "agents": json.loads(r["agents"])} for r in rows]

    # -- messages -----------------------------------------------------------------------------------------
    def add_message(self, m: dict[str, Any]) -> bool:
        """False: a message with this Kannel id is here already (smsbox retried its get-url)."""
        return bool(self.db.execute(f"INSERT INTO messages ({', '.join(_MSG)}) VALUES ({', '.join('?' * len(_MSG))}) "
                                    "ON CONFLICT DO NOTHING", [m[f] for f in _MSG]).rowcount)

    def add_messages(self, rows: list[dict[str, Any]]) -> None:
        self.db.execute("BEGIN")
        try:
            self.db.executemany(f"INSERT INTO messages ({', '.join(_MSG)}) VALUES ({', '.join('?' * len(_MSG))})",
                                [[m[f] for f in _MSG] for m in rows])
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise

    def set_status(self, mid: str, status: str) -> None:
        self.db.execute("UPDATE messages SET status = ? WHERE id = ?", (status, mid))

    def accepted(self, mid: str) -> dict[str, Any] | None:
        """Kannel took the message: "accepted", unless a delivery report came first (in one
        statement: a report written between a read and a write would be overwritten)."""
        self.db.execute("UPDATE messages SET status = 'accepted' WHERE id = ? AND status = 'sending'", (mid,))
        return self.message(mid)

    def messages(self, cid: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            f"SELECT {_MSG_COLS} FROM messages WHERE conversation = ? ORDER BY at, rowid", (cid,))]

    def message(self, mid: str) -> dict[str, Any] | None:
        r = self.db.execute(f"SELECT {_MSG_COLS} FROM messages WHERE id = ?", (mid,)).fetchone()
        return dict(r) if r else None

    def report(self, mid: str, at: float, status: int, answer: str,
               state: Callable[[dict[str, Any], list[int]], str]) -> dict[str, Any] | None:
        """Record one delivery report and work out the message's state from all of its reports."""
        m = self.message(mid)
        if m is None:
            return None
        self.db.execute("BEGIN")
        try:
            self.db.execute("INSERT INTO reports (message, at, status, answer) VALUES (?, ?, ?, ?)",
                            (mid, at, status, answer))
            codes = [r[0] for r in self.db.execute("SELECT status FROM reports WHERE message = ?", (mid,))]
            m["status"] = state(m, codes)
            m["delivered"] = codes.count(1)
            self.db.execute("UPDATE messages SET status = ?, delivered = ? WHERE id = ?",
                            (m["status"], m["delivered"], mid))
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise
        return m

    def sent_between(self, start: float, end: float) -> list[dict[str, Any]]:
        """Every message we sent in [start, end), for the daily record."""
        return [dict(r) for r in self.db.execute(
            f"SELECT {_MSG_COLS} FROM messages WHERE direction = 'out' AND at >= ? AND at < ? ORDER BY at, rowid",
            (start, end))]

    # -- push subscriptions -------------------------------------------------------------------------------
    def subscribe(self, row: dict[str, Any]) -> dict[str, Any]:
        """A subscription (topic, channel, address); the same one again is the one there is (again
        active, with the new frequency). ``row["confirmed"]`` None: it waits for the citizen's
        confirmation, unless it is confirmed already."""
        old = self.db.execute("SELECT * FROM subscriptions WHERE topic = ? AND channel = ? AND address = ?",
                              (row["topic"], row["channel"], row["address"])).fetchone()
        if old is not None:
            confirmed = old["confirmed"] if old["ended"] is None and old["confirmed"] else row["confirmed"]
            self.db.execute("UPDATE subscriptions SET frequency = ?, ended = NULL, ended_by = '', confirmed = ? "
                            "WHERE id = ?", (row["frequency"], confirmed, old["id"]))
            return dict(self.db.execute("SELECT * FROM subscriptions WHERE id = ?", (old["id"],)).fetchone())
        self.db.execute("INSERT INTO subscriptions (id, topic, channel, address, frequency, created, by, confirmed) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (row["id"], row["topic"], row["channel"], row["address"],
                                                             row["frequency"], row["created"], row["by"],
                                                             row["confirmed"]))
        return {**row, "ended": None, "ended_by": ""}

    def confirm(self, at: float, *, sid: str = "", channel: str = "", address: str = "") -> list[dict[str, Any]]:
        """Confirm the waiting subscriptions named (by id, or every one of a channel and address)."""
        where, args = ("id = ?", [sid]) if sid else ("channel = ? AND address = ?", [channel, address])
        cond = f"{where} AND ended IS NULL AND confirmed IS NULL"
        rows = [dict(r) for r in self.db.execute(f"SELECT * FROM subscriptions WHERE {cond}", args)]
        self.db.execute(f"UPDATE subscriptions SET confirmed = ? WHERE {cond}", [at, *args])
        return [{**r, "confirmed": at} for r in rows]

    def subscription(self, sid: str) -> dict[str, Any] | None:
        r = self.db.execute("SELECT * FROM subscriptions WHERE id = ?", (sid,)).fetchone()
        return dict(r) if r else None

    def unsubscribe(self, at: float, by: str, *, sid: str = "", channel: str = "", address: str = "",
                    topic: str = "") -> list[dict[str, Any]]:
        """End the active subscriptions named (by id, or by channel and address, optionally one topic)."""
        if sid:
            where, args = "id = ?", [sid]
        else:
            where, args = "channel = ? AND address = ?", [channel, address]
            if topic:
                where += " AND topic = ?"
                args.append(topic)
        rows = [dict(r) for r in self.db.execute(f"SELECT * FROM subscriptions WHERE {where} AND ended IS NULL",
                                                  args)]
        self.db.execute(f"UPDATE subscriptions SET ended = ?, ended_by = ? WHERE {where} AND ended IS NULL",
                        [at, by, *args])
        return rows

    def subscriptions(self, *, topic: str = "", address: str = "", active: bool = True) -> list[dict[str, Any]]:
        where, args = ["1 = 1"], []
        if topic:
            where.append("topic = ?")
            args.append(topic)
        if address:
            where.append("address = ?")
            args.append(address)
        if active:
            where.append("ended IS NULL AND confirmed IS NOT NULL")
        return [dict(r) for r in self.db.execute(
            f"SELECT * FROM subscriptions WHERE {' AND '.join(where)} ORDER BY created, id", args)]

    def counts(self) -> dict[str, int]:
        return {r[0]: r[1] for r in self.db.execute(
            "SELECT topic, COUNT(*) FROM subscriptions WHERE ended IS NULL AND confirmed IS NOT NULL GROUP BY topic")}

    def add_event(self, row: dict[str, Any], log: list[dict[str, Any]]) -> None:
        """A push event and its log rows (one per subscriber: queued for a digest, or to send now)."""
        self.db.execute("BEGIN")
        try:
            self.db.execute("INSERT INTO push_events (id, topic, title, text, at, by) VALUES (?, ?, ?, ?, ?, ?)",
                            (row["id"], row["topic"], row["title"], row["text"], row["at"], row["by"]))
            self.db.executemany("INSERT INTO push_log (event, subscription, channel, address, at, message, outcome) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                                [(x["event"], x["subscription"], x["channel"], x["address"], x["at"], x["message"],
                                  x["outcome"]) for x in log])
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise

    def log_sent(self, rows: list[tuple[str, str, float, str, str]]) -> None:
        """(event, subscription, at, message, outcome) of what left."""
        self.db.executemany("UPDATE push_log SET at = ?, message = ?, outcome = ? WHERE event = ? AND subscription = ?",
                            [(at, mid, outcome, ev, sid) for ev, sid, at, mid, outcome in rows])

    def interrupted(self) -> int:
        """Rows left "sending" by a stop in the middle of a push: "interrupted" (how many)."""
        return int(self.db.execute("UPDATE push_log SET outcome = 'interrupted' WHERE outcome = 'sending'").rowcount)

    def queued_digests(self) -> list[dict[str, Any]]:
        """The log rows waiting for a daily digest, with their event and the subscription's state."""
        return [dict(r) for r in self.db.execute(
            "SELECT l.event, l.subscription, l.channel, l.address, e.topic, e.title, e.text, e.at AS event_at, "
            "s.ended FROM push_log l JOIN push_events e ON e.id = l.event "
            "JOIN subscriptions s ON s.id = l.subscription "
            "WHERE l.outcome = 'queued' ORDER BY l.subscription, e.at")]

    def push_log(self, *, event: str = "", address: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        """What was sent to whom: each row with the event, the address, when, and the SMS's delivery
        state (from Kannel's reports) or the e-mail's outcome."""
        where, args = ["1 = 1"], []
        if event:
            where.append("l.event = ?")
            args.append(event)
        if address:
            where.append("l.address = ?")
            args.append(address)
        return [dict(r) for r in self.db.execute(
            "SELECT l.event, e.topic, e.title, l.subscription, l.channel, l.address, l.at, l.outcome, l.message, "
            "COALESCE(m.status, '') AS status FROM push_log l JOIN push_events e ON e.id = l.event "
            f"LEFT JOIN messages m ON m.id = l.message AND l.message != '' WHERE {' AND '.join(where)} "
            "ORDER BY e.at DESC, l.rowid LIMIT ?", [*args, limit])]

    def event_summary(self, event: str) -> dict[str, Any] | None:
        e = self.db.execute("SELECT * FROM push_events WHERE id = ?", (event,)).fetchone()
        if e is None:
            return None
        counts: dict[str, int] = {}
        for outcome, status, n in self.db.execute(
                "SELECT l.outcome, COALESCE(m.status, ''), COUNT(*) FROM push_log l "
                "LEFT JOIN messages m ON m.id = l.message AND l.message != '' WHERE l.event = ? "
                "GROUP BY l.outcome, COALESCE(m.status, '')", (event,)):
            key = status if status else outcome
            counts[key] = counts.get(key, 0) + n
        return {**dict(e), "recipients": sum(counts.values()), "by_state": counts}
