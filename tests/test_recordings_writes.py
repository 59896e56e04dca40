"""The recordings' hook writes are off the event loop, in order, and none is lost at the server's
stop (server/recordings/writes.py). Fast: no Asterisk; the service over its own SQLite file."""
from __future__ import annotations

import sqlite3
import time
from types import SimpleNamespace

from cc_console.models import Call, CallState
from cc_console.server.recordings import RecordingService, RecordingSettings, RecordingStore
from cc_console.server.recordings.store import default_path


def _service(tmp_path) -> RecordingService:
    engine = SimpleNamespace(cfg=SimpleNamespace(queues={}))
    store = RecordingStore(default_path(tmp_path / "cc.sqlite3"))
    return RecordingService(engine, store, RecordingSettings(folder=tmp_path / "rec", purge_interval=0))


def _lost(n: int) -> Call:
    now = time.time()
    return Call(id=f"lost-{n}", caller=f"06110000{n:02d}", did="5000", queue="support", channel=f"ch-{n}",
                bridge="", state=CallState.ENDED, created=now - 20, enqueued=now - 18, end_reason="caller")


def _rows(tmp_path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(default_path(tmp_path / "cc.sqlite3")) as db:
        return db.execute("SELECT call_id, call_type, status FROM recordings ORDER BY caller").fetchall()


async def test_a_locked_database_does_not_hold_up_the_loop_and_the_row_comes_after(tmp_path):
    svc = _service(tmp_path)
    other = sqlite3.connect(default_path(tmp_path / "cc.sqlite3"), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another connection holds the write lock (a backup, a purge)
    try:
        t0 = time.monotonic()
        svc.call_ended(_lost(1), "call.abandoned")
        svc.call_ended(_lost(2), "call.abandoned")
        # Before: the hook waited on the lock for the busy timeout (5 s) and then failed.
        assert time.monotonic() - t0 < 0.5
        assert len(svc.writes) == 2  # waiting, not dropped
    finally:
        other.execute("COMMIT")
        other.close()
    await svc.writes.drain()
    assert _rows(tmp_path) == [("lost-1", "lost", "no_audio"), ("lost-2", "lost", "no_audio")]
    await svc.on_cleanup()


async def test_a_stop_right_after_a_calls_end_still_writes_its_row(tmp_path):
    svc = _service(tmp_path)
    for n in range(20):
        svc.call_ended(_lost(n), "call.abandoned" if n % 2 else "call.ended")
    await svc.on_cleanup()  # what the server's stop runs: drains the writes, then closes the store
    rows = _rows(tmp_path)
    assert [r[0] for r in rows] == [f"lost-{n}" for n in range(20)]
    assert {r[1] for r in rows} == {"lost", "not_reached"}


async def test_writes_run_in_the_order_asked(tmp_path):
    svc = _service(tmp_path)
    done: list[int] = []
    for n in range(50):
        svc.writes.submit(f"write {n}", done.append, n)
    await svc.writes.drain()
    assert done == list(range(50))
    await svc.on_cleanup()
