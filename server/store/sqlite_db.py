"""Opening an embedded SQLite database the way every store of ours wants it, and migrating it.

The main store and each capability's own database (directory, contacts, recordings) share this:
WAL, synchronous=NORMAL, a busy timeout, autocommit with explicit transactions, and numbered
migrations recorded in PRAGMA user_version, each applied atomically.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path


def connect(path: str | Path, *, foreign_keys: bool = False, busy_timeout: float = 5.0) -> sqlite3.Connection:
    """busy_timeout: how long a statement waits for another connection's lock before it fails with
    "database is locked"; the thread running it waits that long, so keep it short on the event loop."""
    path = str(path)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    db.row_factory = sqlite3.Row
    if path != ":memory:":
        db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
    if foreign_keys:
        db.execute("PRAGMA foreign_keys=ON")
    return db


def migrate(db: sqlite3.Connection, migrations: Sequence[str]) -> int:
    """Apply the migrations this database has not had yet, each in one transaction; the version."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    for i, sql in enumerate(migrations[version:], start=version + 1):
        db.execute("BEGIN IMMEDIATE")
        try:
            for stmt in filter(str.strip, sql.split(";")):
                db.execute(stmt)
            db.execute(f"PRAGMA user_version={i}")
            db.execute("COMMIT")
        except Exception:
            db.execute("ROLLBACK")
            raise
        version = i
    return version

