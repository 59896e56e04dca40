"""Event log and projections. `open_store(path)` gives the embedded SQLite backend."""
from .base import EventReader, Store, StoredEvent
from .buffered import BufferedStore
from .reader import SQLiteEventReader
from .sqlite import SQLiteStore, open_store

__all__ = ["BufferedStore", "EventReader", "SQLiteEventReader", "SQLiteStore", "Store", "StoredEvent", "open_store"]
