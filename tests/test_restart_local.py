"""A restart of our server keeps calls on every kind of agent device, on the real sandbox Asterisk.

An agent's device may be a dial string through a Local channel (an external number, a forwarding
rule). Asterisk names the Local channel's second half `<our leg id>;2`; a resync must know it as
part of the live leg, not hang it up as a stale one (which took the call down with it).
"""
from __future__ import annotations

import asyncio

import pytest

from cc_console.server.app import Server
from cc_console.server.auth import Auth
from cc_console.server.pbx.phones import tone_level, wav_duration
from cc_console.server.pbx.sandbox import CALLER_TONE_FREQ
from cc_console.server.store import open_configured

from .asterisk import until
from .conftest import PASSWORD

pytestmark = pytest.mark.asterisk


def add_agent(settings, username: str, device: str, answer_mode: str = "phone") -> None:
    store = open_configured(settings)  # on whichever backend --store chose
    Auth(store).add_user(username, PASSWORD, "agent", name=username.title(), device=device,
                         answer_mode=answer_mode, queues=["support"])
    store.close()


async def test_restart_keeps_call_on_local_channel_device(settings, connect_to, pbx, phone):
    # The agent's device is a dial string: a Local channel that rings the real phone 1004.
    add_agent(settings, "agentx", "Local/1004@cc-agents/n")
    p = await phone("1004", auto_answer=True)
    first = Server(settings)
    await first.start()
    agent = await connect_to(first, "agentx")
    await agent.call("agent.login")
    call = await pbx.place_call("5000")
    c = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected" and c, what="connected")
    await p.wait_call_state("ESTABLISHED", timeout=10)
    await first.engine.idle()
    leg = c["agent_channel"]
    assert {call.inner, leg, leg + ";2"} <= await pbx.channel_ids()
    await first.stop()  # our server goes away; Asterisk keeps the call up

    second = Server(settings)
    await second.start()
    try:
        await asyncio.wait_for(second.ari.connected.wait(), 10)
        await second.engine.idle()  # the resync's side effects (a wrongful hang-up among them) are done
        rebuilt = second.engine.calls.get(c["id"])
        assert rebuilt is not None and rebuilt.state == "connected" and rebuilt.agent == "agentx"
        assert second.engine.agents["agentx"].state == "on_call"
        assert {call.inner, leg, leg + ";2"} <= await pbx.channel_ids()
        bridge = await pbx.bridge(c["bridge"])
        assert bridge is not None and set(bridge["channels"]) == {call.inner, leg}
        assert p.call_state != "CALL_CLOSED"
        await asyncio.sleep(1.5)  # talk after the restart: the caller's tone must still reach the phone

        agent2 = await connect_to(second, "agentx")
        assert agent2.state.my_call["id"] == c["id"]
        await agent2.call("call.hangup")
        await until(agent2, lambda: agent2.state.my_agent["state"] == "ready", what="ready")
        await p.wait_call_state("CLOSED", timeout=10)
        heard = p.recorded_wav()
        # The last second before the agent hung up, well after the restart.
        assert tone_level(heard, CALLER_TONE_FREQ, start=wav_duration(heard) - 1.2, duration=1.0) > 0.05
        kinds = [e.kind for e in second.store.events(call_id=c["id"])]
        assert kinds.count("call.connected") == 1 and kinds[-1] == "call.completed"
        assert list(second.store.events(call_id=c["id"]))[-1].data["by"] == "agent"
    finally:
        await second.stop()
