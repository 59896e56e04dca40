"""The store on both backends: SQLite (the embedded default) and PostgreSQL (a real cluster of the
tests' own, tests/pg_cluster.py). The same calls give the same results; migrations are one
mechanism; the server's writer, journal and reads work on PostgreSQL as on SQLite."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from cc_console.server.store import BufferedStore, PostgresStore, open_store, redact
from cc_console.server.store import postgres as pg
from cc_console.server.store import sqlite as sq
from cc_console.server.store.journal import Journal, journal_path

from .pg_cluster import free_port
from .test_store_journal import locked as sqlite_locked


def call(cid: str, state: str) -> dict:
    return {"id": cid, "state": state, "queue": "q1"}


def test_events_projections_and_callbacks_on_each_backend(store_target: str, tmp_path: Path) -> None:
    store = open_store(store_target, local=tmp_path / "cc.sqlite3")
    s1 = store.record("call.queued", ts=1.5, call=call("c1", "queued"))
    s2 = store.record("agent.state", ts=2.0, agent={"id": "a1", "state": "ready"})
    s3 = store.record("call.completed", ts=3.0, call=call("c1", "ended"), data={"by": "agent"})
    store.record("call.queued", ts=4.0, call=call("c2", "queued"))
    assert s1 < s2 < s3
    evs = list(store.events())
    assert [(e.kind, e.ts, e.call_id, e.queue) for e in evs] == [
        ("call.queued", 1.5, "c1", "q1"), ("agent.state", 2.0, None, None),
        ("call.completed", 3.0, "c1", "q1"), ("call.queued", 4.0, "c2", "q1")]
    assert evs[2].data == {"by": "agent", "call": call("c1", "ended")}
    assert [e.kind for e in store.events(since=s2)] == ["call.completed", "call.queued"]
    assert [e.call_id for e in store.events(kinds=("call.queued",))] == ["c1", "c2"]
    assert [e.kind for e in store.events(call_id="c1")] == ["call.queued", "call.completed"]
    assert [c["id"] for c in store.active_calls()] == ["c2"]
    assert store.call("c1")["state"] == "ended" and store.call("nope") is None
    assert store.agents() == [{"id": "a1", "state": "ready"}]
    store.save_callback({"id": "cb1", "kind": "callback", "queue": "q1", "state": "open", "requested": 9.0})
    store.save_callback({"id": "cb2", "kind": "voicemail", "queue": "q1", "state": "open", "requested": 8.0})
    store.save_callback({"id": "cb1", "kind": "callback", "queue": "q1", "state": "done", "requested": 9.0})
    assert [c["id"] for c in store.callbacks()] == ["cb2"]
    assert [c["id"] for c in store.callbacks("all")] == ["cb2", "cb1"]
    assert [e.kind for e in store.events(kinds=("callback.saved", "voicemail.saved"))] == [
        "callback.saved", "voicemail.saved", "callback.saved"]
    # The read models' reader: rows as the fold wants them, data as JSON text.
    reader = store.event_reader()
    rows = reader.rows_after(s1, 2)
    assert [(r[0], r[2]) for r in rows] == [(s2, "agent.state"), (s3, "call.completed")]
    assert json.loads(rows[1][6]) == evs[2].data
    assert [r[2] for r in reader.rows_of_call("c1", s3)] == ["call.queued", "call.completed"]
    reader.close()
    store.close()


def test_users_roles_and_sessions_on_each_backend(store_target: str) -> None:
    store = open_store(store_target)
    user = {"username": "u1", "name": "U One", "role": "agent", "password_hash": "h", "created": 5.0,
            "queues": ["q1", "q2"], "disabled": False}
    store.add_user(user)
    with pytest.raises(ValueError, match="already exists"):
        store.add_user(user)
    got = store.get_user("u1")
    assert got["queues"] == ["q1", "q2"] and got["disabled"] == 0 and got["attrs"] == {} and got["source"] == "local"
    store.update_user("u1", disabled=True, attrs={"team": "red"}, totp_last_step=123456789)
    got = store.get_user("u1")
    assert got["disabled"] == 1 and got["attrs"] == {"team": "red"} and got["totp_last_step"] == 123456789
    with pytest.raises(KeyError):
        store.update_user("nobody", name="x")
    store.add_user({"username": "a0", "name": "A", "role": "lead", "password_hash": "h", "created": 1.0})
    assert [u["username"] for u in store.list_users()] == ["a0", "u1"]
    store.save_role({"name": "lead", "base": "supervisor", "permissions": {"b", "a"}, "queues": None})
    store.save_role({"name": "lead", "base": "supervisor", "permissions": {"c"}, "queues": ["q1"]})
    assert store.roles() == [{"name": "lead", "base": "supervisor", "permissions": ["c"], "queues": ["q1"]}]
    with pytest.raises(ValueError, match="still given to: a0"):
        store.delete_role("lead")
    store.save_session("t1", "u1", 99.0)
    store.save_session("t1", "u1", 100.0)
    assert store.get_session("t1") == {"token_hash": "t1", "username": "u1", "expires": 100.0}
    store.delete_user("u1")  # its sessions go with it
    assert store.get_user("u1") is None and store.get_session("t1") is None
    with pytest.raises(KeyError):
        store.delete_user("u1")
    store.close()


def test_both_backends_migrate_by_the_same_numbered_steps(store_target: str) -> None:
    assert len(sq.MIGRATIONS) == len(pg.MIGRATIONS)
    store = open_store(store_target)
    assert store.schema_version == len(sq.MIGRATIONS)
    store.record("call.queued", ts=1.0, call=call("c1", "queued"))
    store.close()
    again = open_store(store_target)  # opened again: nothing re-run, nothing lost
    assert again.schema_version == len(sq.MIGRATIONS) and len(list(again.events())) == 1
    again.close()


def test_servers_starting_together_migrate_a_postgresql_database_once(pg_url: str) -> None:
    """Two servers (a leader and its standby) opening a fresh database at once: the advisory lock
    lets one run the steps while the other waits, instead of both creating the same tables."""
    errors: list[BaseException] = []
    stores: list[PostgresStore] = []
    go = threading.Barrier(4)

    def open_one() -> None:
        go.wait()
        try:
            stores.append(PostgresStore(pg_url))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert [s.schema_version for s in stores] == [len(pg.MIGRATIONS)] * 4
    for s in stores:
        s.close()


def test_the_dsn_password_never_reaches_messages_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    assert redact("postgresql://cc:s3cret@db.example:5432/cc?sslmode=require") == \
        "postgresql://cc:***@db.example:5432/cc?sslmode=require"
    assert redact("postgresql://cc@h/cc?password=s3cret&application_name=x") == \
        "postgresql://cc@h/cc?password=***&application_name=x"
    caplog.set_level(logging.DEBUG)
    url = f"postgresql://cc:s3cret@127.0.0.1:{free_port()}/cc?connect_timeout=1"
    with pytest.raises(ConnectionError) as err:
        PostgresStore(url)
    assert "s3cret" not in str(err.value) and "***" in str(err.value)
    assert "s3cret" not in caplog.text


@contextlib.contextmanager
def pg_locked(url: str) -> Iterator[None]:
    """Another session keeps writers out of the events table (readers go on) until the block ends."""
    with psycopg.connect(url, autocommit=True) as other:
        with other.transaction():
            other.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            yield


def pg_rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as db:
        return db.execute("SELECT ts, kind, call_id, eid FROM events ORDER BY seq").fetchall()


async def test_the_servers_store_on_postgresql_journals_while_locked_and_catches_up(
        pg_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    local = tmp_path / "cc.sqlite3"
    # With a password in the URL (the test cluster trusts, and ignores it): the fault's log lines name
    # the database without it.
    store = BufferedStore(local, url=pg_url.replace("//cc@", "//cc:s3cret@"))
    assert "cc:***@127.0.0.1" in store.path and not local.exists()  # nothing of the store in the file
    store.start()
    faults: list[dict] = []
    told = asyncio.Event()
    store.on_status = lambda health: (faults.append(health), told.set())
    store.record("call.queued", ts=1.0, call=call("c1", "queued"))
    await store.drained()
    with pg_locked(pg_url):
        t = time.monotonic()
        for i, kind in enumerate(("call.offered", "call.connected", "call.completed")):
            store.record(kind, ts=2.0 + i, call=call("c1", "ended" if kind == "call.completed" else "connected"))
        store.save_session("hash1", "agent1", 99.0)
        assert time.monotonic() - t < 0.05  # nothing waited for the lock
        await asyncio.wait_for(told.wait(), 10)
        assert faults[-1]["ok"] is False and "locked" in faults[-1]["problem"]
        assert [e.kind for e in store.events(call_id="c1")] == [
            "call.queued", "call.offered", "call.connected", "call.completed"]
        assert store.call("c1")["state"] == "ended" and store.get_session("hash1")["username"] == "agent1"
        kept = Journal(journal_path(local)).read()
        assert [json.loads(x).get("kind") for x in kept][:3] == ["call.offered", "call.connected", "call.completed"]
    await store.drained()
    assert faults[-1] == {"ok": True, "problem": None, "unsaved": 0, "journaled": 0}
    assert [(r[0], r[1]) for r in pg_rows(pg_url)] == [
        (1.0, "call.queued"), (2.0, "call.offered"), (3.0, "call.connected"), (4.0, "call.completed")]
    store.close()
    plain = PostgresStore(pg_url)
    assert plain.call("c1")["state"] == "ended" and plain.get_session("hash1")["username"] == "agent1"
    plain.close()
    assert "cannot write to postgresql://cc:***@" in caplog.text and "s3cret" not in caplog.text


def test_a_postgresql_replay_applies_each_event_once(pg_url: str) -> None:
    entries = [sq.record_entry(k, ts=float(i), call=call("c1", s), eid=f"e{i}")
               for i, (k, s) in enumerate([("call.queued", "queued"), ("call.connected", "connected"),
                                           ("call.completed", "ended")])]
    PostgresStore(pg_url).close()
    with pg.connect(pg_url) as db:
        pg.apply_entries(db, entries[:2])
        pg.apply_entries(db, [*entries, {"op": "record", "eid": "bad"}])  # a malformed one is dropped alone
    assert [(r[1], r[3]) for r in pg_rows(pg_url)] == [
        ("call.queued", "e0"), ("call.connected", "e1"), ("call.completed", "e2")]


async def test_a_server_on_postgresql_signs_in_and_resumes(on_postgresql, server, connect) -> None:
    assert isinstance(server.store.base, PostgresStore)
    c = await connect("agent1")  # the seeded account, read from PostgreSQL
    token = c.token
    await c.call("agent.login")
    await server.store.drained()
    url = server.settings.sections["store"]["url"]
    with psycopg.connect(url) as db:
        assert db.execute("SELECT username FROM sessions").fetchall() == [("agent1",)]
        kinds = [r[0] for r in db.execute("SELECT kind FROM events WHERE agent_id = 'agent1' ORDER BY seq")]
    assert "agent.state" in kinds
    again = await connect()
    assert (await again.call("resume", {"token": token}))["user"] == "agent1"


@pytest.mark.asterisk
async def test_a_call_on_the_sandbox_is_stored_in_postgresql_and_reported(on_postgresql, server, connect, pbx, phone):
    """A real call through Asterisk to a real phone: its events land in PostgreSQL, in order, and the
    reports' read model over that store counts it answered."""
    from cc_console.server.reports import params_from, run
    from cc_console.server.reports.service import cache_for

    from .asterisk import until

    await phone("1001", auto_answer=True)
    agent = await connect("agent1")
    await agent.call("agent.login")
    t0 = time.time()
    await pbx.place_call("5000", caller="0611111111")
    ringing = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing" and c, what="ringing")
    await agent.call("call.answer")
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="connected")
    await agent.call("call.hangup")
    await until(agent, lambda: agent.state.my_agent["state"] == "ready" and not agent.state.my_call, what="ready")
    await server.engine.idle()
    await server.store.drained()
    with psycopg.connect(server.settings.sections["store"]["url"]) as db:
        kinds = [r[0] for r in db.execute("SELECT kind FROM events WHERE call_id = %s ORDER BY seq", (ringing["id"],))]
        state = db.execute("SELECT state FROM calls WHERE id = %s", (ringing["id"],)).fetchone()[0]
    assert kinds == ["call.entered", "call.queued", "call.offered", "call.dialing", "call.connected", "call.completed"]
    assert state == "ended"
    cache = cache_for(server.store)
    await asyncio.to_thread(cache.refresh)
    report = run(cache, server.engine.cfg, params_from("queue", t0 - 60, time.time() + 60))
    support = {r["queue"]: r for r in report.records()}["support"]
    assert support["offered"] == 1 and support["answered"] == 1


