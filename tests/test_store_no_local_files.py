"""A server whose `[store] url` is PostgreSQL keeps every capability's data there: after each
capability that stores something has written, the data folder holds no SQLite database but the ones
docs/storage.md names as local (the reports' read model, a cache rebuilt from the events), and each
capability's schema in PostgreSQL has the rows."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import psycopg

from cc_console.client import ConsoleClient
from cc_console.server.app import Server
from cc_console.server.crm.store import NewItem
from cc_console.server.store import capability_target
from tests.chat_helpers import Events, Visitor

from .conftest import PASSWORD
from .test_capability_stores import _sms, _thread

# docs/storage.md, "What is where": what stays on the server's own disk with [store] url.
LOCAL = {"cc.sqlite3.reports"}
SCHEMAS = ("audit", "directory", "contacts", "recordings", "crm", "chat", "email", "sms", "outbound", "verified",
           "web", "api")


def sqlite_files(folder: Path) -> set[str]:
    """Every SQLite database under the folder, by its header (whatever the file is called)."""
    out = set()
    for p in folder.rglob("*"):
        if p.is_file():
            with p.open("rb") as f:
                if f.read(16) == b"SQLite format 3\x00":
                    out.add(str(p.relative_to(folder)))
    return out


async def test_a_server_on_postgresql_writes_no_local_database_but_the_read_model(settings, on_postgresql,
                                                                                  tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    settings.server.db_path = str(data / "cc.sqlite3")
    settings.sections["chat"] = {"ring_timeout": 5.0, "tick": 0.1}
    settings.sections["sms"] = {"push_topics": {"news": "News"}}
    url = settings.sections["store"]["url"]
    assert capability_target(settings, "chat") == url
    srv = Server(settings)
    await srv.start()
    clients: list[ConsoleClient] = []

    async def login(user: str) -> ConsoleClient:
        c = ConsoleClient(srv.url)
        await c.connect()
        clients.append(c)
        await c.login(user, PASSWORD)
        return c
    try:
        caps = srv.capabilities
        sup, agent = await login("sup1"), await login("agent1")  # audit: the sign-ins
        ev = Events(agent)
        await agent.call("agent.login", {})
        await sup.call("campaign.create", {"name": "Renewals", "queue": "support"})  # outbound
        await sup.call("dnc.add", {"number": "+4711111111", "reason": "asked"})
        await sup.call("categories.set", {"categories": ["question"]})  # contacts
        await agent.call("contacts.save", {"contact": {"first_name": "Jane", "phone": "0611111111"}})
        await agent.call("push.subscribe", {"topic": "news", "channel": "sms", "address": "+4712345678"})  # sms
        await agent.call("ident.issue", {"name": "Ann"})  # verified
        async with Visitor(f"http://127.0.0.1:{srv.port}") as v:  # chat
            await v.start(email="vera@example.org")
            await ev.expect("chat.offer")
            await agent.call("chat.accept", {"id": v.id})
            await v.send(op="say", text="My card was declined")
            await ev.expect("chat.message", lambda d: d["message"]["sender"] == "visitor")
        found = await agent.call("chat.search", {"q": "declin"})
        assert [c["id"] for c in found["chats"]] == [v.id]
        # What needs a mail server, a records system, a call or an import to write through its front
        # door writes through the store the running capability opened.
        directory = caps["directory"].service.store
        with directory.transaction() as tx:
            directory.upsert_persons(tx, [{"tenant": "default", "id": "p1", "name": "Ann Berg"}], time.time())
        await asyncio.to_thread(directory.set_local, "default", "p1", {"notes": "Mondays off"}, time.time())
        email = caps["email"].store
        await email.run(email.save_thread, _thread("t1"))
        sms = caps["sms"].store
        await sms.run(sms.add_message, _sms("m1", 1.0))
        crm = caps["crm"].service.store
        await asyncio.to_thread(crm.add, [NewItem("agent1", "cti", "start", "GET", "http://crm.invalid/1")], 1.0)
        recordings = caps["recordings"].service.store
        await asyncio.to_thread(recordings.insert, {"call_id": "c1", "leg": 1, "name": "r1", "started": 1.0,
                                                    "call_type": "inbound", "status": "stored", "expires": 5e9})
        await asyncio.to_thread(caps["web"].pages.links.create, "c1", "p1", {"caller": "+4711111111"}, 1.0, 60.0)
        await asyncio.to_thread(srv.api_clients.add, "crm-sync", "supervisor")
        caps["audit"].log.flush()
    finally:
        for c in clients:
            await c.close()
        await srv.stop()

    with psycopg.connect(url) as db:
        for schema in SCHEMAS:
            tables = [r[0] for r in db.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                "AND table_name != 'schema_version'", (schema,))]
            rows = sum(db.execute(f'SELECT COUNT(*) FROM {schema}."{t}"').fetchone()[0] for t in tables)
            assert rows > 0, f"nothing written in PostgreSQL's schema {schema}"
    assert sqlite_files(data) <= LOCAL, sqlite_files(data)
    assert not [p.name for p in data.iterdir() if p.name.endswith((".sqlite3", ".sqlite3-wal", ".db", ".sqlite"))]
