"""`cc-console admin migrate-store`: an SQLite installation copied into a real PostgreSQL, every
table, sequence numbers kept, counts printed, a second run copying nothing twice."""
from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner

from cc_console.cli import app
from cc_console.server.auth import Auth
from cc_console.server.contacts.store import ContactsStore
from cc_console.server.contacts.store import default_path as contacts_path
from cc_console.server.crm.store import CrmStore, NewItem
from cc_console.server.recordings import RecordingStore, default_path
from cc_console.server.store import PostgresStore, SQLiteStore


def _installation(path: Path) -> SQLiteStore:
    store = SQLiteStore(path)
    auth = Auth(store)
    auth.add_user("agent1", "secret-pass", "agent", name="Agent One", queues=["support"])
    store.save_role({"name": "lead", "base": "supervisor", "permissions": {"reports.run"}, "queues": ["support"]})
    store.save_session("hash1", "agent1", 2e9)
    for i in range(1, 301):
        store.record("call.queued", ts=1000.0 + i, call={"id": f"c{i}", "state": "queued", "queue": "support"})
    store.record("agent.state", ts=2000.0, agent={"id": "agent1", "state": "ready"})
    store.save_callback({"id": "cb1", "kind": "callback", "queue": "support", "state": "open", "requested": 9.0})
    rec = RecordingStore(default_path(path))
    r = rec.insert({"call_id": "c1", "leg": 1, "name": "r1", "started": 1001.5, "call_type": "inbound",
                    "status": "stored", "expires": 5e9})
    rec.add_mark(r["id"], 2.0, "sup1", "greeting")
    rec.evaluate(r["id"], "sup1", {"greeting": 4})
    rec.close()
    contacts = ContactsStore(contacts_path(path))
    contacts.save_contact({"id": "K1", "name": "Jane", "phone": "0611111111", "mobile": "0622222222"},
                          phone_fields=["phone", "mobile"], by="a1", ts=1.0)
    contacts.add_note("c1", "wants a refund", "agent1", 2.0, "K1")
    contacts.close()
    crm = CrmStore(f"{path}.crm.sqlite3")
    crm.add([NewItem("agent1", "cti", "start", "GET", "http://crm/1")], 3.0)
    crm.close()
    return store


