"""High availability without Asterisk (docs/high-availability.md): the lease on a real PostgreSQL, the
standby's answers, and consoles that move to the live server and resume without a new login.

The failover with calls on the real sandbox Asterisk is tests/test_failover.py.
"""
from __future__ import annotations

import asyncio
import copy
import sys
from types import SimpleNamespace

import aiohttp
import psycopg
import pytest

from cc_console.client import ConsoleClient
from cc_console.config import Settings
from cc_console.server.app import Server
from cc_console.server.ha import HaNode, HaSettings, Lease, LeaseLost, lock_key

from .conftest import PASSWORD
from .pg_cluster import free_port


@pytest.fixture
def pg(pg_dsn: str) -> SimpleNamespace:
    """The lease's database: the tests' one PostgreSQL cluster (tests/pg_cluster.py)."""
    return SimpleNamespace(url=pg_dsn)


def lease(pg: SimpleNamespace, node: str, key: int, **kw) -> Lease:
    return Lease(pg.url, key=key, node=node, advertise=f"ws://{node}/ws", poll=0.05, check_interval=0.1, **kw)


async def test_one_holder_and_the_other_takes_over_when_its_session_ends(pg):
    key = lock_key("test-one-holder")
    a, b = lease(pg, "a", key), lease(pg, "b", key)
    await asyncio.wait_for(a.acquire(), 10)
    waiting = asyncio.create_task(b.acquire())
    await asyncio.sleep(0.5)  # ten of b's tries
    assert not waiting.done() and a.held and not b.held
    assert b.leader is not None and (b.leader.node, b.leader.url) == ("a", "ws://a/ws")
    watching = asyncio.create_task(a.watch())
    # The leader's session ends behind its back (as when PostgreSQL drops it): the leader learns it
    # lost the lease, and the standby gets the lock.
    async with await psycopg.AsyncConnection.connect(pg.url, autocommit=True) as admin:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                            ("cc-console a",))
    with pytest.raises(LeaseLost):
        await asyncio.wait_for(watching, 5)
    await asyncio.wait_for(waiting, 5)
    assert b.held and not a.held
    await b.release()


# A process that holds the lock and then just sits, to be killed.
HOLDER = ("import psycopg, sys\n"
          "c = psycopg.connect(sys.argv[1], autocommit=True)\n"
          "assert c.execute('SELECT pg_try_advisory_lock(%s)', (int(sys.argv[2]),)).fetchone()[0]\n"
          "print('held', flush=True)\n"
          "sys.stdin.readline()\n")


async def test_a_sigkilled_holder_loses_the_lock_at_once(pg):
    key = lock_key("test-sigkill")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", HOLDER, pg.url, str(key),
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 10)).strip() == b"held"
        b = lease(pg, "b", key)
        waiting = asyncio.create_task(b.acquire())
        await asyncio.sleep(0.3)
        assert not waiting.done()
        loop = asyncio.get_running_loop()
        killed = loop.time()
        proc.kill()
        await asyncio.wait_for(waiting, 5)
        took = loop.time() - killed
        print(f"lock taken over {took:.3f} s after SIGKILL of its holder")
        assert took < 1.0
        await b.release()
    finally:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()


def node_settings(settings: Settings, pg: SimpleNamespace, name: str, key: str) -> Settings:
    s = copy.deepcopy(settings)
    s.server.port = free_port()
    s.sections["ha"] = {"lease_url": pg.url, "node": name, "key": key, "poll": 0.05, "check_interval": 0.2}
    return s


async def healthz(port: int) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as r:
        return await r.json()


