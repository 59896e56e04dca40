"""Console audio: the console as the agent's phone (docs/audio.md).

The server relays the agent's call leg as 16 kHz 16-bit PCM over the console's own audio websocket
(``/audio/ws``, the session token as bearer; wire format in cc_console/audio_frames.py). Here the
console plays what arrives through a jitter buffer and sends what the microphone captures, through
PortAudio (PyAudio). PortAudio calls us on its own thread: the jitter buffer is the only thing that
thread and the event loop share (behind a lock); captured frames reach the loop through
``call_soon_threadsafe``. Nothing here imports Textual: widgets/audio.py shows the device choice and
the level meter.
"""
from __future__ import annotations

import array
import asyncio
import contextlib
import json
import logging
import math
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from cc_console import audio_frames as wire

log = logging.getLogger(__name__)

NO_DEVICE = "No audio device: use a phone"
SILENCE = bytes(wire.FRAME_BYTES)
FLOOR_DB = -90.0


class NoAudioDevice(RuntimeError):
    """PortAudio is missing or finds no device to play and capture on (an SSH session, a server)."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(NO_DEVICE)
        self.detail = detail  # for the log, not for the agent


def level_db(pcm: bytes) -> float:
    """The frame's RMS level in dB below full scale (FLOOR_DB for silence)."""
    samples = array.array("h", pcm)
    if not samples:
        return FLOOR_DB
    power = sum(x * x for x in samples) / len(samples)
    if power <= 0:
        return FLOOR_DB
    return max(FLOOR_DB, 10 * math.log10(power / (32768.0 * 32768.0)))


def _attenuate(pcm: bytes, factor: float) -> bytes:
    samples = array.array("h", pcm)
    for i, x in enumerate(samples):
        samples[i] = int(x * factor)
    return samples.tobytes()


class JitterBuffer:
    """Frames by sequence number in, one 20 ms frame per pull out, on time.

    Playout waits until ``target`` frames are buffered (the cushion that absorbs a late frame), then
    plays one frame per pull. A missing frame whose successors are already here is lost: it is
    concealed by repeating the last frame at half level, then silence if more are lost in a row
    (a repeated frame sounds like a held vowel; a repeated repeat sounds like a buzz). An empty buffer
    plays silence and builds the cushion up again. A frame that arrives after its turn is dropped;
    more than ``limit`` buffered frames (a burst after a stall) drop the oldest, so that delay does
    not stay once the link has recovered.
    """

    def __init__(self, target: int = 3, limit: int = 12) -> None:
        self.target = target
        self.limit = limit
        self._frames: dict[int, bytes] = {}
        self._next: int | None = None  # the sequence number to play next
        self._buffering = True
        self._last = SILENCE
        self._concealed_run = 0
        self._lock = threading.Lock()
        self.played = self.concealed = self.silent = self.late = self.dropped = 0

    def reset(self) -> None:
        with self._lock:
            self._frames.clear()
            self._next = None
            self._buffering = True
            self._last = SILENCE

    @property
    def depth(self) -> int:
        return len(self._frames)

    def put(self, seq: int, pcm: bytes) -> None:
        with self._lock:
            if self._next is not None and ((seq - self._next) & 0xFFFF) >= 0x8000:
                self.late += 1
                return
            self._frames[seq] = pcm
            if self._next is None:
                self._next = seq
            while len(self._frames) > self.limit:
                assert self._next is not None
                if self._frames.pop(self._next, None) is not None:
                    self.dropped += 1
                self._next = (self._next + 1) & 0xFFFF

    def pull(self) -> bytes:
        with self._lock:
            if self._next is None or not self._frames:
                self._buffering = True
                self.silent += 1
                return SILENCE
            if self._buffering:
                if len(self._frames) < self.target:
                    self.silent += 1
                    return SILENCE
                self._buffering = False
            frame = self._frames.pop(self._next, None)
            self._next = (self._next + 1) & 0xFFFF
            if frame is not None:
                self._last = frame
                self._concealed_run = 0
                self.played += 1
                return frame
            self.concealed += 1
            self._concealed_run += 1
            if self._concealed_run == 1:
                return _attenuate(self._last, 0.5)
            return SILENCE


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    inputs: int
    outputs: int


class Sound(Protocol):
    """What plays and captures: PortAudio in the console, a clocked fake in the benchmark."""

    def start(self, play: Callable[[], bytes], captured: Callable[[bytes], None]) -> None: ...

    def stop(self) -> None: ...

    def latency(self) -> float: ...


def _pyaudio() -> Any:
    try:
        import pyaudio
    except ImportError as exc:  # the audio extra is not installed, or libportaudio2 is missing
        raise NoAudioDevice(f"PyAudio: {exc}") from None
    return pyaudio


