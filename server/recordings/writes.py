"""The recordings' writes that the engine's hooks ask for, done off the event loop, one at a time
and in the order asked.

The hooks run on the loop (server/capability.py CallHooks); an SQLite or PostgreSQL write there
held up every call and console for as long as the database took: a lost call's metadata row was
16 % of a call's fixed CPU, and a lock held by another connection (a backup, the purge) could stop
the loop for the database's busy timeout. Order matters (a row's insert before its updates), so
one worker task runs them in a thread one after the other; `drain()` waits for all of them, and
the service drains before it closes its store, so a row asked for just before the server stops
is written."""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class SerialWrites:
    def __init__(self) -> None:
        self._queue: deque[tuple[str, Callable[..., Any], tuple[Any, ...]]] = deque()
        self._worker: asyncio.Task[None] | None = None

    def submit(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) in a thread after every write submitted before it. Without a running loop
        (a synchronous caller: tools, tests of the service alone) it runs at once."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._run(what, fn, args)
            return
        self._queue.append((what, fn, args))
        if self._worker is None or self._worker.done():
            self._worker = loop.create_task(self._work(), name="recordings-writes")

    async def _work(self) -> None:
        while self._queue:
            # What queued up meanwhile goes in one thread hop: a burst of ended calls costs one.
            batch = list(self._queue)
            try:
                await asyncio.to_thread(self._run_all, batch)
            finally:
                for _ in batch:  # written or logged as failed: never tried twice, never skipped
                    self._queue.popleft()

    @classmethod
    def _run_all(cls, batch: list[tuple[str, Callable[..., Any], tuple[Any, ...]]]) -> None:
        for what, fn, args in batch:
            cls._run(what, fn, args)

    @staticmethod
    def _run(what: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("recordings: %s was not written", what)

    def __len__(self) -> int:
        return len(self._queue)

    async def drain(self) -> None:
        """Wait until every write submitted so far is done (the server's stop; tests)."""
        while self._queue:
            if self._worker is None or self._worker.done():  # a worker cancelled with writes left
                self._worker = asyncio.get_running_loop().create_task(self._work(), name="recordings-writes")
            await asyncio.shield(self._worker)
