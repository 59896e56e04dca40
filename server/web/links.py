"""Transfer receiver links: one random token per transfer, kept as a hash, with an expiry.

The employee a call is transferred to gets the link by e-mail; whoever holds it can read the
caller's data until it expires, so the token is 256 bits, only its SHA-256 is stored, and an
expired link is deleted on the next write.
"""
from __future__ import annotations

import hashlib
import json
import secrets
import threading
from dataclasses import dataclass
from typing import Any

from cc_console.server.store.portable import open_db

MIGRATIONS = [
    """
    CREATE TABLE links (
        token_hash TEXT PRIMARY KEY,
        call_id    TEXT NOT NULL,
        person     TEXT NOT NULL,
        data       TEXT NOT NULL,
        created    REAL NOT NULL,
        expires    REAL NOT NULL,
        opened     REAL
    );
    CREATE INDEX links_expires ON links(expires);
    """,
]


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class TransferLink:
    call_id: str
    person: str
    data: dict[str, Any]
    created: float
    expires: float
    opened: float | None


class LinkStore:
    """Blocking (an SQLite file, or with `[store] url` the schema "web" of the main store's
    PostgreSQL); the capability calls it through asyncio.to_thread."""

    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        with self._lock:
            self._db = open_db(path, schema="web", migrations=MIGRATIONS)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, call_id: str, person: str, data: dict[str, Any], now: float, ttl: float) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._db.execute("DELETE FROM links WHERE expires < ?", (now,))
            self._db.execute("INSERT INTO links (token_hash, call_id, person, data, created, expires, opened) "
                             "VALUES (?,?,?,?,?,?,NULL)",
                             (token_hash(token), call_id, person, json.dumps(data, ensure_ascii=False), now,
                              now + ttl))
        return token

    def open(self, token: str, now: float) -> TransferLink | None:
        """The link's data when it exists and has not expired; the first opening is recorded."""
        h = token_hash(token)
        with self._lock:
            row = self._db.execute("SELECT * FROM links WHERE token_hash=?", (h,)).fetchone()
            if row is None or row["expires"] <= now:
                return None
            if row["opened"] is None:
                self._db.execute("UPDATE links SET opened=? WHERE token_hash=?", (now, h))
        return TransferLink(row["call_id"], row["person"], json.loads(row["data"]), row["created"], row["expires"],
                            row["opened"] or now)