@contextlib.contextmanager
def _quiet_stderr() -> Any:
    """PortAudio's probing of ALSA and JACK prints to the process's stderr, which is the console's
    screen: while it probes, stderr goes to /dev/null (what it found or failed is logged by us)."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 2)
        os.close(null)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def open_portaudio() -> Any:
    pyaudio = _pyaudio()
    with _quiet_stderr():
        return pyaudio.PyAudio()


def devices() -> list[Device]:
    """The devices PortAudio finds (ALSA, PulseAudio through ALSA, JACK, ...); blocking: off the loop."""
    pa = open_portaudio()
    try:
        found = []
        for i in range(pa.get_device_count()):
            info = pa.get_device_info_by_index(i)
            found.append(Device(i, str(info["name"]), int(info["maxInputChannels"]), int(info["maxOutputChannels"])))
        return found
    finally:
        pa.terminate()


def choose(found: list[Device], wanted: str = "") -> tuple[Device, Device]:
    """Input and output device: the one named ``wanted`` (a part of its name), else one the sound server
    runs echo cancellation on, else the sound server's default ("pulse"/"default")."""
    ins = [d for d in found if d.inputs]
    outs = [d for d in found if d.outputs]
    if not ins or not outs:
        raise NoAudioDevice("PortAudio lists no device with " + ("input" if not ins else "output"))

    def pick(pool: list[Device]) -> Device:
        for want in (wanted.lower(), "echo", "pulse", "default"):
            if want:
                for d in pool:
                    if want in d.name.lower():
                        return d
        return pool[0]
    return pick(ins), pick(outs)


class PortAudioSound:
    """Full duplex on one PortAudio stream per direction, 20 ms buffers, called on PortAudio's thread."""

    def __init__(self, wanted: str = "") -> None:
        self.wanted = wanted
        self._pa: Any = None
        self._streams: list[tuple[str, Any]] = []
        self.names = ("", "")

    def start(self, play: Callable[[], bytes], captured: Callable[[bytes], None]) -> None:
        pyaudio = _pyaudio()
        found = devices()
        log.info("audio devices: %s", ", ".join(d.name for d in found) or "none")
        dev_in, dev_out = choose(found, self.wanted)
        self.names = (dev_in.name, dev_out.name)
        self._pa = open_portaudio()
        # PortAudio may ask for and hand over other sizes than the 20 ms asked for (PulseAudio through
        # ALSA gives 10 ms): both directions are re-cut into whole 20 ms frames here.
        played = bytearray()
        heard = bytearray()

        def on_play(_in: Any, frames: int, _t: Any, _s: Any) -> tuple[bytes, int]:
            want = frames * 2
            while len(played) < want:
                played.extend(play())
            out = bytes(played[:want])
            del played[:want]
            return out, pyaudio.paContinue

        def on_capture(data: bytes, _frames: int, _t: Any, _s: Any) -> tuple[None, int]:
            heard.extend(data)
            while len(heard) >= wire.FRAME_BYTES:
                captured(bytes(heard[: wire.FRAME_BYTES]))
                del heard[: wire.FRAME_BYTES]
            return None, pyaudio.paContinue
        try:
            for kind, dev, cb in (("output", dev_out, on_play), ("input", dev_in, on_capture)):
                self._streams.append((kind, self._pa.open(
                    format=pyaudio.paInt16, channels=1, rate=wire.RATE, frames_per_buffer=wire.FRAME_SAMPLES,
                    stream_callback=cb, **{kind: True, f"{kind}_device_index": dev.index})))
        except OSError as exc:
            self.stop()
            raise NoAudioDevice(f"PortAudio: {exc}") from None

    def latency(self) -> float:
        """Seconds PortAudio reports for its own buffers, both ways."""
        total = 0.0
        for kind, s in self._streams:
            with contextlib.suppress(Exception):
                total += s.get_output_latency() if kind == "output" else s.get_input_latency()
        return total

    def stop(self) -> None:
        for _, s in self._streams:
            with contextlib.suppress(Exception):
                s.stop_stream()
                s.close()
        self._streams.clear()
        if self._pa is not None:
            self._pa.terminate()
            self._pa = None


