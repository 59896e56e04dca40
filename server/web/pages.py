"""The web pages: public directory search, sign-in, absences, directory maintenance, transfer receiver.

Plain HTML rendered on the server (Jinja2, autoescaped), one small CSS file and one small script
for search-as-you-type, all served from this package: nothing is fetched from the internet and
there is no build step. Every page works without the script (forms and links).
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import smtplib
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import jinja2
from aiohttp import web

from cc_console.errors import Conflict, DomainError, Forbidden, NotFound, Unavailable
from cc_console.protocol import ABSENCE_TYPES, P_ADMIN, P_SUPERVISE, ErrorCode, ProtocolError
from cc_console.server.ratelimit import TokenBuckets

from . import sessions
from .links import LinkStore
from .settings import WebSettings

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
ABSENCE_LABELS = {"lunch": "Lunch", "meeting": "Meeting", "vacation": "Vacation", "sick": "Sick",
                  "travel": "Travelling", "course": "Course", "out": "Out of office", "other": "Away"}
STATUS_LABELS = {"in": "In", "absent": "Away", "gone": "No longer here"}
# What the public page shows of a directory row: never notes, local attributes or the line state.
PUBLIC_FIELDS = ("id", "name", "title", "unit", "desk", "mobile", "switchboard", "email", "location")


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"),
                             autoescape=jinja2.select_autoescape(default=True), undefined=jinja2.StrictUndefined)
    env.globals["absence_labels"] = ABSENCE_LABELS
    env.globals["status_labels"] = STATUS_LABELS
    return env


class WebPages:
    def __init__(self, settings: WebSettings, *, directory: Any, auth: Any, engine: Any, db_path: str,
                 server_url: str, tz: str = "Europe/Oslo", clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self.directory = directory
        self.auth = auth
        self.engine = engine
        self.clock = clock
        # The directory reads a form's times without a zone in its own zone: show them in the same one.
        self.tz = getattr(directory, "tz", None) or ZoneInfo(tz)
        self.links = LinkStore(db_path)
        self.base_url = (settings.base_url or server_url).rstrip("/")
        self.networks = [ipaddress.ip_network(n, strict=False) for n in settings.public_networks]
        self.buckets = TokenBuckets(settings.search_rate, settings.search_burst)
        self.env = _env()
        self.env.filters["when"] = self.when
        self.secure = settings.secure_cookies or self.base_url.startswith("https")

    # -- helpers --------------------------------------------------------------------------------------
    def when(self, ts: float | None, fmt: str = "%a %d %b %H:%M") -> str:
        if not ts:
            return ""
        return datetime.fromtimestamp(ts, self.tz).strftime(fmt)

    def render(self, name: str, status: int = 200, **ctx: Any) -> web.Response:
        html = self.env.get_template(name).render(**ctx)
        resp = web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
        # No page of ours is framed or loads anything from elsewhere.
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; frame-ancestors 'none'; "
                                                   "form-action 'self'; base-uri 'none'")
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"  # a transfer link never leaks in a Referer
        return resp

    def _public_allowed(self, request: web.Request) -> None:
        try:
            addr = ipaddress.ip_address((request.remote or "").split("%")[0])
        except ValueError:
            raise web.HTTPForbidden(text="This page is only available on the organisation's network.") from None
        if not any(addr in net for net in self.networks):
            raise web.HTTPForbidden(text="This page is only available on the organisation's network.")
        wait = self.buckets.take(f"public:{addr}")
        if wait:
            raise web.HTTPTooManyRequests(text="Too many searches; wait a moment.",
                                          headers={"Retry-After": str(max(1, round(wait)))})

    def public_rows(self, q: str) -> list[dict[str, Any]]:
        rows = self.directory.search(q, limit=self.s.search_limit) if q.strip() else []
        out = []
        for r in rows:
            if r["gone"]:
                continue
            row = {k: r.get(k, "") for k in PUBLIC_FIELDS}
            row["status"] = r["status"]
            a = r.get("absence")
            row["absence"] = None if a is None else {
                "type": a["type"], "label": ABSENCE_LABELS.get(a["type"], "Away"), "until": a["until"],
                "until_text": self.when(a["until"])}
            sub = r.get("substitute")
            row["substitute"] = None if not sub else {"name": sub.get("name", ""), "desk": sub.get("desk", ""),
                                                      "mobile": sub.get("mobile", "")}
            out.append(row)
        return out

    def principal(self, request: web.Request) -> Any:
        p = sessions.principal_of(request, self.auth)
        if p is None:
            raise web.HTTPSeeOther(f"/web/login?next={quote(request.path_qs, safe='/')}")
        return p

    def may_edit_directory(self, principal: Any, tenant: str) -> bool:
        return P_ADMIN in principal.permissions or principal.username in self.s.directory_editors.get(tenant, [])

    # -- public directory search ------------------------------------------------------------------------
    async def search_page(self, request: web.Request) -> web.Response:
        self._public_allowed(request)
        q = request.query.get("q", "")[:100]
        return self.render("search.html", q=q, rows=self.public_rows(q))

    async def search_json(self, request: web.Request) -> web.Response:
        self._public_allowed(request)
        q = request.query.get("q", "")[:100]
        return web.json_response({"q": q, "results": self.public_rows(q)},
                                 headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})

    # -- sign-in ----------------------------------------------------------------------------------------
    async def login_page(self, request: web.Request) -> web.Response:
        return self.render("login.html", next=_safe_next(request.query.get("next", "")), error="", username="",
                           need_totp=False)

    async def login_post(self, request: web.Request) -> web.Response:
        form = await request.post()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        totp = str(form.get("totp", "")) or None
        nxt = _safe_next(str(form.get("next", "")))
        try:
            p = await self.auth.login_async(username, password, totp, request.remote or "")
        except ProtocolError as exc:
            need_totp = exc.code in (ErrorCode.TOTP_REQUIRED, ErrorCode.TOTP_REPLAYED) or bool(totp)
            error = {ErrorCode.TOTP_REQUIRED: "Enter the code from your authenticator app.",
                     ErrorCode.TOTP_REPLAYED: "That code was already used; wait for the next one.",
                     ErrorCode.RATE_LIMITED: "Too many attempts; wait a few minutes and try again.",
                     }.get(exc.code, "Wrong user name, password or code.")
            log.info("web sign-in refused for %s from %s: %s", username, request.remote, exc.code)
            return self.render("login.html", status=401 if exc.code != ErrorCode.TOTP_REQUIRED else 200,
                               next=nxt, error=error, username=username, need_totp=need_totp)
        resp = web.HTTPSeeOther(nxt)
        sessions.set_cookie(resp, p.token, secure=self.secure, max_age=self.auth.session_ttl)
        log.info("web sign-in %s (%s) from %s", p.username, p.role, request.remote)
        raise resp

    async def logout_post(self, request: web.Request) -> web.Response:
        p = sessions.principal_of(request, self.auth)
        resp = web.HTTPSeeOther("/web/login")
        if p is not None:
            sessions.check_form(p, await request.post())
            self.auth.logout(p.token)
        sessions.clear_cookie(resp)
        raise resp

    # -- absences -----------------------------------------------------------------------------------------
    async def absences_page(self, request: web.Request, *, error: str = "", status: int = 200,
                            person_id: str = "") -> web.Response:
        p = self.principal(request)
        own = self.directory.own_keys(p.username)
        key = person_id or request.query.get("person") or (own[0] if own else "")
        for_others = P_SUPERVISE in p.permissions or P_ADMIN in p.permissions
        person = None
        if key:
            try:
                self.directory.check_may_edit(p, key)
                person = self.directory.person(key)
            except DomainError as exc:
                error, status, key = _say(exc), 403 if exc.code == ErrorCode.FORBIDDEN else 404, ""
        q = request.query.get("q", "")[:100]
        found = self.directory.search(q, limit=20) if (q and for_others) else []
        return self.render("absences.html", status=status, me=p, person=person, own=own, for_others=for_others,
                           q=q, found=found, types=self.directory_types(), error=error,
                           form_token=sessions.form_token(p.token), now=self.when(self.clock(), "%Y-%m-%dT%H:%M"),
                           tz=self.tz.key)

    @staticmethod
    def directory_types() -> list[tuple[str, str]]:
        return [(t, ABSENCE_LABELS.get(t, t)) for t in ABSENCE_TYPES]

    async def _absence_action(self, request: web.Request,
                              act: Callable[[Any, Any], Awaitable[str]]) -> web.Response:
        p = self.principal(request)
        form = await request.post()
        sessions.check_form(p, form)
        try:
            key = await act(p, form)
        except DomainError as exc:
            log.info("web absence change by %s refused: %s %s", p.username, exc.code, exc.message)
            return await self.absences_page(request, error=_say(exc), person_id=str(form.get("person_id", "")),
                                            status=403 if exc.code == ErrorCode.FORBIDDEN else 400)
        raise web.HTTPSeeOther(f"/web/absences?person={key}")

    async def absence_add(self, request: web.Request) -> web.Response:
        async def act(p: Any, form: Any) -> str:
            key = str(form.get("person_id", ""))
            self.directory.check_may_edit(p, key)
            until = str(form.get("until", "")) or None
            await asyncio.to_thread(self.directory.add_absence, p.username, key, str(form.get("type", "")),
                                    str(form.get("from", "")) or self.clock(), until, str(form.get("message", "")),
                                    str(form.get("substitute", "")))
            return key
        return await self._absence_action(request, act)

    async def absence_update(self, request: web.Request) -> web.Response:
        async def act(p: Any, form: Any) -> str:
            aid = request.match_info["id"]
            old = await asyncio.to_thread(self.directory.get_absence, aid)
            key = f"{old['tenant']}:{old['person']}"
            self.directory.check_may_edit(p, key)
            changes = {k: str(form[k]) for k in ("type", "from", "until", "message", "substitute") if form.get(k)}
            await asyncio.to_thread(lambda: self.directory.update_absence(aid, **changes))
            return key
        return await self._absence_action(request, act)

    async def absence_delete(self, request: web.Request) -> web.Response:
        async def act(p: Any, form: Any) -> str:
            aid = request.match_info["id"]
            old = await asyncio.to_thread(self.directory.get_absence, aid)
            key = f"{old['tenant']}:{old['person']}"
            self.directory.check_may_edit(p, key)
            await asyncio.to_thread(self.directory.delete_absence, aid)
            return key
        return await self._absence_action(request, act)

    # -- directory maintenance ------------------------------------------------------------------------
    async def person_page(self, request: web.Request, *, error: str = "", status: int = 200) -> web.Response:
        p = self.principal(request)
        key = request.match_info["id"]
        try:
            person = self.directory.person(key)
        except DomainError as exc:
            raise web.HTTPNotFound(text=_say(exc)) from None
        if not self.may_edit_directory(p, person["tenant"]):
            raise web.HTTPForbidden(text="You may not edit this organisation's directory.")
        attrs = "\n".join(f"{k}: {v}" for k, v in sorted(person["attributes"].items()))
        return self.render("person.html", status=status, person=person, attrs=attrs, error=error,
                           form_token=sessions.form_token(p.token), saved=request.query.get("saved") == "1")

    async def person_post(self, request: web.Request) -> web.Response:
        p = self.principal(request)
        form = await request.post()
        sessions.check_form(p, form)
        key = request.match_info["id"]
        try:
            person = self.directory.person(key)
        except DomainError as exc:
            raise web.HTTPNotFound(text=_say(exc)) from None
        if not self.may_edit_directory(p, person["tenant"]):
            raise web.HTTPForbidden(text="You may not edit this organisation's directory.")
        attrs: dict[str, str] = {}
        for line in str(form.get("attributes", "")).splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip():
                return await self.person_page(request, error=f"Write each attribute as 'name: value' ({line!r}).",
                                              status=400)
            attrs[name.strip()] = value.strip()
        await asyncio.to_thread(self.directory.set_local_fields, key, notes=str(form.get("notes", "")),
                                attributes=attrs)
        log.info("directory %s edited by %s on the web", key, p.username)
        raise web.HTTPSeeOther(f"/web/persons/{key}?saved=1")

    # -- transfer receiver ----------------------------------------------------------------------------
    async def transfer_page(self, request: web.Request) -> web.Response:
        link = await asyncio.to_thread(self.links.open, request.match_info["token"], self.clock())
        if link is None:
            return self.render("gone.html", status=410)
        return self.render("transfer.html", d=link.data, expires=self.when(link.expires))

    def transfer_data(self, principal: Any, call_id: str, person_id: str, note: str) -> tuple[dict[str, Any], str]:
        """What the receiver's page shows, read from the live call (on the loop), and the address."""
        call = self.engine.calls.get(call_id)
        if call is None:
            raise NotFound("no such call in progress")
        if call.agent != principal.username and P_SUPERVISE not in principal.permissions:
            raise Forbidden("this is not your call")
        person = self.directory.person(person_id)
        if not person.get("email"):
            raise Conflict(f"{person['name']} has no e-mail address in the directory")
        agent = self.engine.agents.get(principal.username)
        # The verified capability marks an identity-verified call: call.verified = {"kind", "attributes", ...}.
        verified = getattr(call, "verified", None) or {}
        data = {"caller": call.caller, "queue": call.queue, "did": call.did, "since": call.created or self.clock(),
                "agent": agent.name if agent else principal.name, "note": note.strip(), "to": person["name"],
                "verified": {str(k): str(v) for k, v in (verified.get("attributes") or {}).items()}}
        return data, person["email"]

    def mail(self, data: dict[str, Any], to: str, url: str, expires: float) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.s.smtp_from
        msg["To"] = to
        msg["Subject"] = f"Call transferred to you from {data['caller'] or 'an unknown number'}"
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=self.s.smtp_from.partition("@")[2] or None)
        msg.set_content(f"{data['agent']} is transferring a call to you.\n\nCaller: {data['caller']}\n"
                        f"Note: {data['note'] or '-'}\n\nThe caller's details (the link works until "
                        f"{self.when(expires)}):\n{url}\n")
        return msg

    def _send(self, msg: EmailMessage) -> None:
        with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=10) as smtp:
            smtp.send_message(msg)

    async def share_and_send(self, principal: Any, call_id: str, person_id: str, note: str) -> dict[str, Any]:
        data, to = self.transfer_data(principal, call_id, person_id, note)
        now = self.clock()
        token = await asyncio.to_thread(self.links.create, call_id, person_id, data, now, self.s.link_ttl)
        msg = self.mail(data, to, f"{self.base_url}/web/transfer/{token}", now + self.s.link_ttl)
        try:
            await asyncio.to_thread(self._send, msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("transfer link for call %s not sent: %s", call_id, exc)
            raise Unavailable("the mail server did not take the message") from exc
        log.info("transfer link for call %s sent to %s by %s", call_id, person_id, principal.username)
        return {"sent": True, "to": to, "expires": now + self.s.link_ttl}

    # -- wiring -----------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/web/directory", self.search_page)
        r.add_get("/web/directory/search.json", self.search_json)
        r.add_get("/web/login", self.login_page)
        r.add_post("/web/login", self.login_post)
        r.add_post("/web/logout", self.logout_post)
        r.add_get("/web/absences", self.absences_page)
        r.add_post("/web/absences", self.absence_add)
        r.add_post("/web/absences/{id}", self.absence_update)
        r.add_post("/web/absences/{id}/delete", self.absence_delete)
        r.add_get("/web/persons/{id}", self.person_page)
        r.add_post("/web/persons/{id}", self.person_post)
        r.add_get("/web/transfer/{token}", self.transfer_page)
        r.add_static("/web/static", HERE / "static")

    def close(self) -> None:
        self.links.close()


def _safe_next(nxt: str) -> str:
    """Only a path on this server: a sign-in link must not send anyone to another site."""
    return nxt if nxt.startswith("/web/") and not nxt.startswith("//") and "\\" not in nxt else "/web/absences"


def _say(exc: ProtocolError | DomainError) -> str:
    """The server's own sentence, as a person reads it (capitalised, with a full stop)."""
    text = exc.message.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
