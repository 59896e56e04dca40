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


# -- a standby forwards to the active node (two real server processes, store and lease on PostgreSQL) ----
SECRET = "pair-secret-for-the-tests-only"


def pair_config(tmp, name: str, port: int, lease_url: str, store_url: str, key: str):
    path = tmp / f"{name}.toml"
    path.write_text(f"""
[store]
url = "{store_url}"
[server]
port = {port}
db_path = "{tmp / 'cc.sqlite3'}"
queue_log_path = "{tmp / 'queue_log'}"
[pbx]
http_port = 9
[[queues]]
name = "support"
dids = ["5000"]
[ha]
lease_url = "{lease_url}"
node = "{name}"
key = "{key}"
internal_url = "http://127.0.0.1:{port}"
secret = "{SECRET}"
poll = 0.1
check_interval = 0.5
forward_connect_timeout = 0.5
forward_timeout = 1.5
""")
    return path


def start_node(config, log):
    import os
    import subprocess
    from pathlib import Path
    exe = Path(sys.executable).with_name("cc-console")
    assert exe.exists(), f"{exe} missing: run ./scripts/setup"
    return subprocess.Popen([str(exe), "server", "--config", str(config)], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, env={**os.environ, "CC_CONSOLE_CONFIG": str(config)})


async def until_node(port: int, proc, pred, timeout: float = 30.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            assert proc.poll() is None, "the server exited"
            try:
                h = await healthz(port)
                if pred(h.get("ha", {})):
                    return h
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)


@pytest.fixture
async def pair(tmp_path, pg, pg_seeded_url, request):
    """node-a active, node-b its standby: two `cc-console server` processes, one PostgreSQL store."""
    key = f"fwd-{request.node.name}"
    a_port, b_port = free_port(), free_port()
    log = tmp_path / "servers.log"
    a = start_node(pair_config(tmp_path, "node-a", a_port, pg.url, pg_seeded_url, key), log)
    procs = [a]
    try:
        await until_node(a_port, a, lambda ha: ha.get("role") == "active")
        b = start_node(pair_config(tmp_path, "node-b", b_port, pg.url, pg_seeded_url, key), log)
        procs.append(b)
        await until_node(b_port, b, lambda ha: ha.get("role") == "standby" and ha.get("active"))
        yield SimpleNamespace(a=f"http://127.0.0.1:{a_port}", b=f"http://127.0.0.1:{b_port}", proc_a=a, proc_b=b,
                              log=log)
    finally:
        import signal
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except Exception:
                p.kill()