def test_recordings_metadata_on_each_backend(store_target: str) -> None:
    """The recordings' own store (server/store/portable.py) on SQLite and in PostgreSQL's schema
    `recordings`: epoch times keep their fractions (a double, not PostgreSQL's 4-byte REAL), text
    search ignores case as SQLite's LIKE does, new marks get their ids back."""
    from cc_console.server.recordings import RecordingStore

    store = RecordingStore(store_target)
    rec = store.insert({"call_id": "c1", "leg": 1, "name": "r1", "started": 1_700_000_000.25, "call_type": "inbound",
                        "status": "stored", "expires": 1_800_000_000.5, "notes": "Asked for a Refund"})
    assert store.get(rec["id"])["started"] == 1_700_000_000.25
    assert [r["id"] for r in store.search(text="refund")[0]] == [rec["id"]]
    m1, m2 = store.add_mark(rec["id"], 3.0, "sup1", "greeting"), store.add_mark(rec["id"], 1.0, "sup1", "hello")
    assert m2["id"] > m1["id"] and [m["text"] for m in store.marks(rec["id"])] == ["hello", "greeting"]
    store.audit("sup1", "listen", rec["id"], "ok")
    assert store.audit_rows(rec_id=rec["id"])[0]["action"] == "listen"
    store.close()
    if store_target.startswith("postgresql"):
        with psycopg.connect(store_target) as db:  # its own schema: never mixed with another's "audit"
            assert db.execute("SELECT COUNT(*) FROM recordings.recordings").fetchone()[0] == 1
            assert db.execute("SELECT version FROM recordings.schema_version").fetchone()[0] == 1


