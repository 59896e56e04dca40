"""Console audio without a call: the jitter buffer, mute, and a machine with no audio device."""
from __future__ import annotations

import array
import asyncio
import subprocess
import sys

from cc_console import audio_frames as wire
from cc_console.audio import NO_DEVICE, SILENCE, ConsoleAudio, JitterBuffer, NoAudioDevice, PortAudioSound, level_db


def frame(value: int) -> bytes:
    return array.array("h", [value] * wire.FRAME_SAMPLES).tobytes()


def first(pcm: bytes) -> int:
    return array.array("h", pcm[:2])[0]


def test_playout_waits_for_its_cushion_then_plays_in_order() -> None:
    jb = JitterBuffer(target=3)
    jb.put(10, frame(1))
    jb.put(12, frame(3))  # out of order
    assert jb.pull() == SILENCE  # two frames: not yet the cushion of three
    jb.put(11, frame(2))
    assert [first(jb.pull()) for _ in range(3)] == [1, 2, 3]
    assert jb.pull() == SILENCE  # ran dry: silence, and the cushion is built again
    jb.put(13, frame(4))
    assert jb.pull() == SILENCE


def test_a_lost_frame_is_concealed_then_silence() -> None:
    jb = JitterBuffer(target=1)
    jb.put(0, frame(1000))
    jb.put(3, frame(4000))  # 1 and 2 lost
    assert first(jb.pull()) == 1000
    assert first(jb.pull()) == 500  # the last frame again at half level
    assert jb.pull() == SILENCE  # a second loss in a row: silence, not a buzz
    assert first(jb.pull()) == 4000
    assert jb.concealed == 2 and jb.played == 2


def test_late_frames_are_dropped_and_a_burst_does_not_keep_its_delay() -> None:
    jb = JitterBuffer(target=1, limit=4)
    jb.put(0, frame(1))
    assert first(jb.pull()) == 1
    jb.put(0, frame(9))  # after its turn
    assert jb.late == 1
    for seq in range(1, 11):  # a stall's backlog arriving at once
        jb.put(seq, frame(seq))
    assert jb.depth == 4 and jb.dropped == 6
    assert first(jb.pull()) == 7


def test_sequence_numbers_wrap() -> None:
    jb = JitterBuffer(target=1)
    jb.put(0xFFFF, frame(1))
    jb.put(0, frame(2))
    assert [first(jb.pull()), first(jb.pull())] == [1, 2]


def test_levels() -> None:
    assert level_db(SILENCE) == -90.0
    assert -7 < level_db(frame(16384)) < -5


async def test_mute_sends_no_frame() -> None:
    """Muted, the console does not send quieter frames: it sends none."""
    class NoSound:
        def start(self, play, captured) -> None: ...
        def stop(self) -> None: ...
        def latency(self) -> float: return 0.0

    a = ConsoleAudio("ws://127.0.0.1:9/ws", "token", sound=NoSound())
    a._loop = asyncio.get_running_loop()
    a._ws = type("WS", (), {"closed": False})()
    a.active = True
    a._send(frame(1000))
    assert a._outbox.qsize() == 1
    a.set_muted(True)
    a._send(frame(1000))
    assert a._outbox.qsize() == 1 and a.mic_db == -90.0
    a.set_muted(False)
    a._send(frame(1000))
    assert a._outbox.qsize() == 2

    # Mute lasts for the call, as on a phone: the audio of the same leg again (a reconnect) keeps it,
    # the next call's leg starts unmuted.
    a._control({"type": "start", "leg": "leg-1"})
    a.set_muted(True)
    a._control({"type": "start", "leg": "leg-1"})
    assert a.muted
    a._control({"type": "stop", "leg": "leg-1"})
    a._control({"type": "start", "leg": "leg-2"})
    assert not a.muted


def test_no_audio_device_is_said_plainly(monkeypatch) -> None:
    """An SSH session: no sound server, no card. PortAudio finds nothing and the agent reads a sentence."""
    monkeypatch.setenv("PULSE_SERVER", "unix:/nonexistent/pulse")
    sound = PortAudioSound()
    try:
        sound.start(lambda: SILENCE, lambda pcm: None)
    except NoAudioDevice as exc:
        assert str(exc) == NO_DEVICE == "No audio device: use a phone"
    else:
        raise AssertionError("console audio started with no audio device")
    finally:
        sound.stop()
    out = subprocess.run([sys.executable, "-m", "cc_console.audio"], capture_output=True, text=True, timeout=60,
                         env={"PULSE_SERVER": "unix:/nonexistent/pulse", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 1 and out.stderr.strip() == NO_DEVICE


async def test_console_audio_reconnects_after_the_link_drops(server, connect) -> None:
    """The audio websocket drops (a flaky home link): the console connects again by itself; a second
    console of the same person takes the audio over, and the first one does not fight back."""
    class NoSound:
        def start(self, play, captured) -> None: ...
        def stop(self) -> None: ...
        def latency(self) -> float: return 0.0

    client = await connect("agent1")
    relay = server.capabilities["audio"].relay
    a = ConsoleAudio(server.url, client.token, sound=NoSound())
    a.reconnect_min = 0.05
    await a.start()
    try:
        for _ in range(100):
            if "agent1" in relay.consoles:
                break
            await asyncio.sleep(0.02)
        first = relay.consoles["agent1"]
        await first.ws.close()
        for _ in range(200):
            if a.reconnects and relay.consoles.get("agent1") not in (None, first):
                break
            await asyncio.sleep(0.02)
        assert a.reconnects == 1 and relay.consoles["agent1"] is not first

        b = ConsoleAudio(server.url, client.token, sound=NoSound())
        await b.start()
        try:
            await asyncio.wait_for(a._task, 5)  # the first console stops: its audio was taken over
            assert a.reconnects == 1
        finally:
            await b.close()
    finally:
        await a.close()


async def test_the_audio_websocket_needs_a_session(server) -> None:
    import aiohttp
    import pytest
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as exc:
            await http.ws_connect(server.url.removesuffix("/ws") + wire.PATH, headers={"Authorization": "Bearer nope"})
    assert exc.value.status == 401


async def test_console_audio_over_tls(settings, tmp_path) -> None:
    """With a certificate the server's audio websocket is wss:// on the same port, like /ws."""
    import ssl

    from cc_console.server.app import Server

    from .conftest import PASSWORD
    from .test_web_consoles_tls import self_signed

    class NoSound:
        def start(self, play, captured) -> None: ...
        def stop(self) -> None: ...
        def latency(self) -> float: return 0.0

    settings.server.tls_cert, settings.server.tls_key = self_signed(tmp_path)
    server = Server(settings)
    await server.start()
    try:
        assert server.url.startswith("wss://")
        token = (await server.auth.login_async("agent1", PASSWORD, None)).token
        trust = ssl.create_default_context(cafile=settings.server.tls_cert)
        a = ConsoleAudio(server.url, token, sound=NoSound(), ssl=trust)
        await a.start()
        try:
            relay = server.capabilities["audio"].relay
            for _ in range(100):
                if "agent1" in relay.consoles:
                    break
                await asyncio.sleep(0.02)
            assert "agent1" in relay.consoles and a.url.startswith("wss://")
        finally:
            await a.close()
    finally:
        await server.stop()
