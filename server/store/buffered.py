"""The server's store: writes never wait for the database, reads see every write at once.

`record` and `save_callback` serialise the event on the event loop (so it is a snapshot of that
moment, time stamp included) and hand it to the writer thread (server/store/writer.py); they
never block and never raise for a database fault. Until the writer reports an event committed
it stays in `_pending`, and the reads (events, calls, agents, callbacks) lay the pending events
over what the database holds, so the server reads its own writes even while the database is
locked, and after a restart with a non-empty journal.

Sessions go the same way, so consoles can log in while the database is locked. Users are read
and written directly, on a connection with a short busy timeout: while the database is locked an
admin's change to a user (or a TOTP login, which records the code's step) fails quickly instead
of freezing every console.

With a URL (`[store] url`, docs/storage.md) the database is PostgreSQL (server/store/postgres.py):
the writer thread, the journal (still a local file, beside the configured SQLite path) and the
pending events laid over the reads are the same; only the base store differs.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .base import EventReader, StoredEvent
from .journal import Journal, journal_path
from .postgres import PostgresStore
from .sqlite import SQLiteStore, callback_entry, entry_event, record_entry
from .writer import StoreWriter

log = logging.getLogger(__name__)

# Reads and user changes on the event loop give up after this long on a lock held elsewhere, so
# a locked database stalls the loop for no more than this.
LOOP_BUSY_TIMEOUT = 0.1


def new_eid() -> str:
    """An event's idempotency key: 32 random hex digits, as uuid4().hex gave (nothing parses it as a
    UUID), without building a UUID object for each of a call's events."""
    return os.urandom(16).hex()


