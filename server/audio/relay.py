"""The console audio relay: an agent's (or supervisor's) leg as raw PCM between Asterisk and their console.

A person whose device is ``Console`` has no phone: when the engine dials their device for a leg
(an offer they answered, an outbound call, a supervisor's listen), ``dial`` originates a
chan_websocket channel in INCOMING mode (``WebSocket/INCOMING/c(slin16)``) with the engine's own
channel id and Stasis arguments, so the leg is an ordinary leg to the engine (bridged, held,
transferred, snooped like a SIP phone's). We then open the channel's media websocket on Asterisk's
HTTP server (``/media/<connection id>``, the id Asterisk put in MEDIA_WEBSOCKET_CONNECTION_ID;
Asterisk answers the channel when we connect) and relay its binary frames to and from the console's
own audio websocket (``/audio/ws``, opened with the console's session token). Asterisk re-times what
we send and fills gaps with silence, so the relay does no pacing of its own toward Asterisk.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web

from cc_console import audio_frames as wire
from cc_console.protocol import ProtocolError
from cc_console.server.ari import AriError

log = logging.getLogger(__name__)

DEVICE = "Console"  # the device setting of a person whose console is their phone


@dataclass
class AudioSettings:
    """[audio] in config.toml."""

    # Seconds Asterisk has to accept the media websocket of a new leg.
    connect_timeout: float = 5.0
    # Frames queued toward a console before the oldest are dropped: a console that cannot keep up
    # hears a gap (its jitter buffer conceals it) rather than audio that falls further and further behind.
    max_queued_frames: int = 25


@dataclass
class Leg:
    """One call leg of a console person: Asterisk's media websocket for that channel."""

    channel_id: str
    person: str
    media: aiohttp.ClientWebSocketResponse
    seq: int = 0
    pump: asyncio.Task[None] | None = None


