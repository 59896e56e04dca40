"""The consoles' connection to the server: request/response, pushed events, reconnect and resume.

UI-free: the Textual screens and the benchmarks use the same class. Events and state changes are
delivered to listeners as plain callbacks on the asyncio loop.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec
import websockets

from cc_console.models import ROLE_PERMISSIONS, call_agents
from cc_console.protocol import (
    P_SUPERVISE,
    P_WALLBOARD,
    PROTOCOL_VERSION,
    ErrorCode,
    ProtocolError,
    encode,
    request,
)

log = logging.getLogger(__name__)

Listener = Callable[[str, dict[str, Any]], None]

# The same dicts and lists as json.loads, in about a third of the time: a supervisor's console
# decodes a frame per event, 1,000 a second at 2,000 agents.
_decode = msgspec.json.Decoder().decode


class ConsoleState:
    """The client's picture of the server: rebuilt from each snapshot, kept current by events."""

    def __init__(self) -> None:
        self.me: dict[str, Any] = {}
        self.agents: dict[str, dict[str, Any]] = {}
        self.calls: dict[str, dict[str, Any]] = {}
        self.queues: dict[str, dict[str, Any]] = {}
        self.server: dict[str, Any] = {}
        self.pause_reasons: list[dict[str, Any]] = []
        self.monitors: dict[str, dict[str, Any]] = {}  # supervisor id -> their live monitor
        self.callbacks: dict[str, dict[str, Any]] = {}  # callback/voicemail id -> item

    def load(self, snap: dict[str, Any]) -> None:
        self.me = snap.get("me", {})
        self.agents = {a["id"]: a for a in snap.get("agents", [])}
        self.calls = {c["id"]: c for c in snap.get("calls", [])}
        self.queues = {q["name"]: q for q in snap.get("queues", [])}
        self.server = snap.get("server", {})
        self.pause_reasons = snap.get("pause_reasons", [])
        self.monitors = {m["supervisor"]: m for m in snap.get("monitors", []) or []
                         if m.get("state") != "ended"}
        if "callbacks" in snap:
            self.callbacks = {c["id"]: c for c in snap.get("callbacks") or []}

    def apply(self, event: str, data: dict[str, Any]) -> None:
        if event == "agent.state":
            self.agents[data["id"]] = data
        elif event == "call.update":
            if self.sees_all or self.me.get("user") in call_agents(data):
                self.calls[data["id"]] = data
            else:
                # The server's rule (a snapshot holds only the calls that concern me): a call that
                # moved on to someone else, or back to the queue, is no longer mine to show.
                self.calls.pop(data["id"], None)
        elif event == "call.ended":
            self.calls.pop(data["id"], None)
        elif event == "queue.stats":
            self.queues[data["name"]] = data
        elif event == "server.status":
            self.server.update(data)
        elif event == "monitor.update":
            if data.get("state") == "ended":
                if self.monitors.get(data.get("supervisor", ""), {}).get("id") == data.get("id"):
                    self.monitors.pop(data["supervisor"], None)
            else:
                self.monitors[data.get("supervisor", "")] = data
        elif event == "callback.update":
            self.callbacks[data["id"]] = data

    @property
    def sees_all(self) -> bool:
        """Supervisors and wallboards get every call; agents only the calls that concern them."""
        perms = self.me.get("permissions")
        if perms is None:  # an offline picture (demo, tests) names only the role
            role = self.me.get("role", "")
            perms = ROLE_PERMISSIONS.get(role, ()) if role in ROLE_PERMISSIONS else ()
        return P_SUPERVISE in perms or P_WALLBOARD in perms

    @property
    def my_agent(self) -> dict[str, Any] | None:
        user = self.me.get("user")
        return self.agents.get(user) if user else None

    @property
    def my_monitor(self) -> dict[str, Any] | None:
        user = self.me.get("user")
        return self.monitors.get(user) if user else None

    @property
    def my_call(self) -> dict[str, Any] | None:
        agent = self.my_agent
        if agent and agent.get("call_id"):
            return self.calls.get(agent["call_id"])
        return None


def server_urls(url: str | Sequence[str]) -> list[str]:
    """The servers' addresses: a list, or one string with several separated by commas or spaces."""
    parts = url.replace(",", " ").split() if isinstance(url, str) else [u.strip() for u in url]
    found = [u for u in parts if u]
    if not found:
        raise ValueError("no server address given")
    return found


