"""Helpers for the chat tests: a visitor (or chatbot) on the widget's websocket, and a console's
chat events awaited as they come."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from cc_console.client import ConsoleClient


class Visitor:
    """The widget's side of /chat/ws, as the page's script speaks it."""

    def __init__(self, base: str, headers: dict[str, str] | None = None) -> None:
        self.base = base
        self.headers = headers or {}
        self.frames: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self.token = ""
        self.id = ""

    async def __aenter__(self) -> Visitor:
        self.http = aiohttp.ClientSession()
        await self.open()
        return self

    async def open(self) -> None:
        self.ws = await self.http.ws_connect(self.base + "/chat/ws", headers=self.headers)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            self.frames.append(json.loads(msg.data))
            self._new.set()

    async def drop(self) -> None:
        """The page goes away (a reload): the socket closes."""
        await self.ws.close()
        await self._reader

    async def __aexit__(self, *exc: Any) -> None:
        await self.ws.close()
        await self.http.close()

    async def send(self, **frame: Any) -> None:
        await self.ws.send_str(json.dumps(frame))

    async def expect(self, op: str, pred: Callable[[dict[str, Any]], Any] = lambda f: True,
                     timeout: float = 10.0, start: int = 0) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            seen = start
            while True:
                for f in self.frames[seen:]:
                    seen += 1
                    if f.get("op") == op and pred(f):
                        return f
                self._new.clear()
                await self._new.wait()
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"visitor: no {op} frame; got {self.frames}") from None

    async def start(self, name: str = "Vera Visitor", **extra: Any) -> dict[str, Any]:
        await self.send(op="start", name=name, **extra)
        f = await self.expect("started")
        self.token, self.id = f["token"], f["id"]
        return f


class Events:
    """A console's pushed events, awaited by name and predicate."""

    def __init__(self, client: ConsoleClient) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []
        self._new = asyncio.Event()
        client.add_listener(self._on)

    def _on(self, kind: str, data: dict[str, Any]) -> None:
        self.seen.append((kind, data))
        self._new.set()

    def mark(self) -> int:
        return len(self.seen)

    async def expect(self, kind: str, pred: Callable[[dict[str, Any]], Any] = lambda d: True,
                     timeout: float = 10.0, start: int = 0) -> dict[str, Any]:
        async def wait() -> dict[str, Any]:
            seen = start
            while True:
                for k, d in self.seen[seen:]:
                    seen += 1
                    if k == kind and pred(d):
                        return d
                self._new.clear()
                await self._new.wait()
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"console: no {kind}; got {[k for k, _ in self.seen]}") from None
