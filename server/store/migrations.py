"""One migration mechanism for both backends: numbered steps, one list per backend, same numbers.

Step N of `sqlite.MIGRATIONS` and step N of `postgres.MIGRATIONS` make the same schema change in
each engine's own SQL (types, identity columns and partial indexes differ too much for one text).
A database records how far it has come (SQLite: PRAGMA user_version; PostgreSQL: the one-row table
``schema_version``), and each step runs in one transaction with that number, so a crash between
two steps leaves a database at a known step. Numbered SQL was chosen over a migration framework
(Alembic, yoyo): the schema is a handful of tables, both lists fit on a screen, and the tests check
that the two lists are the same length, so neither backend can fall behind the other unnoticed.

PostgreSQL takes a transaction-level advisory lock while it migrates: two servers starting against
one database (a standby beside its leader) never run a step twice.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# A fixed key for pg_advisory_xact_lock: "cc-console schema" in a bigint.
PG_MIGRATION_LOCK = 0x63632D736368656D


def statements(sql: str) -> list[str]:
    """A step's statements (our steps have no ';' inside a statement)."""
    return [s for s in (part.strip() for part in sql.split(";")) if s]


def pg_migrate(conn: Any, migrations: Sequence[str]) -> int:
    """Apply the steps a PostgreSQL database has not had yet, each in one transaction; the version.

    ``conn`` is a psycopg connection in autocommit mode (each step opens its own transaction)."""
    from psycopg.rows import tuple_row

    version = 0
    while True:
        with conn.transaction():
            # The lock first: even CREATE TABLE IF NOT EXISTS races with itself in another session.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_MIGRATION_LOCK,))
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.cursor(row_factory=tuple_row).execute("SELECT version FROM schema_version").fetchone()
            if row is None:
                conn.execute("INSERT INTO schema_version VALUES (0)")
                version = 0
            else:
                version = int(row[0])
            if version >= len(migrations):
                return version
            for stmt in statements(migrations[version]):
                conn.execute(stmt)
            conn.execute("UPDATE schema_version SET version = %s", (version + 1,))
