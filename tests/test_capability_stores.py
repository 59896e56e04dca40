"""Each capability's own database on both backends (docs/storage.md): an SQLite file, and its schema
in a real PostgreSQL (tests/pg_cluster.py). The SQL the two engines read differently is what these
tests exercise: whole-row upserts, ids the database numbers, binary data, a unique key refusing a
duplicate, the order of rows written at the same time, text search, the audit chain with two writers,
and the directory noticing another process's change."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

from cc_console.server.api.clients import ApiClients
from cc_console.server.audit.log import AuditLog
from cc_console.server.chat.store import ChatStore
from cc_console.server.directory.store import DirectoryStore
from cc_console.server.email.store import EmailStore
from cc_console.server.outbound.campaigns import Campaign
from cc_console.server.outbound.store import OutboundStore
from cc_console.server.sms.store import SmsStore
from cc_console.server.verified.service import VerifiedStore
from cc_console.server.web.links import LinkStore


def at(target: str, name: str) -> str:
    """A capability's database: its own SQLite file beside the main one, or the PostgreSQL URL."""
    return target if "://" in target else f"{target}.{name}.sqlite3"


def kept_in(target: str, schema: str) -> None:
    """The rows went where the backend keeps them: the SQLite file, or the capability's schema in
    PostgreSQL (and no SQLite file made of the URL)."""
    if "://" not in target:
        assert Path(at(target, schema)).stat().st_size > 0
        return
    with psycopg.connect(target) as db:
        tables = [r[0] for r in db.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                                           "AND table_name != 'schema_version'", (schema,))]
        assert tables and sum(db.execute(f'SELECT COUNT(*) FROM {schema}."{t}"').fetchone()[0] for t in tables) > 0
    assert not list(Path.cwd().glob("postgresql*"))


def _conv(cid: str, **kw) -> dict:
    row = {"id": cid, "token_hash": "h", "channel": "chat", "queue": "support", "name": "Vera",
           "email": "vera@example.org", "contact": "vera@example.org", "state": "queued", "agent": None,
           "agents": [], "created": 1.0, "enqueued": 1.0, "accepted": None, "closed": None, "outcome": "",
           "category": "", "notes": "", "bot": False}
    return {**row, **kw}


def test_chat_numbers_messages_finds_words_by_prefix_and_purges(store_target: str) -> None:
    store = ChatStore(at(store_target, "chat"))
    try:
        store.save_conversation(_conv("c1"))
        store.save_conversation(_conv("c1", state="active", agent="agent1", agents=["agent1"]))  # replaced whole
        store.save_conversation(_conv("c2", contact="bob@example.org", email="bob@example.org", created=2.0))
        ids = [store.add_message("c1", 2.0, "visitor", "Vera", "My card was declined twice"),
               store.add_message("c1", 3.0, "agent", "agent1", "Let me look at the payment"),
               store.add_message("c2", 4.0, "visitor", "Bob", "Where is my parcel?")]
        assert ids == sorted(ids) and len(set(ids)) == 3
        assert [m["text"] for m in store.messages("c1", after=ids[0])] == ["Let me look at the payment"]
        assert [c["id"] for c in store.search("declin")] == ["c1"]  # a word's beginning, any case
        assert [c["id"] for c in store.search("CARD twice")] == ["c1"]  # every word, in one message
        assert store.search("card parcel") == []  # the words are in two conversations' messages
        assert store.search("nothing-like-this") == [] and store.search("'\"&|!") == []
        assert [c["id"] for c in store.search("parcel")] == ["c2"]
        assert [c["id"] for c in store.search(agent="agent1")] == ["c1"]
        (c1,) = [c for c in store.open_conversations() if c["id"] == "c1"]
        assert c1["state"] == "active" and c1["agents"] == ["agent1"] and c1["bot"] is False
        store.save_conversation(_conv("c2", contact="bob@example.org", email="bob@example.org", closed=5.0))
        assert store.purge(10.0) == 1
        assert store.search("parcel") == [] and store.messages("c2") == []
        kept_in(store_target, "chat")
    finally:
        store.close()


