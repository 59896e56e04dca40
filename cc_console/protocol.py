"""The console protocol: JSON over websockets, written down once for server and clients.

docs/protocol.md describes the same thing for people; keep the two in step.

Frames (all carry ``"v": PROTOCOL_VERSION``):

* request   ``{"v":1,"type":"req","id":"<client id>","cmd":"<name>","args":{...}}``
* response  ``{"v":1,"type":"res","id":"<same id>","ok":true,"result":{...}}``
            ``{"v":1,"type":"res","id":"<same id>","ok":false,"error":{"code":"...","message":"..."}}``
* event     ``{"v":1,"type":"event","seq":<n>,"event":"<name>","data":{...}}``
* snapshot  ``{"v":1,"type":"snapshot","seq":<n>,"data":{...}}``  (after login and after resume)

``seq`` counts every pushed frame (events and snapshots) on one connection, from 1, with no gaps:
a client that sees a gap knows it lost something and asks for a snapshot.
"""
from __future__ import annotations

import builtins
import json
import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

PROTOCOL_VERSION = 1


class ErrorCode(StrEnum):
    MALFORMED = "malformed"  # not JSON, or not a JSON object
    BAD_VERSION = "bad_version"  # envelope version we do not speak
    BAD_REQUEST = "bad_request"  # envelope or arguments of the wrong shape or type
    UNKNOWN_COMMAND = "unknown_command"
    UNAUTHENTICATED = "unauthenticated"  # command needs a login first
    AUTH_FAILED = "auth_failed"  # wrong user, password or TOTP code
    TOTP_REQUIRED = "totp_required"
    TOTP_REPLAYED = "totp_replayed"
    RATE_LIMITED = "rate_limited"
    FORBIDDEN = "forbidden"  # the role may not use this command
    NOT_FOUND = "not_found"  # unknown id (call, agent, queue, user)
    CONFLICT = "conflict"  # valid, but not in the current state (answer with nothing ringing)
    UNAVAILABLE = "unavailable"  # Asterisk not reachable right now
    INTERNAL = "internal"


