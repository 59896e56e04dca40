"""The server's store writer: one thread, its own SQLite connection, events applied in order.

The event loop hands each event over (already serialised, with its own id) and never waits. The
writer commits what has queued up in one transaction. When the database cannot be written (a
lock held by another process, a read-only or full disk) it appends the events to the journal,
fsync'd, and retries the database with growing pauses; every event that arrives meanwhile goes
behind them in the journal, so the order stays the order the server decided. When the database
works again the journal is replayed into it, in order and each event once, and emptied.

The same thread writes to PostgreSQL when the store has a URL (server/store/postgres.py): the
entries and the journal are the same, only the connection and the SQL differ.

The loop hears back through `notify(committed, fault, journaled)`, called in this thread:
`committed` counts the entries in the database so far (in submission order), `fault` says in
words why the database cannot be written (None when it can), `journaled` how many wait.
"""
from __future__ import annotations

import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from .journal import Journal
from .postgres import apply_entries as pg_apply_entries
from .postgres import connect as pg_connect
from .sqlite import apply_entries
from .sqlite_db import connect

log = logging.getLogger(__name__)

Notify = Callable[[int, "str | None", int], None]

_STOP = object()
BATCH_MAX = 500  # entries per transaction: a burst is written in a few commits, none of them long


def describe(exc: BaseException) -> str:
    """Why the database cannot be written, for a supervisor (the exception itself goes to the log)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text or "lock timeout" in text:
        return "the database is locked by another program"
    if "readonly" in text or "read-only" in text:
        return "the database is read-only"
    if "full" in text:
        return "the disk is full"
    if "connection" in text or "timeout" in text or "timed out" in text:
        return "the database cannot be reached"
    return "the database cannot be written"


class StoreWriter:
    def __init__(self, path: str | Path, journal: Journal, kept: list[str], notify: Notify, *,
                 busy_timeout: float = 0.2, retry_min: float = 0.05, retry_max: float = 2.0,
                 url: str | None = None) -> None:
        self.path = str(path)
        self.url = url  # a PostgreSQL store's DSN (path is then what the log shows: no password)
        self.journal = journal
        self.notify = notify
        self.busy_timeout = busy_timeout
        self.retry_min = retry_min
        self.retry_max = retry_max
        self._q: queue.SimpleQueue[object] = queue.SimpleQueue()
        # Entries not in the database yet, in order, all of them in the journal (unless the
        # journal itself failed: then only here, and the log says so).
        self._kept: list[str] = list(kept)
        self._committed = 0
        self._fault: str | None = None
        self._db: Any = None
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)

    # -- the loop's side ------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def submit(self, line: str) -> None:
        self._q.put(line)

    def stop(self) -> None:
        """Write (or journal) what is queued, then end the thread. Blocks for at most one attempt."""
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join()

    # -- the writer thread ------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self.retry_min
        next_try = 0.0  # a journal left by the last run is replayed at once
        stopping = False
        while not stopping:
            batch: list[str] = []
            timeout = max(0.0, next_try - time.monotonic()) if self._kept else None
            try:
                item = self._q.get(timeout=timeout)
                while True:
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)  # type: ignore[arg-type]
                    if len(batch) >= BATCH_MAX:
                        break
                    item = self._q.get_nowait()
            except queue.Empty:
                pass
            if self._kept:
                if batch:
                    self._spill(batch)  # behind what already waits: order is kept
                    self._set(0, self._fault)
                if time.monotonic() < next_try and not stopping:
                    continue
                fault = self._write(self._kept)
                if fault is None:
                    n = len(self._kept)
                    self._kept = []
                    self._clear_journal()
                    log.info("store: %d journaled event(s) written to the database", n)
                    self._set(n, None)
                    delay = self.retry_min
                else:
                    self._set(0, fault)
                    delay = min(delay * 2, self.retry_max)
                    next_try = time.monotonic() + delay
            elif batch:
                fault = self._write(batch)
                if fault is None:
                    self._set(len(batch), None)
                else:
                    self._spill(batch)
                    self._set(0, fault)  # after the spill: whoever hears of the fault finds them journaled
                    delay = self.retry_min
                    next_try = time.monotonic() + delay
        if self._kept:
            log.warning("store: stopping with %d event(s) in the journal %s; they are written at the next start",
                        len(self._kept), self.journal.path)
        if self._db is not None:
            self._db.close()

    def _write(self, lines: list[str]) -> str | None:
        """Apply the entries; None when they are in the database, else why not (in words)."""
        try:
            if self._db is None:
                self._db = self._connect()
            apply = pg_apply_entries if self.url else apply_entries
            for i in range(0, len(lines), BATCH_MAX * 20):
                # One transaction per chunk: a chunk's events land together or not at all, and
                # a chunk already written is skipped by its events' ids when it is tried again.
                apply(self._db, [json.loads(line) for line in lines[i:i + BATCH_MAX * 20]])
            return None
        except Exception as exc:  # this thread must live on: events keep coming
            # A fresh connection for the next attempt: nothing of a failed one (a transaction
            # that could not be rolled back) can make the database look locked for ever.
            if self._db is not None:
                with contextlib.suppress(Exception):
                    self._db.close()
                self._db = None
            fault = describe(exc)
            log.debug("store: write of %d entries failed: %r", len(lines), exc)
            if fault != self._fault:
                log.error("store: cannot write to %s (%s); events are kept in %s until it can",
                          self.path, exc, self.journal.path, exc_info=not _db_error(exc))
            return fault

    def _connect(self) -> Any:
        if self.url:
            # A lock held by another session fails the batch after busy_timeout, as with SQLite: the
            # events go to the journal rather than the thread waiting behind the lock.
            return pg_connect(self.url, statement_timeout=10.0, lock_timeout=self.busy_timeout)
        return connect(self.path, foreign_keys=True, busy_timeout=self.busy_timeout)

    def _spill(self, batch: list[str]) -> None:
        self._kept.extend(batch)
        try:
            self.journal.append(batch)
        except OSError as exc:
            log.error("store: %d event(s) could not be journaled (%s); kept in memory only", len(batch), exc)

    def _clear_journal(self) -> None:
        try:
            self.journal.clear()
        except OSError as exc:  # replaying it again later is harmless: its events' ids are stored
            log.error("store: could not empty the journal %s: %s", self.journal.path, exc)

    def _set(self, committed: int, fault: str | None) -> None:
        self._committed += committed
        self._fault = fault
        try:
            self.notify(self._committed, fault, len(self._kept))
        except Exception:
            log.exception("store writer: notify failed")


def _db_error(exc: BaseException) -> bool:
    """A database's own refusal (logged without a traceback), not a fault of ours."""
    return isinstance(exc, sqlite3.Error | psycopg.Error)