def _thread(tid: str, **kw) -> dict:
    row = {"id": tid, "queue": "mail", "customer": "c@example.org", "name": "C", "subject": "Refund",
           "state": "queued", "agent": None, "agents": [], "created": 1.0, "enqueued": 1.0, "accepted": None,
           "closed": None, "outcome": "", "category": ""}
    return {**row, **kw}


def test_email_threads_messages_and_binary_attachments(store_target: str) -> None:
    store = EmailStore(at(store_target, "email"))
    try:
        store.save_thread(_thread("t1"))
        store.save_thread(_thread("t1", state="active", agents=["agent1"]))
        pdf = bytes(range(256)) * 4
        msg = {"at": 2.0, "direction": "in", "author": "c@example.org", "message_id": "<m1@x>", "subject": "Refund",
               "text": "please", "attachments": [{"id": "a1", "filename": "bill.pdf"}]}
        store.add_message("t1", msg, [("a1", "bill.pdf", "application/pdf", pdf)])
        store.add_message("t1", {**msg, "at": 3.0, "text": "again"}, [])  # the same Message-ID: no error
        assert store.thread_of(["<unknown@x>", "<m1@x>"]) == "t1" and store.known("<m1@x>")
        t = store.thread("t1")
        assert t is not None and t["state"] == "active" and t["agents"] == ["agent1"]
        assert [(m["n"], m["text"]) for m in t["messages"]] == [(1, "please"), (2, "again")]
        a = store.attachment("a1")
        assert a is not None and bytes(a["data"]) == pdf and a["size"] == len(pdf) and a["agents"] == ["agent1"]
        assert [x["id"] for x in store.open_threads()] == ["t1"]
        kept_in(store_target, "email")
    finally:
        store.close()


def _sms(mid: str, at_: float, **kw) -> dict:
    row = {"id": mid, "conversation": "s1", "at": at_, "direction": "out", "number": "+4711111111",
           "author": "agent1", "text": mid, "coding": 0, "parts": 1, "status": "sending", "delivered": 0,
           "kind": "agent", "kannel_id": ""}
    return {**row, **kw}


def test_sms_duplicates_refused_and_order_of_equal_times_kept(store_target: str) -> None:
    store = SmsStore(at(store_target, "sms"))
    try:
        store.save_conversation({"id": "s1", "number": "+4711111111", "queue": "sms", "state": "queued",
                                 "agent": None, "agents": [], "created": 1.0, "enqueued": 1.0, "accepted": None,
                                 "closed": None, "outcome": "", "category": ""})
        store.save_conversation({"id": "s1", "number": "+4711111111", "queue": "sms", "state": "active",
                                 "agent": "agent1", "agents": ["agent1"], "created": 1.0, "enqueued": 1.0,
                                 "accepted": 2.0, "closed": None, "outcome": "", "category": ""})
        assert store.add_message(_sms("in1", 5.0, direction="in", kannel_id="k1"))
        assert not store.add_message(_sms("in1-again", 5.0, direction="in", kannel_id="k1"))  # smsbox retried
        # Written at the same time, read back in the order written (not by id: "z" before "a").
        store.add_messages([_sms("z", 6.0), _sms("a", 6.0), _sms("m", 6.0)])
        assert [m["id"] for m in store.messages("s1")] == ["in1", "z", "a", "m"]
        assert [m["id"] for m in store.sent_between(0, 10)] == ["z", "a", "m"]
        assert set(store.message("z")) == set(_sms("z", 6.0))  # exactly the message's fields
        assert store.accepted("z")["status"] == "accepted"
        m = store.report("a", 7.0, 1, "ok", lambda m, codes: "delivered" if 1 in codes else m["status"])
        assert m is not None and m["status"] == "delivered" and m["delivered"] == 1
        (conv,) = store.open_conversations()
        assert conv["state"] == "active" and conv["agents"] == ["agent1"]
        sub = store.subscribe({"id": "p1", "topic": "roads", "channel": "sms", "address": "+4722222222",
                               "frequency": "now", "created": 1.0, "by": "web", "confirmed": None})
        assert sub["confirmed"] is None and store.subscriptions(topic="roads") == []
        assert [r["id"] for r in store.confirm(2.0, sid="p1")] == ["p1"]
        assert store.counts() == {"roads": 1}
        store.add_event({"id": "e1", "topic": "roads", "title": "Closed", "text": "E6 closed", "at": 3.0, "by": "sup1"},
                        [{"event": "e1", "subscription": "p1", "channel": "sms", "address": "+4722222222",
                          "at": None, "message": "", "outcome": "sending"}])
        store.log_sent([("e1", "p1", 4.0, "z", "sent")])
        (row,) = store.push_log(event="e1")
        assert row["outcome"] == "sent" and row["status"] == "accepted"
        assert store.event_summary("e1")["by_state"] == {"accepted": 1}
        kept_in(store_target, "sms")
    finally:
        store.close()


