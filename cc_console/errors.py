"""Domain errors: what a service refuses, and why, in words an agent or a supervisor can read.

Services (the call engine's call control and agent state, monitoring, ...) raise these; they know
nothing of websockets or HTTP. Each front door maps them once: the websocket gateway to an error
response, the REST API to problem details (server/api/problems.py), the web pages to a page.
:class:`cc_console.protocol.ProtocolError` stays for what is wrong with the frame or the request
itself (malformed JSON, an unknown command, arguments of the wrong type, not logged in).

``code`` is one of the protocol's error codes, so a client treats every front door alike.
"""
from __future__ import annotations

from typing import Any, ClassVar

from cc_console.protocol import ErrorCode


class DomainError(Exception):
    """A service refused: the request was well formed, but cannot be done (now, by you, to that)."""

    code: ClassVar[ErrorCode] = ErrorCode.CONFLICT

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"code": str(self.code), "message": self.message}
        if self.details:
            d["details"] = self.details
        return d


class NotFound(DomainError):
    """No such call, agent, queue, person, recording ..."""

    code = ErrorCode.NOT_FOUND


class Conflict(DomainError):
    """It exists, but its state does not allow this now (answer with nothing ringing)."""

    code = ErrorCode.CONFLICT


class Forbidden(DomainError):
    """Allowed to use the command, but not on this (someone else's call, a queue outside the role)."""

    code = ErrorCode.FORBIDDEN


class Invalid(DomainError):
    """The arguments have the right types but make no sense to the service (an unknown pause reason)."""

    code = ErrorCode.BAD_REQUEST


class Unavailable(DomainError):
    """The service cannot do it on this server right now (Asterisk unreachable, nothing configured)."""

    code = ErrorCode.UNAVAILABLE


class Damaged(DomainError):
    """What the server keeps is damaged (a recording fails its checksum): the server's fault, told
    plainly, so the supervisor knows to ask an administrator rather than to try again."""

    code = ErrorCode.INTERNAL
