"""Silent TCP connections and half-sent HTTP requests are closed after server.handshake_timeout
(issue 12, item 7); consoles that did their websocket handshake are not."""
from __future__ import annotations

import asyncio
import time

import pytest

from cc_console.config import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    settings.server.handshake_timeout = 0.5
    return settings


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection."""
    data = b""
    while chunk := await reader.read(4096):
        data += chunk
    return data


async def test_silent_and_half_sent_connections_are_closed(server, connect):
    console = await connect("agent1")
    t0 = time.monotonic()
    conns = []
    for i in range(150):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        if i % 3 == 1:  # a request line and no end of headers
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        elif i % 3 == 2:  # half a websocket upgrade
            writer.write(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Version: 13\r\n")
        conns.append((reader, writer))
    results = await asyncio.wait_for(asyncio.gather(*(_closed_by_server(r) for r, _ in conns)), 10)
    took = time.monotonic() - t0
    assert all(r == b"" for r in results)  # closed without an answer: nothing to answer
    assert 0.4 < took < 5
    for _, w in conns:
        w.close()
    # The console's websocket outlived the timeout.
    assert (await console.call("ping"))["pong"]


async def test_idle_keepalive_connection_closed_after_a_request(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    data = await asyncio.wait_for(_closed_by_server(reader), 10)
    assert data.startswith(b"HTTP/1.1 200")
    writer.close()
