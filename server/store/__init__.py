"""Event log and projections. `open_store(path)` gives the embedded SQLite backend,
`open_store("postgresql://...")` the PostgreSQL one (docs/storage.md)."""
from .base import EventReader, Store, StoredEvent
from .buffered import BufferedStore
from .factory import capability_target, open_configured, open_store, server_store, store_url
from .postgres import PostgresEventReader, PostgresStore, redact
from .reader import SQLiteEventReader
from .settings import StoreSettings
from .sqlite import SQLiteStore

__all__ = ["BufferedStore", "EventReader", "PostgresEventReader", "PostgresStore", "SQLiteEventReader",
           "SQLiteStore", "Store", "StoreSettings", "StoredEvent", "capability_target", "open_configured",
           "open_store", "redact", "server_store", "store_url"]
