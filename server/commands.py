"""The one command dispatch every front door uses: the consoles' websocket and the REST API.

A command is declared once (cc_console.protocol.COMMANDS: arguments and permission) and handled
once (a handler ``handler(caller, request)`` registered by the gateway or a capability). Whoever
brings it in — a websocket frame, ``POST /api/v1/commands/{name}``, a REST resource — hands the
caller (something with a ``principal``: username, role, permissions), the command and its
arguments to :meth:`Commands.run`, which validates, checks the permission and runs the handler.
So the same command gives the same result and the same permission decision through any door.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Protocol

from cc_console.errors import DomainError
from cc_console.protocol import COMMAND_FINE, COMMANDS, ErrorCode, ProtocolError, Request, check_args

log = logging.getLogger(__name__)


class Caller(Protocol):
    """Who runs a command: a websocket Session, or a REST request's stand-in for one."""

    principal: Any
    remote: str


Handler = Callable[[Any, Request], Any]


def authorize(principal: Any, cmd: str) -> None:
    """The permission decision for one command; raises ProtocolError (unauthenticated/forbidden)."""
    perm = COMMANDS[cmd].permission
    if perm is None:
        return
    if principal is None:
        raise ProtocolError(ErrorCode.UNAUTHENTICATED, f"{cmd}: log in first")
    if perm not in principal.permissions:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"{cmd}: role {principal.role} may not use this command")
    # A custom role (server/auth/roles.py) holds the fine permissions it was given, and no others.
    fine = COMMAND_FINE.get(cmd)
    if fine and getattr(principal, "custom", False) and fine not in principal.permissions:
        raise ProtocolError(ErrorCode.FORBIDDEN, f"{cmd}: the role {principal.role_name} does not include {fine}")


def make_request(cmd: str, args: Any, rid: str = "") -> Request:
    """A validated Request from a command name and arguments that did not come in a websocket frame;
    the same argument check the protocol applies to frames."""
    spec = COMMANDS.get(cmd)
    if spec is None:
        raise ProtocolError(ErrorCode.UNKNOWN_COMMAND, f"unknown command {cmd!r}")
    if not isinstance(args, dict):
        raise ProtocolError(ErrorCode.BAD_REQUEST, "the arguments must be a JSON object")
    check_args(spec, args)
    return Request(rid, cmd, args, spec)


class Commands:
    """The command registry: name -> handler, shared (the same dict) by every front door."""

    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.handlers = handlers
        # Told of every command run and how it ended ("ok" or the refusal's code): the audit log.
        # Called synchronously after the command; an observer must not block or raise.
        self.observers: list[Callable[[Caller, Request, str], None]] = []

    async def run(self, caller: Caller, req: Request) -> dict[str, Any]:
        try:
            authorize(caller.principal, req.cmd)
            handler = self.handlers.get(req.cmd)
            if handler is None:  # declared but served by no capability in this server
                raise ProtocolError(ErrorCode.UNAVAILABLE, f"{req.cmd}: not available on this server")
            result = handler(caller, req)
            if asyncio.iscoroutine(result):
                result = await result
        except (ProtocolError, DomainError) as exc:
            self._observe(caller, req, str(exc.code))
            raise
        except Exception:
            self._observe(caller, req, "error")
            raise
        self._observe(caller, req, "ok")
        out: dict[str, Any] = result  # every handler answers an object
        return out

    def _observe(self, caller: Caller, req: Request, outcome: str) -> None:
        for fn in self.observers:
            try:
                fn(caller, req, outcome)
            except Exception:
                log.exception("command observer %r failed", fn)
