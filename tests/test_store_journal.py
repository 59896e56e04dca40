"""The server's store without Asterisk: writes never wait for a locked database, reads see them
at once, the journal keeps them in order and a replay applies each of them once."""
from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cc_console.server.store import BufferedStore, SQLiteStore
from cc_console.server.store.journal import Journal, journal_path
from cc_console.server.store.sqlite import apply_entries, record_entry


@contextlib.contextmanager
def locked(db: Path) -> Iterator[None]:
    """Another connection holds the write lock until the block ends."""
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        con = sqlite3.connect(db, isolation_level=None)
        con.execute("BEGIN EXCLUSIVE")
        held.set()
        release.wait()
        con.execute("COMMIT")
        con.close()
    t = threading.Thread(target=hold)
    t.start()
    held.wait()
    try:
        yield
    finally:
        release.set()
        t.join()


def rows(db: Path) -> list[tuple[float, str, str, str]]:
    con = sqlite3.connect(db)
    try:
        return con.execute("SELECT ts, kind, call_id, eid FROM events ORDER BY seq").fetchall()
    finally:
        con.close()


def call(cid: str, state: str) -> dict:
    return {"id": cid, "state": state, "queue": "q1"}


async def test_locked_database_writes_queue_up_in_order_and_reads_see_them(tmp_path: Path) -> None:
    db = tmp_path / "cc.sqlite3"
    store = BufferedStore(db)
    store.start()
    faults: list[dict] = []
    told = asyncio.Event()
    store.on_status = lambda health: (faults.append(health), told.set())
    store.record("call.queued", ts=1.0, call=call("c1", "queued"))
    await store.drained()
    with locked(db):
        t = time.monotonic()
        for i, kind in enumerate(("call.offered", "call.connected", "call.completed")):
            store.record(kind, ts=2.0 + i, call=call("c1", "ended" if kind == "call.completed" else "connected"))
        store.save_callback({"id": "cb1", "kind": "callback", "queue": "q1", "state": "open", "requested": 9.0,
                             "call_id": "c2", "caller": "0600"})
        store.save_session("hash1", "agent1", 99.0)
        assert time.monotonic() - t < 0.05  # nothing waited for the lock
        await asyncio.wait_for(told.wait(), 5)  # the writer's first attempt runs into the lock
        assert faults[-1]["ok"] is False and "locked" in faults[-1]["problem"]
        # The server reads its own writes though the database has none of them yet.
        assert [e.kind for e in store.events(call_id="c1")] == [
            "call.queued", "call.offered", "call.connected", "call.completed"]
        assert store.active_calls() == [] and store.call("c1")["state"] == "ended"
        assert [c["id"] for c in store.callbacks()] == ["cb1"]
        assert store.get_session("hash1")["username"] == "agent1"
        assert [r[1] for r in rows(db)] == ["call.queued"]
        kept = Journal(journal_path(db)).read()
        assert [json.loads(x).get("kind") for x in kept][:3] == ["call.offered", "call.connected", "call.completed"]
    await store.drained()
    assert faults[-1] == {"ok": True, "problem": None, "unsaved": 0, "journaled": 0}
    assert [(r[0], r[1]) for r in rows(db)] == [(1.0, "call.queued"), (2.0, "call.offered"), (3.0, "call.connected"),
                                              (4.0, "call.completed"), (9.0, "callback.saved")]
    assert journal_path(db).read_text() == ""
    store.close()
    plain = SQLiteStore(db)
    assert plain.call("c1")["state"] == "ended" and plain.get_session("hash1")["username"] == "agent1"
    plain.close()


async def test_replay_after_a_crash_between_commit_and_truncation_applies_each_event_once(tmp_path: Path) -> None:
    db = tmp_path / "cc.sqlite3"
    SQLiteStore(db).close()
    entries = [record_entry(k, ts=float(i), call=call("c1", s), eid=f"e{i}")
               for i, (k, s) in enumerate([("call.queued", "queued"), ("call.connected", "connected"),
                                           ("call.completed", "ended")])]
    con = sqlite3.connect(db, isolation_level=None)
    apply_entries(con, entries[:2])  # committed, but the journal was not emptied: then the crash
    con.close()
    journal = Journal(journal_path(db))
    journal.append([json.dumps(e) for e in entries])
    with journal_path(db).open("a") as fh:
        fh.write('{"eid": "torn", "op": "rec')  # a crash in the middle of an append
    store = BufferedStore(db)
    assert store.health()["journaled"] == 3  # the torn line is no entry
    assert store.active_calls() == [] and store.call("c1")["state"] == "ended"  # before the replay
    store.start()
    await store.drained()
    assert [(r[1], r[3]) for r in rows(db)] == [("call.queued", "e0"), ("call.connected", "e1"),
                                               ("call.completed", "e2")]
    assert store.call("c1")["state"] == "ended" and journal_path(db).read_text() == ""
    store.close()


def test_the_loops_own_connection_gives_up_quickly_on_a_lock(tmp_path: Path) -> None:
    """User changes still write on the loop: a lock held elsewhere makes them fail fast, not
    freeze every console for the old five-second busy timeout."""
    db = tmp_path / "cc.sqlite3"
    store = BufferedStore(db)
    store.add_user({"username": "u1", "name": "U", "role": "agent", "password_hash": "x", "created": 1.0})
    with locked(db):
        t = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            store.update_user("u1", name="New name")
        assert time.monotonic() - t < 0.5
        assert store.get_user("u1")["name"] == "U"  # reads go on (WAL)
    store.update_user("u1", name="New name")
    assert store.get_user("u1")["name"] == "New name"
    store.close()
