"""Console audio: mouth-to-ear latency, on loopback and through an impaired link.

    python bench/audio.py [--seconds 10] [--delay-ms 50] [--loss 0.02]

Run against a sandbox Asterisk (`cc-console pbx up`; CC_CONSOLE_ARI_PORT and friends select which).
In this process: a real Server on a temp store with one agent whose device is ``Console``, the
agent's console (ConsoleClient and ConsoleAudio) and a caller: a Local channel into the queue whose
far end runs Asterisk's Echo(). The agent answers; the call's audio goes console -> server ->
Asterisk -> the caller's echo -> Asterisk -> server -> console.

Mouth and ear are a clocked sound device of the bench's own (a thread on a 20 ms clock, in place of
PortAudio): every half second the "mouth" says a 40 ms click; the "ear" notes when the click comes
out of the jitter buffer to be played. Mouth-to-ear is that time: every hop both ways (the
console's websocket, the server's relay, Asterisk's bridge and echo) and the console's jitter
buffer, so it is the console's part of a call's delay counted in both directions. A sound card's
own buffers come on top: PortAudio's reported latency for the PulseAudio device is printed when one
is there (``portaudio_latency``; ``--pulse`` runs a PulseAudio of its own for it, as the tests do).

Phases: loopback (the console straight on the server) for --seconds, then the same call through
tests/impaired.py's relay (--delay-ms each way, --loss of the audio frames) for --seconds.

Output, one figure per line: loopback_p50/p99, loopback_clicks, impaired_p50/p99, impaired_clicks,
impaired_heard (clicks that came back), impaired_concealed (frames the jitter buffer made up),
portaudio_latency, and last the headline `p99: <value> ms`: mouth-to-ear p99 on loopback.
This machine is shared: the figures hold for the load there was beside the run.
"""
from __future__ import annotations

import argparse
import array
import asyncio
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cc_console import audio_frames as wire  # noqa: E402
from cc_console.audio import SILENCE, ConsoleAudio, level_db  # noqa: E402

PASSWORD = "bench-secret-pass"
AGENT = "audiobench"
CLICK_FRAMES = 2  # 40 ms
CLICK_EVERY = 25  # frames: every 0.5 s
HEARD_DB = -30.0  # the click is at about -9 dBFS; silence and the echo's noise are far below


def _click() -> bytes:
    return array.array("h", [int(16000 * math.sin(2 * math.pi * 1000 * i / wire.RATE))
                             for i in range(wire.FRAME_SAMPLES)]).tobytes()


class ClockedSound:
    """A sound device on a 20 ms clock: says a click every CLICK_EVERY frames, times when clicks are played."""

    def __init__(self) -> None:
        self.said: list[float] = []  # when each click began (monotonic)
        self.heard: list[float] = []  # mouth-to-ear of each click heard, seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._loud = False

    def start(self, play: Callable[[], bytes], captured: Callable[[bytes], None]) -> None:
        click = _click()

        def run() -> None:
            n = 0
            next_at = time.monotonic()
            while not self._stop.is_set():
                now = time.monotonic()
                k = n % CLICK_EVERY
                if k == 0:
                    self.said.append(now)
                captured(click if k < CLICK_FRAMES else SILENCE)
                loud = level_db(play()) > HEARD_DB
                if loud and not self._loud and self.said:
                    self.heard.append(now - self.said[-1])
                self._loud = loud
                n += 1
                next_at += wire.FRAME_MS / 1000
                self._stop.wait(max(0.0, next_at - time.monotonic()))
        self._thread = threading.Thread(target=run, name="bench sound", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)

    def latency(self) -> float:
        return 0.0