async def test_a_server_on_postgresql_keeps_recordings_metadata_there(on_postgresql, server) -> None:
    store = server.recordings.store
    assert store.path.startswith("postgresql://")
    store.insert({"call_id": "c9", "leg": 1, "name": "r9", "started": 1.0, "call_type": "inbound",
                  "status": "stored", "expires": 2.0})
    with psycopg.connect(server.settings.sections["store"]["url"]) as db:
        assert db.execute("SELECT call_id FROM recordings.recordings").fetchall() == [("c9",)]


def test_contacts_on_each_backend(store_target: str) -> None:
    """The contacts' own store on SQLite and in PostgreSQL's schema `contacts`: records found by any
    spelling of their number and by words in any case, versioned notes, per-call meta, a sync's bulk
    upsert and deletions."""
    from cc_console.server.contacts.store import ContactsStore

    store = ContactsStore(store_target)
    c = store.save_contact({"name": "Jane Doe", "phone": "+44 20 7946 0001"}, phone_fields=["phone"], by="a1", ts=1.0)
    store.save_contact({"id": c["id"], "company": "ACME"}, phone_fields=["phone"], by="a2", ts=2.0)
    assert [x["id"] for x in store.by_number("020 7946 0001")] == [c["id"]]
    found = store.search("jane acme")
    assert [x["id"] for x in found] == [c["id"]] and found[0]["name"] == "Jane Doe"
    store.add_note("call1", "first", "a1", 3.0, c["id"])
    store.add_note("call1", "second", "a1", 4.0, c["id"])
    assert [(n["version"], n["text"]) for n in store.notes("call1")] == [(1, "first"), (2, "second")]
    assert store.set_meta("call1", 5.0, category="billing", contact_id=c["id"])["category"] == "billing"
    assert store.calls_of_contact(c["id"]) == ["call1"]
    store.set_setting("categories", ["billing", "sales"])
    assert store.setting("categories") == ["billing", "sales"]
    assert store.bulk_upsert([{"id": "S1", "name": "Synced", "phone": "0611111111"}, {"id": "S2", "name": "Two"}],
                             phone_fields=["phone"], by="sync", ts=6.0) == 2
    assert [x["id"] for x in store.by_number("+31 611111111")] == ["S1"]
    assert store.delete_many(["S1", "S2", "nope"]) == 2 and store.contact("S1") is None
    store.close()


