"""Call control on real phones: hold and unhold (music on hold to the caller), mute, DTMF,
and hold/unhold repeated while the caller hangs up."""
from __future__ import annotations

import asyncio
import time

import pytest

from cc_console.protocol import ProtocolError
from cc_console.server.pbx.phones import phone_tone_freq, tone_level

from .asterisk import channels_left, connected_call, until

pytestmark = pytest.mark.asterisk




async def test_hold_mute_and_dtmf_heard_on_real_phones(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    agent_phone = await phone("1001", auto_answer=True)
    f_caller, f_agent = phone_tone_freq(1005), phone_tone_freq(1001)
    agent = await connect("agent1")
    await agent.call("agent.login")
    with pytest.raises(ProtocolError) as exc:
        await agent.call("call.hold", {"on": True})
    assert exc.value.code == "conflict"
    await connected_call(agent, caller)
    await agent_phone.wait_call_state("ESTABLISHED", timeout=10)
    t0 = time.monotonic()
    marks = {}
    await asyncio.sleep(1.5)
    marks["talk"] = time.monotonic()
    await asyncio.sleep(1.5)
    res = await agent.call("call.hold", {"on": True})
    assert res["call"]["held"] is True
    marks["hold"] = time.monotonic()
    await asyncio.sleep(2.0)
    res = await agent.call("call.hold", {"on": False})
    assert res["call"]["held"] is False and res["call"]["hold_total"] >= 1.9
    marks["back"] = time.monotonic()
    await asyncio.sleep(2.0)
    await agent.call("call.mute", {"on": True})
    marks["mute"] = time.monotonic()
    await asyncio.sleep(2.0)
    await agent.call("call.mute", {"on": False})
    with pytest.raises(ProtocolError) as exc:
        await agent.call("call.dtmf", {"digits": "12x"})
    assert exc.value.code == "bad_request"
    await agent.call("call.dtmf", {"digits": "123"})
    await caller.hangup()
    await caller.wait_call_state("CLOSED", timeout=10)
    await until(agent, lambda: not agent.state.my_call, what="ended")
    await agent_phone.wait_call_state("CLOSED", timeout=10)  # its recording is complete only then

    def lvl(ph, freq, at, dur=1.0):
        return tone_level(ph.recorded_wav(), freq, start=at - t0 + 0.5, duration=dur)

    from cc_console.server.pbx.phones import wav_duration
    assert wav_duration(caller.recorded_wav()) > 8 and wav_duration(agent_phone.recorded_wav()) > 8
    assert lvl(caller, f_agent, marks["talk"]) > 0.02            # talking: the caller hears the agent
    assert lvl(caller, f_agent, marks["hold"]) < 0.005           # on hold: not the agent...
    assert lvl(caller, 350, marks["hold"]) > 0.02                # ...but music on hold (the 350 Hz class)
    assert lvl(agent_phone, f_caller, marks["hold"]) < 0.005     # ...and the agent does not hear the caller
    assert lvl(caller, f_agent, marks["back"]) > 0.02            # taken back
    assert lvl(caller, f_agent, marks["mute"]) < 0.005           # muted: the caller no longer hears the agent
    assert lvl(agent_phone, f_caller, marks["mute"]) > 0.02      # but the agent still hears the caller
    done = list(server.store.events(kinds=("call.completed",)))[-1]
    assert done.data["hold"] >= 1.9
    kinds = [e.kind for e in server.store.events(call_id=done.call_id)]
    assert kinds.count("call.hold") == 1 and kinds.count("call.unhold") == 1 and "call.mute" in kinds


async def test_hold_unhold_repeated_while_the_caller_hangs_up(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    agent = await connect("agent1")
    await agent.call("agent.login")
    c = await connected_call(agent, caller)

    async def flap():
        for i in range(2000):
            try:
                await agent.call("call.hold", {"on": i % 2 == 0})
            except ProtocolError as exc:
                assert exc.code == "conflict"  # the call is gone: a clear refusal, nothing else
                return i
        return 2000
    task = asyncio.create_task(flap())
    await asyncio.sleep(0.3)
    await caller.hangup()
    flips = await task
    assert 0 < flips < 2000  # it flapped, then was refused once the call had ended
    await until(agent, lambda: not agent.state.my_call and agent.state.my_agent["state"] == "ready", what="ready")
    await server.engine.idle()
    assert c["bridge"] not in list((await pbx.http.get("/bridges")).json())
    assert not await channels_left(pbx)
    last = list(server.store.events(call_id=c["id"]))[-1]
    assert last.kind == "call.completed" and last.data["by"] == "caller"
