"""Receiving a queue's general-problem message: streamed to disk under a hard size limit, the audio
itself checked (not only its header), and a clear 400/408/413 for what we refuse.

`StreamReader.read(n)` returns only what is buffered, so a slow client's upload used to be cut
short; here the body is read to its end, chunk by chunk, with a timeout for each chunk.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import wave
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

RATE, WIDTH, CHANNELS = 8000, 2, 1  # what Asterisk plays without transcoding (slin)
CHUNK = 64 * 1024


@dataclass(frozen=True)
class Audio:
    seconds: float


async def receive(request: web.Request, dest: Path, *, max_bytes: int, read_timeout: float) -> Audio:
    """Stream the body into `dest` (replaced atomically) once it is a whole, valid WAV.

    Raises aiohttp HTTP errors with a message for the person uploading."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise _too_large(max_bytes)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{id(request)}.part")
    fh = await asyncio.to_thread(tmp.open, "wb")
    try:
        size = 0
        while True:
            try:
                async with asyncio.timeout(read_timeout):
                    chunk = await request.content.read(CHUNK)
            except TimeoutError:
                raise web.HTTPRequestTimeout(
                    text=f"the upload stalled: nothing arrived for {read_timeout:g} s; send the file again") from None
            if not chunk:
                break
            size += len(chunk)
            if size > max_bytes:
                raise _too_large(max_bytes)
            await asyncio.to_thread(fh.write, chunk)
        await asyncio.to_thread(fh.close)
        audio = await asyncio.to_thread(check_wav, tmp)
        await asyncio.to_thread(_publish, tmp, dest)
        return audio
    finally:
        if not fh.closed:
            await asyncio.to_thread(fh.close)
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(tmp.unlink)


def _publish(tmp: Path, dest: Path) -> None:
    tmp.chmod(0o644)
    tmp.replace(dest)  # atomic: Asterisk never plays half a file


def _too_large(max_bytes: int) -> web.HTTPRequestEntityTooLarge:
    mib = max_bytes / (1024 * 1024)
    return web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=max_bytes + 1,
                                         text=f"the file is larger than {mib:g} MiB; send a shorter message")


def check_wav(path: Path) -> Audio:
    """The message must be 8 kHz 16-bit mono WAV, and hold the audio its header announces.

    The duration is counted from the sample data actually present, never taken from the header."""
    try:
        with wave.open(str(path), "rb") as w:
            shape = (w.getframerate(), w.getsampwidth(), w.getnchannels())
            if shape != (RATE, WIDTH, CHANNELS):
                raise web.HTTPBadRequest(text=f"the WAV must be 8000 Hz, 16-bit, mono; this one is "
                                              f"{shape[0]} Hz, {shape[1] * 8}-bit, {shape[2]} channel(s)")
            announced = w.getnframes()
            frames = 0
            while True:
                data = w.readframes(CHUNK)
                if not data:
                    break
                frames += len(data) // (WIDTH * CHANNELS)
    except (wave.Error, EOFError) as exc:
        raise web.HTTPBadRequest(text=f"not a WAV file: {exc}") from None
    if frames == 0:
        raise web.HTTPBadRequest(text="the WAV holds no audio")
    if frames < announced:
        raise web.HTTPBadRequest(text=f"the WAV is cut short: its header announces {announced / RATE:.1f} s "
                                      f"but it holds {frames / RATE:.1f} s of audio; send the whole file")
    return Audio(seconds=frames / RATE)
