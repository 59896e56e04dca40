"""Reading the event log from a thread of one's own: a read model folds it in order (reports).

The reader has its own read-only connection, so a long fold never holds the loop's connection or
the writer's lock, and never writes. Rows are ``(seq, ts, kind, call_id, agent_id, queue, data)``
with ``data`` still JSON text: the fold decodes what it needs.
"""
from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

# (int seq, float ts, str kind, call_id, agent_id, queue, str data)
EventRow = tuple[Any, ...]
_COLS = "seq, ts, kind, call_id, agent_id, queue, data"


class SQLiteEventReader:
    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        p = Path(path)
        if str(path) == ":memory:" or not p.exists():
            raise FileNotFoundError(f"no event store at {path}")
        self.path = p
        self._db = sqlite3.connect(f"file:{p.resolve()}?mode=ro", uri=True, check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")

    def rows_after(self, seq: int, limit: int) -> list[EventRow]:
        """The next ``limit`` events after ``seq``, in order."""
        rows: list[Any] = self._db.execute(f"SELECT {_COLS} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                           (seq, limit)).fetchall()
        return rows

    def rows_of_call(self, call_id: str, upto: int) -> list[EventRow]:
        """A call's events up to and including ``upto``."""
        rows: list[Any] = self._db.execute(f"SELECT {_COLS} FROM events WHERE call_id = ? AND seq <= ?",
                                           (call_id, upto)).fetchall()
        return rows

    def close(self) -> None:
        self._db.close()