def test_crm_outbox_and_cases_on_each_backend(store_target: str) -> None:
    """The CRM's own store on SQLite and in PostgreSQL's schema `crm`: the outbox keeps each stream's
    order and its retries, open CTI contacts and cases are upserted (no INSERT OR REPLACE)."""
    from cc_console.server.crm.store import CrmStore, NewItem

    store = CrmStore(store_target)
    case = {"id": "K1", "call_id": "c1", "channel": "phone", "caller": "0611", "contact_id": None, "subject": "",
            "notes": "", "level": 1, "queue": "support", "agent": "agent1", "state": "open", "outcome": "",
            "created": 1.0, "updated": 1.0, "closed": None, "history": [{"a": 1}]}
    ids = store.add([NewItem("agent1", "cti", "start", "GET", "http://crm/1"),
                     NewItem("agent1", "cti", "stop", "GET", "http://crm/2")], 10.0,
                    cti_open=(("c1", "agent1", 10.0, "0611", "http://crm/1", "GET", True),), cases=(case,))
    store.add([], 11.0, cti_open=(("c1", "agent1", 11.0, "0622", "http://crm/1", "GET", False),),
              cases=({**case, "level": 2, "updated": 2.0},))
    assert [o["callerid"] for o in store.cti_open()] == ["0622"] and store.cti_open()[0]["redirect"] == 0
    assert store.case("K1")["level"] == 2 and store.case("K1")["history"] == [{"a": 1}]
    (head,) = store.heads(set(), 10)
    assert head.id == ids[0]  # the stream's first, its second waits behind it
    store.attempted(head, ok=False, status=503, error="busy", ms=5.0, now=12.0, next_at=13.0, dead=True)
    assert store.counts() == {"dead": 1, "pending": 1}
    assert store.replay([str(head.seq)], 14.0) == 1 and store.counts() == {"pending": 2}
    assert [d["status"] for d in store.log(head.seq)] == [503]
    store.close()