class ProtocolError(Exception):
    """Raised by handlers; becomes an error response. The connection stays up."""

    def __init__(self, code: ErrorCode, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.details:
            d["details"] = self.details
        return d


# Events the server pushes.
class Event(StrEnum):
    AGENT_STATE = "agent.state"  # data: agent dict
    CALL_UPDATE = "call.update"  # data: call dict
    CALL_ENDED = "call.ended"  # data: call dict
    QUEUE_STATS = "queue.stats"  # data: queue stats dict
    SERVER_STATUS = "server.status"  # data: {"ari": "up"|"down"}
    CALLBACK = "callback.update"  # data: callback/voicemail item
    MONITOR = "monitor.update"  # data: a supervisor's monitoring session
    TRANSFER = "transfer.update"  # data: {"targets": [{"key", "state"}]}, to consoles watching the panel


@dataclass(frozen=True)
class Arg:
    """An argument's JSON type; ``items`` is the type of a list's elements or an object's values."""

    type: type | tuple[type, ...]
    required: bool = True
    # builtins.type: inside the class body `type` is the field above.
    items: builtins.type | tuple[builtins.type, ...] | None = None


@dataclass(frozen=True)
class CommandSpec:
    """A command's argument types and the permission it needs (None: no login needed)."""

    name: str
    permission: str | None
    args: dict[str, Arg] = field(default_factory=dict)
    doc: str = ""


# Permissions. Roles map to sets of these in cc_console.models.ROLE_PERMISSIONS.
P_SESSION = "session"  # any logged-in user
P_AGENT = "agent.self"  # control one's own agent and calls
P_SUPERVISE = "supervise"  # see all agents and calls, act on others
P_WALLBOARD = "wallboard.view"
P_ADMIN = "admin"

# The switchboard directory's absence types: the directory checks them, the consoles and the web
# pages offer them (docs/directory.md).
ABSENCE_TYPES = ("lunch", "meeting", "vacation", "sick", "travel", "course", "out", "other")

# Fine permissions (roles as permission sets, server/auth/roles.py): held by the built-in roles as
# their coarse permission always allowed, and given or withheld one by one to custom roles.
P_REC_LISTEN = "recordings.listen"
P_REC_DOWNLOAD = "recordings.download"
P_REC_EVALUATE = "recordings.evaluate"
P_REC_HOLD = "recordings.hold"
P_REC_PURGE = "recordings.purge"
P_CALLBACKS = "callbacks"
P_REPORTS = "reports"
FINE = frozenset({P_REC_LISTEN, P_REC_DOWNLOAD, P_REC_EVALUATE, P_REC_HOLD, P_REC_PURGE, P_CALLBACKS, P_REPORTS})
# The fine permission a command needs besides its coarse one (checked for custom roles).
COMMAND_FINE: dict[str, str] = {
    "callbacks.list": P_CALLBACKS, "callbacks.worklist": P_CALLBACKS, "callback.claim": P_CALLBACKS,
    "callback.release": P_CALLBACKS, "callback.dial": P_CALLBACKS, "callback.reschedule": P_CALLBACKS,
    "callback.done": P_CALLBACKS, "report.run": P_REPORTS, "recordings.evaluate": P_REC_EVALUATE,
    "recordings.mark": P_REC_EVALUATE, "recordings.hold": P_REC_HOLD, "recordings.purge": P_REC_PURGE,
}

# The call engine's and the gateway's own commands. Each capability (server/<name>/plugin.py) declares
# its own; cc_console.server.registry.load_commands() merges them into this one table, which the
# gateway, the REST API, the OpenAPI document and docs/protocol.md all read.
COMMANDS: dict[str, CommandSpec] = {
    c.name: c
    for c in [
        CommandSpec("login", None, {"username": Arg(str), "password": Arg(str), "totp": Arg(str, False)},
                    "Log in; returns a session token to resume with."),
        CommandSpec("resume", None, {"token": Arg(str)}, "Resume a session after a reconnect; a snapshot follows."),
        CommandSpec("ping", None, {}, "Liveness check."),
        CommandSpec("logout", P_SESSION, {}, "End the session."),
        CommandSpec("snapshot", P_SESSION, {}, "Ask for a full state snapshot (after a seq gap)."),
        CommandSpec("agent.login", P_AGENT, {"queues": Arg(list, False, str)}, "Log the agent in (ready) to queues."),
        CommandSpec("agent.logout", P_AGENT, {}, "Log the agent out of all queues."),
        CommandSpec("agent.ready", P_AGENT, {}, "Become ready for calls."),
        CommandSpec("agent.pause", P_AGENT, {"reason": Arg(str, False)},
                    "Pause (not ready) with a reason; during a call, once the call and its wrap-up end."),
        CommandSpec("agent.pause_cancel", P_AGENT, {}, "Cancel the pause asked for during a call."),
        CommandSpec("call.answer", P_AGENT, {"call_id": Arg(str, False)}, "Answer the call ringing for this agent."),
        CommandSpec("call.hangup", P_AGENT, {"call_id": Arg(str, False)}, "Hang up this agent's call."),
        CommandSpec("call.dial", P_AGENT, {"number": Arg(str), "caller_id": Arg(str, False), "record": Arg(bool, False),
                                           "queue": Arg(str, False)},
                    "Call a number from the console: my device first, then the number, with the chosen caller id."),
        CommandSpec("call.hold", P_AGENT, {"on": Arg(bool), "call_id": Arg(str, False)},
                    "Hold (music on hold to the caller) or take back my call."),
        CommandSpec("call.mute", P_AGENT, {"on": Arg(bool), "call_id": Arg(str, False)},
                    "Mute or unmute my microphone on my call."),
        CommandSpec("call.dtmf", P_AGENT, {"digits": Arg(str), "call_id": Arg(str, False)},
                    "Send DTMF digits on my call."),
        CommandSpec("call.consult", P_AGENT, {"target": Arg(str), "call_id": Arg(str, False)},
                    "Put the caller on hold and call agent:ID or a number to consult (attended transfer)."),
        CommandSpec("call.consult_complete", P_AGENT, {"call_id": Arg(str, False)},
                    "Complete the attended transfer: the target takes the caller."),
        CommandSpec("call.consult_cancel", P_AGENT, {"call_id": Arg(str, False)},
                    "Cancel the consultation: back to the caller."),
        CommandSpec("call.consult_swap", P_AGENT, {"call_id": Arg(str, False)},
                    "Swap between the caller and the consulted party."),
        CommandSpec("call.conference", P_AGENT, {"call_id": Arg(str, False)},
                    "Join caller, target and me in a three-way conference."),
        CommandSpec("call.transfer", P_AGENT, {"call_id": Arg(str, False), "target": Arg(str), "mode": Arg(str, False)},
                    "Transfer my connected call: target queue:NAME, agent:ID, a number or a dial string."),
        CommandSpec("agent.set_state", P_SUPERVISE, {"agent": Arg(str), "state": Arg(str), "reason": Arg(str, False)},
                    "Set another agent's state (ready, paused, logged_out)."),
        CommandSpec("agent.set_queues", P_SUPERVISE, {"agent": Arg(str), "queues": Arg(list, True, str)},
                    "Log another agent into exactly these queues (an empty list logs them out)."),
        CommandSpec("monitor.start", P_SUPERVISE, {"agent": Arg(str), "mode": Arg(str, False)},
                    "Listen to (listen), coach (whisper) or join (barge) an agent's call on my device; "
                    "again with another mode switches mode."),
        CommandSpec("monitor.stop", P_SUPERVISE, {}, "End my monitoring."),
        CommandSpec("queue.problem", P_SUPERVISE, {"queue": Arg(str), "on": Arg(bool), "media": Arg(str, False)},
                    "Switch a queue's general-problem announcement on or off."),
        CommandSpec("callbacks.list", P_AGENT, {"state": Arg(str, False)},
                    "Callback requests and voicemails (open by default; 'all' for every state)."),
        CommandSpec("admin.reload", P_ADMIN, {}, "Reload the routing configuration file."),
    ]
}


def encode(frame: dict[str, Any]) -> str:
    frame.setdefault("v", PROTOCOL_VERSION)
    return json.dumps(frame, separators=(",", ":"), default=str)


def request(id: str, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": "req", "id": id, "cmd": cmd, "args": args or {}}


def ok(id: Any, result: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": "res", "id": id, "ok": True, "result": result or {}}


def error(id: Any, err: ProtocolError) -> dict[str, Any]:
    return {"v": PROTOCOL_VERSION, "type": "res", "id": id, "ok": False, "error": err.to_dict()}


@dataclass
class Request:
    id: str
    cmd: str
    args: dict[str, Any]
    spec: CommandSpec


# Bounds on what a client may send: SQLite stores integers as int64, and nothing we take nests
# deeper than a few levels (a report's options hold a list of numbers).
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 8


def parse_request(raw: str | bytes) -> Request:
    """Parse and validate one client frame. Raises ProtocolError with the request id when known."""
    try:
        frame = json.loads(raw)
    except RecursionError:
        raise ProtocolError(ErrorCode.BAD_REQUEST, "the request is nested too deeply") from None
    except ValueError as exc:  # also UnicodeDecodeError
        if "integer string conversion" in str(exc):
            # Python refuses integers of more than 4300 digits; far beyond int64 anyway.
            raise ProtocolError(ErrorCode.BAD_REQUEST, "a number out of range") from None
        raise ProtocolError(ErrorCode.MALFORMED, f"frame is not valid JSON: {exc}") from None
    if not isinstance(frame, dict):
        raise ProtocolError(ErrorCode.MALFORMED, "frame must be a JSON object")
    rid = frame.get("id")
    try:
        v = frame.get("v")
        # Exactly the integer: JSON true and 1.0 compare equal to 1 in Python but are not version 1.
        if type(v) is not int or v != PROTOCOL_VERSION:
            shown = v if isinstance(v, (int, float, str)) and not isinstance(v, bool) else json.dumps(v)[:20]
            raise ProtocolError(ErrorCode.BAD_VERSION, f"protocol version {shown!r} not supported; "
                                f"this server speaks v{PROTOCOL_VERSION}")
        if frame.get("type") != "req":
            raise ProtocolError(ErrorCode.BAD_REQUEST, "clients send frames of type 'req'")
        if not isinstance(rid, str) or not rid or not _clean_str(rid):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "'id' must be a non-empty string")
        cmd = frame.get("cmd")
        if not isinstance(cmd, str):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "'cmd' must be a string")
        spec = COMMANDS.get(cmd)
        if spec is None:
            raise ProtocolError(ErrorCode.UNKNOWN_COMMAND, f"unknown command {cmd[:80]!r}")
        args = frame.get("args", {})
        if not isinstance(args, dict):
            raise ProtocolError(ErrorCode.BAD_REQUEST, "'args' must be an object")
        check_args(spec, args)
    except ProtocolError as exc:
        exc.details.setdefault("id", rid if isinstance(rid, (str, int)) and not isinstance(rid, bool)
                               and _plain(rid) else None)
        raise
    return Request(rid, cmd, args, spec)


def _clean_str(s: str) -> bool:
    """False for a string with lone surrogates ("\\ud800"): valid in JSON, not text, and SQLite refuses it."""
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _plain(value: Any) -> bool:
    """A request id we can echo back as is."""
    return _clean_str(value) if isinstance(value, str) else INT_MIN <= value <= INT_MAX


def _type_name(t: type | tuple[type, ...]) -> str:
    names = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false",
             "list": "a list", "dict": "an object", "NoneType": "null"}
    ts = t if isinstance(t, tuple) else (t,)
    if set(ts) == {int, float}:
        return "a number"
    return " or ".join(names.get(x.__name__, x.__name__) for x in ts)


