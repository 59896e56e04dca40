"""The server's one reading of ``Authorization`` headers, and who a token belongs to.

Every HTTP route (the REST API, the directory, recording streams, uploads) takes its token from
:func:`bearer_token` and its principal from :class:`Principals`: a console user's session token
and an API client's token both work, and give the same kind of principal the websocket has.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.auth import Auth, Principal

from .clients import TOKEN_PREFIX, ApiClients

CHALLENGE = 'Bearer realm="cc-console"'


def bearer_token(headers: Any, *, basic: bool = False) -> str:
    """The token of ``Authorization: Bearer <token>``; with ``basic``, also the password of Basic
    credentials (media players can send only those). Empty when there is none."""
    header: str = headers.get("Authorization", "")
    scheme, _, cred = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer":
        return cred.strip()
    if basic and scheme == "basic":
        try:
            return base64.b64decode(cred.strip(), validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return ""
    return ""


class Principals:
    """Token -> principal, for session tokens and API-client tokens alike. Has Auth's ``resume``
    so that the capabilities' routes take either without knowing."""

    def __init__(self, auth: Auth, clients: ApiClients | None) -> None:
        self.auth = auth
        self.clients = clients

    def resume(self, token: str) -> Principal:
        if token.startswith(TOKEN_PREFIX) and self.clients is not None:
            p = self.clients.principal(token)
            if p is None:
                raise ProtocolError(ErrorCode.UNAUTHENTICATED, "this API token is unknown or revoked")
            return p
        return self.auth.resume(token)

    def from_headers(self, headers: Any, *, basic: bool = False) -> Principal:
        token = bearer_token(headers, basic=basic)
        if not token:
            raise ProtocolError(ErrorCode.UNAUTHENTICATED,
                                "send Authorization: Bearer <API token or session token from login>")
        return self.resume(token)

    def prefetching(self, *, cookies: tuple[str, ...] = ()) -> Any:
        """Middleware: the session tokens a request names (bearer, a Basic password, these cookies)
        are read in one worker thread before its handler runs, and the handler's synchronous
        resume() finds them in memory: a slow or locked database stalls that request, never the
        event loop (docs/high-availability.md, "Reads off the event loop")."""
        @web.middleware
        async def prefetch(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
            tokens = {t for t in (bearer_token(request.headers, basic=True),
                                  *(request.cookies.get(c, "") for c in cookies))
                      if t and not t.startswith(TOKEN_PREFIX)}
            if not tokens:
                return await handler(request)
            found = await asyncio.to_thread(self.auth.lookup, tokens)
            with self.auth.resolved(found):
                return await handler(request)
        return prefetch

    def unknown_session(self) -> bool:
        """The request being handled named a session this server's store does not know (yet)."""
        return self.auth.unknown_session()

    def maybe_from_headers(self, headers: Any) -> Principal | None:
        """None when the request has no Authorization header at all (commands that need no login)."""
        if "Authorization" not in headers:
            return None
        return self.from_headers(headers)
