"""Which backend a store is: the configuration's `[store] url` (PostgreSQL) or the SQLite file."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .buffered import BufferedStore
from .postgres import PostgresStore, is_url
from .settings import StoreSettings
from .sqlite import SQLiteStore


def store_url(settings: Any) -> str:
    """The PostgreSQL URL the settings name ("" for the embedded SQLite store)."""
    return settings.section("store", StoreSettings).resolved_url()


def capability_target(settings: Any, name: str) -> str:
    """Where a capability keeps its own database: the main store's PostgreSQL (in a schema of its
    own, server/store/portable.py) when `[store] url` names one, else its SQLite file beside the
    main one, ``<db_path>.<name>.sqlite3`` (as ``Context.db_path`` names it)."""
    if url := store_url(settings):
        return url
    db = str(settings.server.db_file)
    return ":memory:" if db == ":memory:" else f"{db}.{name}.sqlite3"


def open_store(target: str | Path, *, local: str | Path = "") -> SQLiteStore | PostgresStore:
    """A synchronous store (CLI, tools, tests): PostgreSQL for a postgresql:// URL, else an SQLite file.
    ``local``: where a PostgreSQL store's read models keep their files."""
    if is_url(target):
        return PostgresStore(str(target), local=str(local))
    return SQLiteStore(target)


def open_configured(settings: Any, db: str | Path | None = None) -> SQLiteStore | PostgresStore:
    """The store the settings name; an explicit SQLite file (``--db``) wins over `[store] url`."""
    if db is None and (url := store_url(settings)):
        return PostgresStore(url, local=str(settings.server.db_file))
    return SQLiteStore(db or settings.server.db_file)


def server_store(settings: Any) -> BufferedStore:
    """The server's store: writes through the writer thread, on the configured backend."""
    return BufferedStore(settings.server.db_file, url=store_url(settings) or None)
