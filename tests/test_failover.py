"""Failover on the real sandbox Asterisk (issue 22; docs/high-availability.md).

Two real `cc-console server` processes for one Asterisk, the lease on a real PostgreSQL, the store
shared: the main store in PostgreSQL (the production layout), or the same SQLite files on this
machine; the capabilities whose databases have not moved to PostgreSQL share their files either
way. The active one is killed with SIGKILL
while one call is connected to an agent's real phone, one rings an agent's console and one waits in
the queue. The standby takes over within 5 s (measured from the kill until it has resynced with
Asterisk, and printed); the connected call stays up in its bridge; the ringing call is answered on
the new server; the queued one is offered; the store has every event once; the consoles resume on
the new server with their session, without a new login.
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import psycopg
import pytest

from cc_console.client import ConsoleClient
from cc_console.server.pbx.phones import tone_level, wav_duration
from cc_console.server.pbx.sandbox import CALLER_TONE_FREQ

from .asterisk import still_there, until
from .conftest import PASSWORD
from .pg_cluster import free_port

pytestmark = pytest.mark.asterisk


@pytest.fixture
def pg(pg_dsn: str) -> SimpleNamespace:
    """The lease's database: the tests' one PostgreSQL cluster (tests/pg_cluster.py)."""
    return SimpleNamespace(url=pg_dsn)


def node_config(tmp: Path, name: str, port: int, db: Path, lease_url: str, ring_timeout: float = 30.0,
                store_url: str = "") -> Path:
    path = tmp / f"{name}.toml"
    store = f'[store]\nurl = "{store_url}"\n' if store_url else ""
    path.write_text(store + f"""
