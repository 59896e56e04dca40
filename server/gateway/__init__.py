"""The consoles' websocket gateway: sessions, auth, permissions, and event fan-out.

Fan-out is on the hot path (2,000 consoles, every agent and call change), so an event's JSON body
is serialised once and each connection only prefixes its own sequence number. There is no task per
connection: a tick's frames for a console are joined and written to its socket once, at the end
of the tick, and asyncio buffers what the socket cannot take yet, so a slow console never holds up
the others; one whose buffer grows past its limit is disconnected and resumes with a fresh snapshot.

A connection's requests are handled one at a time, in order, by a task started when one arrives
and ending when none waits; the connection keeps being read meanwhile, so pings are answered
while a sign-in waits for its password check.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from aiohttp import WSCloseCode, WSMsgType, web

from cc_console.errors import DomainError
from cc_console.protocol import (
    P_SUPERVISE,
    P_WALLBOARD,
    PROTOCOL_VERSION,
    ErrorCode,
    ProtocolError,
    Request,
    encode,
    error,
    ok,
    parse_request,
)
from cc_console.server.auth import Auth, Principal
from cc_console.server.calls.engine import CallEngine
from cc_console.server.commands import Commands

log = logging.getLogger(__name__)

# Close code for connections whose session was ended by a logout elsewhere (private range 4000-4999).
SESSION_ENDED = 4001
# Requests a console may send ahead of their answers; a console waits for each answer, so more
# than this is a misbehaving client, and it is disconnected rather than buffered without bound.
MAX_BACKLOG = 64

_EVENT_HEAD_B = b'{"v":%d,"type":"event","seq":' % PROTOCOL_VERSION
# Every event is serialised once, for all consoles, on every call's path (the fan-out's fixed cost):
# msgspec writes the same JSON as json.dumps(separators=(",", ":"), default=str), as UTF-8 bytes,
# about ten times faster (an agent record: 1.8 µs against 17 µs).
_encode = msgspec.json.Encoder(enc_hook=str).encode


def _header(n: int) -> bytes:
    """A server's text frame header (FIN, unmasked) for an n-byte payload."""
    if n < 126:
        return bytes((0x81, n))
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big")
    return b"\x81\x7f" + n.to_bytes(8, "big")


class Session:
    def __init__(self, ws: web.WebSocketResponse, transport: asyncio.Transport | None, remote: str,
                 max_queue: int, want_flush: Callable[[Session], None] | None = None) -> None:
        self.ws = ws
        self.transport = transport
        self.remote = remote
        self.principal: Principal | None = None
        self.seq = 0
        # Bytes a console may have waiting in its socket buffer before we give up on it.
        self.max_buffer = max_queue * 1024
        self.closed = False
        self.dropped = False
        # Frames are handled one at a time, in order, by `worker`, while the connection keeps being
        # read (so pings are answered during a long sign-in); frames that arrive meanwhile wait here.
        self.backlog: deque[str | None] = deque()
        self.worker: asyncio.Task[None] | None = None
        # Frames of this loop tick, written with one send at its end (Gateway.flush_writes).
        self._out: list[bytes] = []
        self._want_flush = want_flush

    @property
    def sees_all(self) -> bool:
        p = self.principal
        return p is not None and (P_SUPERVISE in p.permissions or P_WALLBOARD in p.permissions)

    def wants(self, audience: str | frozenset[str] | None) -> bool:
        p = self.principal
        if p is None:
            return False
        if audience is None or self.sees_all:
            return True
        return audience == p.username if isinstance(audience, str) else p.username in audience

    def push_event(self, tail: bytes) -> None:
        """Queue an event frame whose body after the sequence number is `tail`; the pieces are
        kept apart until the tick's one join, so the shared tail is copied once per console."""
        if self.dropped or self.closed:
            return
        self.seq = seq = self.seq + 1
        seq_b = b"%d" % seq
        out = self._out
        first = not out
        out += (_header(len(_EVENT_HEAD_B) + len(seq_b) + len(tail)), _EVENT_HEAD_B, seq_b, tail)
        if first:
            self._queued()

    def push_snapshot(self, data: dict[str, Any]) -> None:
        self.seq += 1
        self._send(encode({"type": "snapshot", "seq": self.seq, "data": data}).encode())

    def reply(self, frame: dict[str, Any]) -> None:
        self._send(encode(frame).encode())

    def _send(self, payload: bytes) -> None:
        """Queue one text frame for this tick's write: no task switch per console per event.

        Everything a console gets in one loop tick (a call's update, its agent's state, the queue
        figures, a reply) goes out in one send: the system call, not the Python around it, is most
        of what a frame costs, and a server that fell behind catches up with one write per console
        instead of one per frame. Frames are whole, so they never interleave with aiohttp's own
        (pings, close)."""
        if self.dropped or self.closed:
            return
        out = self._out
        first = not out
        out += (_header(len(payload)), payload)
        if first:
            self._queued()

    def _queued(self) -> None:
        if self._want_flush is None:
            self.flush()
        else:
            self._want_flush(self)

    def flush(self) -> None:
        out = self._out
        if not out:
            return
        self._out = []
        t = self.transport
        if self.dropped or self.closed or t is None or t.is_closing():
            return
        t.write(b"".join(out))
        if t.get_write_buffer_size() > self.max_buffer:
            # Too far behind to catch up by events: drop it; the client resumes and gets a snapshot.
            self.dropped = True
            log.warning("console %s fell %d bytes behind; disconnecting it", self.remote, t.get_write_buffer_size())
            t.abort()

    def close(self) -> None:
        self.closed = True