def _is(value: Any, t: type | tuple[type, ...]) -> bool:
    # bool is an int in Python; never accept it where a number is asked for, nor a number for a bool.
    if isinstance(value, bool):
        return t is bool or (isinstance(t, tuple) and bool in t)
    return isinstance(value, t)


def _check_value(where: str, value: Any) -> None:
    """Every string is text, every number fits int64 and is finite, nothing nests too deep.

    Iterative, so a frame that json accepted can never exhaust the stack here."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, str):
            if not _clean_str(v):
                raise ProtocolError(ErrorCode.BAD_REQUEST,
                                    f"{where}: text with an invalid character (a lone surrogate)")
            if "\x00" in v:  # PostgreSQL refuses it in text, SQLite's full-text search ends a word at it
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{where}: text with an invalid character (NUL)")
        elif isinstance(v, bool) or v is None:
            pass
        elif isinstance(v, int):
            if not INT_MIN <= v <= INT_MAX:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{where}: a number out of range")
        elif isinstance(v, float):
            if not math.isfinite(v):
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{where}: a number out of range")
        elif isinstance(v, (list, dict)):
            if depth >= MAX_DEPTH:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{where}: nested too deeply")
            if isinstance(v, dict):
                stack.extend((k, depth) for k in v)
                stack.extend((x, depth + 1) for x in v.values())
            else:
                stack.extend((x, depth + 1) for x in v)


def check_args(spec: CommandSpec, args: dict[str, Any]) -> None:
    """The one place where every command's arguments are checked against their declared types."""
    unknown = [k for k in args if k not in spec.args]
    if unknown:
        shown = sorted(k if _clean_str(k) else repr(k.encode("utf-8", "backslashreplace"))[2:-1] for k in unknown)
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"{spec.name}: unknown argument(s) {shown[:5]}")
    for name, arg in spec.args.items():
        if name not in args:
            if arg.required:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{spec.name}: missing argument {name!r}")
            continue
        value = args[name]
        if not _is(value, arg.type):
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"{spec.name}: argument {name!r} must be "
                                f"{_type_name(arg.type)}, not {_type_name(type(value))}")
        if arg.items is not None:
            items = value.values() if isinstance(value, dict) else value
            if not all(_is(x, arg.items) for x in items):
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"{spec.name}: every item of {name!r} must be "
                                    f"{_type_name(arg.items)}")
        _check_value(f"{spec.name}: argument {name!r}", value)
