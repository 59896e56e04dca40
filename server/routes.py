"""How a REST route under /api/v1 is declared, and the small helpers its handler uses.

Shared by the REST API (server/api) and the capabilities, like server/commands.py: a capability
declares its routes in its plugin's ``ROUTES`` with :class:`Route` and hands their handlers to the
API through ``Capability.rest_handlers()`` without importing server/api (the capabilities sit below
the adapters). The OpenAPI document is built from the same declarations.
"""
from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from cc_console.protocol import ErrorCode, ProtocolError

PREFIX = "/api/v1"
MAX_BODY = 256 * 1024  # commands and records are small; anything bigger is a mistake or an attack
MAX_LIMIT = 500


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
    handler: str  # the name of its handler (and the OpenAPI operationId, unique in the document)
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
    path_enums: tuple[Param, ...] = ()  # path segments that take only these values (Param.enum)


PAGE = (Param("limit", "integer", "Items per page (1-500, default 50).", minimum=1, maximum=MAX_LIMIT),
        Param("offset", "integer", "Items to skip (from the previous page's next link).", minimum=0))


@dataclass
class ApiCaller:
    """A REST request standing in for a websocket Session: what handlers read is the principal."""

    principal: Any
    remote: str


# A route's handler: (the request, its caller) -> a JSON-able result, or a response of its own.
RestHandler = Callable[[web.Request, ApiCaller], Awaitable[Any]]


def bad(msg: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, msg)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def check_query(request: web.Request, route: Route) -> None:
    """Query parameters as declared (the OpenAPI document says the same): type, range, choices."""
    unknown = set(request.query) - {p.name for p in route.params}
    if unknown:  # a misspelt filter would otherwise silently list everything
        raise bad(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    for p in route.params:
        raw = request.query.get(p.name)
        if raw is None:
            continue
        if p.type == "integer":
            try:
                v = int(raw)
            except ValueError:
                raise bad(f"{p.name} must be a whole number") from None
            if (p.minimum is not None and v < p.minimum) or (p.maximum is not None and v > p.maximum):
                raise bad(f"{p.name} must be between {p.minimum} and {p.maximum}" if p.maximum is not None
                          else f"{p.name} must be at least {p.minimum}")
        elif p.type == "boolean" and raw.lower() not in ("true", "false", "1", "0"):
            raise bad(f"{p.name} is true or false")
        if p.enum and raw not in p.enum:
            raise bad(f"{p.name} is one of {', '.join(p.enum)}")


async def read_body(request: web.Request, empty: Any = None) -> Any:
    """The JSON body; ``empty`` when there is none (a command without arguments may send none)."""
    import json
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
        raise bad("the body is not valid JSON") from None


def as_object(body: Any) -> dict[str, Any]:
    if body is None:
        raise bad("send the fields as a JSON object in the body")
    if not isinstance(body, dict):
        raise bad("the body must be a JSON object")
    return body


def int_query(request: web.Request, name: str, default: int, lo: int, hi: int | None = None) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError:
        raise bad(f"{name} must be a whole number") from None
    if v < lo or (hi is not None and v > hi):
        raise bad(f"{name} must be between {lo} and {hi}" if hi is not None else f"{name} must be at least {lo}")
    return v


def page_args(request: web.Request) -> tuple[int, int]:
    """(limit, offset) of a paginated list."""
    return int_query(request, "limit", 50, 1, MAX_LIMIT), int_query(request, "offset", 0, 0, 10**9)


def next_link(request: web.Request, offset: int, limit: int, more: bool) -> str | None:
    if not more:
        return None
    q = {k: v for k, v in request.query.items() if k not in ("offset", "limit")}
    q.update(limit=str(limit), offset=str(offset + limit))
    return f"{request.path}?{urlencode(q)}"


def page(request: web.Request, items: list[Any]) -> dict[str, Any]:
    """One page of a list held whole: items, total, limit, offset and the next page's link."""
    limit, offset = page_args(request)
    return {"items": items[offset:offset + limit], "total": len(items), "limit": limit, "offset": offset,
            "next": next_link(request, offset, limit, offset + limit < len(items))}


def filter_items(items: list[dict[str, Any]], request: web.Request, names: tuple[str, ...]) -> list[dict[str, Any]]:
    """Keep the items whose field equals the query's value, for each of ``names`` given."""
    for n in names:
        want = request.query.get(n)
        if want is not None:
            items = [i for i in items if str(i.get(n) or "") == want]
    return items


async def run_command(commands: Any, caller: ApiCaller, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
    """Run a console command through the one dispatch (server/commands.py), so a REST resource and
    the websocket give the same result and the same permission decision."""
    import uuid

    from cc_console.server.commands import make_request
    result: dict[str, Any] = await commands.run(caller, make_request(cmd, args, rid=uuid.uuid4().hex[:8]))
    return result
