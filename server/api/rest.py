"""The REST API under /api/v1: resources over the same commands and state the consoles use.

Every resource that a console command already serves runs that command through the one dispatch
(server/commands.py), so permissions and results cannot drift between the front doors; the rest
(calls, agents, queues) reads the engine's live state with the visibility the websocket snapshot
has. ``POST /api/v1/commands/{name}`` runs any console command. GETs carry an ETag and answer
``If-None-Match`` with 304; lists are paginated (``limit``/``offset``, a ``next`` link in the body
and a ``Link`` header); each principal has a token bucket (429 with ``Retry-After``); every error is
an RFC 9457 problem. ROUTES declares the routes; server/api/openapi.py builds the document from it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cc_console.protocol import COMMANDS, P_AGENT, P_SESSION, P_SUPERVISE, P_WALLBOARD, ErrorCode, Event, ProtocolError
from cc_console.server.commands import Commands, authorize, make_request
from cc_console.server.ratelimit import TokenBuckets

from . import problems
from .bearer import Principals

log = logging.getLogger(__name__)

PREFIX = "/api/v1"
MAX_BODY = 256 * 1024  # commands and records are small; anything bigger is a mistake or an attack
MAX_LIMIT = 500
REPORT_KINDS = ["queue", "interval", "agent", "tenant", "category", "busiest", "erlang"]


@dataclass(frozen=True)
class Param:
    name: str
    type: str = "string"  # JSON schema type of the query value
    doc: str = ""
    enum: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below PREFIX
    handler: str  # RestApi method name
    summary: str
    permission: str | None  # what the principal needs (the command's, where a command serves it)
    command: str | None = None  # the console command behind it, if any
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None  # JSON schema of the request body
    paginated: bool = False
    created: bool = False  # answers 201
    media: tuple[str, ...] = ()  # a streamed, non-JSON request body in these media types (text)
    produces: tuple[str, ...] = ()  # answers in these media types instead of JSON
    headers: tuple[str, ...] = ()  # response headers it sets


PAGE = (Param("limit", "integer", "Items per page (1-500, default 50).", minimum=1, maximum=MAX_LIMIT),
        Param("offset", "integer", "Items to skip (from the previous page's next link).", minimum=0))

ROUTES: list[Route] = [
    Route("GET", "/calls", "calls", "Live calls (agents: their own).", P_SESSION, None,
          (Param("state", doc="entering, queued, ringing, connected, voicemail"), Param("queue"), Param("agent"),
           Param("direction", enum=("inbound", "outbound")), *PAGE), paginated=True),
    Route("GET", "/agents", "agents", "Agents and their live state (agents: themselves).", P_SESSION, None,
          (Param("state", doc="logged_out, ready, ringing, on_call, wrap_up, paused"),
           Param("queue", doc="logged into this queue"), *PAGE), paginated=True),
    Route("GET", "/queues", "queues", "Queues with live figures.", P_SESSION, None,
          (Param("tenant"), *PAGE), paginated=True),
    Route("GET", "/callbacks", "callbacks", "Callback requests and voicemails.", P_AGENT, "callbacks.list",
          (Param("state", doc="open (default), taken, done or all"), Param("kind", enum=("callback", "voicemail")),
           Param("queue"), *PAGE), paginated=True),
    Route("POST", "/callbacks", "create_callback", "Ask for a callback: the caller's number, a queue, a time.",
          P_AGENT, None, body={
              "type": "object", "additionalProperties": False, "required": ["caller", "queue"],
              "properties": {"caller": {"type": "string", "minLength": 1, "maxLength": 64},
                             "queue": {"type": "string"},
                             "preferred": {"type": ["number", "string"],
                                           "description": "epoch, ISO 8601, HH:MM or +30m; absent: soon"},
                             "note": {"type": "string", "maxLength": 2000}}}, created=True),
    Route("GET", "/contacts", "contacts", "Customer records by words and/or phone number.", P_AGENT,
          "contacts.search", (Param("q", doc="words"), Param("number", doc="a phone number, any format"), *PAGE),
          paginated=True),
    Route("POST", "/contacts", "create_contact", "Create a customer record (fields as configured).", P_AGENT,
          "contacts.save", body={"type": "object", "additionalProperties": {"type": ["string", "null"]}},
          created=True),
    Route("GET", "/contacts/{id}", "contact", "One customer record with its CRM link.", P_AGENT, "contacts.get"),
    Route("POST", "/contacts/{id}/notes", "add_note", "Add a note on a call with this customer (versioned).",
          P_AGENT, "notes.add", body={
              "type": "object", "additionalProperties": False, "required": ["call_id", "text"],
              "properties": {"call_id": {"type": "string"}, "text": {"type": "string"}}}, created=True),
    Route("GET", "/recordings", "recordings", "Recordings' metadata (agents: their own).", P_AGENT,
          "recordings.search",
          (Param("agent"), Param("from", doc="epoch or ISO 8601"), Param("to", doc="epoch or ISO 8601"),
           Param("category"), Param("queue"), Param("caller"), Param("call_type"), Param("status"), Param("tenant"),
           Param("text"), Param("sort", enum=("started", "duration", "agent", "caller", "queue")),
           Param("desc", "boolean"), *PAGE), paginated=True),
    Route("GET", "/reports/{kind}", "report", "Run a report within the caller's report scope.", P_SUPERVISE,
          "report.run", (Param("from", doc="today, yesterday, a date or epoch"), Param("to"),
                         Param("queues", doc="comma-separated"), Param("agents", doc="comma-separated"),
                         Param("tenants", doc="comma-separated"), Param("interval", enum=("15", "30", "60", "hour",
                                                                                          "total"))),),
    Route("POST", "/commands/{name}", "command", "Run any console command (docs/protocol.md).", None, None),
    Route("GET", "/openapi.json", "openapi", "This API's OpenAPI 3.1 document.", None, None),
]


@dataclass
class ApiCaller:
    """A REST request standing in for a websocket Session: what handlers read is the principal."""

    principal: Any
    remote: str


def _bad(msg: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, msg)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(header: str, tag: str) -> bool:
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == tag for t in header.split(","))


class RestApi:
    def __init__(self, engine: Any, commands: Commands, principals: Principals, *,
                 parse_time: Callable[[Any], float] | None = None, rate: float = 20.0, burst: int = 100,
                 openapi: Callable[[], dict[str, Any]] | None = None) -> None:
        self.engine = engine
        self.commands = commands
        self.principals = principals
        # a callback's preferred time, read as the contacts capability reads it (none without it)
        self.parse_time = parse_time
        self.limits = TokenBuckets(rate, burst)
        self._openapi = openapi
        self._openapi_body: bytes | None = None

    # -- wiring -----------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._middleware)
        for r in ROUTES:
            app.router.add_route(r.method, PREFIX + r.path, self._wrap(r))

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
        except Exception:
            # The trace goes to the log; the client learns only that it was our fault.
            log.exception("REST %s %s failed", request.method, request.path)
            return problems.problem(500, ErrorCode.INTERNAL, "internal error; the server logged it", request.path)

    def _wrap(self, route: Route) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        fn = getattr(self, route.handler)

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
            self._check_query(request, route)
            result = await fn(request, caller)
            if isinstance(result, web.StreamResponse):
                return result
            return self._json(request, result, 201 if route.created else 200)
        return handler

    @staticmethod
    def _check_query(request: web.Request, route: Route) -> None:
        """Query parameters as declared (the OpenAPI document says the same): type, range, choices."""
        unknown = set(request.query) - {p.name for p in route.params}
        if unknown:  # a misspelt filter would otherwise silently list everything
            raise _bad(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        for p in route.params:
            raw = request.query.get(p.name)
            if raw is None:
                continue
            if p.type == "integer":
                try:
                    v = int(raw)
                except ValueError:
                    raise _bad(f"{p.name} must be a whole number") from None
                if (p.minimum is not None and v < p.minimum) or (p.maximum is not None and v > p.maximum):
                    raise _bad(f"{p.name} must be between {p.minimum} and {p.maximum}" if p.maximum is not None
                               else f"{p.name} must be at least {p.minimum}")
            elif p.type == "boolean" and raw.lower() not in ("true", "false", "1", "0"):
                raise _bad(f"{p.name} is true or false")
            if p.enum and raw not in p.enum:
                raise _bad(f"{p.name} is one of {', '.join(p.enum)}")

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

    async def _run(self, caller: ApiCaller, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        return await self.commands.run(caller, make_request(cmd, args, rid=uuid.uuid4().hex[:8]))

    @staticmethod
    async def _body(request: web.Request, empty: Any = None) -> Any:
        """The JSON body; ``empty`` when there is none (a command without arguments may send none)."""
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=request.content_length)
        raw = await request.content.read(MAX_BODY + 1)
        if len(raw) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(raw))
        if not raw.strip():
            return empty
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _bad("the body is not valid JSON") from None

    @staticmethod
    def _obj(body: Any) -> dict[str, Any]:
        if body is None:
            raise _bad("send the fields as a JSON object in the body")
        if not isinstance(body, dict):
            raise _bad("the body must be a JSON object")
        return body

    # -- query parameters and pages -----------------------------------------------------------------
    @staticmethod
    def _int(request: web.Request, name: str, default: int, lo: int, hi: int | None = None) -> int:
        raw = request.query.get(name)
        if raw is None:
            return default
        try:
            v = int(raw)
        except ValueError:
            raise _bad(f"{name} must be a whole number") from None
        if v < lo or (hi is not None and v > hi):
            raise _bad(f"{name} must be between {lo} and {hi}" if hi is not None else f"{name} must be at least {lo}")
        return v

    def _page_args(self, request: web.Request) -> tuple[int, int]:
        return self._int(request, "limit", 50, 1, MAX_LIMIT), self._int(request, "offset", 0, 0, 10**9)

    @staticmethod
    def _next(request: web.Request, offset: int, limit: int, more: bool) -> str | None:
        if not more:
            return None
        q = {k: v for k, v in request.query.items() if k not in ("offset", "limit")}
        q.update(limit=str(limit), offset=str(offset + limit))
        return f"{request.path}?{urlencode(q)}"

    def _page(self, request: web.Request, items: list[Any]) -> dict[str, Any]:
        limit, offset = self._page_args(request)
        page = items[offset:offset + limit]
        return {"items": page, "total": len(items), "limit": limit, "offset": offset,
                "next": self._next(request, offset, limit, offset + limit < len(items))}

    @staticmethod
    def _filter(items: list[dict[str, Any]], request: web.Request, names: tuple[str, ...]) -> list[dict[str, Any]]:
        for n in names:
            want = request.query.get(n)
            if want is not None:
                items = [i for i in items if str(i.get(n) or "") == want]
        return items

    @staticmethod
    def _sees_all(principal: Any) -> bool:
        return P_SUPERVISE in principal.permissions or P_WALLBOARD in principal.permissions

    # -- resources ------------------------------------------------------------------------------------
    async def calls(self, request: web.Request, caller: ApiCaller) -> Any:
        calls = [c.to_dict() for c in self.engine.calls.values()]
        if not self._sees_all(caller.principal):
            calls = [c for c in calls if c.get("agent") == caller.principal.username]
        calls.sort(key=lambda c: (c.get("created") or 0, c["id"]))
        return self._page(request, self._filter(calls, request, ("state", "queue", "agent", "direction")))

    async def agents(self, request: web.Request, caller: ApiCaller) -> Any:
        agents = [a.to_dict() for a in self.engine.agents.values()]
        if not self._sees_all(caller.principal):
            agents = [a for a in agents if a["id"] == caller.principal.username]
        agents.sort(key=lambda a: a["id"])
        agents = self._filter(agents, request, ("state",))
        q = request.query.get("queue")
        if q is not None:
            agents = [a for a in agents if q in a["queues"]]
        return self._page(request, agents)

    async def queues(self, request: web.Request, caller: ApiCaller) -> Any:
        qs = [self.engine.queue_stats(q) for q in self.engine.cfg.queues]
        return self._page(request, self._filter(qs, request, ("tenant",)))

    async def callbacks(self, request: web.Request, caller: ApiCaller) -> Any:
        state = request.query.get("state", "open")
        if state not in ("open", "taken", "done", "all"):
            raise _bad("state is open, taken, done or all")
        res = await self._run(caller, "callbacks.list", {"state": state})
        return self._page(request, self._filter(res["items"], request, ("kind", "queue")))

    async def create_callback(self, request: web.Request, caller: ApiCaller) -> Any:
        body = self._obj(await self._body(request))
        extra = set(body) - {"caller", "queue", "preferred", "note"}
        if extra:
            raise _bad(f"unknown field(s) {sorted(extra)}")
        caller_no, queue = body.get("caller"), body.get("queue")
        if not isinstance(caller_no, str) or not caller_no.strip() or len(caller_no) > 64:
            raise _bad("caller must be a phone number")
        if not isinstance(queue, str):
            raise _bad("queue must be a queue name")
        if queue not in self.engine.cfg.queues:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no queue {queue!r}")
        note = body.get("note", "")
        if not isinstance(note, str) or len(note) > 2000:
            raise _bad("note must be text of at most 2000 characters")
        preferred = None
        if "preferred" in body:
            p = body["preferred"]
            if isinstance(p, bool) or not isinstance(p, (int, float, str)) or self.parse_time is None:
                raise _bad("preferred is an epoch, ISO 8601, HH:MM or +30m")
            preferred = self.parse_time(p)
        now = self.engine.clock()
        item = {"id": uuid.uuid4().hex[:12], "kind": "callback", "caller": caller_no.strip(), "queue": queue,
                "tenant": self.engine.cfg.queues[queue].tenant, "call_id": None, "requested": now, "enqueued": now,
                "state": "open", "agent": None, "preferred": preferred, "note": note,
                "requested_by": caller.principal.username}
        self.engine.store.save_callback(item)
        self.engine.publish(Event.CALLBACK, item, None)  # consoles see it at once, as a caller's own request
        self.engine._hook("callback_created", item)
        return {"item": item, "location": f"{PREFIX}/callbacks?state=all"}

    async def contacts(self, request: web.Request, caller: ApiCaller) -> Any:
        limit, offset = self._page_args(request)
        args: dict[str, Any] = {"limit": offset + limit + 1}
        for k in ("q", "number"):
            if request.query.get(k):
                args[k] = request.query[k]
        found = (await self._run(caller, "contacts.search", args))["contacts"]
        page = found[offset:offset + limit]
        return {"items": page, "limit": limit, "offset": offset,
                "next": self._next(request, offset, limit, len(found) > offset + limit)}

    async def contact(self, request: web.Request, caller: ApiCaller) -> Any:
        return await self._run(caller, "contacts.get", {"id": request.match_info["id"]})

    async def create_contact(self, request: web.Request, caller: ApiCaller) -> Any:
        body = self._obj(await self._body(request))
        if body.get("id"):
            raise _bad("a new contact has no id; change an existing one with the contacts.save command")
        res = await self._run(caller, "contacts.save", {"contact": body})
        res["location"] = f"{PREFIX}/contacts/{res['contact']['id']}"
        return res

    async def add_note(self, request: web.Request, caller: ApiCaller) -> Any:
        body = self._obj(await self._body(request))
        cid = request.match_info["id"]
        extra = set(body) - {"call_id", "text"}
        if extra:
            raise _bad(f"unknown field(s) {sorted(extra)}")
        return await self._run(caller, "notes.add", {**body, "contact_id": cid})

    async def recordings(self, request: web.Request, caller: ApiCaller) -> Any:
        limit, offset = self._page_args(request)
        args: dict[str, Any] = {"limit": limit, "offset": offset}
        for k in ("agent", "from", "to", "category", "queue", "caller", "call_type", "status", "tenant", "text",
                  "sort"):
            if k in request.query:
                args[k] = request.query[k]
        if "desc" in request.query:
            d = request.query["desc"].lower()
            if d not in ("true", "false", "1", "0"):
                raise _bad("desc is true or false")
            args["desc"] = d in ("true", "1")
        res = await self._run(caller, "recordings.search", args)
        return {"items": res["recordings"], "limit": limit, "offset": offset,
                "next": self._next(request, offset, limit, bool(res.get("more")))}

    async def report(self, request: web.Request, caller: ApiCaller) -> Any:
        kind = request.match_info["kind"]
        if kind not in REPORT_KINDS:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no report {kind!r}; reports are {', '.join(REPORT_KINDS)}")
        args: dict[str, Any] = {"kind": kind}
        for k in ("from", "to", "interval"):
            if k in request.query:
                args[k] = request.query[k]
        for k in ("queues", "agents", "tenants"):
            if request.query.get(k):
                args[k] = [v for v in request.query[k].split(",") if v]
        return await self._run(caller, "report.run", args)

    async def command(self, request: web.Request, caller: ApiCaller) -> Any:
        name = request.match_info["name"]
        if name not in COMMANDS:
            raise ProtocolError(ErrorCode.UNKNOWN_COMMAND, f"unknown command {name!r}")
        return await self._run(caller, name, await self._body(request, empty={}))

    async def openapi(self, request: web.Request, caller: ApiCaller) -> Any:
        if self._openapi_body is None:
            from .openapi import build
            doc = self._openapi() if self._openapi else build()
            self._openapi_body = json.dumps(doc, separators=(",", ":")).encode()
        tag = etag_of(self._openapi_body)
        if _matches(request.headers.get("If-None-Match", ""), tag):
            return web.Response(status=304, headers={"ETag": tag})
        return web.Response(body=self._openapi_body, content_type="application/json", headers={"ETag": tag})
