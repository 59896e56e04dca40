"""What a standby does with a request: serve it, forward it to the active node, or answer 503.

A standby has no call engine running (it does not hold the lease, so it does not talk to Asterisk)
and writes nothing itself. It serves what it can read from the shared store and files (web pages,
the directory, reports, recordings, contacts) like the active node, and forwards to the active node
(forward.py) every request that changes something, the REST resources that are the engine's live
state (calls, agents, queues, commands), and any request whose credentials it does not know yet (a
session the active node has just opened and not yet written), websockets included (a chat
visitor's), relayed frame by frame. The consoles' websocket is not: a console knows every node's
address and moves to the active one on the 503, where it resumes.
Without the pair's secret ([ha] secret) a standby cannot forward and answers those requests 503.
"""
from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .forward import FORWARDED_BY, ActiveUnreachable, Forwarder

log = logging.getLogger(__name__)

ENGINE_PATHS = ("/api/v1/calls", "/api/v1/agents", "/api/v1/queues", "/api/v1/commands", "/api/queues/",
                # GETs that are the active node's too: Kannel's callbacks store and route an SMS; a
                # verified-calling session lives in the memory of the node that started it.
                "/sms/kannel/", "/verified/session/")
READ_METHODS = ("GET", "HEAD", "OPTIONS")
RETRY_AFTER = 2  # seconds: a takeover is done well within this (docs/high-availability.md)


def websocket(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def needs_active(request: web.Request) -> bool:
    """A write, or a read of the engine's live state: only the active node can answer it."""
    return request.method not in READ_METHODS or request.path.startswith(ENGINE_PATHS)


def refusal(request: web.Request, detail: str, active: dict[str, Any] | None, title: str,
            status: int = 503) -> web.Response:
    """A 503 (or 403) in the REST API's problem shape (server/api/problems.py); a short page for a
    browser that asks for HTML."""
    headers = {"Retry-After": str(RETRY_AFTER)} if status == 503 else {}
    if active:
        headers["X-CC-Console-Active"] = active["url"]
    if "text/html" in request.headers.get("Accept", "") and not request.path.startswith("/api/"):
        page = (f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>"
                f"<p>{html.escape(detail)}</p>")
        return web.Response(status=status, text=page, content_type="text/html", headers=headers)
    code = "unavailable" if status == 503 else "forbidden"
    body = {"type": f"urn:cc-console:problem:{code}", "title": title, "status": status, "detail": detail,
            "code": code, "instance": request.path, "standby": status == 503, "active": active or None}
    return web.Response(status=status, text=json.dumps(body), content_type="application/problem+json",
                        headers=headers)


def standby_response(request: web.Request, status: dict[str, Any]) -> web.Response:
    """Go to the active node: for what a standby neither serves nor forwards."""
    active = status.get("active") or {}
    where = f" The active server is {active['node']} at {active['url']}." if active else \
        " No active server is known yet; try again in a moment."
    return refusal(request, f"This cc-console server ({status.get('node')}) is the standby.{where}",
                   active, "Standby server")


def unreachable_response(request: web.Request, status: dict[str, Any], *, sent: bool) -> web.Response:
    active = status.get("active") or {}
    who = f"The active cc-console server ({active['node']})" if active else "The active cc-console server"
    if sent and request.method not in READ_METHODS:
        detail = (f"{who} stopped answering, so it is not known whether this was done. Check before you "
                  "try again in a moment.")
    else:
        detail = f"{who} cannot be reached just now, so this was not done. Try again in a moment."
    return refusal(request, detail, active, "Active server unreachable")


def middleware(is_standby: Callable[[], bool], status: Callable[[], dict[str, Any]],
               target: Callable[[], str], forwarder: Forwarder | None,
               unknown_credentials: Callable[[], bool] = lambda: False) -> Any:
    """target(): the active node's internal URL ("" when none is known); unknown_credentials(): the
    request carries a token this node's store does not know (set by the principals' prefetch)."""
    @web.middleware
    async def standby_gate(request: web.Request,
                           handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        if not is_standby():
            return await handler(request)
        if request.path == "/ws":  # consoles know every node and move to the active one themselves
            return standby_response(request, status())
        if not (needs_active(request) or websocket(request) or (forwarder is not None and unknown_credentials())):
            return await handler(request)
        if forwarder is None or FORWARDED_BY in request.headers:
            # No secret to forward with; or another node took this one for the active one (its
            # hint is stale): forwarding on could go round in circles.
            return standby_response(request, status())
        base = target()
        if not base:
            return standby_response(request, status())
        try:
            if websocket(request):
                return await forwarder.forward_websocket(request, base)
            return await forwarder.forward(request, base)
        except ActiveUnreachable as exc:
            log.warning("high availability: %s %s not forwarded, the active node at %s did not answer: %s",
                        request.method, request.path, base, exc)
            return unreachable_response(request, status(), sent=exc.sent)
    return standby_gate
