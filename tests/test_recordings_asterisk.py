"""Call recording on the real sandbox Asterisk: both sides in the stored file, opt-out, and one
recording per leg across a blind transfer."""
from __future__ import annotations

import asyncio
import time

import pytest

from cc_console.protocol import ProtocolError
from cc_console.server.pbx.phones import phone_tone_freq, tone_level

from .asterisk import until

pytestmark = pytest.mark.asterisk
HEARD = 0.02


async def stored(server, call_id: str, legs: int = 1, timeout: float = 20.0) -> list[dict]:
    """The call's recording rows once every leg is final (stored, opted out, not recorded, failed)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = server.recordings.store.for_call(call_id)
        if len(rows) >= legs and all(r["status"] not in ("recording",) for r in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.2)


async def answered(agent) -> dict:
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
    await agent.call("call.answer")
    return await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected" and c,
                       what="connected")


def wav_of(server, rec, tmp_path):
    path = tmp_path / f"{rec['id']}.wav"
    path.write_bytes(server.recordings.read_audio(rec))
    return path


async def test_recording_holds_both_sides(server, connect, pbx, phone, tmp_path):
    caller = await phone("1005", auto_answer=True)
    agent_phone = await phone("1001", auto_answer=True)
    f_caller, f_agent = phone_tone_freq(1005), phone_tone_freq(1001)
    agent = await connect("agent1")
    await agent.call("agent.login")
    await caller.dial("5000")
    c = await answered(agent)
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await agent_phone.wait_call_state("ESTABLISHED", timeout=10)
    await asyncio.sleep(4.0)
    await caller.hangup()
    await until(agent, lambda: not agent.state.my_call, what="ended")
    [rec] = await stored(server, c["id"])
    assert rec["status"] == "stored", rec
    assert rec["agent_id"] == "agent1" and rec["agent_name"] == "Agent1" and rec["agent_number"] == "1001"
    assert rec["call_type"] == "inbound" and rec["queue"] == "support" and rec["queue_number"] == "5000"
    assert rec["caller"] == "1005" and rec["talk"] > 3.5 and rec["duration"] > 3.0 and len(rec["sha256"]) == 64
    assert rec["expires"] - rec["started"] == pytest.approx(183 * 86400, abs=5)
    wav = wav_of(server, rec, tmp_path)
    # Both sides, mixed in the bridge: the caller's tone and the agent's.
    assert tone_level(wav, f_caller, start=1.0, duration=2.0) > HEARD
    assert tone_level(wav, f_agent, start=1.0, duration=2.0) > HEARD
    # Moved off the PBX: nothing of ours is left in Asterisk's recordings.
    names = [r["name"] for r in (await pbx.http.get("/recordings/stored")).json()]
    assert rec["name"] not in names and not [n for n in names if n.startswith(f"cc-rec-{c['id']}")]
    assert (server.recordings.s.folder / server.recordings.store.get(rec["id"])["file"]).exists()


async def test_agent_opts_out(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    agent = await connect("agent1")
    await agent.call("agent.login")
    call = await pbx.place_call("5000", caller="0611000081")
    c = await answered(agent)
    with pytest.raises(ProtocolError) as exc:
        await agent.call("recording.optout")
    assert exc.value.code == "forbidden"  # agent1 is not in recording_optout_users yet
    server.recordings.s.optout_users.add("agent1")
    await asyncio.sleep(1.0)
    res = await agent.call("recording.optout")
    assert res["recording"]["status"] == "opted_out"
    await asyncio.sleep(1.0)
    await pbx.hangup(call.outer)
    await until(agent, lambda: not agent.state.my_call, what="ended")
    await server.engine.idle()
    [rec] = await stored(server, c["id"])
    assert rec["status"] == "opted_out" and rec["reason"] == "opted out by agent1" and rec["file"] == ""
    assert rec["agent_id"] == "agent1" and rec["caller"] == "0611000081"
    names = [r["name"] for r in (await pbx.http.get("/recordings/stored")).json()]
    assert rec["name"] not in names
    assert not list(server.recordings.s.folder.rglob("*.wav*"))


async def test_queue_not_recorded_and_lost_call_metadata(server, connect, pbx, phone):
    await phone("1001", auto_answer=True)
    agent = await connect("agent1")
    # A caller who hangs up in the queue: a lost call, metadata only.
    call = await pbx.place_call("5000", caller="0611000071")
    await asyncio.sleep(1.5)
    await pbx.hangup(call.outer)
    deadline = time.monotonic() + 10
    while not (rows := server.recordings.store.search(caller="0611000071")[0]):
        assert time.monotonic() < deadline, "no row for the lost call"
        await asyncio.sleep(0.1)
    assert [(r["call_type"], r["status"]) for r in rows] == [("lost", "no_audio")]
    # A queue configured with record = false.
    server.engine.cfg.queues["support"].record = False
    try:
        await agent.call("agent.login")
        call = await pbx.place_call("5000", caller="0611000072")
        c = await answered(agent)
        await asyncio.sleep(1.0)
        await pbx.hangup(call.outer)
        [rec] = await stored(server, c["id"])
        assert rec["status"] == "not_recorded" and "support" in rec["reason"]
    finally:
        server.engine.cfg.queues["support"].record = True


async def test_blind_transfer_one_recording_per_leg(server, connect, pbx, phone, tmp_path):
    await phone("1001", auto_answer=True)
    await phone("1004", auto_answer=True)
    sup = await connect("sup1")
    a1 = await connect("agent1")
    await a1.call("agent.login")
    call = await pbx.place_call("5000", caller="0611000091")
    c = await answered(a1)
    await asyncio.sleep(3.0)
    await a1.call("call.transfer", {"target": "1004"})
    await until(sup, lambda: (x := sup.state.calls.get(c["id"])) and x["state"] == "connected"
                and x["agent"] is None, what="connected to 1004")
    await asyncio.sleep(3.0)
    await pbx.hangup(call.outer)
    await until(sup, lambda: c["id"] not in sup.state.calls, what="ended")
    first, second = await stored(server, c["id"], legs=2)
    assert (first["leg"], second["leg"]) == (1, 2) and first["name"] != second["name"]
    assert first["status"] == second["status"] == "stored", (first, second)
    assert (first["agent_id"], first["agent_number"], first["transferred_to"]) == ("agent1", "1001", "1004")
    assert (second["agent_id"], second["agent_number"], second["transferred_to"]) == ("", "1004", "")
    for r in (first, second):
        assert r["caller"] == "0611000091" and r["queue"] == "support" and r["call_type"] == "inbound"
    assert first["ended"] <= second["started"] + 1 and first["talk"] > 2.5 and second["talk"] > 2.5
    w1, w2 = wav_of(server, first, tmp_path), wav_of(server, second, tmp_path)
    f1, f4 = phone_tone_freq(1001), phone_tone_freq(1004)
    assert tone_level(w1, f1, start=0.5, duration=2.0) > HEARD
    assert tone_level(w1, f4, start=0.5, duration=2.0) < HEARD / 4
    assert tone_level(w2, f4, start=0.5, duration=2.0) > HEARD
    assert tone_level(w2, f1, start=0.5, duration=2.0) < HEARD / 4


async def test_consultation_recorded_as_its_own_leg(server, connect, pbx, phone, tmp_path):
    """An attended transfer: the caller's leg (hold music while consulting), the consultation
    (agent and target, recorded in the consult bridge), then the target's leg with the caller."""
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    p4 = await phone("1004", auto_answer=True)
    f_agent, f_target = phone_tone_freq(1001), phone_tone_freq(1004)
    agent = await connect("agent1")
    await agent.call("agent.login")
    await caller.dial("5000")
    c = await answered(agent)
    await agent.call("call.consult", {"target": "1004"})
    await until(agent, lambda: ((agent.state.calls.get(c["id"]) or {}).get("consult") or {}).get("state") == "talking",
                what="consulting")
    await p4.wait_call_state("ESTABLISHED", timeout=10)
    await asyncio.sleep(3.0)
    await agent.call("call.consult_complete")
    await until(agent, lambda: not agent.state.my_agent["call_id"], what="handed over")
    await asyncio.sleep(1.0)
    await caller.hangup()
    rows = await stored(server, c["id"], legs=3)
    by_type = {r["call_type"]: r for r in rows}
    assert set(by_type) == {"inbound", "consult"} and len(rows) == 3
    consult = by_type["consult"]
    assert consult["status"] == "stored" and consult["agent_id"] == "agent1" and consult["transferred_to"] == "1004"
    wav = wav_of(server, consult, tmp_path)
    assert tone_level(wav, f_agent, start=0.8, duration=1.5) > HEARD
    assert tone_level(wav, f_target, start=0.8, duration=1.5) > HEARD