def test_migrate_store_copies_an_installation_and_is_idempotent(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "cc.sqlite3"
    src = _installation(db)
    src.close()
    run = CliRunner().invoke(app, ["admin", "migrate-store", "--db", str(db), "--to", pg_url])
    assert run.exit_code == 0, run.output
    assert "events: 302 copied, 0 already there (302 in SQLite)" in run.output
    assert "users: 1 copied" in run.output and "sessions: 1 copied" in run.output
    assert "roles: 1 copied" in run.output and "callbacks: 1 copied" in run.output
    assert "calls: 300 copied" in run.output and "agents: 1 copied" in run.output
    assert "recordings.recordings: 1 copied" in run.output and "recordings.marks: 1 copied" in run.output
    assert "recordings.evaluations: 1 copied" in run.output

    pg, sq = PostgresStore(pg_url), SQLiteStore(db)
    assert [(e.seq, e.ts, e.kind, e.data) for e in pg.events()] == [(e.seq, e.ts, e.kind, e.data) for e in sq.events()]
    assert pg.list_users() == sq.list_users() and pg.roles() == sq.roles()
    assert pg.get_session("hash1") == sq.get_session("hash1")
    assert pg.callbacks() == sq.callbacks() and pg.agents() == sq.agents()
    assert len(pg.active_calls()) == 300
    # The sign-in works against the copy: the password hash came over as it was.
    assert Auth(pg).login("agent1", "secret-pass", None).username == "agent1"
    rec_pg, rec_sq = RecordingStore(pg_url), RecordingStore(default_path(db))
    (r,) = rec_sq.search()[0]
    assert rec_pg.get(r["id"]) == r and rec_pg.marks(r["id"]) == rec_sq.marks(r["id"])
    assert rec_pg.evaluations(r["id"]) == rec_sq.evaluations(r["id"])
    assert rec_pg.add_mark(r["id"], 3.0, "sup1", "next")["id"] == 2  # ids go on after the copied ones
    rec_pg.close()
    rec_sq.close()
    k_pg = ContactsStore(pg_url)
    assert [c["id"] for c in k_pg.by_number("+31 622222222")] == ["K1"]
    assert k_pg.notes("c1")[0]["text"] == "wants a refund"
    k_pg.close()
    crm_pg = CrmStore(pg_url)
    assert [i.url for i in crm_pg.items()] == ["http://crm/1"]
    crm_pg.close()
    # New events go on after the copied ones.
    assert pg.record("call.queued", ts=3000.0, call={"id": "new", "state": "queued", "queue": "support"}) == 303

    sq.record("call.completed", ts=2500.0, call={"id": "c1", "state": "ended", "queue": "support"})
    sq.close()
    pg.close()
    again = CliRunner().invoke(app, ["admin", "migrate-store", "--db", str(db), "--to", pg_url])
    assert again.exit_code == 0, again.output
    # The event SQLite wrote since has seq 303 as the new PostgreSQL event does: the copy keeps
    # PostgreSQL's own, says so in its counts, and copies nothing twice.
    assert "events: 0 copied, 303 already there (303 in SQLite)" in again.output
    assert "warning: 1 event(s) of SQLite have a number PostgreSQL already gives another event" in again.output
    assert "users: 0 copied, 1 already there" in again.output
    assert "recordings.recordings: 0 copied, 1 already there" in again.output
    assert "contacts.contact_phones: 0 copied, 2 already there" in again.output
    assert "crm.outbox: 0 copied, 1 already there" in again.output
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT COUNT(*) FROM contacts.contact_phones").fetchone()[0] == 2
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 303


def test_migrate_store_refuses_what_is_not_a_postgresql_url(tmp_path: Path) -> None:
    run = CliRunner().invoke(app, ["admin", "migrate-store", "--db", str(tmp_path / "x.sqlite3"),
                                   "--to", "mysql://x"])
    assert run.exit_code != 0 and "postgresql://" in run.output


def test_the_admin_cli_uses_the_configured_postgresql_store(tmp_path: Path, pg_url: str) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[server]\ndb_path = "{tmp_path / "cc.sqlite3"}"\n[store]\nurl = "{pg_url}"\n')
    run = CliRunner().invoke(app, ["admin", "user", "add", "agent9", "--role", "agent", "--password-stdin",
                                   "-c", str(cfg)], input="long-enough-pass\n")
    assert run.exit_code == 0, run.output
    listed = CliRunner().invoke(app, ["admin", "user", "list", "-c", str(cfg)])
    assert "agent9" in listed.output
    pg = PostgresStore(pg_url)
    assert pg.get_user("agent9")["role"] == "agent"
    pg.close()
    assert not (tmp_path / "cc.sqlite3").exists() or SQLiteStore(tmp_path / "cc.sqlite3").get_user("agent9") is None


def test_migrate_store_copies_every_capability_database(tmp_path: Path, pg_url: str) -> None:
    """Each capability's own SQLite file comes over into its schema, readable by the same store on
    PostgreSQL: chat found by its words, SMS in written order, the audit chain whole, and a second run
    copies nothing."""
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

    from .test_capability_stores import _conv, _sms, _thread

    db = tmp_path / "cc.sqlite3"
    _installation(db).close()
    beside = f"{db}.{{}}.sqlite3".format
    chat = ChatStore(beside("chat"))
    chat.save_conversation(_conv("c1"))
    chat.add_message("c1", 2.0, "visitor", "Vera", "My card was declined")
    chat.close()
    email = EmailStore(beside("email"))
    email.save_thread(_thread("t1"))
    email.add_message("t1", {"at": 2.0, "direction": "in", "author": "c@x", "message_id": "<m1@x>", "subject": "s",
                             "text": "hi", "attachments": []}, [("a1", "f.bin", "application/octet-stream", b"\0\1\2")])
    email.close()
    sms = SmsStore(beside("sms"))
    sms.add_messages([_sms("z", 6.0), _sms("a", 6.0)])
    sms.report("z", 7.0, 1, "ok", lambda m, codes: "delivered")
    sms.close()
    out = OutboundStore(beside("outbound"))
    out.save_campaign(Campaign(id="k1", name="Renewals", queue="sales", window={"start": "09:00"}))
    out.add_contacts("k1", [("+4711111111", "Ann", "", {})], 1.0)
    out.close()
    directory = DirectoryStore(beside("directory"))
    with directory.transaction() as tx:
        directory.upsert_persons(tx, [{"tenant": "t", "id": "p1", "name": "Ann"}], 1.0)
        directory.log_import(tx, "t", "full", {"persons": 1}, 1.0)
    directory.close()
    audit = AuditLog(beside("audit"))
    for i in range(3):
        audit.record_now("admin1", "user.disable", target=f"u{i}")
    audit.close()
    verified = VerifiedStore(beside("verified"))
    verified.add("yivi-1", [], "+4740000000", 6, {"name": "Ann"}, 300.0, 1.0)
    verified.close()
    links = LinkStore(beside("web"))
    token = links.create("call1", "p1", {"caller": "+4711111111"}, 1.0, 1e10)
    links.close()
    clients = ApiClients(beside("api"))
    api_token = clients.add("crm", "supervisor")
    clients.close()

    run = CliRunner().invoke(app, ["admin", "migrate-store", "--db", str(db), "--to", pg_url])
    assert run.exit_code == 0, run.output
    for line in ("chat.conversations: 1 copied", "chat.messages: 1 copied", "email.attachments: 1 copied",
                 "sms.messages: 2 copied", "sms.reports: 1 copied", "outbound.campaigns: 1 copied",
                 "outbound.contacts: 1 copied", "directory.persons: 1 copied", "directory.imports: 1 copied",
                 "audit.audit: 3 copied", "verified.verifications: 1 copied", "web.links: 1 copied",
                 "api.api_clients: 1 copied"):
        assert line in run.output, (line, run.output)

    chat = ChatStore(pg_url)
    assert [c["id"] for c in chat.search("declin")] == ["c1"]
    assert chat.add_message("c1", 3.0, "agent", "agent1", "sorry") == 2  # numbers go on after the copied ones
    chat.close()
    email = EmailStore(pg_url)
    assert bytes(email.attachment("a1")["data"]) == b"\0\1\2" and email.thread_of(["<m1@x>"]) == "t1"
    email.close()
    sms = SmsStore(pg_url)
    sms.add_message(_sms("b", 6.0))
    assert [m["id"] for m in sms.messages("s1")] == ["z", "a", "b"]  # copied in the order written, then the new one
    assert sms.message("z")["status"] == "delivered"
    sms.close()
    out = OutboundStore(pg_url)
    assert out.campaign("k1").window == {"start": "09:00"} and len(out.contacts("k1")) == 1
    out.close()
    directory = DirectoryStore(pg_url)
    assert [p["name"] for p in directory.persons("t")] == ["Ann"]
    directory.close()
    audit = AuditLog(pg_url)
    assert audit.record_now("admin1", "user.enable", target="u0").id == 4
    assert audit.verify().ok and audit.verify().entries == 4  # the chain goes on from the copied entries
    audit.close()
    verified = VerifiedStore(pg_url)
    assert verified.token_used("yivi-1")
    verified.close()
    links = LinkStore(pg_url)
    assert links.open(token, 2.0).data == {"caller": "+4711111111"}
    links.close()
    clients = ApiClients(pg_url)
    assert clients.principal(api_token).username == "api:crm"
    clients.close()

    again = CliRunner().invoke(app, ["admin", "migrate-store", "--db", str(db), "--to", pg_url])
    assert again.exit_code == 0, again.output
    assert "sms.messages: 0 copied, 2 already there" in again.output
    assert "sms.reports: 0 copied, 1 already there" in again.output
    assert "audit.audit: 0 copied, 3 already there" in again.output
    with psycopg.connect(pg_url) as con:
        assert con.execute("SELECT COUNT(*) FROM sms.reports").fetchone()[0] == 1
        assert con.execute("SELECT COUNT(*) FROM audit.audit").fetchone()[0] == 4
