"""Supervisor listen, whisper and barge on real phones: who hears whom, measured in the audio.

Three real SIP phones, each sending its own tone: the caller (1005), the agent (1001) and the
supervisor (1008). Each phone records what it hears; a Goertzel filter tells which tones are in
each recording during each mode.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from cc_console.protocol import ProtocolError
from cc_console.server.pbx.phones import phone_tone_freq, tone_level
from cc_console.server.pbx.phones import recorded_seconds as recorded_seconds_of

from .asterisk import channels_left, until

pytestmark = pytest.mark.asterisk

HEARD = 0.02  # a tone of amplitude 0.3 measures ~0.1-0.3 when heard, under 0.005 when not


def recorded_seconds(ph) -> float:
    return recorded_seconds_of(ph.recorded_wav())


async def recorded_beyond(phones, marks: dict[int, float], seconds: float, timeout: float = 20.0) -> None:
    """Wait until every phone has recorded `seconds` more than its mark."""
    deadline = time.monotonic() + timeout
    while any(recorded_seconds(ph) < marks[id(ph)] + seconds for ph in phones):
        assert time.monotonic() < deadline, "a phone stopped recording"
        await asyncio.sleep(0.05)


async def test_listen_whisper_barge_who_hears_whom(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    agent_phone = await phone("1001", auto_answer=True)
    sup_phone = await phone("1008", auto_answer=True)
    f_caller, f_agent, f_sup = (phone_tone_freq(n) for n in (1005, 1001, 1008))
    assert len({f_caller, f_agent, f_sup}) == 3

    agent = await connect("agent1")
    sup = await connect("sup1")
    await agent.call("agent.login")
    with pytest.raises(ProtocolError) as exc:
        await sup.call("monitor.start", {"agent": "agent1"})
    assert exc.value.code == "conflict"  # not on a call yet
    with pytest.raises(ProtocolError) as exc:
        await agent.call("monitor.start", {"agent": "agent1"})
    assert exc.value.code == "forbidden"

    await caller.dial("5000")
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
    await agent.call("call.answer")
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="connected")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await agent_phone.wait_call_state("ESTABLISHED", timeout=10)

    states: list[dict] = []
    sup.add_listener(lambda kind, data: states.append(data) if kind == "monitor.update" else None)
    phones = (caller, agent_phone, sup_phone)
    # Per mode and phone: the stretch of that phone's recording to measure, in the recording's own
    # time (a phone's recording runs behind the wall clock when the machine is loaded).
    windows: dict[str, dict[int, tuple[float, float]]] = {}
    for mode in ("listen", "whisper", "barge"):
        res = await sup.call("monitor.start", {"agent": "agent1", "mode": mode})
        assert res["monitor"]["mode"] == mode
        if mode == "listen":
            await sup_phone.wait_call_state("ESTABLISHED", timeout=10)
        # Audio flows once the snoop for this mode is in the monitor bridge.
        await until(sup, lambda mode=mode: states and states[-1]["mode"] == mode and states[-1]["snoop_ready"],
                    timeout=15, what=f"{mode} snoop bridged")
        marks = {id(ph): recorded_seconds(ph) for ph in phones}
        windows[mode] = {k: (m + 0.8, m + 2.0) for k, m in marks.items()}
        await recorded_beyond(phones, marks, 2.2)  # each mode's audio, measured from 0.8 s in for 1.2 s
    await sup.call("monitor.stop")
    await sup_phone.wait_call_state("CLOSED", timeout=10)
    await caller.hangup()
    await caller.wait_call_state("CLOSED", timeout=10)
    await agent_phone.wait_call_state("CLOSED", timeout=10)

    def level(ph, freq, mode):
        a, b = windows[mode][id(ph)]
        return tone_level(ph.recorded_wav(), freq, start=a, duration=b - a)

    for mode in ("listen", "whisper", "barge"):
        # The supervisor always hears both sides.
        assert level(sup_phone, f_caller, mode) > HEARD, mode
        assert level(sup_phone, f_agent, mode) > HEARD, mode
        # Caller and agent still hear each other.
        assert level(caller, f_agent, mode) > HEARD, mode
        assert level(agent_phone, f_caller, mode) > HEARD, mode
    # Who hears the supervisor:
    assert level(agent_phone, f_sup, "listen") < HEARD / 4
    assert level(caller, f_sup, "listen") < HEARD / 4
    assert level(agent_phone, f_sup, "whisper") > HEARD
    assert level(caller, f_sup, "whisper") < HEARD / 4
    assert level(agent_phone, f_sup, "barge") > HEARD
    assert level(caller, f_sup, "barge") > HEARD

    kinds = [e.kind for e in server.store.events() if e.kind.startswith("monitor.")]
    assert kinds[0] == "monitor.dialing" and "monitor.active" in kinds and kinds[-1] == "monitor.ended"
    await server.engine.idle()
    assert not await channels_left(pbx, "cc-mon-")


async def test_monitor_ends_with_the_call(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    sup_phone = await phone("1008", auto_answer=True)
    agent = await connect("agent1")
    sup = await connect("sup1")
    await agent.call("agent.login")
    call = await pbx.place_call("5000")
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
    await agent.call("call.answer")
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="connected")
    states: list[dict] = []
    sup.add_listener(lambda kind, data: states.append(data) if kind == "monitor.update" else None)
    await sup.call("monitor.start", {"agent": "agent1"})
    await until(sup, lambda: any(s["state"] == "active" for s in states), what="active")
    await pbx.hangup(call.outer)
    await until(sup, lambda: any(s["state"] == "ended" for s in states), what="ended with the call")
    await sup_phone.wait_call_state("CLOSED", timeout=10)
    with pytest.raises(ProtocolError):
        await sup.call("monitor.stop")
