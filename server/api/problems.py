"""Errors of the REST API as RFC 9457 problem details (``application/problem+json``).

The protocol's error codes map to HTTP statuses once, here; the ``code`` member carries the same
code the websocket would answer with, so a client can treat both front doors alike.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from cc_console.errors import DomainError
from cc_console.protocol import ErrorCode, ProtocolError

PROBLEM_TYPE = "application/problem+json"

STATUS: dict[ErrorCode, int] = {
    ErrorCode.MALFORMED: 400,
    ErrorCode.BAD_VERSION: 400,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.UNKNOWN_COMMAND: 404,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.AUTH_FAILED: 401,
    ErrorCode.TOTP_REQUIRED: 401,
    ErrorCode.TOTP_REPLAYED: 401,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.INTERNAL: 500,
}

TITLES = {
    400: "Bad request", 401: "Not logged in", 403: "Not allowed", 404: "Not found", 405: "Method not allowed",
    409: "Not possible now", 413: "Request too large", 415: "Unsupported media type", 429: "Too many requests",
    500: "Server error", 503: "Unavailable",
}

# The schema every problem answer conforms to (also in the OpenAPI document).
SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "code": {"type": "string", "enum": [str(c) for c in ErrorCode]},
        "details": {"type": "object"},
    },
}

_HTTP_CODES = {400: ErrorCode.BAD_REQUEST, 401: ErrorCode.UNAUTHENTICATED, 403: ErrorCode.FORBIDDEN,
               404: ErrorCode.NOT_FOUND, 409: ErrorCode.CONFLICT, 429: ErrorCode.RATE_LIMITED,
               503: ErrorCode.UNAVAILABLE}


def problem(status: int, code: ErrorCode | str, detail: str, instance: str = "", *,
            headers: dict[str, str] | None = None, details: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"type": f"urn:cc-console:problem:{code}", "title": TITLES.get(status, "Error"),
                            "status": status, "detail": detail, "code": str(code)}
    if instance:
        body["instance"] = instance
    if details:
        body["details"] = details
    return web.Response(status=status, text=json.dumps(body, default=str), content_type=PROBLEM_TYPE,
                        headers=headers)


def from_protocol(exc: ProtocolError, instance: str = "") -> web.Response:
    status = STATUS.get(exc.code, 500)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="cc-console"'
    if status == 429:
        headers["Retry-After"] = str(int(exc.details.get("retry_after") or 1))
    details = {k: v for k, v in exc.details.items() if k != "id"}
    return problem(status, exc.code, exc.message, instance, headers=headers, details=details or None)


def from_domain(exc: DomainError, instance: str = "") -> web.Response:
    """A service's refusal (not found, conflict, forbidden, invalid, unavailable) as a problem: the
    status from its code, the message as the detail, exactly as the websocket would say it."""
    return problem(STATUS.get(exc.code, 500), exc.code, exc.message, instance, details=exc.details or None)


def from_http(exc: web.HTTPException, instance: str = "") -> web.Response:
    """aiohttp's own refusals (unknown path, wrong method, body too large) as problems too."""
    status = exc.status
    code = _HTTP_CODES.get(status, ErrorCode.BAD_REQUEST if status < 500 else ErrorCode.INTERNAL)
    detail = {404: "no such resource", 405: "this resource does not take that method",
              413: "the request body is too large"}.get(status, exc.reason)
    headers = {k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After", "WWW-Authenticate")}
    return problem(status, code, detail, instance, headers=headers)