async def rest_login(base: str, user: str) -> str:
    async with aiohttp.ClientSession(base) as http, \
            http.post("/api/v1/commands/login", json={"username": user, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["token"]


async def test_a_rest_write_through_the_standby_lands_on_the_active_node(pair):
    # Signing in is a write too: through the standby, answered by the active node.
    token = await rest_login(pair.b, "agent1")
    auth = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        async with http.post(f"{pair.b}/api/v1/commands/agent.login", json={}) as r:
            assert r.status == 200, await r.text()
            assert (await r.json())["agent"]["state"] != "logged_out"
        # The active node's engine has the agent logged in: it carried the command out.
        async with http.get(f"{pair.a}/api/v1/agents") as r:
            direct = await r.read()
            assert r.status == 200 and json_of(direct)["items"][0]["state"] != "logged_out"
            tag = r.headers["ETag"]
        # The engine's live state through the standby: the active node's answer, ETag and all.
        async with http.get(f"{pair.b}/api/v1/agents") as r:
            assert r.status == 200 and await r.read() == direct and r.headers["ETag"] == tag
        async with http.get(f"{pair.b}/api/v1/agents", headers={"If-None-Match": tag}) as r:
            assert r.status == 304 and r.headers["ETag"] == tag
        # A capability's write: created on the active node, its Location as that node gives it.
        async with http.post(f"{pair.b}/api/v1/contacts", json={"first_name": "Ann", "last_name": "Smith"}) as r:
            assert r.status == 201, await r.text()
            made = await r.json()
            location = r.headers.get("Location")
        async with http.get(f"{pair.a}/api/v1/contacts", params={"q": "Smith"}) as r:
            assert r.status == 200 and any(c.get("last_name") == "Smith" for c in (await r.json())["items"])
        assert location is None or location.startswith("/api/v1/contacts/"), location
        assert made


def json_of(body: bytes) -> dict:
    import json
    return json.loads(body)


async def test_a_refusal_through_the_standby_is_the_same_as_direct(pair):
    token = await rest_login(pair.a, "agent1")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
        answers = []
        for base in (pair.a, pair.b):
            async with http.post(f"{base}/api/v1/commands/queue.problem", json={"queue": "support", "on": True}) as r:
                answers.append((r.status, r.headers["Content-Type"], await r.read()))
        assert answers[0][0] == 403, answers[0]
        assert answers[1] == answers[0]
        # No credentials: the active node's 401, word for word.
        async with aiohttp.ClientSession() as anon:
            statuses = []
            for base in (pair.a, pair.b):
                async with anon.post(f"{base}/api/v1/commands/agent.ready", json={}) as r:
                    statuses.append((r.status, await r.read()))
            assert statuses[0][0] == 401 and statuses[1] == statuses[0]
    # Only a node with the pair's secret may say whose request it forwards.
    async with aiohttp.ClientSession() as http, http.post(
            f"{pair.a}/api/v1/commands/login", json={"username": "agent1", "password": PASSWORD},
            headers={"X-CC-Console-Forwarded-For": "10.1.2.3", "X-CC-Console-Node-Key": "a guess"}) as r:
        assert r.status == 403
        assert "does not trust" in (await r.json(content_type=None))["detail"]
    # A request another node forwarded to this standby (its hint was stale) goes no further.
    async with aiohttp.ClientSession() as http, http.post(
            f"{pair.b}/api/v1/commands/agent.ready", json={},
            headers={"X-CC-Console-Forwarded-For": "10.1.2.3", "X-CC-Console-Forwarded-By": "node-c",
                     "X-CC-Console-Node-Key": SECRET}) as r:
        body = await r.json(content_type=None)
        assert r.status == 503 and body["standby"] is True and "node-a" in body["detail"]
    assert "a guess" not in pair.log.read_text() and SECRET not in pair.log.read_text()


async def test_web_sign_in_through_the_standby(pair):
    # The browser comes from 127.0.0.2: the active node must see that address, not the standby's.
    jar = aiohttp.CookieJar(unsafe=True)
    conn = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
    async with aiohttp.ClientSession(pair.b, cookie_jar=jar, connector=conn) as web:
        async with web.get("/web/login") as r:
            assert r.status == 200
        async with web.post("/web/login", data={"username": "agent1", "password": PASSWORD,
                                                "next": "/web/absences"}, allow_redirects=False) as r:
            assert r.status == 303, await r.text()
            assert r.headers["Location"] == "/web/absences"
            assert "cc_session" in r.cookies
        # The next page on the standby knows the session at once (forwarded until its store has it).
        async with web.get("/web/absences", allow_redirects=False) as r:
            page = await r.text()
            assert r.status == 200, page
            assert "Agent1" in page and 'name="password"' not in page
            token = page.split('name="form_token" value="', 1)[1].split('"', 1)[0]
        # A form on the page, posted to the standby: carried out by the active node.
        async with web.post("/web/logout", data={"form_token": token}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/web/login"
        async with web.get("/web/absences", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"].startswith("/web/login")
    log = pair.log.read_text()
    assert "web sign-in agent1 (agent) from 127.0.0.2" in log, log[-3000:]


async def test_an_unreachable_active_node_gives_a_clear_503(pair):
    import signal
    token = await rest_login(pair.a, "sup1")
    pair.proc_a.send_signal(signal.SIGSTOP)  # hung: its port still takes connections, it answers nothing
    try:
        loop = asyncio.get_running_loop()
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            began = loop.time()
            async with http.get(f"{pair.b}/api/v1/calls") as r:
                took = loop.time() - began
                body = await r.json(content_type=None)
                assert r.status == 503 and r.headers["Retry-After"] == "2"
                assert "node-a" in body["detail"] and "cannot be reached" in body["detail"]
                assert body["code"] == "unavailable"
            assert took < 5, took
            async with http.post(f"{pair.b}/api/v1/commands/agent.ready", json={}) as r:
                body = await r.json(content_type=None)
                assert r.status == 503 and "not known whether this was done" in body["detail"], body
            # A browser is told in a page, not in JSON.
            async with http.post(f"{pair.b}/web/login", data={"username": "x", "password": "y"},
                                 headers={"Accept": "text/html"}) as r:
                assert r.status == 503 and r.content_type == "text/html"
                assert "node-a" in await r.text()
    finally:
        pair.proc_a.send_signal(signal.SIGCONT)


async def test_a_session_the_standby_does_not_know_yet_is_forwarded(pair, pg_seeded_url):
    # The active node's store writer cannot write sessions (another transaction keeps writes out of
    # the table, reads still go through): its new session lives only in its memory for now.
    with psycopg.connect(pg_seeded_url) as other:
        other.execute("LOCK TABLE sessions IN EXCLUSIVE MODE")
        token = await rest_login(pair.b, "agent1")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:
            # The standby reads the table, finds no such session, and asks the node that made it.
            async with http.get(f"{pair.b}/api/v1/contacts", params={"q": "nobody"}) as r:
                assert r.status == 200, await r.text()
            async with http.get(f"{pair.b}/api/v1/callbacks") as r:
                assert r.status == 200, await r.text()
            # A token nobody knows: the active node's 401, as if asked directly.
            async with http.get(f"{pair.b}/api/v1/contacts", params={"q": "nobody"},
                                headers={"Authorization": "Bearer not-a-session"}) as r:
                assert r.status == 401
        other.rollback()


async def test_a_chat_visitor_on_a_page_of_the_standby_chats_with_the_active_node(pair):
    from .chat_helpers import Visitor
    token = await rest_login(pair.a, "sup1")
    async with Visitor(pair.b) as visitor:
        await visitor.start("Vera Visitor")
        await visitor.send(op="message", text="Hello, is anyone there?")
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http, \
                http.post(f"{pair.a}/api/v1/commands/chat.list", json={}) as r:
            assert r.status == 200, await r.text()
            chats = (await r.json())["chats"]
        assert [c["id"] for c in chats] == [visitor.id]
    # The consoles' own websocket is not relayed: they move to the active node themselves.
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(f"{pair.b}/ws")
        assert refused.value.status == 503
