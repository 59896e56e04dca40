"""A restart of our server during a live recording (issue 26), on the real sandbox Asterisk with
real phones: the call's file must not stay in Asterisk's spool. If the call ended while we were
away, the restarted server fetches the file the PBX left and deletes it there; if the call goes
on, it follows the recording again and stores it when the call ends."""
from __future__ import annotations

import asyncio

import pytest

from cc_console.server.app import Server
from cc_console.server.pbx.phones import phone_tone_freq, tone_level

from .asterisk import until
from .test_recordings_asterisk import HEARD, answered, stored, wav_of

pytestmark = pytest.mark.asterisk


async def _spool(pbx) -> list[str]:
    return [r["name"] for r in (await pbx.http.get("/recordings/stored")).json()]


async def _recording_call(settings, connect_to, phone, caller_number: str):
    caller = await phone(caller_number, auto_answer=True)
    await phone("1001", auto_answer=True)
    first = Server(settings)
    await first.start()
    agent = await connect_to(first, "agent1")
    await agent.call("agent.login")
    await caller.dial("5000")
    c = await answered(agent)
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await until(agent, lambda: first.recordings.store.for_call(c["id"]), what="recording row")
    await first.engine.idle()  # the recording has started in Asterisk
    await asyncio.sleep(2.5)  # some sound before the restart
    [row] = first.recordings.store.for_call(c["id"])
    assert row["status"] == "recording"
    return first, caller, c, row


async def test_call_ended_during_the_restart_file_fetched_from_the_spool(settings, connect_to, pbx, phone, tmp_path):
    first, caller, c, row = await _recording_call(settings, connect_to, phone, "1005")
    await first.stop()  # our server goes away while the leg is being recorded
    await caller.hangup()  # and the caller hangs up meanwhile
    await caller.wait_call_state("CLOSED", timeout=10)

    second = Server(settings)
    await second.start()
    try:
        await asyncio.wait_for(second.ari.connected.wait(), 10)
        [rec] = await stored(second, c["id"])
        assert rec["status"] == "stored", rec
        assert rec["duration"] > 2.0 and rec["talk"] == pytest.approx(rec["duration"])
        wav = wav_of(second, rec, tmp_path)
        assert tone_level(wav, phone_tone_freq(1005), start=0.5, duration=1.5) > HEARD
        assert row["name"] not in await _spool(pbx)  # nothing of it left in Asterisk's spool
    finally:
        await second.stop()


async def test_call_going_on_after_the_restart_is_stored_when_it_ends(settings, connect_to, pbx, phone, tmp_path):
    first, caller, c, row = await _recording_call(settings, connect_to, phone, "1006")
    await first.stop()
    second = Server(settings)
    await second.start()
    try:
        await asyncio.wait_for(second.ari.connected.wait(), 10)
        await second.engine.idle()
        assert second.recordings.active[c["id"]]["id"] == row["id"]  # followed again
        await asyncio.sleep(1.0)
        await caller.hangup()
        [rec] = await stored(second, c["id"])
        assert rec["status"] == "stored" and rec["duration"] > 3.0, rec
        wav = wav_of(second, rec, tmp_path)
        # Sound from before and after the restart: one file for the leg.
        assert tone_level(wav, phone_tone_freq(1006), start=0.5, duration=1.5) > HEARD
        assert tone_level(wav, phone_tone_freq(1006), start=rec["duration"] - 1.2, duration=1.0) > HEARD
        assert row["name"] not in await _spool(pbx)
    finally:
        await second.stop()