[server]
port = {port}
db_path = "{db}"
queue_log_path = "{tmp / 'queue_log'}"
ring_timeout = {ring_timeout}
ari_reconnect_min = 0.1
ari_reconnect_max = 0.5
[pbx]
moh_class = "cc-tone"
[[queues]]
name = "support"
dids = ["5000"]
[ha]
lease_url = "{lease_url}"
node = "{name}"
key = "failover-test"
poll = 0.1
check_interval = 0.5
""")
    return path


def start_node(config: Path, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("cc-console")
    assert exe.exists(), f"{exe} missing: run ./scripts/setup"
    return subprocess.Popen([str(exe), "server", "--config", str(config)], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, env={**os.environ, "CC_CONSOLE_CONFIG": str(config)})


async def health(port: int) -> dict[str, Any] | None:
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as r:
            return await r.json() if r.status == 200 else None
    except aiohttp.ClientError:
        return None


async def until_health(port: int, proc: subprocess.Popen[bytes], pred, what: str, timeout: float = 30.0) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            assert proc.poll() is None, f"the server ({what}) exited"
            h = await health(port)
            if h and pred(h):
                return h
            await asyncio.sleep(0.02)


def stored_events(db: Path, store_url: str = "") -> list[tuple[Any, ...]]:
    """(seq, event id, kind, call id, data) of every stored event, read as another process would."""
    if store_url:
        with psycopg.connect(store_url) as pgc:
            return [tuple(r) for r in pgc.execute("SELECT seq, eid, kind, call_id, data FROM events ORDER BY seq")]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in con.execute("SELECT seq, eid, kind, call_id, data FROM events ORDER BY seq")]
    finally:
        con.close()


async def bridged(pbx: Any, bridge_id: str, channels: set[str], timeout: float = 5.0) -> None:
    """Await these channels, and only these, in the bridge ("connected" is pushed as the server asks
    Asterisk to add the agent's leg, before Asterisk has done it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        br = await pbx.bridge(bridge_id)
        if br and set(br["channels"]) == channels:
            return
        assert loop.time() < deadline, f"bridge {bridge_id}: {br}; expected {channels}; in Asterisk: " \
                                       f"{await pbx.channel_ids()}"
        await asyncio.sleep(0.02)


def logins(client: ConsoleClient) -> list[str]:
    """The commands the client sends, kept: a resume must not become a new login."""
    sent: list[str] = []
    original = client.call

    async def call(cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        sent.append(cmd)
        return await original(cmd, args, timeout)
    client.call = call  # type: ignore[method-assign]
    return sent


@pytest.fixture(params=["shared-sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """Where both servers keep the store: the same SQLite files on this machine, or PostgreSQL (the
    production layout: docs/high-availability.md), a fresh database with the seeded users."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("pg_seeded_url")
        return url
    return ""


async def test_sigkill_of_the_active_server_with_calls_in_every_state(tmp_path, template_db, pg, store_url, pbx,
                                                                      phone):
    db = tmp_path / "cc.sqlite3"
    shutil.copy(template_db, db)
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"ws://127.0.0.1:{port_a}/ws", f"ws://127.0.0.1:{port_b}/ws"
    log = tmp_path / "servers.log"
    a = start_node(node_config(tmp_path, "node-a", port_a, db, pg.url, store_url=store_url), log)
    b: subprocess.Popen[bytes] | None = None
    clients: list[ConsoleClient] = []

    async def console(user: str) -> ConsoleClient:
        c = ConsoleClient([url_a, url_b], reconnect=True, backoff_max=0.5)
        clients.append(c)
        await c.connect()
        await c.login(user, PASSWORD)
        return c

    try:
        await until_health(port_a, a, lambda h: h["ha"]["role"] == "active" and h["ari"] == "up", "node-a")
        b = start_node(node_config(tmp_path, "node-b", port_b, db, pg.url, store_url=store_url), log)
        await until_health(port_b, b, lambda h: h["ha"]["role"] == "standby" and h["ha"]["active"], "node-b")

        phone3 = await phone("1003", auto_answer=True)  # agent3 answers on the phone itself
        phone1 = await phone("1001", auto_answer=True)  # agent1 answers from the console
        agent3, agent1, sup = await console("agent3"), await console("agent1"), await console("sup1")
        assert {c.url for c in clients} == {url_a}

        # 1. connected: agent3's phone answers the first caller.
        await agent3.call("agent.login")
        call1 = await pbx.place_call("5000", caller="0611111111")
        c1 = await until(agent3, lambda: (c := agent3.state.my_call) and c["state"] == "connected" and c,
                         what="call 1 connected")
        await phone3.wait_call_state("ESTABLISHED", timeout=15)
        # 2. ringing: agent1's console rings for the second caller.
        await agent1.call("agent.login")
        call2 = await pbx.place_call("5000", caller="0622222222")
        c2 = await until(agent1, lambda: (c := agent1.state.my_call) and c["state"] == "ringing" and c,
                         what="call 2 ringing agent1")
        # 3. queued: nobody is free for the third.
        await pbx.place_call("5000", caller="0633333333")
        c3 = await until(sup, lambda: next((c for c in sup.state.calls.values()
                                            if c["caller"] == "0633333333" and c["state"] == "queued"), None),
                         what="call 3 queued")
        # Everything so far is in the store before the kill (the writer commits within milliseconds).
        async with asyncio.timeout(10):
            while not {(c1["id"], "call.connected"), (c2["id"], "call.offered"), (c3["id"], "call.queued")} <= {
                    (e[3], e[2]) for e in stored_events(db, store_url)}:
                await asyncio.sleep(0.02)
        before = stored_events(db, store_url)
        sent = {c: logins(c) for c in clients}
        tokens = {c: c.token for c in clients}

        loop = asyncio.get_running_loop()
        killed = loop.time()
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        h = await until_health(port_b, b, lambda h: h["ha"]["role"] == "active" and h["ari"] == "up", "node-b", 15)
        took = loop.time() - killed
        print(f"\nfailover: node-b active and resynced with Asterisk {took:.2f} s after SIGKILL of node-a "
              f"(its server started {h['ha']['took_over_in']:.2f} s after it won the lease)")
        assert took < 5.0

        # The consoles resume on node-b with their session: no new login.
        async with asyncio.timeout(15):
            while not all(c.connected.is_set() and c.url == url_b and not c.stale for c in clients):
                await asyncio.sleep(0.02)
        for c in clients:
            assert sent[c] == ["resume"] and c.token == tokens[c], (c.state.me, sent[c])

        # The connected call stays up: same bridge, same two channels, the phone still in the call.
        leg = c1["agent_channel"]
        bridge = await pbx.bridge(c1["bridge"])
        assert bridge is not None and set(bridge["channels"]) == {call1.inner, leg}
        assert phone3.call_state != "CALL_CLOSED"
        assert agent3.state.my_call["id"] == c1["id"] and agent3.state.my_call["state"] == "connected"

        # The ringing call still rings agent1 on the new server, who answers it there.
        assert (await until(agent1, lambda: (c := agent1.state.my_call) and c["id"] == c2["id"] and c,
                            what="call 2 still offered"))["state"] == "ringing"
        await agent1.call("call.answer")
        c2 = await until(agent1, lambda: (c := agent1.state.my_call) and c["state"] == "connected" and c,
                         what="call 2 answered")
        await phone1.wait_call_state("ESTABLISHED", timeout=15)
        await bridged(pbx, c2["bridge"], {call2.inner, c2["agent_channel"]})

        # The queued call is offered as soon as an agent is free.
        agent2 = ConsoleClient([url_a, url_b], reconnect=True, backoff_max=0.5)
        clients.append(agent2)
        await agent2.connect()
        assert agent2.url == url_b
        await agent2.login("agent2", PASSWORD)
        await agent2.call("agent.login")
        await until(agent2, lambda: (c := agent2.state.my_call) and c["id"] == c3["id"] and c["state"] == "ringing",
                    what="call 3 offered to agent2")

        # The store: what node-a wrote is all there, unchanged; nothing twice.
        async with asyncio.timeout(10):
            while (c3["id"], "call.offered") not in {(e[3], e[2]) for e in stored_events(db, store_url)[len(before):]}:
                await asyncio.sleep(0.02)
        after = stored_events(db, store_url)
        assert after[:len(before)] == before
        eids = [e[1] for e in after if e[1]]
        assert len(eids) == len(set(eids)), "an event stored twice"
        kinds = {cid: [e[2] for e in after if e[3] == cid] for cid in (c1["id"], c2["id"], c3["id"])}
        for cid, ks in kinds.items():
            assert ks.count("call.queued") == 1, (cid, ks)
        assert kinds[c1["id"]].count("call.connected") == 1 and "call.completed" not in kinds[c1["id"]]
        assert kinds[c2["id"]].count("call.connected") == 1
        assert kinds[c3["id"]].count("call.offered") == 1 and kinds[c3["id"]][-1] == "call.offered"

        # The connected call still carries sound: the caller's tone reaches agent3's phone in the last
        # second before the agent hangs up, well after the failover.
        talk_after = 1.5 - (loop.time() - killed - took)
        if talk_after > 0:
            await asyncio.sleep(talk_after)
        await agent3.call("call.hangup")
        await phone3.wait_call_state("CLOSED", timeout=10)
        heard = phone3.recorded_wav()
        assert tone_level(heard, CALLER_TONE_FREQ, start=wav_duration(heard) - 1.2, duration=1.0) > 0.05
    finally:
        for c in clients:
            await c.close()
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


async def test_sigkill_while_an_agents_own_phone_rings_then_it_answers_on_the_new_server(tmp_path, template_db, pg,
                                                                                        pbx, phone):
    """The ringing offer as a live SIP leg (an agent who answers on the phone itself): the leg the dead
    server originated rings on across the failover and, answered, joins the caller on the new server."""
    db = tmp_path / "cc.sqlite3"
    shutil.copy(template_db, db)
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"ws://127.0.0.1:{port_a}/ws", f"ws://127.0.0.1:{port_b}/ws"
    log = tmp_path / "servers.log"
    a = start_node(node_config(tmp_path, "node-a", port_a, db, pg.url), log)
    b: subprocess.Popen[bytes] | None = None
    agent3: ConsoleClient | None = None
    try:
        await until_health(port_a, a, lambda h: h["ha"]["role"] == "active" and h["ari"] == "up", "node-a")
        b = start_node(node_config(tmp_path, "node-b", port_b, db, pg.url), log)
        await until_health(port_b, b, lambda h: h["ha"]["role"] == "standby" and h["ha"]["active"], "node-b")
        phone3 = await phone("1003", auto_answer=False)
        agent3 = ConsoleClient([url_a, url_b], reconnect=True, backoff_max=0.5)
        await agent3.connect()
        await agent3.login("agent3", PASSWORD)
        await agent3.call("agent.login")
        call = await pbx.place_call("5000", caller="0644444444")
        c = await until(agent3, lambda: (c := agent3.state.my_call) and c["state"] == "ringing" and c, what="ringing")
        await phone3.wait_call_state("CALL_INCOMING", timeout=15)
        async with asyncio.timeout(10):
            while (c["id"], "call.dialing") not in {(e[3], e[2]) for e in stored_events(db)}:
                await asyncio.sleep(0.02)
        dialing = next(e for e in stored_events(db) if e[3] == c["id"] and e[2] == "call.dialing")
        leg = json.loads(dialing[4])["leg"]
        assert leg in await pbx.channel_ids()
        sent = logins(agent3)

        loop = asyncio.get_running_loop()
        killed = loop.time()
        a.send_signal(signal.SIGKILL)
        a.wait(10)
        await until_health(port_b, b, lambda h: h["ha"]["role"] == "active" and h["ari"] == "up", "node-b", 15)
        took = loop.time() - killed
        print(f"\nfailover with a ringing phone: node-b active and resynced {took:.2f} s after SIGKILL")
        assert took < 5.0
        async with asyncio.timeout(15):
            while not (agent3.connected.is_set() and agent3.url == url_b and not agent3.stale):
                await asyncio.sleep(0.02)
        assert sent == ["resume"]
        assert agent3.state.my_call["id"] == c["id"] and agent3.state.my_call["state"] == "ringing"
        assert phone3.call_state == "CALL_INCOMING"  # the resync left the live leg ringing

        await phone3.answer()
        connected = await until(agent3, lambda: (x := agent3.state.my_call) and x["state"] == "connected" and x,
                                what="answered on the phone, connected by node-b")
        assert connected["agent_channel"] == leg, "the leg the dead server originated, not a new one"
        await bridged(pbx, connected["bridge"], {call.inner, leg})
        kinds = [e[2] for e in stored_events(db) if e[3] == c["id"]]
        assert kinds.count("call.dialing") == 1 and kinds.count("call.connected") == 1, kinds
    finally:
        if agent3 is not None:
            await agent3.close()
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()


async def test_a_hold_the_dead_server_left_half_done_is_completed_by_the_next(settings, pbx):
    """A server that dies between creating a caller's bridge and adding the caller to it (the hold's
    ARI requests are in flight when it is killed) leaves the bridge without the caller. The next server's
    resync holds the caller again: the bridge that is already there is used, not refused as a conflict
    (which left the caller outside its bridge, unheard by the agent who answered)."""
    from cc_console.server.app import Server
    first = Server(settings)
    await first.start()
    try:
        await asyncio.wait_for(first.ari.connected.wait(), 10)
        call = await pbx.place_call("5000")
        async with asyncio.timeout(10):
            while not (c := next((c for c in first.engine.calls.values() if c.channel == call.inner), None)):
                await asyncio.sleep(0.02)
        await bridged(pbx, c.bridge, {call.inner})
    finally:
        await first.stop()
    r = await pbx.http.post(f"/bridges/{c.bridge}/removeChannel", params={"channel": call.inner})
    assert r.status_code == 204, r.text
    await bridged(pbx, c.bridge, set())

    second = Server(settings)
    await second.start()
    try:
        await asyncio.wait_for(second.ari.connected.wait(), 10)
        await second.engine.idle()
        assert second.engine.calls[c.id].state == "queued"
        await bridged(pbx, c.bridge, {call.inner})
    finally:
        await second.stop()


async def test_sigkill_while_an_agents_phone_rings_unanswered_the_call_goes_back_to_the_queue(tmp_path, template_db,
                                                                                              pg, pbx, phone):
    """The ringing offer nobody answers: the new server still ends it when the ring time is up (the call
    back in the queue, the agent paused with "no answer"), the leg the dead server originated gone."""
    db = tmp_path / "cc.sqlite3"
    shutil.copy(template_db, db)
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"ws://127.0.0.1:{port_a}/ws", f"ws://127.0.0.1:{port_b}/ws"
    log = tmp_path / "servers.log"
    ring = 6.0
    a = start_node(node_config(tmp_path, "node-a", port_a, db, pg.url, ring), log)
    b: subprocess.Popen[bytes] | None = None
    agent3: ConsoleClient | None = None
    try:
        await until_health(port_a, a, lambda h: h["ha"]["role"] == "active" and h["ari"] == "up", "node-a")
        b = start_node(node_config(tmp_path, "node-b", port_b, db, pg.url, ring), log)
        await until_health(port_b, b, lambda h: h["ha"]["role"] == "standby" and h["ha"]["active"], "node-b")
        phone3 = await phone("1003", auto_answer=False)
        agent3 = ConsoleClient([url_a, url_b], reconnect=True, backoff_max=0.5)
        await agent3.connect()
        await agent3.login("agent3", PASSWORD)
        await agent3.call("agent.login")
        await pbx.place_call("5000", caller="0655555555")
        c = await until(agent3, lambda: (c := agent3.state.my_call) and c["state"] == "ringing" and c, what="ringing")
        loop = asyncio.get_running_loop()
        offered = loop.time()
        await phone3.wait_call_state("CALL_INCOMING", timeout=15)
        async with asyncio.timeout(10):
            while (c["id"], "call.dialing") not in {(e[3], e[2]) for e in stored_events(db)}:
                await asyncio.sleep(0.02)
        leg = json.loads(next(e for e in stored_events(db) if e[3] == c["id"] and e[2] == "call.dialing")[4])["leg"]

        a.send_signal(signal.SIGKILL)
        a.wait(10)
        await until_health(port_b, b, lambda h: h["ha"]["role"] == "active" and h["ari"] == "up", "node-b", 15)
        await until(agent3, lambda: agent3.url == url_b and (ag := agent3.state.my_agent) and ag["state"] == "paused"
                    and ag["reason"] == "no answer", timeout=ring + 10, what="no answer after the failover")
        took = loop.time() - offered
        print(f"\nunanswered offer ended by node-b {took:.2f} s after it began (ring time {ring} s)")
        assert took < ring + 3.0
        async with asyncio.timeout(5):  # written by node-b's store writer a moment after it is pushed
            while (c["id"], "call.ringnoanswer") not in {(e[3], e[2]) for e in stored_events(db)}:
                await asyncio.sleep(0.02)
        assert agent3.state.my_call is None  # back in the queue: no longer the agent's
        assert await still_there(pbx, {leg}) == set()
    finally:
        if agent3 is not None:
            await agent3.close()
        for proc in (a, b):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