@dataclass
class Console:
    """A console's open audio websocket."""

    person: str
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[bytes | str] = field(default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None


class NoConsoleAudio(AriError):
    """The person's console has no audio connection: the leg cannot be dialled (the engine treats it
    as an unreachable device, as it would a phone that is not registered)."""

    def __init__(self, person: str) -> None:
        super().__init__(404, f"the console of {person} has no audio connected", "console audio")


class AudioRelay:
    def __init__(self, ari: Any, settings: AudioSettings) -> None:
        self.ari = ari
        self.s = settings
        self.consoles: dict[str, Console] = {}
        self.legs: dict[str, Leg] = {}  # channel id -> leg
        self._http: aiohttp.ClientSession | None = None

    # -- Asterisk side ------------------------------------------------------------------------------
    def _media_url(self, connection_id: str) -> tuple[str, ssl.SSLContext | None]:
        base = self.ari.base_url.rsplit("/ari", 1)[0]
        tls = base.startswith("https")
        return ("wss" if tls else "ws") + base[base.index(":"):] + f"/media/{connection_id}", (
            self.ari.ssl_context if tls else None)

    async def dial(self, person: str, device: str, channel_id: str, **kw: Any) -> Any:
        """The engine's originate for a ``Console`` device (CallEngine.dialers)."""
        if person not in self.consoles:
            raise NoConsoleAudio(person)
        # SIP headers (auto-answer) mean nothing to a websocket channel: it answers when we connect.
        variables = {k: v for k, v in (kw.pop("variables", None) or {}).items() if not k.startswith("PJSIP_")}
        channel = await self.ari.originate(f"WebSocket/INCOMING/c({wire.CODEC})", channel_id,
                                           variables=variables or None, **kw)
        try:
            got = await self.ari.request("GET", f"/channels/{channel_id}/variable",
                                         params={"variable": "MEDIA_WEBSOCKET_CONNECTION_ID"})
            url, tls = self._media_url(got["value"])
            if self._http is None:
                self._http = aiohttp.ClientSession()
            async with asyncio.timeout(self.s.connect_timeout):
                media = await self._http.ws_connect(url, protocols=("media",), ssl=tls if tls else True,
                                                    autoping=True, max_msg_size=0)
        except Exception as exc:
            with contextlib.suppress(Exception):
                # "failure" (cause 38), not "normal": the engine reads the leg's end as a device fault
                await self.ari.hangup(channel_id, reason="failure")
            if isinstance(exc, AriError):
                raise
            # The media websocket did not open: to the engine an unreachable device (not worth a retry).
            raise AriError(500, f"console audio media websocket: {exc!r}", "console audio") from exc
        leg = Leg(channel_id, person, media)
        old = self._leg_of(person)
        self.legs[channel_id] = leg
        leg.pump = asyncio.create_task(self._from_asterisk(leg), name=f"console audio {channel_id}")
        if old is not None:
            log.info("console audio of %s moves from %s to %s", person, old.channel_id, channel_id)
        self._tell(person, {"type": "start", "rate": wire.RATE, "leg": channel_id})
        return channel

    def _leg_of(self, person: str) -> Leg | None:
        # the newest leg is the one the person hears (a supervisor's monitor after a call, a transfer's new leg)
        found = [leg for leg in self.legs.values() if leg.person == person]
        return found[-1] if found else None

    async def _from_asterisk(self, leg: Leg) -> None:
        try:
            async for msg in leg.media:
                if msg.type is aiohttp.WSMsgType.BINARY:
                    console = self.consoles.get(leg.person)
                    if console is not None and self._leg_of(leg.person) is leg:
                        self._queue(console, wire.pack(leg.seq, msg.data))
                    leg.seq += 1
                elif msg.type is aiohttp.WSMsgType.TEXT:
                    log.debug("console audio %s: %s", leg.channel_id, msg.data)
        except Exception:
            log.exception("console audio %s: media websocket failed", leg.channel_id)
        finally:
            self.legs.pop(leg.channel_id, None)
            if self._leg_of(leg.person) is None:
                self._tell(leg.person, {"type": "stop", "leg": leg.channel_id})
            await leg.media.close()

    async def _to_asterisk(self, person: str, frame: bytes) -> None:
        leg = self._leg_of(person)
        if leg is None or leg.media.closed:
            return
        try:
            _, pcm = wire.unpack(frame)
        except ValueError:
            return
        with contextlib.suppress(ConnectionError):
            await leg.media.send_bytes(pcm)

    # -- console side -------------------------------------------------------------------------------
    def _queue(self, console: Console, item: bytes | str) -> None:
        q = console.outbox
        while q.qsize() >= self.s.max_queued_frames:
            q.get_nowait()
        q.put_nowait(item)

    def _tell(self, person: str, message: dict[str, Any]) -> None:
        console = self.consoles.get(person)
        if console is not None:
            self._queue(console, json.dumps(message))

    async def _write(self, console: Console) -> None:
        while True:
            item = await console.outbox.get()
            if isinstance(item, str):
                await console.ws.send_str(item)
            else:
                await console.ws.send_bytes(item)

    async def handle(self, request: web.Request, principals: Any) -> web.StreamResponse:
        """GET /audio/ws with ``Authorization: Bearer <session token>``: the console's audio."""
        try:
            principal = principals.from_headers(request.headers)
        except ProtocolError as exc:
            raise web.HTTPUnauthorized(text=exc.message) from None
        person = principal.username
        ws = web.WebSocketResponse(heartbeat=10.0, max_msg_size=1 << 16)
        await ws.prepare(request)
        console = Console(person, ws)
        previous = self.consoles.get(person)
        self.consoles[person] = console
        if previous is not None:
            await previous.ws.close(code=wire.TAKEN, message=b"another console took the audio")
        console.writer = asyncio.create_task(self._write(console), name=f"console audio to {person}")
        if (leg := self._leg_of(person)) is not None:  # a reconnect in the middle of a call
            self._tell(person, {"type": "start", "rate": wire.RATE, "leg": leg.channel_id})
        log.info("console audio of %s connected", person)
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.BINARY:
                    await self._to_asterisk(person, msg.data)
        finally:
            console.writer.cancel()
            if self.consoles.get(person) is console:
                del self.consoles[person]
            log.info("console audio of %s disconnected", person)
        return ws

    async def stop(self) -> None:
        for leg in list(self.legs.values()):
            await leg.media.close()
            if leg.pump is not None:
                leg.pump.cancel()
        for console in list(self.consoles.values()):
            await console.ws.close()
        if self._http is not None:
            await self._http.close()