async def until_role(port: int, role: str, timeout: float = 20.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            try:
                h = await healthz(port)
                if h.get("ha", {}).get("role") == role:
                    return h
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


async def test_standby_refuses_consoles_with_the_active_address_and_consoles_resume_on_takeover(settings, pg):
    sa = node_settings(settings, pg, "node-a", "standby-test")
    sb = node_settings(settings, pg, "node-b", "standby-test")
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a = HaNode(sa.section("ha", HaSettings), lambda: Server(sa), default_key="")
    run_a = asyncio.create_task(a.run(stop_a))
    await until_role(sa.server.port, "active")
    b = HaNode(sb.section("ha", HaSettings), lambda: Server(sb), default_key="")
    run_b = asyncio.create_task(b.run(stop_b))
    url_a, url_b = f"ws://127.0.0.1:{sa.server.port}/ws", f"ws://127.0.0.1:{sb.server.port}/ws"
    client = None
    try:
        h = await until_role(sb.server.port, "standby")
        async with asyncio.timeout(10):
            while (h := await healthz(sb.server.port))["ha"]["active"] is None:
                await asyncio.sleep(0.05)
        assert h["ha"]["active"] == {"node": "node-a", "url": url_a}

        async with aiohttp.ClientSession(f"http://127.0.0.1:{sb.server.port}") as http:
            # The console's websocket: refused, with the active server named for a person and a program.
            async with http.get("/ws", headers={"Upgrade": "websocket", "Connection": "Upgrade",
                                                "Sec-WebSocket-Version": "13",
                                                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as r:
                assert r.status == 503
                assert r.headers["X-CC-Console-Active"] == url_a
                body = await r.json(content_type=None)
                assert body["standby"] is True and "node-a" in body["detail"] and url_a in body["detail"]
                assert body["status"] == 503 and body["code"] == "unavailable" and body["instance"] == "/ws"
            # Writes and the engine's live state: refused; the web pages: served.
            async with http.post("/api/v1/commands/agent.ready", json={}) as r:
                assert r.status == 503
            async with http.get("/api/v1/calls") as r:
                assert r.status == 503
            async with http.get("/api/v1/openapi.json") as r:
                assert r.status == 200
            async with http.get("/web/login") as r:
                assert r.status == 200, await r.text()

        # A console given the standby first lands on the active server.
        client = ConsoleClient([url_b, url_a], reconnect=True, backoff_max=0.3)
        await client.connect()
        assert client.url == url_a
        login = await client.login("agent1", PASSWORD)
        await client.call("agent.login")
        token = client.token
        # The REST API's reads from the shared files, with the same session, on the standby too.
        async with aiohttp.ClientSession(f"http://127.0.0.1:{sb.server.port}",
                                         headers={"Authorization": f"Bearer {token}"}) as http:
            # The session is the active node's to write: the standby sees it once that node's store
            # writer has committed it (milliseconds; a 401 until then).
            async with asyncio.timeout(5):
                while True:
                    async with http.get("/api/v1/contacts", params={"q": "nobody"}) as r:
                        if r.status == 200:
                            break
                        assert r.status == 401, await r.text()
                    await asyncio.sleep(0.02)
            async with http.get("/api/v1/callbacks") as r:
                assert r.status == 200, await r.text()
            async with http.post("/api/v1/contacts", json={"first_name": "Ann"}) as r:
                assert r.status == 503 and (await r.json(content_type=None))["standby"] is True
        calls_before: list[str] = []
        orig = client.call

        async def spy(cmd, args=None, timeout=10.0):
            calls_before.append(cmd)
            return await orig(cmd, args, timeout)
        client.call = spy  # type: ignore[method-assign]

        # The active one goes away; the standby takes over and the console resumes there, same session.
        stop_a.set()
        assert await asyncio.wait_for(run_a, 20) == 0
        h = await until_role(sb.server.port, "active")
        assert h["ha"]["took_over_in"] is not None
        async with asyncio.timeout(20):
            while not (client.connected.is_set() and client.url == url_b and not client.stale):
                await asyncio.sleep(0.05)
        assert calls_before == ["resume"], "resumed with its token, no new login"
        assert client.token == token == login["token"]
        assert client.state.me["user"] == "agent1"
        assert client.state.my_agent["state"] in ("ready", "paused")  # the agent's state from the store
        assert (await client.call("ping"))["pong"] is True
    finally:
        if client:
            await client.close()
        stop_a.set()
        stop_b.set()
        for t in (run_a, run_b):
            try:
                await asyncio.wait_for(t, 20)
            except Exception:
                t.cancel()


async def test_an_active_node_that_loses_its_lease_stops_and_the_standby_takes_over(settings, pg):
    sa, sb = node_settings(settings, pg, "lost-a", "lost-test"), node_settings(settings, pg, "lost-b", "lost-test")
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    a = HaNode(sa.section("ha", HaSettings), lambda: Server(sa), default_key="")
    run_a = asyncio.create_task(a.run(stop_a))
    try:
        await until_role(sa.server.port, "active")
        b = HaNode(sb.section("ha", HaSettings), lambda: Server(sb), default_key="")
        run_b = asyncio.create_task(b.run(stop_b))
        await until_role(sb.server.port, "standby")
        # PostgreSQL drops the leader's session (a failover of PostgreSQL itself, a network cut): the
        # leader must not go on driving Asterisk beside the node that wins the lock next.
        async with await psycopg.AsyncConnection.connect(pg.url, autocommit=True) as admin:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                                ("cc-console lost-a",))
        assert await asyncio.wait_for(run_a, 10) == 1
        assert a.role == "lost"
        await until_role(sb.server.port, "active")
        stop_b.set()
        assert await asyncio.wait_for(run_b, 20) == 0
    finally:
        stop_a.set()
        stop_b.set()


def test_a_leader_must_notice_a_lost_session_before_postgresql_frees_its_lock():
    with pytest.raises(ValueError, match="check_interval"):
        HaNode(HaSettings(lease_url="postgresql://x/y", check_interval=5, check_timeout=5), lambda: None,
               default_key="")
    with pytest.raises(ValueError, match="lease_url"):
        HaNode(HaSettings(), lambda: None, default_key="")


def test_consoles_read_several_server_addresses(tmp_path):
    from cc_console.config import console_url, load_settings
    assert ConsoleClient("ws://a/ws, ws://b/ws", reconnect=False).urls == ["ws://a/ws", "ws://b/ws"]
    assert ConsoleClient(["ws://a/ws", "ws://b/ws"], reconnect=False).configured == "ws://a/ws,ws://b/ws"
    cfg = tmp_path / "config.toml"
    cfg.write_text('[console]\nserver = "ws://one/ws"\nservers = ["ws://a/ws", "ws://b/ws"]\n')
    assert console_url(load_settings(cfg)) == "ws://a/ws,ws://b/ws"
    cfg.write_text('[console]\nserver = "ws://one/ws"\n')
    assert console_url(load_settings(cfg)) == "ws://one/ws"
    cfg.write_text('[server]\nport = 9999\n')
    assert console_url(load_settings(cfg)) == "ws://127.0.0.1:9999/ws"
