"""The OpenAPI 3.1 document of the REST API, built from the declarations: the REST routes
(server/api/rest.py ROUTES and each capability plugin's ROUTES, server/routes.py's Route) and the
console commands (cc_console.protocol.COMMANDS), one path ``/api/v1/commands/<name>`` each with its
arguments as the request body's schema. Served at ``/api/v1/openapi.json``; a test checks that every
command and route is in it.
"""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

from cc_console.models import Agent, Call
from cc_console.protocol import COMMANDS, Arg
from cc_console.server.routes import PREFIX, Route

from . import problems
from .rest import ROUTES

_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


def arg_schema(arg: Arg) -> dict[str, Any]:
    """The JSON schema of one argument, the same check cc_console.protocol.check_args makes."""
    types = arg.type if isinstance(arg.type, tuple) else (arg.type,)
    names = sorted({_JSON_TYPES[t] for t in types})
    if "number" in names and "integer" in names:
        names.remove("integer")  # JSON schema's number already takes integers
    return {"type": names[0] if len(names) == 1 else names}


def command_body(name: str) -> dict[str, Any]:
    spec = COMMANDS[name]
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False,
                              "properties": {k: arg_schema(a) for k, a in spec.args.items()}}
    required = [k for k, a in spec.args.items() if a.required]
    if required:
        schema["required"] = required
    return schema