class ConsoleClient:
    def __init__(self, url: str | Sequence[str], *, reconnect: bool = True, backoff_max: float = 5.0,
                 open_timeout: float = 5.0) -> None:
        # Several addresses: a high-availability pair (docs/high-availability.md). A standby refuses the
        # websocket with 503, so the client moves on to the next address and resumes there.
        self.configured = url if isinstance(url, str) else ",".join(url)
        self.urls = server_urls(url)
        self.url = self.urls[0]  # the address in use (or tried last)
        self.open_timeout = open_timeout
        self.reconnect = reconnect
        self.backoff_max = backoff_max
        self.state = ConsoleState()
        self.token: str | None = None
        self.connected = asyncio.Event()
        self.stale = True  # True while we have no live, in-sequence data
        self.last_seq = 0
        self._ws: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: list[Listener] = []
        self._reader: asyncio.Task[None] | None = None
        self._closing = False

    # -- listeners -------------------------------------------------------------------------------
    def add_listener(self, fn: Listener) -> None:
        """fn(kind, data) with kind an event name, "snapshot", "connection" or "error"."""
        self._listeners.append(fn)

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        for fn in list(self._listeners):
            try:
                fn(kind, data)
            except Exception:  # a listener's bug must not kill the connection
                log.exception("listener failed on %s", kind)

    # -- connection ------------------------------------------------------------------------------
    async def connect(self) -> None:
        """Connect to the first address that takes the websocket, starting with the one used last."""
        start = self.urls.index(self.url) if self.url in self.urls else 0
        order = self.urls[start:] + self.urls[:start]
        for i, url in enumerate(order):
            try:
                self._ws = await websockets.connect(url, max_size=2**22, ping_interval=10,
                                                    open_timeout=self.open_timeout)
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                if i == len(order) - 1:
                    raise
                log.info("server %s not available (%s); trying %s", url, exc, order[i + 1])
                continue
            self.url = url
            break
        self.last_seq = 0
        self.connected.set()
        self._reader = asyncio.create_task(self._read_loop(), name="cc-client-reader")
        self._emit("connection", {"connected": True})

    async def login(self, username: str, password: str, totp: str | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {"username": username, "password": password}
        if totp:
            args["totp"] = totp
        result = await self.call("login", args)
        self.token = result["token"]
        return result

    async def close(self) -> None:
        self._closing = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader:
            try:
                await self._reader
            except Exception:
                pass

    async def call(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        """Send a request and wait for its response; raises ProtocolError on an error response."""
        await asyncio.wait_for(self.connected.wait(), timeout)
        rid = f"c{next(self._ids)}"
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        try:
            await self._ws.send(encode(request(rid, cmd, args)))
            res = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)
        if not res.get("ok"):
            err = res.get("error", {})
            raise ProtocolError(ErrorCode(err.get("code", "internal")), err.get("message", ""),
                                **err.get("details", {}))
        return res.get("result", {})

    async def send_raw(self, text: str) -> None:
        """For tests of bad input: send a frame exactly as given."""
        await self._ws.send(text)

    async def _read_loop(self) -> None:
        ws = self._ws
        try:
            async for raw in ws:
                self._handle(_decode(raw))
        except websockets.ConnectionClosed:
            pass
        finally:
            self.connected.clear()
            self.stale = True
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(ConnectionError("connection to the server lost"))
            self._emit("connection", {"connected": False})
            if self.reconnect and not self._closing:
                asyncio.get_running_loop().create_task(self._reconnect_loop())

    def _handle(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "res":
            fut = self._pending.get(frame.get("id", ""))
            if fut and not fut.done():
                fut.set_result(frame)
            return
        if kind not in ("event", "snapshot"):
            return
        seq = frame.get("seq", 0)
        gap = seq != self.last_seq + 1
        self.last_seq = seq
        if kind == "snapshot":
            self.state.load(frame["data"])
            self.stale = False
            self._emit("snapshot", frame["data"])
            return
        if gap:
            # Something was lost: our picture can no longer be trusted until a fresh snapshot.
            self.stale = True
            asyncio.get_running_loop().create_task(self._safe_call("snapshot"))
        self.state.apply(frame["event"], frame["data"])
        self._emit(frame["event"], frame["data"])

    async def _safe_call(self, cmd: str) -> None:
        try:
            await self.call(cmd)
        except Exception as exc:
            log.warning("%s failed: %s", cmd, exc)
            self._emit("error", {"message": "Could not refresh from the server; the screen may be out of date "
                                            "until the connection recovers.", "cmd": cmd})

    async def _reconnect_loop(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                await self.connect()
            except (TimeoutError, OSError, websockets.WebSocketException):
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            await self._resume_session()
            return

    async def _resume_session(self) -> None:
        """Resume the session on a new connection. A server that cannot read its database just now
        (or does not answer in time) is asked again: the session itself may be fine, and telling the
        person it ended would send a whole floor of agents to the sign-in form during a database
        hiccup. A connection lost meanwhile has its own reconnect, which takes over."""
        delay = 0.2
        while self.token and not self._closing:
            try:
                await self.call("resume", {"token": self.token})
                return
            except ProtocolError as exc:
                if exc.code != ErrorCode.UNAVAILABLE:
                    log.warning("resume refused: %s (%s)", exc.message, exc.code)
                    self._emit("error", {"message": "Your session has ended: log in again.", "cmd": "resume",
                                         "code": str(exc.code)})
                    return
                log.warning("resume: %s; asking again in %.1f s", exc.message, delay)
            except TimeoutError:
                log.warning("resume: no answer from the server; asking again in %.1f s", delay)
            except (OSError, websockets.WebSocketException, ConnectionError):
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, self.backoff_max)


__all__ = ["ConsoleClient", "ConsoleState", "PROTOCOL_VERSION", "server_urls"]
