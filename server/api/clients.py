"""API clients: other systems that call the REST API with their own long-lived tokens and scopes.

A client has a name, a role (whose permissions are the most it can have) and scopes (the
permissions it is given, a subset of the role's). Its token is 256-bit random, shown once when the
client is added and stored only as a SHA-256 (enough for a high-entropy secret; no KDF needed).
Kept in their own database beside the main one (``<db_path>.api.sqlite3``), or with `[store] url`
in the schema ``api`` of the main store's PostgreSQL (server/store/portable.py), managed with
``cc-console admin api-client add|list|revoke``.
"""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cc_console.models import ROLE_PERMISSIONS, Role
from cc_console.server.auth import Principal, token_hash
from cc_console.server.store.portable import open_db, upsert
from cc_console.server.store.postgres import is_url, redact

TOKEN_PREFIX = "cca_"  # tells an API client's token from a console session token at a glance
PRINCIPAL_PREFIX = "api:"  # user names never contain ':', so an API client never passes for a user

MIGRATIONS = [
    """
    CREATE TABLE api_clients (
        name       TEXT PRIMARY KEY,
        role       TEXT NOT NULL,
        scopes     TEXT NOT NULL,
        token_hash TEXT NOT NULL UNIQUE,
        created    REAL NOT NULL,
        revoked    REAL,
        last_used  REAL
    );
    """,
]


def default_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.api.sqlite3")


@dataclass
class ApiClient:
    name: str
    role: Role
    scopes: frozenset[str]
    created: float
    revoked: float | None = None
    last_used: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": str(self.role), "scopes": sorted(self.scopes), "created": self.created,
                "revoked": self.revoked, "last_used": self.last_used}


class ApiClients:
    def __init__(self, path: str | Path, clock: Callable[[], float] = time.time) -> None:
        self.path = redact(str(path)) if is_url(path) else str(path)  # never the database's password
        # principal() reads on the event loop (each API request): on PostgreSQL bounded as the main
        # store's reads on the loop are.
        self.db = open_db(path, schema="api", migrations=MIGRATIONS, statement_timeout=0.5)
        self.clock = clock
        self._lock = threading.Lock()

    def close(self) -> None:
        self.db.close()

    @staticmethod
    def _row(r: Any) -> ApiClient:
        return ApiClient(r["name"], Role(r["role"]), frozenset(filter(None, r["scopes"].split(" "))), r["created"],
                         r["revoked"], r["last_used"])

    def add(self, name: str, role: Role | str, scopes: list[str] | None = None) -> str:
        """Add a client; returns its token (the only time it is ever seen)."""
        role = Role(role)
        if not name or not name.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("a client name is letters, digits, '.', '-' or '_'")
        allowed = ROLE_PERMISSIONS[role]
        wanted = frozenset(scopes) if scopes else allowed
        beyond = sorted(wanted - allowed)
        if beyond:
            raise ValueError(f"role {role} cannot be given {', '.join(beyond)}; "
                             f"its scopes are {', '.join(sorted(allowed))}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._lock:
            old = self.db.execute("SELECT revoked FROM api_clients WHERE name=?", (name,)).fetchone()
            if old is not None and old["revoked"] is None:
                raise ValueError(f"an API client {name!r} exists; revoke it first")
            # A revoked client's name is given again: its row is replaced, its times start anew.
            self.db.execute(upsert("api_clients", ("name", "role", "scopes", "token_hash", "created", "revoked",
                                                   "last_used"), ("name",)),
                            (name, str(role), " ".join(sorted(wanted)), token_hash(token), self.clock(), None, None))
        return token

    def list(self) -> list[ApiClient]:
        return [self._row(r) for r in self.db.execute("SELECT * FROM api_clients ORDER BY name")]

    def revoke(self, name: str) -> None:
        with self._lock:
            cur = self.db.execute("UPDATE api_clients SET revoked=? WHERE name=? AND revoked IS NULL",
                                  (self.clock(), name))
        if cur.rowcount == 0:
            raise KeyError(name)

    def principal(self, token: str) -> Principal | None:
        """The principal of a live client's token; None when unknown or revoked."""
        r = self.db.execute("SELECT * FROM api_clients WHERE token_hash=? AND revoked IS NULL",
                            (token_hash(token),)).fetchone()
        if r is None:
            return None
        c = self._row(r)
        now = self.clock()
        if c.last_used is None or now - c.last_used > 60:  # a write per minute at most, not per request
            with self._lock:
                self.db.execute("UPDATE api_clients SET last_used=? WHERE name=?", (now, c.name))
        return Principal(PRINCIPAL_PREFIX + c.name, c.name, c.role, c.scopes & ROLE_PERMISSIONS[c.role], token)
