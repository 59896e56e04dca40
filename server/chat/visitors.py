"""The visitors' side: the widget's files and its websocket (/chat/ws), which a chatbot uses too.

Frames are JSON objects with an ``op``. From the page: start {name, email?, queue?}, resume {token},
say {text}, typing {on}, transcript {email?}, end. A chatbot sends an Authorization: Bearer header
with the upgrade and may also start {bot: true}, reply {text} (its own answer) and handover
{queue?}. From the server: started {id, token}, resumed {conversation, messages}, position,
message, typing, agent, closed, error {message} (written for the visitor). docs/chat.md.
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from cc_console.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from cc_console.protocol import ProtocolError

from .service import ChatService, Conversation, TooManyChats, visitor_code

log = logging.getLogger(__name__)

_STATIC = {"widget.js": "application/javascript", "widget.css": "text/css", "index.html": "text/html"}
_MAX_FRAME = 16 * 1024
_RATE, _BURST = 5.0, 20  # frames a second from one socket, and the burst allowed


def _static(name: str) -> bytes:
    return resources.files("cc_console.server.chat").joinpath("static", name).read_bytes()


class Visitors:
    def __init__(self, service: ChatService, principals: Any) -> None:
        self.service = service
        self.principals = principals
        self._files = {name: _static(name) for name in _STATIC}  # read once: small, and never on the loop again
        self._starts: dict[str, deque[float]] = {}  # address -> its chats started in the last minute

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/chat/ws", self.handle)
        app.router.add_get("/chat/", self.file)
        app.router.add_get("/chat/{name:widget\\.js|widget\\.css}", self.file)

    async def file(self, request: web.Request) -> web.Response:
        name = request.match_info.get("name", "index.html")
        return web.Response(body=self._files[name], content_type=_STATIC[name], charset="utf-8",
                            headers={"Cache-Control": "no-cache", "Access-Control-Allow-Origin": "*"})

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        try:  # a chatbot brings a bearer token; a visitor none
            bot = self.principals.maybe_from_headers(request.headers) is not None
        except ProtocolError:
            raise web.HTTPUnauthorized(text="that token is not valid") from None
        ws = web.WebSocketResponse(heartbeat=30, max_msg_size=_MAX_FRAME)
        await ws.prepare(request)
        conv: Conversation | None = None
        outbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        sink = outbox.put_nowait

        async def writer() -> None:
            while (frame := await outbox.get()) is not None:
                try:
                    await ws.send_str(json.dumps(frame))
                except ConnectionError:
                    return
        wtask = asyncio.create_task(writer())
        try:
            allowance, last = float(_BURST), time.monotonic()
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    break
                # a token bucket per socket: a person types a few frames a second, a flood is refused
                now = time.monotonic()
                allowance = min(float(_BURST), allowance + (now - last) * _RATE)
                last = now
                if allowance < 1:
                    sink({"op": "error", "code": "rate_limited", "message": "Please slow down a little."})
                    continue
                allowance -= 1
                try:
                    frame = json.loads(msg.data)
                    if not isinstance(frame, dict):
                        raise ValueError
                except ValueError:
                    sink({"op": "error", "message": "Something went wrong; please reload the page."})
                    continue
                try:
                    if frame.get("op") == "start" and not bot:
                        self._admit(request.remote or "")
                    conv = await self._op(frame, conv, sink, bot)
                except DomainError as exc:
                    sink({"op": "error", "code": visitor_code(exc), "message": exc.message, "for": frame.get("op")})
        finally:
            if conv is not None:
                self.service.detach(conv, sink)
            outbox.put_nowait(None)
            await wtask
        return ws

    def _admit(self, remote: str) -> None:
        """A visitor's new chat: refused past starts_per_minute from one address, or max_open in all."""
        s = self.service.s
        if len(self.service.live) >= s.max_open:
            raise Unavailable("All our agents are busy. Please try again in a few minutes.")
        now = time.monotonic()
        if len(self._starts) > 10_000:  # forget quiet addresses
            self._starts = {a: d for a, d in self._starts.items() if d and now - d[-1] < 60}
        starts = self._starts.setdefault(remote, deque())
        while starts and now - starts[0] > 60:
            starts.popleft()
        if len(starts) >= s.starts_per_minute:
            raise TooManyChats("Too many chats from here just now; please try again in a minute.")
        starts.append(now)

    async def _op(self, f: dict[str, Any], conv: Conversation | None, sink: Any, bot: bool) -> Conversation | None:
        svc = self.service
        op = f.get("op")
        if op == "start":
            if conv is not None and conv.state != "closed":
                raise Conflict("You are already chatting.")
            if conv is not None:  # a new chat after the last one ended, on the same socket
                svc.detach(conv, sink)
            c, token = svc.start_conversation(_s(f, "name"), _s(f, "email"), _s(f, "queue"),
                                              bot=bot and bool(f.get("bot")), text=_s(f, "text"))
            sink({"op": "started", "id": c.id, "token": token, "conversation": c.public()})
            svc.attach(c, sink)
            return c
        if op == "resume":
            found = await svc.resume(_s(f, "token"))
            if found is None:
                raise NotFound("That conversation has ended.")
            public, messages = found
            sink({"op": "resumed", "conversation": public, "messages": messages})
            live = svc.live.get(public["id"])
            if live is not None:
                svc.attach(live, sink)
                if live.state == "queued":
                    svc._positions.pop(live.id, None)  # tell this socket its position again
                    svc.want_route()
                elif live.state == "active" and live.agents:
                    sink({"op": "agent", "name": svc._name(live.agents[-1])})
            return live
        if conv is None:
            raise Conflict("Start a chat first.")
        if op == "say":
            svc.visitor_say(conv, _s(f, "text"))
        elif op == "reply" and bot:
            svc.visitor_say(conv, _s(f, "text"), sender="bot")
        elif op == "handover" and bot:
            svc.handover(conv, _s(f, "queue"))
        elif op == "typing":
            svc.visitor_typing(conv, bool(f.get("on")))
        elif op == "transcript":
            to = await svc.transcript(conv, _s(f, "email"))
            sink({"op": "transcript_sent", "email": to})
        elif op == "end":
            svc.visitor_end(conv)
        else:
            raise Invalid("Something went wrong; please reload the page.")
        return conv


def _s(f: dict[str, Any], key: str) -> str:
    v = f.get(key, "")
    return v if isinstance(v, str) else ""
