"""The OpenAPI 3.1 document of the REST API, built from the declarations: the REST routes
(server/api/rest.py ROUTES) and the console commands (cc_console.protocol.COMMANDS), one path
``/api/v1/commands/<name>`` each with its arguments as the request body's schema. Served at
``/api/v1/openapi.json``; a test checks that every command and route is in it.
"""
from __future__ import annotations

from typing import Any

from cc_console.protocol import COMMANDS, Arg

from . import problems
from .rest import PREFIX, REPORT_KINDS, ROUTES, Route

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
_PAGE = {"type": "object", "required": ["items", "limit", "offset", "next"],
         "properties": {"items": {"type": "array", "items": _OBJECT}, "total": {"type": "integer"},
                        "limit": {"type": "integer"}, "offset": {"type": "integer"},
                        "next": {"type": ["string", "null"]}}}
# Every operation may be refused for any of these; listing them keeps the document exact for fuzzers.
_COMMON = (400, 401, 403, 404, 409, 413, 429, 503)
_TAG = {"calls": "calls", "agents": "agents", "queues": "queues", "callbacks": "callbacks",
        "contacts": "contacts", "recordings": "recordings", "reports": "reports", "commands": "commands"}


def _operation(route: Route) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": route.handler, "summary": route.summary,
                          "tags": [_TAG.get(route.path.strip("/").split("/")[0], "api")]}
    params: list[dict[str, Any]] = []
    for seg in route.path.split("/"):
        if seg.startswith("{"):
            name = seg.strip("{}")
            schema: dict[str, Any] = {"type": "string", "minLength": 1}
            if name == "kind":
                schema = {"type": "string", "enum": REPORT_KINDS}
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
    ok = _PAGE if route.paginated else _OBJECT
    status = "201" if route.created else "200"
    op["responses"] = {status: {"description": "done", "content": {"application/json": {"schema": ok}}},
                       **_problem_responses(*_COMMON)}
    if route.method == "GET":
        op["responses"]["304"] = {"description": "not modified (If-None-Match matched the ETag)"}
    perm = f" Needs the `{route.permission}` permission." if route.permission else ""
    via = f" Runs the `{route.command}` command." if route.command else ""
    op["description"] = route.summary + perm + via
    return op


def _command_operation(name: str) -> dict[str, Any]:
    spec = COMMANDS[name]
    perm = f"Needs the `{spec.permission}` permission." if spec.permission else "Needs no login."
    op: dict[str, Any] = {
        "operationId": "cmd_" + name.replace(".", "_"), "summary": spec.doc or name, "tags": ["commands"],
        "description": f"The `{name}` console command through REST. {perm}",
        "requestBody": {"required": False, "content": {"application/json": {"schema": command_body(name)}}},
        "responses": {"200": {"description": "the command's result, as the websocket returns it",
                              "content": {"application/json": {"schema": _OBJECT}}},
                      **_problem_responses(*_COMMON)},
    }
    if spec.permission is None:
        op["security"] = [{}, {"bearer": []}]
    return op


def build() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for r in ROUTES:
        if r.handler == "command":
            continue  # written out below, one path per command
        op = _operation(r)
        if r.handler == "openapi":
            op["security"] = []
            op["responses"] = {"200": op["responses"]["200"], "304": op["responses"]["304"]}
        paths.setdefault(PREFIX + r.path, {})[r.method.lower()] = op
    for name in COMMANDS:
        paths[f"{PREFIX}/commands/{name}"] = {"post": _command_operation(name)}
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
            "schemas": {"Problem": problems.SCHEMA},
            "responses": responses,
        },
    }