def _problem_responses(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for st in statuses:
        out[str(st)] = {"$ref": f"#/components/responses/P{st}"}
    return out


_OBJECT = {"type": "object"}


def _type_schema(t: Any) -> dict[str, Any]:
    if isinstance(t, type) and issubclass(t, enum.Enum):
        return {"type": "string", "enum": [str(m.value) for m in t]}
    origin = typing.get_origin(t)
    if origin in (types.UnionType, typing.Union):
        inner = [_type_schema(a) for a in typing.get_args(t) if a is not type(None)]
        nullable = type(None) in typing.get_args(t)
        if len(inner) == 1 and isinstance(inner[0].get("type"), str):
            return {**inner[0], "type": [inner[0]["type"], "null"]} if nullable else inner[0]
        return {"anyOf": inner + ([{"type": "null"}] if nullable else [])}
    if origin is list or t is list:
        return {"type": "array"}
    if origin is dict or t is dict:
        return {"type": "object"}
    if t is Any:
        return {}
    return {"type": _JSON_TYPES[t]}


def dataclass_schema(cls: type) -> dict[str, Any]:
    """The JSON schema of a record the protocol carries (its ``to_dict``), from its type hints."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    return {"type": "object", "required": names, "properties": {n: _type_schema(hints[n]) for n in names}}


_NUM_OR_NULL = {"type": ["number", "null"]}
QUEUE_STATS = {"type": "object", "required": ["name", "tenant", "open", "waiting"], "properties": {
    "name": {"type": "string"}, "tenant": {"type": "string"}, "open": {"type": "boolean"},
    "problem": {"type": "boolean"}, "waiting": {"type": "integer"}, "oldest_enqueued": _NUM_OR_NULL,
    "longest_wait": {"type": "number"}, "service_level": _NUM_OR_NULL,
    **{k: {"type": "integer"} for k in ("agents_logged_in", "agents_ready", "agents_busy", "agents_wrapup",
                                         "agents_paused", "offered", "answered", "abandoned", "overflowed",
                                         "callbacks", "voicemails")}}}
SCHEMAS: dict[str, Any] = {"Agent": dataclass_schema(Agent), "Call": dataclass_schema(Call), "Queue": QUEUE_STATS}
_ITEMS = {"calls": "Call", "agents": "Agent", "queues": "Queue"}
# Commands whose result is one agent or one call (the rest answer an object of their own shape).
_RESULT = {**dict.fromkeys(("agent.login", "agent.logout", "agent.ready", "agent.pause", "agent.set_state",
                            "agent.set_queues"), "Agent"),
           **dict.fromkeys(("call.answer", "call.hangup", "call.dial", "call.hold", "call.mute", "call.dtmf",
                            "call.consult", "call.consult_complete", "call.consult_cancel", "call.consult_swap",
                            "call.conference", "call.transfer"), "Call")}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": ["items", "limit", "offset", "next"],
            "properties": {"items": {"type": "array", "items": item}, "total": {"type": "integer"},
                           "limit": {"type": "integer"}, "offset": {"type": "integer"},
                           "next": {"type": ["string", "null"]}}}
# Every operation may be refused for any of these; listing them keeps the document exact for fuzzers.
_COMMON = (400, 401, 403, 404, 409, 413, 429, 503)
_TAG = {"calls": "calls", "agents": "agents", "queues": "queues", "callbacks": "callbacks",
        "contacts": "contacts", "recordings": "recordings", "reports": "reports", "commands": "commands",
        "crm": "crm"}


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.handler, "summary": route.summary,
                          "tags": [_TAG.get(route.path.strip("/").split("/")[0], "api")]}
    params: list[dict[str, Any]] = []
    for seg in route.path.split("/"):
        if seg.startswith("{"):
            name = seg.strip("{}")
            schema: dict[str, Any] = {"type": "string", "minLength": 1}
            for p in route.path_enums:
                if p.name == name:
                    schema = {"type": "string", "enum": list(p.enum)}
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
    for p in route.params:
        schema = {"type": p.type}
        if p.enum:
            schema["enum"] = list(p.enum)
        if p.minimum is not None:
            schema["minimum"] = p.minimum
        if p.maximum is not None:
            schema["maximum"] = p.maximum
        params.append({"name": p.name, "in": "query", "required": False, "schema": schema,
                       **({"description": p.doc} if p.doc else {})})
    if params:
        op["parameters"] = params
    if route.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    if route.media:
        op["requestBody"] = {"required": True, "content": {m: {"schema": {"type": "string"}} for m in route.media}}
    item = _ITEMS.get(route.path.strip("/"))
    ok = _page(_ref(item) if item else _OBJECT) if route.paginated else _OBJECT
    status = "201" if route.created else "200"
    content = {m: {"schema": {"type": "string"}} for m in route.produces} or {"application/json": {"schema": ok}}
    op["responses"] = {status: {"description": "done", "content": content}, **_problem_responses(*_COMMON)}
    if route.headers:
        op["responses"][status]["headers"] = {h: {"schema": {"type": "string"}} for h in route.headers}
    if route.method == "GET":
        op["responses"]["304"] = {"description": "not modified (If-None-Match matched the ETag)"}
    perm = f" Needs the `{route.permission}` permission." if route.permission else ""
    via = f" Runs the `{route.command}` command." if route.command else ""
    op["description"] = route.summary + perm + via
    return op


def _result(name: str) -> dict[str, Any]:
    kind = _RESULT.get(name)
    if kind is None:
        return _OBJECT
    return {"type": "object", "required": [kind.lower()], "properties": {kind.lower(): _ref(kind)}}


def _command_operation(name: str) -> dict[str, Any]:
    spec = COMMANDS[name]
    perm = f"Needs the `{spec.permission}` permission." if spec.permission else "Needs no login."
    op: dict[str, Any] = {
        "operationId": "cmd_" + name.replace(".", "_"), "summary": spec.doc or name, "tags": ["commands"],
        "description": f"The `{name}` console command through REST. {perm}",
        "requestBody": {"required": False, "content": {"application/json": {"schema": command_body(name)}}},
        "responses": {"200": {"description": "the command's result, as the websocket returns it",
                              "content": {"application/json": {"schema": _result(name)}}},
                      **_problem_responses(*_COMMON)},
    }
    if spec.permission is None:
        op["security"] = [{}, {"bearer": []}]
    return op


def capability_routes() -> list[Route]:
    """The REST routes capabilities declare beside their commands (a plugin's ROUTES)."""
    from cc_console.server import registry
    registry.load_commands()
    return [r for name in registry.CAPABILITIES for r in getattr(registry.plugin(name), "ROUTES", ())]


def build() -> dict[str, Any]:
    from cc_console.server.registry import load_commands
    load_commands()  # every capability's commands are in the document, whoever asks first
    paths: dict[str, Any] = {}
    for r in ROUTES:
        if r.handler == "command":
            continue  # written out below, one path per command
        op = _operation(r)
        if r.handler == "openapi":
            op["security"] = []
            op["responses"] = {"200": op["responses"]["200"], "304": op["responses"]["304"]}
        paths.setdefault(PREFIX + r.path, {})[r.method.lower()] = op
    for r in capability_routes():
        paths.setdefault(PREFIX + r.path, {})[r.method.lower()] = _operation(r)
    from cc_console.server import registry
    for name in registry.load_commands():
        paths[f"{PREFIX}/commands/{name}"] = {"post": _command_operation(name)}
    for name in registry.CAPABILITIES:  # a capability's own HTTP routes, as its plugin declares them
        paths.update(getattr(registry.plugin(name), "OPENAPI_PATHS", {}))
    problem_content = {problems.PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses = {f"P{st}": {"description": problems.TITLES[st], "content": problem_content} for st in _COMMON}
    for st in (401,):
        responses[f"P{st}"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    responses["P429"]["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "cc-console API", "version": "1",
                 "description": "The contact centre's calls, agents, queues, callbacks, contacts, recordings and "
                                "reports, and every console command. See docs/api.md."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "An API client's token (cc-console admin api-client "
                                                          "add) or a console session token (login)."}},
            "schemas": {"Problem": problems.SCHEMA, **SCHEMAS},
            "responses": responses,
        },
    }
