"""A thin typed asyncio ARI client: REST over httpx, events over one websocket.

ARI facts this is built around:
* one websocket serves an app, and events are not buffered while it is down, so after every
  (re)connect the owner resyncs from GET /channels and /bridges before reading new events;
* connecting the websocket is what registers the app, so an Asterisk restart is just a reconnect;
* StasisStart can arrive before the originate's HTTP reply, so callers choose channelId
  themselves and record it before sending the originate.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import websockets

log = logging.getLogger(__name__)


class AriError(Exception):
    def __init__(self, status: int, message: str, path: str = "") -> None:
        super().__init__(f"ARI {status} on {path}: {message}")
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str = ""
    caller_name: str = ""
    exten: str = ""
    context: str = ""

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Channel:
        caller = d.get("caller") or {}
        dp = d.get("dialplan") or {}
        return cls(d["id"], d.get("name", ""), d.get("state", ""), caller.get("number", ""),
                   caller.get("name", ""), dp.get("exten", ""), dp.get("context", ""))


@dataclass(frozen=True)
class Bridge:
    id: str
    bridge_type: str
    channels: tuple[str, ...]

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Bridge:
        return cls(d["id"], d.get("bridge_type", ""), tuple(d.get("channels", [])))


@dataclass(frozen=True)
class AriEvent:
    """One ARI event. Fields not carried by an event type are left empty."""

    type: str
    application: str = ""
    timestamp: str = ""
    channel: Channel | None = None
    bridge: Bridge | None = None
    args: tuple[str, ...] = ()
    digit: str = ""
    cause: int | None = None
    peer: Channel | None = None
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AriEvent:
        ch = d.get("channel")
        br = d.get("bridge")
        peer = d.get("peer")
        return cls(
            type=d.get("type", ""), application=d.get("application", ""), timestamp=d.get("timestamp", ""),
            channel=Channel.from_json(ch) if ch else None, bridge=Bridge.from_json(br) if br else None,
            args=tuple(d.get("args", [])), digit=d.get("digit", ""),
            cause=d.get("cause") if isinstance(d.get("cause"), int) else None,
            peer=Channel.from_json(peer) if peer else None, raw=d)


EventHandler = Callable[[AriEvent], Awaitable[None]]
Hook = Callable[[], Awaitable[None]]


class AriClient:
    def __init__(self, base_url: str, user: str, password: str, app: str, *,
                 reconnect_min: float = 0.2, reconnect_max: float = 10.0, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        # https:// URLs: Asterisk's certificate checked against this context (TLS 1.2 or newer).
        self.ssl_context = ssl_context
        self.app = app
        self._auth_header = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        # Asterisk serves at most `sessionlimit` HTTP sessions (http.conf); a timed-out request keeps
        # its session there for a while. Capping our connections keeps us well under it, so a busy
        # Asterisk slows us down instead of refusing every request.
        self.http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout,
                                      headers={"Authorization": self._auth_header},
                                      verify=ssl_context if ssl_context is not None else True,
                                      limits=httpx.Limits(max_connections=50, max_keepalive_connections=20))
        self.reconnect_min = reconnect_min
        self.reconnect_max = reconnect_max
        self.on_event: EventHandler | None = None
        self.on_connect: Hook | None = None  # resync; runs before any event of the new connection
        self.on_disconnect: Hook | None = None
        self.connected = asyncio.Event()
        self.connections = 0  # how many times the websocket has been (re)established
        self._ws: Any = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        # Cleared, it holds the next reconnect back (tests use it to act while we are deaf).
        self.reconnect_gate = asyncio.Event()
        self.reconnect_gate.set()
        from .breaker import CircuitBreaker
        # Every REST outcome feeds it; the engine reads it before starting new work.
        self.breaker = CircuitBreaker()

    # -- events -----------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="ari-events")

    async def stop(self) -> None:
        self._stopping = True
        if self._ws is not None:
            await self._ws.close()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
        await self.http.aclose()

    async def drop_connection(self) -> None:
        """Close the websocket as a network fault would; the run loop reconnects and resyncs."""
        if self._ws is not None:
            await self._ws.close()

    def _ws_ssl(self) -> ssl.SSLContext | None:
        """wss://: our context (Asterisk's CA); None lets websockets use the system's for wss, nothing for ws."""
        return self.ssl_context if self.base_url.startswith("https") else None

    def _ws_url(self) -> str:
        scheme = "wss" if self.base_url.startswith("https") else "ws"
        rest = self.base_url.split("://", 1)[1]
        return f"{scheme}://{rest}/events?" + urlencode({"app": self.app, "subscribeAll": "false"})

    async def _run(self) -> None:
        delay = self.reconnect_min
        while not self._stopping:
            try:
                # The credentials go in a header, never in the URL, so they cannot end up in a log line.
                async with websockets.connect(self._ws_url(), additional_headers={"Authorization": self._auth_header},
                                              max_size=2**24, ping_interval=5, ping_timeout=5,
                                              ssl=self._ws_ssl()) as ws:
                    self._ws = ws
                    self.connections += 1
                    delay = self.reconnect_min
                    log.info("ARI websocket connected (app %s, connection %d)", self.app, self.connections)
                    if self.on_connect:
                        await self.on_connect()
                    self.connected.set()
                    async for raw in ws:
                        try:
                            event = AriEvent.from_json(json.loads(raw))
                        except (ValueError, KeyError, TypeError):
                            log.warning("ARI sent an event we cannot parse; skipped")
                            continue
                        if self.on_event:
                            try:
                                await self.on_event(event)
                            except Exception:
                                log.exception("handling ARI event %s failed", event.type)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("ARI websocket: %s", type(exc).__name__ + (f": {exc}" if str(exc) else ""))
            finally:
                self._ws = None
                if self.connected.is_set():
                    self.connected.clear()
                    if self.on_disconnect:
                        try:
                            await self.on_disconnect()
                        except Exception:
                            log.exception("on_disconnect failed")
            if self._stopping:
                break
            await asyncio.sleep(delay)
            await self.reconnect_gate.wait()
            delay = min(delay * 2, self.reconnect_max)

    # -- REST -------------------------------------------------------------------------------------
    async def request(self, method: str, path: str, *, params: Any = None,
                      json_body: Any = None) -> Any:
        try:
            r = await self.http.request(method, path, params=params, json=json_body)
        except httpx.HTTPError as exc:
            self.breaker.failure()
            raise AriError(0, f"{type(exc).__name__}", path) from None
        if r.status_code >= 400:
            try:
                msg = r.json().get("message", r.text)
            except ValueError:
                msg = r.text
            err = AriError(r.status_code, msg, path)
            self.breaker.record(err)
            raise err
        self.breaker.success()
        if r.status_code == 204 or not r.content:
            return None
        return r.json()

    async def info(self) -> dict[str, Any]:
        return await self.request("GET", "/asterisk/info")

    async def channels(self) -> list[Channel]:
        return [Channel.from_json(c) for c in await self.request("GET", "/channels")]

    async def bridges(self) -> list[Bridge]:
        return [Bridge.from_json(b) for b in await self.request("GET", "/bridges")]

    async def get_channel(self, channel_id: str) -> Channel | None:
        try:
            return Channel.from_json(await self.request("GET", f"/channels/{channel_id}"))
        except AriError as exc:
            if exc.status == 404:
                return None
            raise

    async def get_variable(self, channel_id: str, variable: str) -> str:
        """A channel variable or dialplan function's value (e.g. SHARED(CC_AMD)); "" when unset."""
        body = await self.request("GET", f"/channels/{channel_id}/variable", params={"variable": variable})
        return str((body or {}).get("value", ""))

    async def answer(self, channel_id: str) -> None:
        await self.request("POST", f"/channels/{channel_id}/answer")

    async def hangup(self, channel_id: str, reason: str = "normal") -> None:
        try:
            await self.request("DELETE", f"/channels/{channel_id}", params={"reason": reason})
        except AriError as exc:
            if exc.status != 404:  # already gone is what we wanted
                raise

    async def originate(self, endpoint: str, channel_id: str, *, app: str | None = None,
                        app_args: str = "", caller_id: str = "", timeout: int = 30,
                        variables: dict[str, str] | None = None, other_channel_id: str | None = None,
                        context: str | None = None, extension: str | None = None) -> Channel:
        params: dict[str, Any] = {"endpoint": endpoint, "timeout": timeout}
        if app or not extension:
            params["app"] = app or self.app
            if app_args:
                params["appArgs"] = app_args
        if extension:
            params.update({"extension": extension, "context": context or "default", "priority": 1})
        if caller_id:
            params["callerId"] = caller_id
        if other_channel_id:
            params["otherChannelId"] = other_channel_id
        body = {"variables": variables} if variables else None
        return Channel.from_json(await self.request("POST", f"/channels/{channel_id}", params=params, json_body=body))

    async def create_bridge(self, bridge_id: str, bridge_type: str = "mixing", name: str = "") -> Bridge:
        return Bridge.from_json(await self.request(
            "POST", f"/bridges/{bridge_id}", params={"type": bridge_type, "name": name or bridge_id}))

    async def destroy_bridge(self, bridge_id: str) -> None:
        try:
            await self.request("DELETE", f"/bridges/{bridge_id}")
        except AriError as exc:
            if exc.status != 404:
                raise

    async def add_channel(self, bridge_id: str, channel_id: str) -> None:
        await self.request("POST", f"/bridges/{bridge_id}/addChannel", params={"channel": channel_id})

    async def start_moh(self, bridge_id: str, moh_class: str = "default") -> None:
        await self.request("POST", f"/bridges/{bridge_id}/moh", params={"mohClass": moh_class})

    async def play_on_bridge(self, bridge_id: str, playback_id: str, media: list[str]) -> None:
        # Several media in one playback play one after another (Asterisk 15+).
        await self.request("POST", f"/bridges/{bridge_id}/play/{playback_id}",
                           params=[("media", m) for m in media])

    async def play_on_channel(self, channel_id: str, playback_id: str, media: list[str]) -> None:
        await self.request("POST", f"/channels/{channel_id}/play/{playback_id}",
                           params=[("media", m) for m in media])

    async def stop_playback(self, playback_id: str) -> None:
        try:
            await self.request("DELETE", f"/playbacks/{playback_id}")
        except AriError as exc:
            if exc.status != 404:
                raise

    async def record_bridge(self, bridge_id: str, name: str, *, max_seconds: int = 120, beep: bool = True,
                            fmt: str = "wav") -> None:
        await self.request("POST", f"/bridges/{bridge_id}/record", params={
            "name": name, "format": fmt, "maxDurationSeconds": max_seconds, "beep": str(beep).lower(),
            "ifExists": "overwrite", "terminateOn": "#"})

    async def stop_recording(self, name: str) -> None:
        try:
            await self.request("POST", f"/recordings/live/{name}/stop")
        except AriError as exc:
            if exc.status != 404:
                raise

    async def stored_recording(self, name: str) -> bytes:
        try:
            r = await self.http.get(f"/recordings/stored/{name}/file")
        except httpx.HTTPError as exc:
            raise AriError(0, type(exc).__name__, name) from None
        if r.status_code >= 400:
            raise AriError(r.status_code, r.text, name)
        return r.content

    async def stop_moh(self, bridge_id: str) -> None:
        try:
            await self.request("DELETE", f"/bridges/{bridge_id}/moh")
        except AriError as exc:
            if exc.status not in (404, 409):
                raise
