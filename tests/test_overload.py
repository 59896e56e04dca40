"""Overload, on the real sandbox Asterisk: the engine degrades in order (server/calls/overload.py).

Failing devices do not spin offers, a stalled Asterisk opens the breaker and no new offer is made
until it answers again, lost events leave nothing stuck, and supervisors are told.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time

import pytest

from cc_console.server.app import Server
from cc_console.server.pbx.sandbox import asterisk_pid

from .asterisk import channels_left, until
from .test_restart_local import add_agent

pytestmark = pytest.mark.asterisk

ANSWERS_AT_ONCE = "Local/silence@cc-test-caller/n"  # a device that picks up as soon as it rings
UNREACHABLE = "PJSIP/1007"  # no phone registers it in these tests: Asterisk refuses at once (500)


def offers(server: Server, call_id: str) -> int:
    return sum(1 for e in server.store.events(call_id=call_id) if e.kind == "call.offered")


def ready_when_paused(client, agent_id: str) -> None:
    """Like a person (and the load bench's bots): back to ready as soon as the server pauses me."""
    loop = asyncio.get_running_loop()

    async def ready() -> None:
        with contextlib.suppress(Exception):  # the state may have moved on meanwhile
            await client.call("agent.ready")

    def on(kind, data) -> None:
        if kind == "agent.state" and data.get("id") == agent_id and data.get("state") == "paused":
            loop.create_task(ready())
    client.add_listener(on)


def call_of(sup, caller: str):
    return next((c for c in sup.state.calls.values() if c["caller"] == caller), None)


async def test_failing_devices_bound_reoffers_and_supervisors_are_told(settings, connect_to, pbx):
    s = settings.server
    s.offer_failures_max, s.offer_backoff, s.reconcile_interval = 2, 1.5, 0.5
    for name in ("bad1", "bad2"):
        add_agent(settings, name, UNREACHABLE)
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        for name in ("bad1", "bad2"):
            a = await connect_to(srv, name)
            ready_when_paused(a, name)
            await a.call("agent.login")
        await pbx.place_call("5000", caller="0600000011")
        await until(sup, lambda: "could not be put through" in sup.state.server.get("overload", ""),
                    what="overload alert")
        alerted = time.monotonic()
        c = call_of(sup, "0600000011")
        # Each agent failed once, the call waits: no offer storm although both agents are ready again.
        assert offers(srv, c["id"]) == 2
        assert c["state"] == "queued"
        assert list(srv.store.events(kinds=("server.overload",)))[-1].data["on"] is True

        # The devices come back; after the backoff the call is offered again and put through.
        for name in ("bad1", "bad2"):
            srv.engine.agents[name].device = ANSWERS_AT_ONCE
        c = await until(sup, lambda: (c := call_of(sup, "0600000011")) and c["state"] == "connected" and c,
                        what="connected after the backoff")
        assert time.monotonic() - alerted >= 1.0
        assert offers(srv, c["id"]) == 3
        await until(sup, lambda: sup.state.server.get("overload") == "", what="alert cleared")
        await srv.engine.idle()
        await pbx.hangup(c["channel"])
        await until(sup, lambda: c["id"] not in sup.state.calls, what="call ended")
        assert all(a.state in ("ready", "wrap_up") for a in srv.engine.agents.values() if a.id.startswith("bad"))
        assert await channels_left(pbx) == []
    finally:
        await srv.stop()


async def test_stalled_asterisk_opens_breaker_then_nothing_is_stuck(settings, connect_to, pbx, sandbox):
    s = settings.server
    s.ari_timeout, s.ari_breaker_failures, s.ari_breaker_cooldown = 0.5, 2, 0.5
    s.reconcile_interval, s.offer_backoff = 0.5, 1.0
    for name in ("loc1", "loc2"):
        add_agent(settings, name, ANSWERS_AT_ONCE)
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        agents = [await connect_to(srv, name) for name in ("loc1", "loc2")]
        placed = [await pbx.place_call("5000", caller=f"060000002{i}") for i in (1, 2)]
        await until(sup, lambda: all((c := call_of(sup, f"060000002{i}")) and c["state"] == "queued" for i in (1, 2)),
                    what="both calls queued")
        await srv.engine.idle()
        pid = asterisk_pid(sandbox)
        assert pid
        os.kill(pid, signal.SIGSTOP)  # Asterisk stops answering anything, as a saturated one does
        try:
            for a in agents:
                await a.call("agent.login")  # offers go out; the originates get no answer
            await until(sup, lambda: "not keeping up" in sup.state.server.get("overload", ""), timeout=20,
                        what="breaker open, supervisors told")
            made = {i: offers(srv, call_of(sup, f"060000002{i}")["id"]) for i in (1, 2)}
            assert srv.ari.breaker.is_open
            # While it is open no new offer is made: the calls wait in the queue, no agent rings.
            await until(sup, lambda: all(call_of(sup, f"060000002{i}")["state"] == "queued" for i in (1, 2))
                        and all(a["state"] != "ringing" for a in sup.state.agents.values()), timeout=20,
                        what="calls back in the queue, no agent ringing")
            assert {i: offers(srv, call_of(sup, f"060000002{i}")["id"]) for i in (1, 2)} == made
        finally:
            os.kill(pid, signal.SIGCONT)

        # Asterisk answers again: the breaker closes, the calls are put through, nothing is left over.
        await until(sup, lambda: all(call_of(sup, f"060000002{i}")["state"] == "connected" for i in (1, 2)),
                    timeout=30, what="both calls connected after the stall")
        await until(sup, lambda: sup.state.server.get("overload") == "", timeout=10, what="alert cleared")
        for p in placed:
            await pbx.hangup(p.outer)
        await until(sup, lambda: not sup.state.calls and all(
            a["state"] in ("ready", "wrap_up") for n, a in sup.state.agents.items() if n.startswith("loc")),
            timeout=15, what="calls ended, agents free")
        await srv.engine.idle()
        assert await channels_left(pbx, timeout=10) == []  # late originates were dropped as orphans
        assert not srv.engine.calls
    finally:
        await srv.stop()


async def test_reconcile_repairs_what_lost_events_left(settings, connect_to, pbx):
    settings.server.reconcile_interval = 0.3
    add_agent(settings, "loc1", ANSWERS_AT_ONCE)
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        await asyncio.wait_for(srv.ari.connected.wait(), 10)
        heard = srv.ari.on_event

        async def deaf(ev) -> None:  # the websocket loses every hang-up from now on
            if ev.type not in ("ChannelDestroyed", "StasisEnd", "ChannelHangupRequest"):
                await heard(ev)

        # A waiting caller gives up and we never hear of it.
        waiting = await pbx.place_call("5000", caller="0600000031")
        c1 = await until(sup, lambda: (c := call_of(sup, "0600000031")) and c["state"] == "queued" and c, what="queued")
        await srv.engine.idle()
        srv.ari.on_event = deaf
        await pbx.hangup(waiting.outer)
        await until(sup, lambda: c1["id"] not in sup.state.calls, what="lost caller found by the reconcile")
        assert [e.kind for e in srv.store.events(call_id=c1["id"])][-1] == "call.abandoned"

        # An agent's leg goes during a call and we never hear of it.
        srv.ari.on_event = heard
        agent = await connect_to(srv, "loc1")
        await agent.call("agent.login")
        await pbx.place_call("5000", caller="0600000032")
        c2 = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected" and c,
                         what="connected")
        await srv.engine.idle()
        srv.ari.on_event = deaf
        await pbx.hangup(c2["agent_channel"])
        await until(agent, lambda: not agent.state.my_call and agent.state.my_agent["state"] != "on_call",
                    what="lost agent hang-up found by the reconcile")
        last = list(srv.store.events(call_id=c2["id"]))[-1]
        assert last.kind == "call.completed" and last.data["by"] == "agent"
        assert srv.engine.repaired >= 2
        await srv.engine.idle()
        assert await channels_left(pbx) == []  # the caller of the ended call was hung up
    finally:
        await srv.stop()
