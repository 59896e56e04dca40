"""Browser sessions on the server's own login: a cookie holding the same session token a console
gets from ``login`` (same users, passwords, second factor, roles), and a form token against
cross-site posts."""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp import web

from cc_console.protocol import ProtocolError

COOKIE = "cc_session"


def form_token(session_token: str) -> str:
    """Derived from the session token, which a cross-site page cannot read: a form that carries it
    was rendered for this session."""
    return hashlib.sha256(b"form:" + session_token.encode()).hexdigest()


def check_form(principal: Any, form: Any) -> None:
    if not hmac.compare_digest(str(form.get("form_token", "")), form_token(principal.token)):
        raise web.HTTPForbidden(text="This form is out of date. Reload the page and try again.")


def principal_of(request: web.Request, auth: Any) -> Any | None:
    token = request.cookies.get(COOKIE, "")
    if not token:
        return None
    try:
        return auth.resume(token)
    except ProtocolError:
        return None


def set_cookie(response: web.StreamResponse, token: str, *, secure: bool, max_age: float) -> None:
    # SameSite=Strict: no other site's page can make the browser send it; HttpOnly: no script reads it.
    response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=secure, path="/web",
                        max_age=int(max_age))


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path="/web")
