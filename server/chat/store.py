"""Conversations and their messages in the chat capability's own database, searchable by contact
and by text, purged under the retention rule. An SQLite file (text search by FTS5), or with
`[store] url` the schema ``chat`` of the main store's PostgreSQL (server/store/portable.py; text
search by a tsvector index with the 'simple' configuration: words as they are, no stemming, as
FTS5's unicode61 tokenizer has them, except that FTS5 also ignores accents).

Blocking: every method runs on the store's one thread (ChatStore.run), never on the event loop, and
in submission order, so a message is written after the conversation that holds it.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from cc_console.server.store.portable import Step, is_postgres, open_db, pg_ddl, upsert

T = TypeVar("T")

_TABLES = """
    CREATE TABLE conversations (
        id TEXT PRIMARY KEY, token_hash TEXT NOT NULL, channel TEXT NOT NULL, queue TEXT NOT NULL,
        name TEXT NOT NULL, email TEXT NOT NULL, contact TEXT NOT NULL, state TEXT NOT NULL,
        agent TEXT, agents TEXT NOT NULL, created REAL NOT NULL, enqueued REAL, accepted REAL,
        closed REAL, outcome TEXT NOT NULL, category TEXT NOT NULL, notes TEXT NOT NULL, bot INTEGER NOT NULL);
    CREATE INDEX conversations_contact ON conversations (contact, created);
    CREATE INDEX conversations_token ON conversations (token_hash);
    CREATE INDEX conversations_closed ON conversations (closed);
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY, conv TEXT NOT NULL, at REAL NOT NULL, sender TEXT NOT NULL,
        author TEXT NOT NULL, text TEXT NOT NULL);
    CREATE INDEX messages_conv ON messages (conv, id)"""

MIGRATIONS: list[Step] = [
    (_TABLES + "; CREATE VIRTUAL TABLE messages_fts USING fts5(text, conv UNINDEXED)",
     pg_ddl(_TABLES) + "; CREATE INDEX messages_text ON messages USING gin (to_tsvector('simple', text))"),
    # the reports and an agent's figures read conversations by the time they were queued (history.py)
    "CREATE INDEX conversations_enqueued ON conversations (enqueued)",
]

_CONV_FIELDS = ("id", "token_hash", "channel", "queue", "name", "email", "contact", "state", "agent", "agents",
                "created", "enqueued", "accepted", "closed", "outcome", "category", "notes", "bot")


def token_hash(token: str) -> str:
    # the visitor's resume token is 128 random bits: a plain hash is enough to keep it out of the file
    return hashlib.sha256(token.encode()).hexdigest()


class ChatStore:
    def __init__(self, path: str) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chat-store")
        self.db: Any = open_db(path, schema="chat", migrations=MIGRATIONS)
        self.pg = is_postgres(self.db)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.submit(fn, *args)

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue fn on the store's thread now (writes keep the order they were submitted in)."""
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self.db.close()

    # -- writes (on the store's thread) ------------------------------------------------------------------
    def save_conversation(self, row: dict[str, Any]) -> None:
        values = [json.dumps(row[f]) if f == "agents" else row[f] for f in _CONV_FIELDS]
        self.db.execute(upsert("conversations", _CONV_FIELDS, ("id",)), values)

    def add_message(self, conv: str, at: float, sender: str, author: str, text: str) -> int:
        self.db.execute("BEGIN")
        try:
            mid = int(self.db.execute("INSERT INTO messages (conv, at, sender, author, text) VALUES (?, ?, ?, ?, ?) "
                                      "RETURNING id", (conv, at, sender, author, text)).fetchone()[0])
            if not self.pg:  # PostgreSQL's text index is on the messages themselves
                self.db.execute("INSERT INTO messages_fts (rowid, text, conv) VALUES (?, ?, ?)", (mid, text, conv))
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise
        return mid

    def purge(self, before: float) -> int:
        """Delete conversations closed before `before`, with their messages; how many went."""
        ids = [r[0] for r in self.db.execute("SELECT id FROM conversations WHERE closed IS NOT NULL AND closed < ?",
                                              (before,))]
        self.db.execute("BEGIN")
        try:
            for cid in ids:
                self.db.execute("DELETE FROM messages WHERE conv = ?", (cid,))
                if not self.pg:
                    self.db.execute("DELETE FROM messages_fts WHERE conv = ?", (cid,))
                self.db.execute("DELETE FROM conversations WHERE id = ?", (cid,))
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise
        return len(ids)

    # -- reads -------------------------------------------------------------------------------------------
    @staticmethod
    def _conv(r: Any) -> dict[str, Any]:
        d = dict(r)
        d.pop("token_hash", None)
        d["agents"] = json.loads(d["agents"])
        d["bot"] = bool(d["bot"])
        return d

    def by_token(self, token: str) -> dict[str, Any] | None:
        r = self.db.execute("SELECT * FROM conversations WHERE token_hash = ? ORDER BY created DESC LIMIT 1",
                            (token_hash(token),)).fetchone()
        return self._conv(r) if r else None

    def open_conversations(self) -> list[dict[str, Any]]:
        """Conversations not closed (a restart takes them up again), with their token hash."""
        out = []
        for r in self.db.execute("SELECT * FROM conversations WHERE closed IS NULL ORDER BY created"):
            d = self._conv(r)
            d["token_hash"] = r["token_hash"]
            d["messages"] = self.messages(d["id"])
            out.append(d)
        return out

    def messages(self, conv: str, after: int = 0) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.execute(
            "SELECT id, at, sender, author, text FROM messages WHERE conv = ? AND id > ? ORDER BY id", (conv, after))]

    def last_agent(self, contact: str) -> str | None:
        """The agent who last handled this contact's conversation (sticky routing)."""
        r = self.db.execute("SELECT agent FROM conversations WHERE contact = ? AND agent IS NOT NULL "
                            "AND accepted IS NOT NULL ORDER BY created DESC LIMIT 1", (contact,)).fetchone()
        return r[0] if r else None

    def search(self, text: str = "", contact: str = "", agent: str = "", limit: int = 50) -> list[dict[str, Any]]:
        """Conversations, newest first, by contact (e-mail or id), by words in their messages, by agent."""
        where, args = [], []
        if contact:
            where.append("(c.contact = ? OR c.email = ?)")
            args += [contact.strip().lower(), contact.strip().lower()]
        if agent:
            where.append("c.agents LIKE ?")
            args.append(f'%"{agent}"%')
        if text and self.pg:
            if query := _tsquery(text):
                where.append("c.id IN (SELECT conv FROM messages "
                             "WHERE to_tsvector('simple', text) @@ to_tsquery('simple', ?))")
                args.append(query)
            else:  # no letters or digits: nothing to find (as FTS5 finds nothing for them)
                where.append("1 = 0")
        elif text:
            where.append("c.id IN (SELECT conv FROM messages_fts WHERE messages_fts MATCH ?)")
            # each word as a quoted prefix: no FTS5 syntax from a user's words
            args.append(" ".join('"' + w.replace('"', '""') + '"*' for w in text.split()))
        sql = "SELECT * FROM conversations c" + (" WHERE " + " AND ".join(where) if where else "")
        sql += " ORDER BY c.created DESC LIMIT ?"
        return [self._conv(r) for r in self.db.execute(sql, (*args, limit))]

    def agent_figures(self, agent: str, now: float, service_level: float) -> dict[str, Any]:
        """An agent's own chat figures over 24 h, 7, 14 and 30 days, in all and per queue:
        handled, and the service level (accepted within `service_level` seconds of waiting)."""
        out: dict[str, Any] = {}
        for name, days in (("24h", 1), ("7d", 7), ("14d", 14), ("30d", 30)):
            rows = self.db.execute(
                "SELECT channel, queue, count(*), sum(CASE WHEN accepted - enqueued <= ? THEN 1 ELSE 0 END) "
                "FROM conversations WHERE agent = ? AND outcome = 'handled' AND closed >= ? "
                "GROUP BY channel, queue", (service_level, agent, now - days * 86400)).fetchall()
            queues = {f"{r[0]}:{r[1]}": {"channel": r[0], "queue": r[1], "handled": r[2],
                                         "service_level": round(100.0 * r[3] / r[2], 1)} for r in rows}
            handled = sum(q["handled"] for q in queues.values())
            in_sl = sum(r[3] for r in rows)
            out[name] = {"handled": handled, "service_level": round(100.0 * in_sl / handled, 1) if handled else None,
                         "queues": queues}
        return out

    def day_figures(self, since: float) -> list[dict[str, Any]]:
        """Closed conversations since `since`, for the day's figures after a restart."""
        return [dict(r) for r in self.db.execute(
            "SELECT channel, queue, agent, enqueued, accepted, closed, outcome FROM conversations "
            "WHERE closed >= ?", (since,))]


_TOKEN = re.compile(r"[^\W_]+")


def _tsquery(text: str) -> str:
    """The words of a search as FTS5 reads them there, for PostgreSQL: each word a phrase of its
    tokens (letters and digits) whose last one is a prefix, all words in one message. Only tokens
    go into the query, so a user's words never carry tsquery syntax."""
    words = [" <-> ".join(f"'{t}'" for t in tokens) + ":*" for w in text.split() if (tokens := _TOKEN.findall(w))]
    return " & ".join(words)
