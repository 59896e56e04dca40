"""Nothing blocks the event loop: a PostgreSQL that makes a sign-in, a resume or a REST request wait
on a lock stalls that request only; every other console is answered at once (issue 22).

The server keeps its store in the tests' PostgreSQL; another connection holds a table's lock the
way a long migration, a VACUUM FULL or an administrator's transaction would.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import psycopg
import pytest

from cc_console.protocol import ErrorCode, ProtocolError

from .conftest import PASSWORD

FAST = 0.2  # seconds: what "answered at once" means for a ping on a two-core machine under load


@contextmanager
def locked(url: str, table: str) -> Iterator[None]:
    with psycopg.connect(url) as other:  # a transaction of its own, held until the block ends
        other.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        try:
            yield
        finally:
            other.rollback()


async def waiting_on(url: str, table: str, n: int = 1) -> None:
    """Until n statements of the server wait for the lock on this table."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        async with asyncio.timeout(10):
            while True:
                cur = await db.execute("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                                       (table,))
                row = await cur.fetchone()
                if row and row[0] >= n:
                    return
                await asyncio.sleep(0.01)


async def answered_fast(client) -> float:
    loop = asyncio.get_running_loop()
    began = loop.time()
    assert (await client.call("ping", timeout=5))["pong"] is True
    took = loop.time() - began
    assert took < FAST, f"a ping took {took:.3f} s while another request waited on the database"
    return took


async def refused_while_locked(url: str, table: str, request: Awaitable[Any], other: Any) -> ProtocolError:
    """The request waits on the locked table while the other console is answered at once; then,
    the lock still held, it is refused in words (what the console shows)."""
    with locked(url, table):
        stalled = asyncio.ensure_future(request)
        await waiting_on(url, table)
        await answered_fast(other)
        assert not stalled.done()
        with pytest.raises(ProtocolError) as refused:
            await stalled
    return refused.value


async def test_a_resume_waiting_on_a_locked_sessions_table_does_not_stall_other_consoles(
        on_postgresql, server, connect) -> None:
    url = server.settings.sections["store"]["url"]
    agent = await connect("agent1")
    sup = await connect("sup1")
    await server.store.drained()  # the sessions are in PostgreSQL: a resume reads them there
    other = await connect()
    refused = await refused_while_locked(url, "sessions", other.call("resume", {"token": agent.token}), sup)
    # The database's own words stay in the log; the console reads a sentence.
    assert refused.message == "The server cannot read its database just now; try again in a moment"
    assert (await other.call("resume", {"token": agent.token}))["user"] == "agent1"


async def test_a_console_reconnecting_while_its_session_cannot_be_read_resumes_once_it_can(
        on_postgresql, server, connect) -> None:
    """Refused with "cannot read its database", a reconnecting console asks again instead of telling
    the agent that the session has ended (a database hiccup must not send a floor to the sign-in form)."""
    url = server.settings.sections["store"]["url"]
    agent = await connect("agent1", reconnect=True)
    await server.store.drained()
    told: list[dict] = []
    agent.add_listener(lambda kind, data: told.append(data) if kind == "error" else None)
    outcomes: list[str] = []
    server.gateway.commands.observers.append(
        lambda caller, req, outcome: outcomes.append(outcome) if req.cmd == "resume" else None)
    loop = asyncio.get_running_loop()
    with locked(url, "sessions"):
        for s in [s for s in server.gateway.sessions if s.principal and s.principal.username == "agent1"]:
            await s.ws.close()
        async with asyncio.timeout(10):
            while str(ErrorCode.UNAVAILABLE) not in outcomes:
                await asyncio.sleep(0.01)
        refused_at = loop.time()
        await waiting_on(url, "sessions")  # asked again while the table is still locked
        assert loop.time() - refused_at < 2.0
    async with asyncio.timeout(10):
        while outcomes[-1:] != ["ok"] or agent.stale:
            await asyncio.sleep(0.01)
    assert told == [] and agent.token
    assert (await agent.call("agent.login"))["agent"]["id"] == "agent1"


async def test_a_rest_request_waiting_on_a_locked_sessions_table_does_not_stall_other_consoles(
        on_postgresql, server, connect) -> None:
    url = server.settings.sections["store"]["url"]
    agent = await connect("agent1")
    sup = await connect("sup1")
    await server.store.drained()  # the sessions are in PostgreSQL: a bearer token is looked up there
    base = server.url.replace("ws://", "http://").removesuffix("/ws")
    async with aiohttp.ClientSession(base, headers={"Authorization": f"Bearer {agent.token}"}) as http:
        with locked(url, "sessions"):
            rest = asyncio.create_task(http.get("/api/v1/contacts", params={"q": "nobody"}))
            await waiting_on(url, "sessions")
            await answered_fast(sup)
            assert not rest.done()
            # The database's own words stay in the log; the caller reads a sentence.
            r = await rest
            body = await r.json(content_type=None)
            assert r.status == 503, body
            assert body["detail"] == "The server cannot read its database just now; try again in a moment"
            r.release()
        async with http.get("/api/v1/contacts", params={"q": "nobody"}) as r:
            assert r.status == 200


async def test_a_sign_in_waiting_on_a_locked_users_table_does_not_stall_other_consoles(
        on_postgresql, server, connect) -> None:
    url = server.settings.sections["store"]["url"]
    sup = await connect("sup1")
    other = await connect()
    await refused_while_locked(url, "users", other.call("login", {"username": "agent1", "password": PASSWORD}), sup)
    assert (await other.call("login", {"username": "agent1", "password": PASSWORD}))["user"] == "agent1"


async def test_the_callback_list_waiting_on_a_locked_table_does_not_stall_other_consoles(
        on_postgresql, server, connect) -> None:
    url = server.settings.sections["store"]["url"]
    sup = await connect("sup1")
    asking = await connect("sup1")
    await refused_while_locked(url, "callbacks", asking.call("callbacks.list", {"state": "all"}), sup)
    assert (await asking.call("callbacks.list", {"state": "all"}))["items"] == []


async def test_the_agents_work_list_waiting_on_a_locked_table_does_not_stall_other_consoles(
        on_postgresql, server, connect) -> None:
    """The contacts capability's commands read the main store (callbacks, the event log, ended calls)
    in a worker thread."""
    url = server.settings.sections["store"]["url"]
    sup = await connect("sup1")
    agent = await connect("agent1")
    refused = await refused_while_locked(url, "callbacks", agent.call("callbacks.worklist", {"state": "all"}), sup)
    assert refused.message == "The server cannot read its database just now; try again in a moment"
    assert (await agent.call("callbacks.worklist", {"state": "all"}))["items"] == []


async def test_an_ended_calls_details_waiting_on_a_locked_table_do_not_stall_other_consoles(
        on_postgresql, server, connect) -> None:
    url = server.settings.sections["store"]["url"]
    sup = await connect("sup1")
    agent = await connect("agent1")
    ended = {"id": "c-ended", "state": "ended", "queue": "support", "caller": "0612345678", "agent": "agent1"}
    server.store.record("call.ended", ts=100.0, call=ended)
    await server.store.drained()  # an ended call is read from the calls table
    refused = await refused_while_locked(url, "calls", agent.call("contacts.call", {"call_id": "c-ended"}), sup)
    assert refused.message == "The server cannot read its database just now; try again in a moment"
    assert (await agent.call("contacts.call", {"call_id": "c-ended"}))["caller"] == "0612345678"


async def test_a_supervisors_team_waiting_on_a_locked_users_table_does_not_stall_other_consoles(
        on_postgresql, server, connect) -> None:
    """The identity capability reads the accounts (here: which teams the supervisor leads) in a worker thread."""
    url = server.settings.sections["store"]["url"]
    agent = await connect("agent1")
    sup = await connect("sup1")
    await refused_while_locked(url, "users", sup.call("team.members"), agent)
    assert (await sup.call("team.members"))["teams"] == []  # sup1 leads no team


async def test_signing_in_needs_no_read_of_the_callbacks_table(on_postgresql, server, connect) -> None:
    """Every console's snapshot lists the open callbacks: the server keeps them as it saves them."""
    url = server.settings.sections["store"]["url"]
    item = {"id": "cb-test-1", "kind": "callback", "queue": "support", "state": "open", "requested": 100.0,
            "caller": "0612345678", "call_id": None}
    server.store.save_callback(item)
    await server.store.drained()
    sup = await connect("sup1")
    with locked(url, "callbacks"):
        loop = asyncio.get_running_loop()
        began = loop.time()
        agent = await connect("agent1")  # login, then its snapshot with the open callbacks
        took = loop.time() - began
        async with asyncio.timeout(5):
            while not agent.state.callbacks:
                await asyncio.sleep(0.01)
        assert [c["id"] for c in agent.state.callbacks.values()] == ["cb-test-1"]
        assert took < 2.0, took  # the login's password hash, not a wait for the lock
        await answered_fast(sup)
        # Taken and done: no longer open, for the next console too, still without the table.
        server.store.save_callback({**item, "state": "done"})
        again = await connect("agent2")
        async with asyncio.timeout(5):
            while not again.state.queues:  # its snapshot is in
                await asyncio.sleep(0.01)
        assert again.state.callbacks == {} and server.engine.callbacks("open") == []
    assert [c["id"] for c in server.store.callbacks("all")] == ["cb-test-1"]
    assert server.store.callbacks("all")[0]["state"] == "done"


async def test_a_routing_reload_waiting_on_a_locked_users_table_does_not_stall_other_consoles(
        on_postgresql, server, connect) -> None:
    url = server.settings.sections["store"]["url"]
    sup = await connect("sup1")
    admin = await connect("admin1")
    refused = await refused_while_locked(url, "users", admin.call("admin.reload"), sup)
    assert refused.message.startswith("The server cannot read its database just now")
    assert (await admin.call("admin.reload"))["queues"] == ["sales", "support"]
