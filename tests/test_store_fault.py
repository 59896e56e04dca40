"""A database another process keeps locked loses no event and stalls nothing (issue 12, item 1).

On the real sandbox: a call is connected to a real phone, another process (a real SQLite
connection in a subprocess) holds BEGIN EXCLUSIVE on our database, and the caller hangs up.
Consoles' pings stay fast, the agent is free, the agent's channel leaves Asterisk, /healthz and
the supervisors are told; once the lock goes the stored call is ended with its real talk time.
Then the same with our server restarted while the events still wait in the journal.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from cc_console.server.app import Server
from cc_console.server.store.journal import journal_path

from .asterisk import SandboxPbx, channels_left, until

pytestmark = [pytest.mark.asterisk, pytest.mark.sqlite_only]  # a real SQLite lock

# Another program holding the write lock: prints "locked" once it has it, lets go on a line on stdin.
LOCKER = ("import sqlite3, sys\n"
          "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
          "db.execute('BEGIN EXCLUSIVE')\n"
          "print('locked', flush=True)\n"
          "sys.stdin.readline()\n"
          "db.execute('COMMIT')\n")


@contextlib.asynccontextmanager
async def locked(db: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", LOCKER, str(db),
                                                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    try:
        assert (await asyncio.wait_for(proc.stdout.readline(), 10)).strip() == b"locked"
        yield proc
    finally:
        if proc.returncode is None:
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
            await asyncio.wait_for(proc.wait(), 10)


class Pinger:
    """Pings the server from a console all along and keeps the round-trip times."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.times: list[float] = []
        # A flag, not task.cancel(): Python 3.11's wait_for (inside client.call) can swallow a
        # cancellation that arrives as the reply does, and the pinger would run on for ever.
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            t = loop.time()
            await self.client.call("ping")
            self.times.append(loop.time() - t)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.05)  # pacing, not waiting for anything

    async def stop(self) -> list[float]:
        self._stop.set()
        await self._task
        return self.times


async def healthz(srv: Server) -> dict[str, Any]:
    url = f"http://{srv.settings.server.host}:{srv.port}/healthz"
    async with aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200
        return await r.json()


def stored(db: Path, call_id: str) -> tuple[str | None, list[tuple[str, dict[str, Any]]]]:
    """The call's state in the calls table and its events, read by a connection of our own."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT state FROM calls WHERE id = ?", (call_id,)).fetchone()
        events = [(k, json.loads(d)) for k, d in
                  con.execute("SELECT kind, data FROM events WHERE call_id = ? ORDER BY seq", (call_id,))]
    finally:
        con.close()
    return (row[0] if row else None), events


async def connected_call(agent: Any, pbx: SandboxPbx) -> tuple[Any, dict[str, Any]]:
    placed = await pbx.place_call("5000", caller="0611112222")
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
    await agent.call("call.answer")
    c = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected" and c, what="connected")
    return placed, c


async def gone_from_asterisk(pbx: SandboxPbx, channel: str, timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while channel in await pbx.channel_ids():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def test_locked_database_keeps_the_call_end_and_nothing_stalls(server, connect, pbx: SandboxPbx, phone,
                                                                     settings):
    db = settings.server.db_file
    p1 = await phone("1001", auto_answer=True)
    agent = await connect("agent1")
    sup = await connect("sup1")
    await agent.call("agent.login")
    placed, c = await connected_call(agent, pbx)
    await p1.wait_call_state("ESTABLISHED", timeout=10)
    await asyncio.sleep(1.0)  # talk

    async with locked(db):
        pinger = Pinger(agent)
        hung_up = time.time()
        await pbx.hangup(placed.outer)
        await until(agent, lambda: agent.state.my_agent["state"] in ("wrap_up", "ready") and not agent.state.my_call,
                    what="the agent free")
        assert await gone_from_asterisk(pbx, c["agent_channel"]), "the agent's channel stayed up in Asterisk"
        await until(sup, lambda: sup.state.server.get("store") == "fault", what="the supervisor told")
        assert "locked" in sup.state.server["store_problem"]
        h = await healthz(server)
        assert h["ok"] is False and h["store"]["ok"] is False and h["store"]["journaled"] >= 1
        # The engine reads its own writes; the database itself still has the call connected.
        assert server.store.call(c["id"])["state"] == "ended"
        assert stored(db, c["id"])[0] == "connected"
        assert journal_path(db).read_text().count(c["id"]) >= 1
        # The next call is handled while the database stays locked.
        if agent.state.my_agent["state"] == "wrap_up":
            await agent.call("agent.ready")
        placed2, c2 = await connected_call(agent, pbx)
        await pbx.hangup(placed2.outer)
        await until(agent, lambda: not agent.state.my_call, what="second call over")
        times = await pinger.stop()
    assert len(times) >= 5 and max(times) < 0.2, f"pings during the lock: {times}"

    await until(sup, lambda: sup.state.server.get("store") == "ok", what="the store back")
    h = await healthz(server)
    assert h["ok"] is True and h["store"] == {"ok": True, "problem": None, "unsaved": 0, "journaled": 0}
    state, events = stored(db, c["id"])
    assert state == "ended"
    kinds = [k for k, _ in events]
    assert kinds[-1] == "call.completed" and kinds.count("call.completed") == 1
    talk = events[-1][1]["talk"]
    assert abs(talk - (hung_up - c["answered"])) < 0.5, (talk, hung_up - c["answered"])
    assert journal_path(db).read_text() == ""
    assert stored(db, c2["id"])[0] == "ended"
    await channels_left(pbx)


async def test_restart_with_events_in_the_journal(settings, connect_to, pbx: SandboxPbx, phone):
    db = settings.server.db_file
    p1 = await phone("1001", auto_answer=True)
    first = Server(settings)
    await first.start()
    first_running = True
    second: Server | None = None
    try:
        agent = await connect_to(first, "agent1")
        await agent.call("agent.login")
        placed, c = await connected_call(agent, pbx)
        await p1.wait_call_state("ESTABLISHED", timeout=10)
        await asyncio.sleep(1.0)  # talk
        async with locked(db):
            hung_up = time.time()
            await pbx.hangup(placed.outer)
            await until(agent, lambda: not agent.state.my_call, what="the agent free")
            assert await gone_from_asterisk(pbx, c["agent_channel"])
            first_running = False
            await first.stop()  # with the call's end in the journal only
            assert c["id"] in journal_path(db).read_text()
            assert stored(db, c["id"])[0] == "connected"

            second = Server(settings)
            await second.start()  # the database still locked: the journal waits
            await asyncio.wait_for(second.ari.connected.wait(), 10)
            assert c["id"] not in second.engine.calls
            assert second.engine.agents["agent1"].state in ("wrap_up", "ready")
            sup = await connect_to(second, "sup1")
            await until(sup, lambda: sup.state.server.get("store") == "fault", what="the supervisor told")
            assert (await healthz(second))["store"]["journaled"] >= 1
        await until(sup, lambda: sup.state.server.get("store") == "ok", what="the store back")
        state, events = stored(db, c["id"])
        assert state == "ended"
        kinds = [k for k, _ in events]
        assert kinds.count("call.completed") == 1 and kinds.count("call.connected") == 1
        talk = events[-1][1]["talk"]
        assert abs(talk - (hung_up - c["answered"])) < 0.5, (talk, hung_up - c["answered"])
        assert journal_path(db).read_text() == ""
        assert (await healthz(second))["store"]["ok"] is True
    finally:
        if first_running:
            await first.stop()
        if second is not None:
            await second.stop()