async def test_a_written_event_still_pending_is_not_read_twice_below_the_cursor(store_target: str,
                                                                                tmp_path: Path) -> None:
    """The writer has committed events but the loop has not yet heard so (they are still pending):
    a read after a cursor above some of them must not add those again as unwritten (the CRM export
    resumed by cursor gave a call twice on a loaded machine)."""
    local = tmp_path / "cc.sqlite3"
    url = store_target if store_target.startswith("postgresql") else None
    store = BufferedStore(local, url=url)
    store.start()
    try:
        for i in range(3):
            store.record("call.completed", ts=1.0 + i, call=call(f"c{i}", "ended"))
        # The loop does not run here, so the writer's report cannot arrive: wait in the database.
        deadline = time.monotonic() + 10
        while store.base.last_seq() < 3:
            assert time.monotonic() < deadline, "the writer did not commit"
            time.sleep(0.01)  # noqa: ASYNC251 -- on purpose: the loop must not run (see above)
        assert len(store._pending) == 3, "the writer's report arrived: the case is not tested"
        seqs = [ev.seq for ev in store.base.events()]
        after = [ev.call_id for ev in store.events(since=seqs[1])]
        assert after == ["c2"]
        assert [ev.call_id for ev in store.events()] == ["c0", "c1", "c2"]
    finally:
        await store.drained()
        store.close()


async def test_a_reader_by_event_number_waits_for_what_came_before_and_sees_only_real_numbers(
        store_target: str, tmp_path: Path) -> None:
    """The CRM export resumes by event number: a pending event's provisional number is not the one
    the database gives it (other writes, a sequence's gaps), so a page cut there gave calls twice.
    `written` waits for what was handed over before it; `committed_events` has only real numbers."""
    url = store_target if store_target.startswith("postgresql") else None
    store = BufferedStore(tmp_path / "cc.sqlite3", url=url)
    store.start()
    try:
        for i in range(5):
            store.record("call.completed", ts=1.0 + i, call=call(f"c{i}", "ended"))
        assert await store.written(timeout=10)
        real = [(ev.seq, ev.call_id) for ev in store.base.events()]
        assert [(ev.seq, ev.call_id) for ev in store.committed_events()] == real
        assert [c for _, c in real] == ["c0", "c1", "c2", "c3", "c4"]
        # Pending events are not in it (no number yet): a later page after the last real one has them.
        with pg_locked(store_target) if url else sqlite_locked(tmp_path / "cc.sqlite3"):
            store.record("call.completed", ts=9.0, call=call("c5", "ended"))
            assert [ev.call_id for ev in store.committed_events(since=real[-1][0])] == []
            assert not await store.written(timeout=0.2)  # the database is held: not written yet
        assert await store.written(timeout=10)
        assert [ev.call_id for ev in store.committed_events(since=real[-1][0])] == ["c5"]
    finally:
        await store.drained()
        store.close()
