"""A real HTTP receiver for the CRM tests: an aiohttp server on a port of its own that records every
request (method, path, query, headers, body) and can go down (its port closed) and come back."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.ports import free_port


@dataclass
class Got:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    form: dict[str, str] = field(default_factory=dict)

    @property
    def fields(self) -> dict[str, str]:
        """The KCC fields, from the query string (GET) or the form body (POST)."""
        return self.form or self.query


class Receiver:
    def __init__(self, port: int = 0) -> None:
        self.port = port or free_port()
        self.got: list[Got] = []
        self.gate = asyncio.Event()  # cleared: requests are held (a slow receiver)
        self.gate.set()
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        form = {}
        if request.content_type == "application/x-www-form-urlencoded":
            form = {k: str(v) for k, v in (await request.post()).items()}
        self.got.append(Got(request.method, request.path, dict(request.query), dict(request.headers), body, form))
        async with self._changed:
            self._changed.notify_all()
        await self.gate.wait()
        return web.Response(text="ok")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True).start()
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def until(self, pred: Any, timeout: float = 20.0, what: str = "") -> Any:
        async def wait() -> Any:
            async with self._changed:
                while not (v := pred()):
                    await self._changed.wait()
                return v
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"receiver: timed out waiting for {what or pred}; got {len(self.got)}") from None

    def ids(self, path: str | None = None) -> list[str]:
        return [g.headers.get("X-CC-Event-Id", "") for g in self.got if path is None or g.path == path]