class ConsoleAudio:
    """The console's audio link: the audio websocket, the jitter buffer, the sound device, mute, levels."""

    def __init__(self, server_url: str, token: str, *, sound: Sound | None = None, device: str = "",
                 ssl: Any = None, jitter: JitterBuffer | None = None) -> None:
        base = server_url.rstrip("/")
        if base.endswith("/ws"):
            base = base[: -len("/ws")]
        self.url = base + wire.PATH
        self.token = token
        self.ssl = ssl
        self.sound: Sound = sound if sound is not None else PortAudioSound(device)
        self.jitter = jitter or JitterBuffer()
        self.muted = False
        self.active = False  # a call's audio is flowing
        self.leg: str | None = None  # the channel whose audio it is
        self.mic_db = FLOOR_DB
        self.speaker_db = FLOOR_DB
        self.on_change: Callable[[], None] = lambda: None
        self.on_played: Callable[[bytes], None] = lambda pcm: None  # the benchmark's ear
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(maxsize=25)
        self.reconnect_min = 0.2
        self.reconnect_max = 5.0
        self.reconnects = 0

    async def start(self) -> None:
        """Connect and open the sound device; NoAudioDevice (with NO_DEVICE as its text) when there is none."""
        self._loop = asyncio.get_running_loop()
        await asyncio.to_thread(self.sound.start, self._play, self._captured)
        self._http = aiohttp.ClientSession()
        try:
            await self._connect()
        except Exception:
            await self.close()
            raise
        self._task = asyncio.create_task(self._run(), name="console audio")
        self._writer = asyncio.create_task(self._write(), name="console audio out")

    async def _connect(self) -> None:
        assert self._http is not None
        self._ws = await self._http.ws_connect(self.url, headers={"Authorization": f"Bearer {self.token}"},
                                               ssl=self.ssl if self.ssl is not None else True, heartbeat=10.0)

    async def _run(self) -> None:
        """Receive; when the link drops, connect again (the server gives a call in progress back)."""
        backoff = self.reconnect_min
        while True:
            if self._ws is not None and not self._ws.closed:
                await self._receive()
                backoff = self.reconnect_min
            if self._ws is not None and self._ws.close_code == wire.TAKEN:
                return
            await asyncio.sleep(backoff)  # backoff between attempts, not a wait for an event
            backoff = min(self.reconnect_max, backoff * 2)
            try:
                await self._connect()
                self.reconnects += 1
                log.info("console audio reconnected")
            except (aiohttp.ClientError, OSError) as exc:
                log.info("console audio: reconnect failed: %s", exc)

    def set_muted(self, muted: bool) -> None:
        """Muted: not a frame leaves the console (not merely a quiet one)."""
        self.muted = muted
        self.on_change()

    # PortAudio's thread ---------------------------------------------------------------------------
    def _play(self) -> bytes:
        pcm = self.jitter.pull()
        self.speaker_db = level_db(pcm)
        self.on_played(pcm)
        return pcm

    def _captured(self, pcm: bytes) -> None:
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._send, pcm)

    # the loop -----------------------------------------------------------------------------------------
    def _send(self, pcm: bytes) -> None:
        self.mic_db = FLOOR_DB if self.muted else level_db(pcm)
        ws = self._ws
        if self.muted or not self.active or ws is None or ws.closed:
            return
        if self._outbox.full():  # a stalled link: the oldest captured audio is the least worth sending
            self._outbox.get_nowait()
        self._outbox.put_nowait(wire.pack(self._seq, pcm))
        self._seq += 1

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            if self._ws is not None and not self._ws.closed:
                with contextlib.suppress(ConnectionError):
                    await self._ws.send_bytes(frame)

    async def _receive(self) -> None:
        assert self._ws is not None
        async for msg in self._ws:
            if msg.type is aiohttp.WSMsgType.BINARY:
                try:
                    seq, pcm = wire.unpack(msg.data)
                except ValueError:
                    continue
                self.jitter.put(seq, pcm)
            elif msg.type is aiohttp.WSMsgType.TEXT:
                with contextlib.suppress(ValueError):
                    self._control(json.loads(msg.data))
        self.active = False
        self.on_change()

    def _control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "start":
            self.jitter.reset()
            self.active = True
            if message.get("leg") != self.leg:  # a new call starts unmuted, as on a phone (not a reconnect)
                self.leg = message.get("leg")
                self.muted = False
        elif kind == "stop":
            self.active = False
            self.jitter.reset()
        self.on_change()

    async def close(self) -> None:
        for task in (self._task, self._writer):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        await asyncio.to_thread(self.sound.stop)
        self.active = False


def main(argv: list[str] | None = None) -> int:
    """`python -m cc_console.audio`: list the audio devices, or say plainly that there are none."""
    try:
        found = devices()
        choose(found)
    except NoAudioDevice as exc:
        print(exc, file=sys.stderr)
        return 1
    for d in found:
        print(f"{d.index:3} {d.name}  (in {d.inputs}, out {d.outputs})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