Handler = Callable[[Session, Request], Any]


def _user(caller: Any) -> str:
    """The caller's user name (a console session, or a REST API caller: the handlers are shared).
    Handlers run only after authorize() let a principal through; without one, the same answer."""
    if caller.principal is None:
        raise ProtocolError(ErrorCode.UNAUTHENTICATED, "log in first")
    return str(caller.principal.username)


def wire_error(exc: DomainError) -> ProtocolError:
    """A service's refusal as the websocket's error response: the same code and message, word for word."""
    return ProtocolError(exc.code, exc.message, **exc.details)


class Gateway:
    def __init__(self, engine: CallEngine, auth: Auth, *, max_queue: int = 2000,
                 reload: Callable[[], Awaitable[dict[str, Any]]] | None = None) -> None:
        self.engine = engine
        self._reload = reload
        self.auth = auth
        self.max_queue = max_queue
        self.sessions: set[Session] = set()
        self._closing: set[asyncio.Task[Any]] = set()
        self._unflushed: list[Session] = []
        engine.publish = self.publish
        self.handlers: dict[str, Handler] = {
            "login": self._login, "resume": self._resume, "ping": self._ping, "logout": self._logout,
            "snapshot": self._snapshot,
            "agent.login": lambda s, r: self._agent(
                self.engine.agent_login(_user(s), r.args.get("queues"))),
            "agent.logout": lambda s, r: self._agent(self.engine.agent_logout(_user(s))),
            "agent.ready": lambda s, r: self._agent(self.engine.agent_ready(_user(s))),
            "agent.pause": lambda s, r: self._agent(
                self.engine.agent_pause(_user(s), r.args.get("reason", ""))),
            "agent.pause_cancel": lambda s, r: self._agent(self.engine.agent_pause_cancel(_user(s))),
            "call.answer": lambda s, r: {
                "call": self.engine.answer(_user(s), r.args.get("call_id")).to_dict()},
            "call.hangup": lambda s, r: {
                "call": self.engine.hangup(_user(s), r.args.get("call_id")).to_dict()},
            "agent.set_state": lambda s, r: self._agent(
                self.engine.set_agent_state(r.args["agent"], r.args["state"], r.args.get("reason", ""))),
            "agent.set_queues": self._set_queues,
            "monitor.start": lambda s, r: {"monitor": self.engine.monitors.start(
                _user(s), r.args["agent"], r.args.get("mode", "listen")).to_dict()},
            "monitor.stop": lambda s, r: {"monitor": self.engine.monitors.stop(_user(s)).to_dict()},
            "call.dial": lambda s, r: {"call": self.engine.dial_out(
                _user(s), r.args["number"], caller_id=r.args.get("caller_id", ""),
                record=r.args.get("record", True), queue=r.args.get("queue", "")).to_dict()},
            "call.hold": lambda s, r: {"call": self.engine.hold(
                _user(s), r.args["on"], r.args.get("call_id")).to_dict()},
            "call.mute": lambda s, r: {"call": self.engine.mute(
                _user(s), r.args["on"], r.args.get("call_id")).to_dict()},
            "call.dtmf": lambda s, r: {"call": self.engine.send_dtmf(
                _user(s), r.args["digits"], r.args.get("call_id")).to_dict()},
            "call.consult": lambda s, r: {"call": self.engine.consult(
                _user(s), r.args["target"], r.args.get("call_id")).to_dict()},
            "call.consult_complete": lambda s, r: {"call": self.engine.consult_complete(
                _user(s), r.args.get("call_id")).to_dict()},
            "call.consult_cancel": lambda s, r: {"call": self.engine.consult_cancel(
                _user(s), r.args.get("call_id")).to_dict()},
            "call.consult_swap": lambda s, r: {"call": self.engine.consult_swap(
                _user(s), r.args.get("call_id")).to_dict()},
            "call.conference": lambda s, r: {"call": self.engine.consult_complete(
                _user(s), r.args.get("call_id"), conference=True).to_dict()},
            "call.transfer": lambda s, r: {"call": self.engine.transfer(
                _user(s), r.args["target"], r.args.get("call_id"), r.args.get("mode", "blind")).to_dict()},
            "queue.problem": lambda s, r: {"queue": self.engine.set_problem(
                r.args["queue"], r.args["on"], r.args.get("media", "")).to_dict()},
            "callbacks.list": self._callbacks,
            "admin.reload": self._admin_reload,
        }
        # The one dispatch (server/commands.py) the REST API shares; capabilities add to the same dict.
        self.commands = Commands(self.handlers)

    # -- fan-out --------------------------------------------------------------------------------
    def end_sessions_of(self, username: str, why: str) -> int:
        """Close every console connection of an account (disabled or deleted): it must not keep working
        until its next reconnect. Returns how many were closed."""
        ended = [s for s in self.sessions if s.principal is not None and s.principal.username == username]
        for s in ended:
            s.principal = None
            s.closed = True
            task = asyncio.get_running_loop().create_task(s.ws.close(code=SESSION_ENDED, message=why.encode()[:120]))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return len(ended)

    def publish(self, event: str, data: dict[str, Any], audience: str | frozenset[str] | None) -> None:
        tail = b',"event":' + _encode(event) + b',"data":' + _encode(data) + b"}"
        if audience is None:
            for s in self.sessions:
                if s.principal is not None:
                    s.push_event(tail)
            return
        for s in self.sessions:
            if s.wants(audience):
                s.push_event(tail)

    def _want_flush(self, s: Session) -> None:
        if not self._unflushed:
            try:
                asyncio.get_running_loop().call_soon(self.flush_writes)
            except RuntimeError:  # no loop (a synchronous caller): write now
                s.flush()
                return
        self._unflushed.append(s)

    def flush_writes(self) -> None:
        """End of the tick: each console that got frames gets them in one write."""
        todo, self._unflushed = self._unflushed, []
        for s in todo:
            try:
                s.flush()
            except Exception:  # one broken socket must not leave the others' frames unsent
                log.exception("writing to console %s failed", s.remote)

    def snapshot_for(self, s: Session) -> dict[str, Any]:
        assert s.principal is not None
        snap = self.engine.snapshot(None if s.sees_all else s.principal.username)
        if not s.sees_all:
            snap["monitors"] = []
        snap["me"] = s.principal.public()
        return snap

    # -- connections ----------------------------------------------------------------------------
    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # No permessage-deflate: frames are a few hundred bytes, and a zlib stream per console costs
        # more CPU and memory in the fan-out than it saves on loopback or a LAN.
        ws = web.WebSocketResponse(heartbeat=20, max_msg_size=1 << 20, compress=False)
        await ws.prepare(request)
        session = Session(ws, request.transport, request.remote or "?", self.max_queue, self._want_flush)
        self.sessions.add(session)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._receive(session, msg.data)
                elif msg.type == WSMsgType.BINARY:
                    self._receive(session, None)
                elif msg.type == WSMsgType.ERROR:
                    break
                if len(session.backlog) > MAX_BACKLOG:
                    await ws.close(code=WSCloseCode.POLICY_VIOLATION,
                                   message=b"too many requests at once; wait for the answers")
                    break
        finally:
            self.sessions.discard(session)
            session.close()
            if session.worker is not None:
                # Nobody is left to answer: a sign-in still waiting for its password check leaves the queue.
                session.worker.cancel()
        return ws

    def _receive(self, s: Session, raw: str | None) -> None:
        """Queue one frame (None: a binary one) for the session's worker, starting it if idle."""
        if s.worker is not None:
            s.backlog.append(raw)
            return
        s.worker = asyncio.get_running_loop().create_task(self._work(s, raw))

    async def _work(self, s: Session, raw: str | None) -> None:
        try:
            while True:
                if raw is None:
                    s.reply(error(None, ProtocolError(ErrorCode.MALFORMED,
                                                      "binary frames are not accepted; send JSON text")))
                else:
                    await self._on_frame(s, raw)
                if not s.backlog:
                    return
                raw = s.backlog.popleft()
        finally:
            s.worker = None

    async def _on_frame(self, s: Session, raw: str) -> None:
        rid: Any = None
        try:
            req = parse_request(raw)
            rid = req.id
            result = await self.commands.run(s, req)
            s.reply(ok(rid, result))
            if req.cmd in ("login", "resume", "snapshot"):
                s.push_snapshot(self.snapshot_for(s))
        except ProtocolError as exc:
            rid = rid if rid is not None else exc.details.pop("id", None)
            exc.details.pop("id", None)
            s.reply(error(rid, exc))
        except DomainError as exc:
            s.reply(error(rid, wire_error(exc)))
        except Exception:
            log.exception("command failed")
            s.reply(error(rid, ProtocolError(ErrorCode.INTERNAL, "internal error; the server logged it")))

    # -- handlers -------------------------------------------------------------------------------
    @staticmethod
    def _agent(agent: Any) -> dict[str, Any]:
        return {"agent": agent.to_dict()}

    def _set_queues(self, s: Session, r: Request) -> dict[str, Any]:
        queues = r.args["queues"]
        allowed = getattr(s.principal, "queues", None)  # a custom role limited to some queues
        if allowed is not None and not set(queues) <= allowed:
            outside = ", ".join(sorted(set(queues) - allowed))
            raise ProtocolError(ErrorCode.FORBIDDEN, f"Your role does not cover the queue(s) {outside}")
        if not queues:
            return self._agent(self.engine.agent_logout(r.args["agent"], by_self=False))
        return self._agent(self.engine.agent_login(r.args["agent"], queues, by_self=False))

    async def _admin_reload(self, s: Session, r: Request) -> dict[str, Any]:
        if self._reload is None:
            raise ProtocolError(ErrorCode.UNAVAILABLE, "this server has no routing file to reload")
        try:
            return await self._reload()
        except (ValueError, OSError) as exc:
            raise ProtocolError(ErrorCode.BAD_REQUEST,
                                f"routing not reloaded, the old configuration stays: {exc}") from exc

    async def _login(self, s: Session, r: Request) -> dict[str, Any]:
        # argon2 is deliberately slow: it runs in the auth's bounded, fair hashing pool.
        p = await self.auth.login_async(r.args["username"], r.args["password"], r.args.get("totp"), s.remote)
        s.principal = p
        log.info("login %s (%s) from %s", p.username, p.role, s.remote)
        return {"token": p.token, **p.public()}

    async def _resume(self, s: Session, r: Request) -> dict[str, Any]:
        p = await self.auth.resume_async(r.args["token"])  # read off the loop: a slow database stalls only this
        s.principal = p
        return {"token": p.token, **p.public()}

    async def _callbacks(self, s: Session, r: Request) -> dict[str, Any]:
        # The store's table, read off the loop (on PostgreSQL a lock elsewhere would stall every console).
        return {"items": await asyncio.to_thread(self.engine.callbacks, r.args.get("state", "open"))}

    def _ping(self, s: Session, r: Request) -> dict[str, Any]:
        return {"pong": True, "time": self.engine.clock()}

    def _logout(self, s: Session, r: Request) -> dict[str, Any]:
        assert s.principal is not None
        token = s.principal.token
        self.auth.logout(token)
        s.principal = None
        # Other connections that resumed this session end with it: the token is gone, so must they.
        for other in [o for o in self.sessions if o is not s and o.principal and o.principal.token == token]:
            other.principal = None
            other.closed = True
            task = asyncio.get_running_loop().create_task(
                other.ws.close(code=SESSION_ENDED, message=b"signed out; sign in again"))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)
        return {}

    def _snapshot(self, s: Session, r: Request) -> dict[str, Any]:
        return {}