def test_outbound_upserts_keep_one_row_and_add_up_occupancy(store_target: str) -> None:
    store = OutboundStore(at(store_target, "outbound"))
    try:
        c = Campaign(id="k1", name="Renewals", queue="sales", window={"start": "09:00", "end": "17:00"},
                     created=1.0, updated=1.0)
        store.save_campaign(c)
        store.save_campaign(Campaign(id="k1", name="Renewals 2", queue="sales", window={"start": "10:00"},
                                     created=1.0, updated=2.0))
        (saved,) = store.campaigns()
        assert saved.name == "Renewals 2" and saved.window == {"start": "10:00"}
        store.add_contacts("k1", [("+4711111111", "Ann", "", {}), ("+4722222222", "Bo", "", {})], 1.0)
        store.add_contacts("k1", [("+4711111111", "Ann B", "", {"x": "1"})], 2.0)
        contacts = store.contacts("k1")
        assert [(x["number"], x["name"]) for x in contacts] == [("+4711111111", "Ann B"), ("+4722222222", "Bo")]
        assert contacts[0]["id"] < contacts[1]["id"]
        store.dnc_add("+4733333333", "asked", "sup1", 1.0)
        store.dnc_add("+4733333333", "asked twice", "sup2", 2.0)
        assert [(d["reason"], d["by"]) for d in store.dnc_list()] == [("asked twice", "sup2")]
        store.add_occupancy([("k1", "agent1", 10.0, 4.0)])
        store.add_occupancy([("k1", "agent1", 5.0, 1.0)])
        assert store.occupancy("k1") == {"agent1": (15.0, 5.0)}
        store.save_answer("call1", "k1", contacts[0]["id"], "q1", "yes", "agent1", 1.0)
        store.save_answer("call1", "k1", contacts[0]["id"], "q1", "no", "agent1", 2.0)
        assert [a["answer"] for a in store.answers("k1")] == ["no"]
        kept_in(store_target, "outbound")
    finally:
        store.close()


