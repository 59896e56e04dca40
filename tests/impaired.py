"""An impaired link for console audio: a websocket relay that delays every message and drops some.

It stands between the console and the server's /audio/ws (the console connects to the relay's
address): each message, either way, is delivered ``delay`` seconds after it arrived, in order; a
binary (audio) message is dropped with probability ``loss``. 50 ms each way is a 100 ms round trip.
Control (text) messages are never dropped: a real link would retransmit them, and losing a "start"
would test the relay's bookkeeping, not the audio path. Used by tests/test_console_audio.py and
bench/audio.py.
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import time

import aiohttp
from aiohttp import web


class ImpairedLink:
    def __init__(self, upstream: str, *, delay: float = 0.05, loss: float = 0.02, seed: int = 25) -> None:
        self.upstream = upstream.rstrip("/").removesuffix("/ws")  # the server's address, ws://host:port/ws
        self.delay = delay
        self.loss = loss
        self.seed = seed
        self.dropped = self.passed = 0
        self.dropped_toward_console = 0  # what the console's jitter buffer has to conceal
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> ImpairedLink:
        app = web.Application()
        app.router.add_get("/audio/ws", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/ws"  # what a console is given as its server address
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        down = web.WebSocketResponse()
        await down.prepare(request)
        headers = {"Authorization": request.headers.get("Authorization", "")}
        async with aiohttp.ClientSession() as http, http.ws_connect(
                self.upstream + "/audio/ws", headers=headers) as up:
            tasks = [asyncio.create_task(self._pipe(down, up, random.Random(self.seed))),
                     asyncio.create_task(self._pipe(up, down, random.Random(self.seed + 1), toward_console=True))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for t in tasks:
                t.cancel()
            await up.close()
        await down.close()
        return down

    async def _pipe(self, src: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                    dst: web.WebSocketResponse | aiohttp.ClientWebSocketResponse,
                    dice: random.Random, toward_console: bool = False) -> None:
        # each direction its own dice: how the two directions interleave must not decide which loses
        line: asyncio.Queue[tuple[float, aiohttp.WSMessage]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, msg = await line.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)  # the link's delay itself, not a test's wait
                with contextlib.suppress(ConnectionError):
                    if msg.type is aiohttp.WSMsgType.BINARY:
                        await dst.send_bytes(msg.data)
                    else:
                        await dst.send_str(msg.data)
        sender = asyncio.create_task(deliver())
        try:
            async for msg in src:
                if msg.type is aiohttp.WSMsgType.BINARY and dice.random() < self.loss:
                    self.dropped += 1
                    self.dropped_toward_console += toward_console
                    continue
                if msg.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT):
                    self.passed += 1
                    line.put_nowait((time.monotonic() + self.delay, msg))
        finally:
            sender.cancel()
