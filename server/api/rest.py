"""The REST API under /api/v1: resources over the same commands and state the consoles use.

Every resource that a console command already serves runs that command through the one dispatch
(server/commands.py), so permissions and results cannot drift between the front doors; the rest
(calls, agents, queues) reads the engine's live state with the visibility the websocket snapshot
has. ``POST /api/v1/commands/{name}`` runs any console command. GETs carry an ETag and answer
``If-None-Match`` with 304; lists are paginated (``limit``/``offset``, a ``next`` link in the body
and a ``Link`` header); each principal has a token bucket (429 with ``Retry-After``); every error is
an RFC 9457 problem. ROUTES declares the API's own routes, the capabilities' plugins theirs (served
here through Capability.rest_handlers()); server/api/openapi.py builds the document from both.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from cc_console.errors import DomainError
from cc_console.protocol import COMMANDS, P_SESSION, P_SUPERVISE, P_WALLBOARD, ErrorCode, ProtocolError
from cc_console.server.commands import Commands, authorize
from cc_console.server.ratelimit import TokenBuckets
from cc_console.server.routes import (
    PAGE,
    PREFIX,
    ApiCaller,
    Param,
    RestHandler,
    Route,
    check_query,
    etag_of,
    filter_items,
    page,
    read_body,
    run_command,
)

from . import problems
from .bearer import Principals

log = logging.getLogger(__name__)

__all__ = ["PREFIX", "ROUTES", "ApiCaller", "Param", "RestApi", "Route", "etag_of"]

# The API's own resources; a capability declares its resources in its plugin's ROUTES (contacts,
# callbacks, recordings, reports, crm) and hands their handlers over with Capability.rest_handlers().
ROUTES: list[Route] = [
    Route("GET", "/calls", "calls", "Live calls (agents: their own).", P_SESSION, None,
          (Param("state", doc="entering, queued, ringing, connected, voicemail"), Param("queue"), Param("agent"),
           Param("direction", enum=("inbound", "outbound")), *PAGE), paginated=True),
    Route("GET", "/agents", "agents", "Agents and their live state (agents: themselves).", P_SESSION, None,
          (Param("state", doc="logged_out, ready, ringing, on_call, wrap_up, paused"),
           Param("queue", doc="logged into this queue"), *PAGE), paginated=True),
    Route("GET", "/queues", "queues", "Queues with live figures.", P_SESSION, None,
          (Param("tenant"), *PAGE), paginated=True),
    Route("POST", "/commands/{name}", "command", "Run any console command (docs/protocol.md).", None, None),
    Route("GET", "/openapi.json", "openapi", "This API's OpenAPI 3.1 document.", None, None),
]


def _matches(header: str, tag: str) -> bool:
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == tag for t in header.split(","))


class RestApi:
    def __init__(self, engine: Any, commands: Commands, principals: Principals, *, rate: float = 20.0,
                 burst: int = 100, openapi: Callable[[], dict[str, Any]] | None = None,
                 resources: Mapping[str, tuple[list[Route], Mapping[str, RestHandler]]] | None = None) -> None:
        self.engine = engine
        self.commands = commands
        self.principals = principals
        self.limits = TokenBuckets(rate, burst)
        self._openapi = openapi
        self._openapi_body: bytes | None = None
        # capability name -> (its plugin's ROUTES, their handlers): served here like the API's own
        self.resources = dict(resources or {})

    # -- wiring -----------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        for r in ROUTES:
            app.router.add_route(r.method, PREFIX + r.path, self._wrap(r, getattr(self, r.handler)))
        for name, (routes, handlers) in self.resources.items():
            for r in routes:
                if r.handler not in handlers:
                    raise ValueError(f"capability {name}: no handler for {r.method} {PREFIX}{r.path}")
                app.router.add_route(r.method, PREFIX + r.path, self._wrap(r, handlers[r.handler]))

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]) -> Any:
        if not request.path.startswith(PREFIX + "/") and request.path != PREFIX:
            return await handler(request)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            return problems.from_http(exc, request.path)
        except ProtocolError as exc:
            return problems.from_protocol(exc, request.path)
        except DomainError as exc:
            return problems.from_domain(exc, request.path)
        except Exception:
            # The trace goes to the log; the client learns only that it was our fault.
            log.exception("REST %s %s failed", request.method, request.path)
            return problems.problem(500, ErrorCode.INTERNAL, "internal error; the server logged it", request.path)

    def _wrap(self, route: Route, fn: RestHandler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            caller = ApiCaller(None, request.remote or "?")
            if route.handler != "openapi":
                try:
                    caller.principal = self._principal(request, required=route.handler != "command")
                except ProtocolError:
                    self._rate(request, caller)  # guessing tokens costs the address its requests
                    raise
                self._rate(request, caller)
                if route.permission is not None:
                    self._authorize(caller.principal, route)
            check_query(request, route)
            result = await fn(request, caller)
            if isinstance(result, web.StreamResponse):
                return result
            return self._json(request, result, 201 if route.created else 200)
        return handler

    def _principal(self, request: web.Request, *, required: bool) -> Any:
        if not required:  # login, resume and ping need no token; the dispatch decides for the others
            return self.principals.maybe_from_headers(request.headers)
        return self.principals.from_headers(request.headers)

    def _rate(self, request: web.Request, caller: ApiCaller) -> None:
        p = caller.principal
        key = f"p:{p.username}" if p is not None else f"addr:{caller.remote}"
        wait = self.limits.take(key)
        if wait:
            secs = max(1, int(wait + 0.999))
            raise ProtocolError(ErrorCode.RATE_LIMITED, f"too many requests; try again in {secs} s",
                                retry_after=secs)

    @staticmethod
    def _authorize(principal: Any, route: Route) -> None:
        if route.command:
            authorize(principal, route.command)
        elif route.permission not in principal.permissions:
            raise ProtocolError(ErrorCode.FORBIDDEN, f"role {principal.role} may not use {route.method} "
                                f"{PREFIX}{route.path}")

    def _json(self, request: web.Request, data: Any, status: int = 200) -> web.Response:
        body = json.dumps(data, separators=(",", ":"), default=str).encode()
        headers = {"Cache-Control": "private, no-cache"}
        if request.method == "GET":
            tag = headers["ETag"] = etag_of(body)
            inm = request.headers.get("If-None-Match")
            if inm is not None and _matches(inm, tag):
                return web.Response(status=304, headers=headers)
        if isinstance(data, dict) and data.get("next"):
            headers["Link"] = f'<{data["next"]}>; rel="next"'
        if status == 201 and isinstance(data, dict) and data.get("location"):
            headers["Location"] = data["location"]
        return web.Response(status=status, body=body, content_type="application/json", headers=headers)

    @staticmethod
    def _sees_all(principal: Any) -> bool:
        return P_SUPERVISE in principal.permissions or P_WALLBOARD in principal.permissions

    # -- resources ------------------------------------------------------------------------------------
    async def calls(self, request: web.Request, caller: ApiCaller) -> Any:
        calls = [c.to_dict() for c in self.engine.calls.values()]
        if not self._sees_all(caller.principal):
            calls = [c for c in calls if c.get("agent") == caller.principal.username]
        calls.sort(key=lambda c: (c.get("created") or 0, c["id"]))
        return page(request, filter_items(calls, request, ("state", "queue", "agent", "direction")))

    async def agents(self, request: web.Request, caller: ApiCaller) -> Any:
        agents = [a.to_dict() for a in self.engine.agents.values()]
        if not self._sees_all(caller.principal):
            agents = [a for a in agents if a["id"] == caller.principal.username]
        agents.sort(key=lambda a: a["id"])
        agents = filter_items(agents, request, ("state",))
        q = request.query.get("queue")
        if q is not None:
            agents = [a for a in agents if q in a["queues"]]
        return page(request, agents)

    async def queues(self, request: web.Request, caller: ApiCaller) -> Any:
        qs = [self.engine.queue_stats(q) for q in self.engine.cfg.queues]
        return page(request, filter_items(qs, request, ("tenant",)))

    async def command(self, request: web.Request, caller: ApiCaller) -> Any:
        name = request.match_info["name"]
        if name not in COMMANDS:
            raise ProtocolError(ErrorCode.UNKNOWN_COMMAND, f"unknown command {name!r}")
        return await run_command(self.commands, caller, name, await read_body(request, empty={}))

    async def openapi(self, request: web.Request, caller: ApiCaller) -> Any:
        if self._openapi_body is None:
            from .openapi import build
            doc = self._openapi() if self._openapi else build()
            self._openapi_body = json.dumps(doc, separators=(",", ":")).encode()
        tag = etag_of(self._openapi_body)
        if _matches(request.headers.get("If-None-Match", ""), tag):
            return web.Response(status=304, headers={"ETag": tag})
        return web.Response(body=self._openapi_body, content_type="application/json", headers={"ETag": tag})
