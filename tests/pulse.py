"""A PulseAudio of the test's own (no sound card): a null sink as the speakers, a sine source as the
microphone, PortAudio reaching it through ALSA's pulse plugin (PULSE_SERVER points there)."""
from __future__ import annotations

import array
import asyncio
import os
import shutil
import signal
import subprocess
import tempfile
import time
import wave
from pathlib import Path

from cc_console.server.pbx.sandbox import write_tone_wav

MIC_TONE = 1300  # Hz: the console's microphone (no phone's tone: 500 + 125 k, nor 440 or 350)


class Pulse:
    def __init__(self, mic_freq: int = MIC_TONE) -> None:
        if shutil.which("pulseaudio") is None or shutil.which("parecord") is None:
            raise RuntimeError("PulseAudio is not installed: run ./scripts/setup "
                               "(scripts/debian-packages.d/audio.txt lists it)")
        self.dir = Path(tempfile.mkdtemp(prefix="cc-pulse-"))
        self.socket = self.dir / "native"
        self.server = f"unix:{self.socket}"
        self.mic_freq = mic_freq
        self.proc: subprocess.Popen[bytes] | None = None
        self.recorder: subprocess.Popen[bytes] | None = None
        self.speaker_proc: subprocess.Popen[bytes] | None = None
        self.recording = self.dir / "speaker.raw"

    def env(self) -> dict[str, str]:
        return {**os.environ, "PULSE_SERVER": self.server, "XDG_RUNTIME_DIR": str(self.dir),
                "PULSE_RUNTIME_PATH": str(self.dir / "run"), "HOME": str(self.dir)}

    def _launch(self) -> None:
        # -n: no default.pa (no hardware detection); as root it runs as a per-user daemon of this test.
        log = open(self.dir / "pulse.log", "wb")  # noqa: SIM115 - the daemon writes it while it runs
        self.proc = subprocess.Popen(
            ["pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "-n", "--disallow-exit", "--use-pid-file=no",
             "--disable-shm", f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
             "--load=module-null-sink sink_name=speaker rate=16000 channels=1",
             # The microphone: a second null sink that paplay feeds with the tone, heard through its
             # monitor (module-sine-source hands its audio over in 2 s blocks: no use for a call).
             "--load=module-null-sink sink_name=mic rate=16000 channels=1"],
            env=self.env(), stdout=subprocess.DEVNULL, stderr=log)
        log.close()

    async def start(self, timeout: float = 10.0) -> Pulse:
        await asyncio.to_thread(self._launch)
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"PulseAudio did not start: {(self.dir / 'pulse.log').read_text()[-500:]}")
            await asyncio.sleep(0.05)
        for what, name in (("set-default-sink", "speaker"), ("set-default-source", "mic.monitor")):
            p = await asyncio.create_subprocess_exec("pactl", what, name, env=self.env())
            assert await p.wait() == 0, f"pactl {what} {name} failed"
        await asyncio.to_thread(self._speak)
        return self

    def _speak(self) -> None:
        write_tone_wav(self.dir / "mic.wav", self.mic_freq, 600, rate=16000, amplitude=0.3)
        self.speaker_proc = subprocess.Popen(["paplay", "-d", "mic", "--latency-msec=20", str(self.dir / "mic.wav")],
                                             env=self.env())

    def record_speaker(self) -> None:
        """Record what the console plays (the null sink's monitor), 16 kHz mono, until stop_recording."""
        self.recorder = subprocess.Popen(
            ["parecord", "--raw", "-d", "speaker.monitor", "--rate=16000", "--channels=1", "--format=s16le",
             "--latency-msec=20", str(self.recording)], env=self.env())

    def speaker_seconds(self) -> float:
        return self.recording.stat().st_size / 32000 if self.recording.exists() else 0.0

    def speaker_wav(self, start: float = 0.0) -> Path:
        """What the speaker played from ``start`` seconds of the recording on, as a WAV for tone_level."""
        data = self.recording.read_bytes()[int(start * 16000) * 2:]
        path = self.dir / f"speaker-{time.monotonic_ns()}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(array.array("h", data[: len(data) // 2 * 2]).tobytes())
        return path

    async def stop(self) -> None:
        for p in (self.recorder, self.speaker_proc, self.proc):
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(asyncio.to_thread(p.wait), 5)
                except TimeoutError:
                    p.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
