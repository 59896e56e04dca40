"""Playback through libvlc from the server's authenticated stream, into a file instead of a sound
card (--aout=afile): the tone comes out; seek, pause and speed act on it."""
from __future__ import annotations

import asyncio
import time
import wave

import pytest

from cc_console.server.pbx.phones import tone_level
from cc_console.server.pbx.sandbox import write_tone_wav

from .test_recordings import add

vlc = pytest.importorskip("vlc")


def two_tones(tmp_path) -> bytes:
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    write_tone_wav(a, 1000, 3.0)
    write_tone_wav(b, 1500, 3.0)
    out = tmp_path / "ab.wav"
    with wave.open(str(a)) as wa, wave.open(str(b)) as wb, wave.open(str(out), "wb") as w:
        w.setparams(wa.getparams())
        w.writeframes(wa.readframes(wa.getnframes()) + wb.readframes(wb.getnframes()))
    return out.read_bytes()


async def wait(pred, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)


def player_for(server, token, rec_id, out):
    from cc_console.widgets.player import RecordingPlayer
    return RecordingPlayer(f"http://127.0.0.1:{server.port}", token, rec_id,
                           vlc_args=("--aout=afile", f"--audiofile-file={out}", "--audiofile-format=s16",
                                     "--audiofile-channels=1"))


async def test_playback_writes_the_tone(server, connect, tmp_path):
    rec = add(server.recordings, two_tones(tmp_path), agent_id="agent1")
    agent = await connect("agent1")
    out = tmp_path / "out.wav"
    p = player_for(server, agent.token, rec["id"], out)
    try:
        p.play()
        await wait(lambda: p.playing)
        await wait(lambda: p.ended, timeout=20)
        assert p.length == pytest.approx(6.0, abs=0.2)
    finally:
        p.close()
    with wave.open(str(out)) as w:
        assert w.getframerate() == 8000 and w.getnframes() / 8000 > 5.5
    assert tone_level(out, 1000, start=0.5, duration=2.0) > 0.2
    assert tone_level(out, 1500, start=3.5, duration=2.0) > 0.2
    assert tone_level(out, 1500, start=0.5, duration=2.0) < 0.01
    rows = server.recordings.store.audit_rows(rec_id=rec["id"])
    assert [(r["username"], r["action"], r["outcome"]) for r in rows] == [("agent1", "listen", "ok")]


async def test_seek_pause_and_speed(server, connect, tmp_path):
    rec = add(server.recordings, two_tones(tmp_path), agent_id="agent1")
    sup = await connect("sup1")
    out = tmp_path / "out.wav"
    p = player_for(server, sup.token, rec["id"], out)
    try:
        p.play()
        await wait(lambda: p.playing and p.position > 0.2)
        p.seek(3.2)                                   # jump to a pinned moment: into the second tone
        await asyncio.sleep(0.5)
        assert p.position >= 3.2
        p.pause()
        await asyncio.sleep(0.3)
        at = p.position
        await asyncio.sleep(0.8)
        assert not p.playing and p.position == pytest.approx(at, abs=0.05)
        p.set_speed(2.0)
        assert p.speed == 2.0
        t0 = time.monotonic()
        p.resume()
        await wait(lambda: p.ended, timeout=20)
        assert time.monotonic() - t0 < 2.6            # ~2.3 s of audio at double speed
    finally:
        p.close()
    # What came out: a little of the first tone, then the second.
    with wave.open(str(out)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert seconds < 4.5
    assert tone_level(out, 1500, start=seconds - 1.0, duration=0.8) > 0.1


async def test_playback_refused_without_the_right(server, connect, tmp_path):
    rec = add(server.recordings, two_tones(tmp_path), agent_id="agent2")
    agent = await connect("agent1")
    p = player_for(server, agent.token, rec["id"], tmp_path / "out.wav")
    try:
        p.play()
        await wait(lambda: p.ended or p.source.error, timeout=10)
        assert p.source.error.startswith("403")
    finally:
        p.close()
    rows = server.recordings.store.audit_rows(rec_id=rec["id"])
    assert rows[0]["outcome"] == "forbidden"