def test_audit_chain_holds_with_two_writers_at_once(store_target: str) -> None:
    """Two servers (or a server and the CLI) append to one log: each append reads the last hash and
    inserts after it under the database's write lock, so the chain stays one line."""
    target = at(store_target, "audit")
    a, b = AuditLog(target), AuditLog(target)
    try:
        def write(log: AuditLog, who: str) -> None:
            for i in range(40):
                log.record(who, "call.answer", target=f"c{i}")
            log.flush()
        threads = [threading.Thread(target=write, args=(log, who)) for log, who in ((a, "agent1"), (b, "agent2"))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check = a.verify()
        assert check.ok, check
        assert check.entries == 80 and len(a.query(action="call.*", limit=1000)) == 80
        assert len(b.query(actor="agent2", limit=1000)) == 40
        now = time.time()
        assert a.purge(now + 1, actor="system") == 80
        assert a.verify().ok and [e.action for e in b.query()] == ["audit.purge"]
        kept_in(store_target, "audit")
    finally:
        a.close()
        b.close()


def test_directory_sees_another_writers_change_not_its_own(store_target: str) -> None:
    target = at(store_target, "directory")
    server, cli = DirectoryStore(target), DirectoryStore(target)
    try:
        start = server.data_version()
        with server.transaction() as db:
            server.upsert_persons(db, [{"tenant": "t", "id": "p1", "name": "Ann"}], 1.0)
        assert server.data_version() == start  # its own write
        with cli.transaction() as db:
            cli.upsert_persons(db, [{"tenant": "t", "id": "p1", "name": "Ann Berg"}], 2.0)
        assert server.data_version() != start  # the CLI's
        assert [p["name"] for p in server.persons("t")] == ["Ann Berg"]
        server.set_local("t", "p1", {"note": "Mondays off"}, 3.0)
        assert cli.person("t", "p1")["local"] == {"note": "Mondays off"}
        assert server.tenants() == ["t"]
        kept_in(store_target, "directory")
    finally:
        server.close()
        cli.close()


def test_verified_refuses_a_replayed_session(store_target: str) -> None:
    store = VerifiedStore(at(store_target, "verified"))
    try:
        v = store.add("yivi-1", ["+4740000001"], "+4740000000", 6, {"name": "Ann"}, 300.0, 1.0)
        with pytest.raises(ValueError, match="used before"):
            store.add("yivi-1", ["+4740000001"], "+4740000000", 6, {"name": "Ann"}, 300.0, 2.0)
        claimed = store.claim(code=v.code, call_id="call1", now=3.0)
        assert claimed is not None and claimed.attributes == {"name": "Ann"}
        store.add_ident("id1", "hash", "Ann", "", "sup1", 1.0)
        store.ident_result("id1", False, 2.0, 2, 60.0)
        store.ident_result("id1", False, 3.0, 2, 60.0)
        assert store.ident("id1")["locked_until"] == 63.0
        kept_in(store_target, "verified")
    finally:
        store.close()


def test_web_links_and_api_clients(store_target: str) -> None:
    links = LinkStore(at(store_target, "web"))
    clients = ApiClients(at(store_target, "api"), clock=lambda: 100.0)
    try:
        token = links.create("call1", "p1", {"caller": "+4711111111"}, 1.0, 60.0)
        link = links.open(token, 2.0)
        assert link is not None and link.data == {"caller": "+4711111111"} and link.opened == 2.0
        assert links.open(token, 100.0) is None
        first = clients.add("crm", "supervisor")
        assert clients.principal(first).username == "api:crm"
        clients.revoke("crm")
        second = clients.add("crm", "agent")  # a revoked name is given again: a new row in its place
        assert clients.principal(first) is None and clients.principal(second).username == "api:crm"
        assert [(c.name, str(c.role), c.revoked) for c in clients.list()] == [("crm", "agent", None)]
        kept_in(store_target, "web")
        kept_in(store_target, "api")
    finally:
        links.close()
        clients.close()


def test_a_store_opens_a_new_connection_after_postgresql_dropped_its_own(pg_url: str) -> None:
    """A restart or failover of PostgreSQL under a running server: the statement that meets the lost
    connection fails, the next ones work on a new connection (no server restart)."""
    store = VerifiedStore(pg_url)
    try:
        store.add_ident("id1", "hash", "Ann", "", "sup1", 1.0)
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                          "AND pid != pg_backend_pid()")
        with pytest.raises(psycopg.OperationalError):
            store.ident("id1")
        assert store.ident("id1")["name"] == "Ann"
        store.add_ident("id2", "hash", "Bo", "", "sup1", 2.0)
        assert store.ident("id2")["name"] == "Bo"
    finally:
        store.close()