def _pct(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def _seed(db: Path) -> None:
    from cc_console.server.auth import hash_password
    from cc_console.server.store import SQLiteStore
    store = SQLiteStore(db)
    store.add_user({"username": AGENT, "name": "Audio bench", "role": "agent", "password_hash": hash_password(PASSWORD),
                    "device": "Console", "answer_mode": "console", "queues": ["support"], "created": time.time()})
    store.close()


async def _phase(name: str, url: str, client: object, seconds: float) -> tuple[ClockedSound, ConsoleAudio]:
    sound = ClockedSound()
    link = ConsoleAudio(url, client.token, sound=sound)  # type: ignore[attr-defined]
    await link.start()
    deadline = time.monotonic() + 10
    while not link.active:
        if time.monotonic() > deadline:
            raise SystemExit(f"{name}: the call's audio did not start")
        await asyncio.sleep(0.05)
    sound.heard.clear()
    await asyncio.sleep(seconds)  # the measurement runs for this long
    await link.close()
    return sound, link


async def main(args: argparse.Namespace) -> int:
    import httpx

    from cc_console.client import ConsoleClient
    from cc_console.config import QueueSettings, Settings, load_settings
    from cc_console.server.app import Server
    from tests.impaired import ImpairedLink

    tdir = Path(tempfile.mkdtemp(prefix="cc-audio-bench-"))
    db = tdir / "cc.sqlite3"
    _seed(db)
    base = load_settings(tdir / "none.toml")
    settings = Settings(pbx=base.pbx, server=base.server, queues=[QueueSettings(name="support", dids=["5000"])])
    s = settings.server
    s.host, s.port, s.tls_cert, s.db_path = "127.0.0.1", 0, "", str(db)
    s.queue_log_path = str(tdir / "queue_log")
    p = settings.pbx
    server = Server(settings)
    await server.start()
    http = httpx.AsyncClient(base_url=p.ari_url, auth=(p.ari_user, p.ari_password), timeout=10)
    caller = f"bench-{os.getpid()}"
    client = ConsoleClient(server.url, reconnect=False)
    link: ImpairedLink | None = None
    try:
        await asyncio.wait_for(server.ari.connected.wait(), 15)
        await client.connect()
        await client.login(AGENT, PASSWORD)
        await client.call("agent.login")
        # A link is open before the offer: the console is the device, and an unplugged device is not rung.
        warm = ConsoleAudio(server.url, client.token, sound=ClockedSound())
        await warm.start()
        r = await http.post(f"/channels/{caller};1", params={
            "endpoint": f"Local/5000@{p.inbound_context}/n", "context": "cc-test-caller", "extension": "echo",
            "priority": 1, "callerId": '"Echo" <0612345678>', "otherChannelId": f"{caller};2", "timeout": 30})
        r.raise_for_status()
        deadline = time.monotonic() + 15
        while not ((c := client.state.my_call) and c.get("state") == "ringing"):
            if time.monotonic() > deadline:
                raise SystemExit("the call never rang the agent")
            await asyncio.sleep(0.05)
        await client.call("call.answer")
        while not warm.active:
            if time.monotonic() > deadline:
                raise SystemExit("the call's audio never started")
            await asyncio.sleep(0.05)
        await warm.close()

        loop_sound, _ = await _phase("loopback", server.url, client, args.seconds)
        link = await ImpairedLink(server.url, delay=args.delay_ms / 1000, loss=args.loss).start()
        bad_sound, bad = await _phase("impaired", link.url, client, args.seconds)
    finally:
        await http.delete(f"/channels/{caller};1")
        await client.close()
        if link is not None:
            await link.stop()
        await server.stop()
        await http.aclose()

    portaudio = await _device_latency(args.pulse)
    loop_ms = [x * 1000 for x in loop_sound.heard]
    bad_ms = [x * 1000 for x in bad_sound.heard]
    print(f"loopback_clicks: {len(loop_ms)}")
    print(f"loopback_p50: {_pct(loop_ms, 0.5):.1f} ms")
    print(f"loopback_p99: {_pct(loop_ms, 0.99):.1f} ms")
    print(f"impaired_link: {args.delay_ms:g} ms each way, {args.loss:.0%} of audio frames lost")
    print(f"impaired_clicks: {len(bad_sound.said)}")
    print(f"impaired_heard: {len(bad_ms)}")
    print(f"impaired_p50: {_pct(bad_ms, 0.5):.1f} ms")
    print(f"impaired_p99: {_pct(bad_ms, 0.99):.1f} ms")
    print(f"impaired_concealed: {bad.jitter.concealed}")
    print(f"impaired_dropped_by_link: {link.dropped if link else 0}")
    print(f"portaudio_latency: {portaudio}")
    if loop_ms:
        print(f"loopback_mean: {statistics.mean(loop_ms):.1f} ms")
    print(f"p99: {_pct(loop_ms, 0.99):.1f} ms")
    return 0 if loop_ms and bad_ms else 1


async def _device_latency(own_pulse: bool) -> str:
    if not own_pulse:
        return await asyncio.to_thread(_portaudio_latency)
    from tests.pulse import Pulse
    pulse = await Pulse().start()
    os.environ["PULSE_SERVER"] = pulse.server
    try:
        return await asyncio.to_thread(_portaudio_latency)
    finally:
        await pulse.stop()


def _portaudio_latency() -> str:
    """PortAudio's own buffers for its default device, both ways, when this machine has one."""
    from cc_console.audio import NoAudioDevice, PortAudioSound
    sound = PortAudioSound()
    try:
        sound.start(lambda: SILENCE, lambda pcm: None)
        return f"{sound.latency() * 1000:.1f} ms ({' / '.join(sound.names)})"
    except NoAudioDevice as exc:
        return f"none ({exc})"
    finally:
        sound.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    ap.add_argument("--delay-ms", type=float, default=50.0, help="the impaired link's delay, each way")
    ap.add_argument("--loss", type=float, default=0.02, help="share of audio frames the impaired link drops")
    ap.add_argument("--pulse", action="store_true",
                    help="read portaudio_latency from a PulseAudio of the bench's own (null sinks, as in the tests)")
    raise SystemExit(asyncio.run(main(ap.parse_args())))
