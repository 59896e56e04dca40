"""The general-problem upload (issue 12, item 2): a slow client's file arrives whole, the size limit
holds with and without Content-Length, the duration is counted from the audio, and bad headers get
a clear 400, never a 500."""
from __future__ import annotations

import asyncio
import io
import struct
import wave

import httpx
import pytest

from cc_console.config import Settings


@pytest.fixture
def settings(settings: Settings, tmp_path) -> Settings:
    settings.pbx.sounds_dir = str(tmp_path / "sounds")
    settings.server.upload_read_timeout = 1.0
    return settings


def wav(seconds: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(struct.pack("<h", 1000) * int(rate * seconds))
    return buf.getvalue()


@pytest.fixture
async def upload(server, connect):
    sup = await connect("sup1")
    base = server.url.replace("ws://", "http://").rsplit("/", 1)[0]
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        async def put(body, **headers) -> httpx.Response:
            return await http.put("/api/queues/support/problem", content=body,
                                  headers={"Authorization": f"Bearer {sup.token}", **headers})
        yield put


async def test_slow_upload_is_kept_whole(upload, settings):
    body = wav(30.0)  # 480,044 bytes

    async def slowly():
        for i in range(0, len(body), 16 * 1024):
            yield body[i:i + 16 * 1024]
            await asyncio.sleep(0.005)  # a client on a slow line: the server must wait for the rest

    r = await upload(slowly())
    assert r.status_code == 200, r.text
    assert r.json()["seconds"] == 30.0
    kept = settings.pbx.sounds_path / "cc-problem-support.wav"
    assert kept.read_bytes() == body


@pytest.mark.parametrize("chunked", [False, True])
async def test_size_limit_enforced(upload, settings, chunked):
    body = wav(1.0) + b"\0" * (21 * 1000 * 1000)
    if chunked:
        async def gen():
            for i in range(0, len(body), 256 * 1024):
                yield body[i:i + 256 * 1024]
        content = gen()
    else:
        content = body
    try:
        r = await upload(content)
    except (httpx.WriteError, httpx.ReadError, httpx.RemoteProtocolError):
        pytest.fail("the server should answer 413, not drop the connection")
    assert r.status_code == 413, r.text
    assert "20 MiB" in r.text
    assert not (settings.pbx.sounds_path / "cc-problem-support.wav").exists()
    assert not list(settings.pbx.sounds_path.glob(".*part"))


async def test_header_longer_than_audio_refused(upload):
    body = bytearray(wav(1.0))
    struct.pack_into("<I", body, 40, 8000 * 2 * 30)  # the data chunk claims 30 s
    r = await upload(bytes(body))
    assert r.status_code == 400
    assert "cut short" in r.text and "30.0 s" in r.text and "1.0 s" in r.text


async def test_frame_rate_zero_is_a_clear_400(upload):
    body = bytearray(wav(1.0))
    struct.pack_into("<I", body, 24, 0)  # sample rate
    struct.pack_into("<I", body, 28, 0)  # byte rate
    r = await upload(bytes(body))
    assert r.status_code == 400
    assert "8000 Hz" in r.text


async def test_empty_wav_refused(upload):
    r = await upload(wav(0.0))
    assert r.status_code == 400 and "no audio" in r.text


async def test_stalled_upload_times_out(server, connect, settings):
    sup = await connect("sup1")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    body = wav(1.0)
    writer.write(f"PUT /api/queues/support/problem HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {sup.token}\r\n"
                 f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:100])
    await writer.drain()
    # Nothing more is sent: the server gives up after upload_read_timeout (1 s here) with a 408.
    head = await asyncio.wait_for(reader.read(4096), 10)
    assert head.startswith(b"HTTP/1.1 408"), head[:100]
    writer.close()
