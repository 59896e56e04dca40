"""Event log and projections. `open_store(path)` gives the embedded SQLite backend."""
from .base import Store, StoredEvent
from .buffered import BufferedStore
from .sqlite import SQLiteStore, open_store

__all__ = ["BufferedStore", "SQLiteStore", "Store", "StoredEvent", "open_store"]
