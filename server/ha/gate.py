"""What a standby answers: 503 with the active node's address for what needs the active server.

A standby has no call engine running (it does not hold the lease, so it does not talk to Asterisk)
and writes nothing, so it refuses the consoles' and chat visitors' websockets, every request that
changes something, and the REST resources that are the engine's live state (calls, agents, queues,
commands); everything else (web pages, the directory, reports, recordings, contacts: read from the
shared store files) it serves like the active node.
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

ENGINE_PATHS = ("/ws", "/api/v1/calls", "/api/v1/agents", "/api/v1/queues", "/api/v1/commands", "/api/queues/")
READ_METHODS = ("GET", "HEAD", "OPTIONS")


def refused(request: web.Request) -> bool:
    if request.method not in READ_METHODS or request.headers.get("Upgrade", "").lower() == "websocket":
        return True
    return request.path.startswith(ENGINE_PATHS)


def standby_response(status: dict[str, Any], instance: str = "") -> web.Response:
    active = status.get("active") or {}
    where = f" The active server is {active['node']} at {active['url']}." if active else \
        " No active server is known yet; try again in a moment."
    # The REST API's problem shape (server/api/problems.py), with the code it uses for "not now".
    body = {"type": "urn:cc-console:problem:unavailable", "title": "Standby server", "status": 503,
            "detail": f"This cc-console server ({status.get('node')}) is the standby.{where}",
            "code": "unavailable", "instance": instance, "standby": True, "active": active or None}
    headers = {"Retry-After": "1"}
    if active:
        headers["X-CC-Console-Active"] = active["url"]
    return web.Response(status=503, text=json.dumps(body), content_type="application/problem+json",
                        headers=headers)


def middleware(is_standby: Callable[[], bool], status: Callable[[], dict[str, Any]]) -> Any:
    @web.middleware
    async def standby_gate(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if is_standby() and refused(request):
            return standby_response(status(), request.path)
        return await handler(request)
    return standby_gate
