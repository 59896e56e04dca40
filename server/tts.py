"""Spoken prompts: text to speech with espeak-ng, rendered once to a WAV Asterisk plays as it is.
Shared by the capabilities that speak to callers (the IVR's prompts, the outbound dialer's abandon
message).

The file is 8 kHz 16-bit mono (slin, what the PBX plays without transcoding), named by a hash of
the voice, speed and text, and kept in the PBX's sounds folder: the same text is rendered once and
survives restarts. A recorded prompt an admin uploaded for a node replaces the spoken one
(recorded_name). Rendering runs in subprocesses the event loop awaits, never blocking it.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

# Our languages -> espeak-ng voices (Debian's espeak-ng-data has all five).
VOICES = {"cs": "cs", "nb": "nb", "nl": "nl", "it": "it", "en": "en-gb"}


class TtsError(RuntimeError):
    pass


def recorded_name(tree: str, node: str) -> str:
    """The file name (without .wav) of the recorded prompt an admin uploads for a node."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{tree}-{node}")
    return f"cc-ivr-{safe}"


class Tts:
    def __init__(self, folder: Path, media_prefix: str, *, speed: int = 150, espeak: str = "espeak-ng",
                 sox: str = "sox") -> None:
        self.folder = folder
        self.media_prefix = media_prefix
        self.speed = speed
        self.espeak = espeak
        self.sox = sox
        self._locks: dict[str, asyncio.Lock] = {}  # one per prompt text: as many as the trees have

    def name(self, text: str, language: str) -> str:
        key = f"{VOICES.get(language, language)}\0{self.speed}\0{text}".encode()
        return "cc-tts-" + hashlib.sha256(key).hexdigest()[:24]

    def path(self, text: str, language: str) -> Path:
        return self.folder / f"{self.name(text, language)}.wav"

    async def media(self, text: str, language: str) -> str:
        """The media URI of the spoken text, rendered first if it is not in the cache."""
        await self.render(text, language)
        return self.media_prefix + self.name(text, language)

    async def recorded(self, tree: str, node: str) -> str | None:
        """The media URI of the node's uploaded recorded prompt, if there is one."""
        name = recorded_name(tree, node)
        exists = await asyncio.to_thread((self.folder / f"{name}.wav").exists)
        return self.media_prefix + name if exists else None

    async def render(self, text: str, language: str) -> Path:
        dest = self.path(text, language)
        # Two calls asking for the same new prompt at once share one rendering.
        async with self._locks.setdefault(dest.name, asyncio.Lock()):
            if not await asyncio.to_thread(dest.exists):
                await self._render(text, language, dest)
        return dest

    async def _render(self, text: str, language: str, dest: Path) -> None:
        voice = VOICES.get(language)
        if voice is None:
            raise TtsError(f"no voice for language {language!r}; use one of {', '.join(VOICES)}")
        for tool in (self.espeak, self.sox):
            if shutil.which(tool) is None:
                raise TtsError(f"{tool} is not installed (Debian packages espeak-ng and sox)")
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        tmpdir = await asyncio.to_thread(tempfile.mkdtemp, prefix="cc-tts-")
        raw = os.path.join(tmpdir, "raw.wav")
        part = dest.with_name(f".{dest.name}.{os.getpid()}.part.wav")
        try:
            # The text on standard input: never parsed as options, whatever it holds.
            await _run([self.espeak, "-v", voice, "-s", str(self.speed), "-w", raw, "--stdin"], text.encode())
            await _run([self.sox, raw, "-r", "8000", "-b", "16", "-c", "1", "-e", "signed-integer", str(part)])
            await asyncio.to_thread(part.chmod, 0o644)
            await asyncio.to_thread(part.replace, dest)  # atomic: Asterisk never plays half a file
            log.info("spoke %d characters (%s) into %s", len(text), language, dest.name)
        finally:
            with contextlib.suppress(OSError):
                await asyncio.to_thread(part.unlink, missing_ok=True)
            await asyncio.to_thread(shutil.rmtree, tmpdir, True)


async def _run(cmd: list[str], stdin: bytes | None = None) -> None:
    proc = await asyncio.create_subprocess_exec(*cmd, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(stdin)
    if proc.returncode != 0:
        raise TtsError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {err.decode(errors='replace')[-300:]}")
