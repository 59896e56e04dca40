"""E-mail threads, their messages, the Message-IDs that thread replies back, and attachments, in the
e-mail capability's own database: an SQLite file, or with `[store] url` the schema ``email`` of the
main store's PostgreSQL (server/store/portable.py).

Blocking: every method runs on the store's one thread (EmailStore.run), never on the event loop, in
submission order (a message is written after the thread that holds it).
"""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cc_console.server.store.portable import open_db, upsert

T = TypeVar("T")

MIGRATIONS = [
    """
    CREATE TABLE threads (
        id TEXT PRIMARY KEY, queue TEXT NOT NULL, customer TEXT NOT NULL, name TEXT NOT NULL,
        subject TEXT NOT NULL, state TEXT NOT NULL, agent TEXT, agents TEXT NOT NULL, created REAL NOT NULL,
        enqueued REAL, accepted REAL, closed REAL, outcome TEXT NOT NULL, category TEXT NOT NULL);
    CREATE INDEX threads_customer ON threads (customer, created);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY, thread TEXT NOT NULL, at REAL NOT NULL, direction TEXT NOT NULL,
        author TEXT NOT NULL, message_id TEXT NOT NULL, subject TEXT NOT NULL, text TEXT NOT NULL,
        attachments TEXT NOT NULL);
    CREATE INDEX messages_thread ON messages (thread, id);
    CREATE TABLE message_ids (message_id TEXT PRIMARY KEY, thread TEXT NOT NULL);
    CREATE TABLE attachments (
        id TEXT PRIMARY KEY, thread TEXT NOT NULL, filename TEXT NOT NULL, content_type TEXT NOT NULL,
        size INTEGER NOT NULL, data BLOB NOT NULL)
    """,
]

_FIELDS = ("id", "queue", "customer", "name", "subject", "state", "agent", "agents", "created", "enqueued",
           "accepted", "closed", "outcome", "category")


class EmailStore:
    def __init__(self, path: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="email-store")
        self.db: Any = open_db(path, schema="email", migrations=MIGRATIONS)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.db.close()

    # -- writes -------------------------------------------------------------------------------------------
    def save_thread(self, row: dict[str, Any]) -> None:
        values = [json.dumps(row[f]) if f == "agents" else row[f] for f in _FIELDS]
        self.db.execute(upsert("threads", _FIELDS, ("id",)), values)

    def add_message(self, thread: str, m: dict[str, Any], files: list[tuple[str, str, str, bytes]]) -> None:
        """A message with its Message-ID (so an answer to it finds the thread) and its attachments
        (id, filename, content type, bytes), in one transaction."""
        self.db.execute("BEGIN")
        try:
            self.db.execute("INSERT INTO messages (thread, at, direction, author, message_id, subject, text, "
                            "attachments) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (thread, m["at"], m["direction"], m["author"], m["message_id"], m["subject"],
                             m["text"], json.dumps(m["attachments"])))
            if m["message_id"]:
                self.db.execute("INSERT INTO message_ids (message_id, thread) VALUES (?, ?) ON CONFLICT DO NOTHING",
                                (m["message_id"], thread))
            for aid, filename, ctype, data in files:
                self.db.execute("INSERT INTO attachments (id, thread, filename, content_type, size, data) "
                                "VALUES (?, ?, ?, ?, ?, ?)", (aid, thread, filename, ctype, len(data), data))
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise

    # -- reads --------------------------------------------------------------------------------------------
    def thread_of(self, message_ids: list[str]) -> str | None:
        """The thread that holds the first of these Message-IDs we know."""
        for mid in message_ids:
            r = self.db.execute("SELECT thread FROM message_ids WHERE message_id = ?", (mid,)).fetchone()
            if r:
                return str(r[0])
        return None

    def known(self, message_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM message_ids WHERE message_id = ?", (message_id,)).fetchone() is not None

    def thread(self, tid: str) -> dict[str, Any] | None:
        r = self.db.execute("SELECT * FROM threads WHERE id = ?", (tid,)).fetchone()
        if r is None:
            return None
        d = dict(r)
        d["agents"] = json.loads(d["agents"])
        d["messages"] = self.messages(tid)
        return d

    def open_threads(self) -> list[dict[str, Any]]:
        return [t for r in self.db.execute("SELECT id FROM threads WHERE closed IS NULL ORDER BY created")
                if (t := self.thread(r[0])) is not None]

    def messages(self, tid: str) -> list[dict[str, Any]]:
        out = []
        for i, r in enumerate(self.db.execute(
                "SELECT at, direction, author, message_id, subject, text, attachments FROM messages "
                "WHERE thread = ? ORDER BY id", (tid,)), 1):
            d = dict(r)
            d["n"] = i
            d["attachments"] = json.loads(d["attachments"])
            out.append(d)
        return out

    def attachment(self, aid: str) -> dict[str, Any] | None:
        r = self.db.execute("SELECT a.*, t.agents FROM attachments a JOIN threads t ON t.id = a.thread "
                            "WHERE a.id = ?", (aid,)).fetchone()
        if r is None:
            return None
        d = dict(r)
        d["agents"] = json.loads(d["agents"])
        return d