class BufferedStore:
    def __init__(self, path: str | Path, *, url: str | None = None, busy_timeout: float = LOOP_BUSY_TIMEOUT,
                 writer_busy_timeout: float = 0.2, retry_max: float = 2.0) -> None:
        self.base: SQLiteStore | PostgresStore
        if url:
            self.base = PostgresStore(url, local=str(path))
        else:
            self.base = SQLiteStore(path, busy_timeout=busy_timeout)
        self.path = self.base.path  # for PostgreSQL, its DSN without the password
        self.fault: str | None = None
        self.journaled = 0
        # Called on the loop when the database stops or starts taking writes: health(), then.
        self.on_status: Callable[[dict[str, Any]], None] = lambda health: None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._committed = 0
        self._writer: StoreWriter | None = None
        self._closed = False
        self._drained: asyncio.Future[None] | None = None
        self._written_waiters: list[tuple[int, asyncio.Future[None]]] = []  # (commit count, waiter)
        kept: list[str] = []
        if url or self.path != ":memory:":  # a memory database has one connection: written in place
            journal = Journal(journal_path(path))
            kept = journal.read()
            self._writer = StoreWriter(self.path, journal, kept, self._from_writer,
                                       busy_timeout=writer_busy_timeout, retry_max=retry_max, url=url)
            if kept:
                log.warning("store: %d event(s) in the journal %s from the last run; writing them",
                            len(kept), journal.path)
                self.journaled = len(kept)
        self._pending: deque[str] = deque(kept)
        # The open callbacks, kept from start() by save_callback: every console's snapshot lists them,
        # and the server is their only writer, so the loop need not ask the database each time.
        self._open: dict[str, dict[str, Any]] | None = None

    # -- life cycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer; its reports come back on the running loop."""
        if self._writer is not None and self._loop is None:
            self._loop = asyncio.get_running_loop()
            self._writer.start()
        if self._open is None:
            self._open = {c["id"]: c for c in self.callbacks("open")}

    def close(self) -> None:
        """Write or journal what is pending and close (blocks for one write attempt at most)."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            if self._loop is None:  # never started: let it write what it was given
                self._writer.start()
            self._writer.stop()
        self.base.close()

    def event_reader(self) -> EventReader:
        """Reads only what is committed: a read model sees an event once the writer wrote it."""
        return self.base.event_reader()

    def beside(self, suffix: str) -> str:
        return self.base.beside(suffix)

    @property
    def _db(self) -> Any:
        """The loop's own connection (tests and tools inspect tables through it): SQLite only."""
        if isinstance(self.base, PostgresStore):
            raise AttributeError("a PostgreSQL store has a pool, not one connection")
        return self.base._db

    async def drained(self) -> None:
        """Wait until every write so far is in the database (tests; a tool that reads it next)."""
        while self._pending:
            self._drained = asyncio.get_running_loop().create_future()
            await self._drained

    async def written(self, timeout: float) -> bool:
        """Wait until what was handed to the writer before this call is in the database (not what
        comes after: under steady traffic the queue is never empty); False after ``timeout``
        (the database is away: the caller reads what is there)."""
        if not self._pending or self._writer is None:
            return True
        done = asyncio.get_running_loop().create_future()
        self._written_waiters.append((self._committed + len(self._pending), done))
        try:
            async with asyncio.timeout(timeout):
                await done
            return True
        except TimeoutError:
            return False

    def committed_events(self, since: int = 0, kinds: tuple[str, ...] | None = None) -> Iterator[StoredEvent]:
        """Only the events in the database, with their real numbers: what a reader that resumes by
        event number needs (an event still pending has only a provisional number, which the
        database may not give it)."""
        return iter([ev for ev, _ in self.base.events_with_ids(since, kinds)])

    def health(self) -> dict[str, Any]:
        return {"ok": self.fault is None, "problem": self.fault, "unsaved": len(self._pending),
                "journaled": self.journaled}

    # -- writes ----------------------------------------------------------------------------------------
    def record(self, kind: str, *, ts: float, call: dict[str, Any] | None = None,
               agent: dict[str, Any] | None = None, queue: str | None = None,
               data: dict[str, Any] | None = None, call_id: str | None = None,
               agent_id: str | None = None) -> int:
        """Queue one event and its projection; 0 (its seq is not known until it is written)."""
        self._submit(record_entry(kind, ts=ts, call=call, agent=agent, queue=queue, data=data,
                                  call_id=call_id, agent_id=agent_id, eid=new_eid()))
        return 0

    def save_callback(self, item: dict[str, Any]) -> None:
        self._submit(callback_entry(item, eid=new_eid()))
        if self._open is not None:
            if item.get("state") == "open":
                self._open[item["id"]] = json.loads(json.dumps(item, default=str))  # as the database gives it back
            else:
                self._open.pop(item["id"], None)

    def _submit(self, entry: dict[str, Any]) -> None:
        if self._writer is None:
            self._apply_now(entry)
            return
        if self._closed:
            log.error("store: %s after close is lost", entry.get("kind") or entry["op"])
            return
        line = json.dumps(entry, default=str, separators=(",", ":"))
        self._pending.append(line)
        self._writer.submit(line)

    def _apply_now(self, entry: dict[str, Any]) -> None:
        if entry["op"] == "session":
            if entry["expires"] is None:
                self.base.delete_session(entry["token_hash"])
            else:
                self.base.save_session(entry["token_hash"], entry["username"], entry["expires"])
        elif entry["op"] == "callback":
            self.base.save_callback(entry["item"])
        else:
            self.base.record(entry["kind"], ts=entry["ts"], call=entry["call"], agent=entry["agent"],
                             queue=entry["queue"], data=entry["data"], call_id=entry["call_id"],
                             agent_id=entry["agent_id"])

    def _from_writer(self, committed: int, fault: str | None, journaled: int) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._progress, committed, fault, journaled)
        except RuntimeError:  # the loop closed meanwhile: nobody is left to tell
            pass

    def _progress(self, committed: int, fault: str | None, journaled: int) -> None:
        for _ in range(min(committed - self._committed, len(self._pending))):
            self._pending.popleft()
        self._committed = committed
        if self._written_waiters:
            still = []
            for target, fut in self._written_waiters:
                if committed >= target:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    still.append((target, fut))
            self._written_waiters = still
        self.journaled = journaled
        if not self._pending and self._drained is not None and not self._drained.done():
            self._drained.set_result(None)
        if fault != self.fault:
            self.fault = fault
            if fault:
                log.error("store fault: %s; %d event(s) kept until the database takes them", fault,
                          len(self._pending))
            else:
                log.info("store: the database takes writes again")
            try:
                self.on_status(self.health())
            except Exception:
                log.exception("store status listener failed")

    # -- reads, with the pending events laid over the database ------------------------------------------
    def _pending_entries(self) -> list[dict[str, Any]]:
        # a copy first: readers in worker threads (exports, sessions, callbacks) while the loop changes it
        return [json.loads(line) for line in tuple(self._pending)]

    def events(self, since: int = 0, kinds: tuple[str, ...] | None = None,
               call_id: str | None = None) -> Iterator[StoredEvent]:
        pending = [e for e in self._pending_entries() if e.get("eid")]
        if pending:
            # Some pending events may be in the database already (the writer's report is on its
            # way), at or below `since` too, where the query below does not see them: asked
            # before the query, so that one committed in between is in the query's answer.
            written = self.base.written_eids([e["eid"] for e in pending])
            pending = [e for e in pending if e["eid"] not in written]
        found = self.base.events_with_ids(since, kinds, call_id)
        rows = [ev for ev, _ in found]
        if pending:
            seen = {eid for _, eid in found if eid}
            top = max(self.base.last_seq(), rows[-1].seq if rows else 0)
            for e in pending:
                if e["eid"] in seen:
                    continue
                top += 1  # provisional: the seq it will have once written, if nothing else writes
                ev = entry_event(e, top)
                if top > since and (not kinds or ev.kind in kinds) and (not call_id or ev.call_id == call_id):
                    rows.append(ev)
        return iter(rows)

    def _latest(self, key: str) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for e in self._pending_entries():
            obj = e.get(key) if e["op"] == "record" else None
            if obj is not None:
                out[obj["id"]] = obj
        return out

    def active_calls(self) -> list[dict[str, Any]]:
        calls = {c["id"]: c for c in self.base.active_calls()}
        calls.update(self._latest("call"))
        return [c for c in calls.values() if str(c.get("state")) != "ended"]

    def call(self, call_id: str) -> dict[str, Any] | None:
        return self._latest("call").get(call_id) or self.base.call(call_id)

    def agents(self) -> list[dict[str, Any]]:
        agents = {a["id"]: a for a in self.base.agents()}
        agents.update(self._latest("agent"))
        return [agents[k] for k in sorted(agents)]

    def callbacks(self, state: str | None = "open") -> list[dict[str, Any]]:
        if state == "open" and self._open is not None:
            # list() first: callbacks.list reads this in a worker thread while the loop may save one
            return sorted((dict(c) for c in list(self._open.values())), key=lambda c: c["requested"])
        items = {c["id"]: c for c in self.base.callbacks(state)}
        for e in self._pending_entries():
            if e["op"] != "callback":
                continue
            item = e["item"]
            if not state or state == "all" or item["state"] == state:
                items[item["id"]] = item
            else:  # its state moved on (a callback done): no longer in this list
                items.pop(item["id"], None)
        return sorted(items.values(), key=lambda c: c["requested"])

    # -- users and sessions: straight through ------------------------------------------------------------
    def add_user(self, user: dict[str, Any]) -> None:
        self.base.add_user(user)

    def update_user(self, username: str, **fields: Any) -> None:
        self.base.update_user(username, **fields)

    def get_user(self, username: str) -> dict[str, Any] | None:
        return self.base.get_user(username)

    def list_users(self) -> list[dict[str, Any]]:
        return self.base.list_users()

    def delete_user(self, username: str) -> None:
        self.base.delete_user(username)

    def roles(self) -> list[dict[str, Any]]:
        return self.base.roles()

    def get_role(self, name: str) -> dict[str, Any] | None:
        return self.base.get_role(name)

    def save_role(self, role: dict[str, Any]) -> None:
        self.base.save_role(role)

    def delete_role(self, name: str) -> None:
        self.base.delete_role(name)

    def save_session(self, token_hash: str, username: str, expires: float) -> None:
        self._submit({"op": "session", "token_hash": token_hash, "username": username, "expires": expires})

    def get_session(self, token_hash: str) -> dict[str, Any] | None:
        for e in reversed(self._pending_entries()):
            if e["op"] == "session" and e["token_hash"] == token_hash:
                if e["expires"] is None:
                    return None
                return {"token_hash": token_hash, "username": e["username"], "expires": e["expires"]}
        return self.base.get_session(token_hash)

    def delete_session(self, token_hash: str) -> None:
        self._submit({"op": "session", "token_hash": token_hash, "username": "", "expires": None})
