"""Push subscriptions' pages for citizens, on the server's port without a login: the web page's
subscription form (POST /api/v1/push/subscriptions, in the OpenAPI document), and the signed links
of the e-mails (/push/confirm, /push/unsubscribe: GET shows one button and changes nothing, since
mail scanners open links; the button, or a mail program's one-click, POSTs). docs/sms.md."""
from __future__ import annotations

import html
import logging
from typing import Any

from aiohttp import web

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.api.problems import from_http, from_protocol
from cc_console.server.ratelimit import TokenBuckets
from cc_console.server.routes import as_object, read_body

from .push import PushService
from .service import SmsError
from .settings import SmsSettings
from .store import SmsStore

log = logging.getLogger(__name__)

_CODES = {"not_found": ErrorCode.NOT_FOUND, "conflict": ErrorCode.CONFLICT, "bad_request": ErrorCode.BAD_REQUEST,
          "unavailable": ErrorCode.UNAVAILABLE}


class PushPages:
    def __init__(self, settings: SmsSettings, store: SmsStore, push: PushService) -> None:
        self.settings, self.store, self.push = settings, store, push
        # the public subscription form: a few a minute from one address (it costs us SMS later)
        self.form_limit = TokenBuckets(rate=0.1, burst=5)

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/push/subscriptions", self._subscribe)
        app.router.add_get("/push/subscribe", self._form_page)
        app.router.add_post("/push/subscribe", self._form_post)
        app.router.add_get("/push/unsubscribe", self._unsubscribe_page)
        app.router.add_post("/push/unsubscribe", self._unsubscribe)
        app.router.add_get("/push/confirm", self._confirm_page)
        app.router.add_post("/push/confirm", self._confirm)

    async def _subscribe(self, request: web.Request) -> web.Response:
        """POST /api/v1/push/subscriptions from the web page: {topic, channel, address, frequency}."""
        try:
            wait = self.form_limit.take(request.remote or "?")
            if wait:
                secs = max(1, int(wait + 0.999))
                raise ProtocolError(ErrorCode.RATE_LIMITED, f"too many requests; try again in {secs} s",
                                    retry_after=secs)
            body = as_object(await read_body(request))
            unknown = set(body) - {"topic", "channel", "address", "frequency"}
            if unknown:
                raise ProtocolError(ErrorCode.BAD_REQUEST, f"unknown field(s): {', '.join(sorted(unknown))}")
            for k in ("topic", "channel", "address", "frequency"):
                if k in body and not isinstance(body[k], str):
                    raise ProtocolError(ErrorCode.BAD_REQUEST, f"{k} must be text")
            for k in ("topic", "channel", "address"):
                if not body.get(k):
                    raise ProtocolError(ErrorCode.BAD_REQUEST, f"{k} is missing")
            try:
                sub = await self.push.subscribe(body["topic"], body["channel"], body["address"],
                                                body.get("frequency", "immediate"), by="web")
            except SmsError as exc:
                raise ProtocolError(_CODES.get(exc.code, ErrorCode.CONFLICT), exc.message) from None
        except ProtocolError as exc:
            return from_protocol(exc, request.path)
        except web.HTTPRequestEntityTooLarge as exc:
            return from_http(exc, request.path)
        # the id only: whoever knows it could not unsubscribe (that needs the signed link)
        # not whether it was confirmed before: that would tell a stranger who subscribes what
        return web.json_response({"subscription": {k: sub[k] for k in ("id", "topic", "channel", "frequency")}},
                                 status=201)

    def _form(self, error: str = "", values: dict[str, str] | None = None) -> str:
        """The subscription form: plain HTML that works without JavaScript, every field labelled."""
        v = values or {}
        topics = "".join(
            f'<option value="{html.escape(t)}"{" selected" if v.get("topic") == t else ""}>{html.escape(name)}</option>'
            for t, name in sorted(self.settings.push_topics.items(), key=lambda kv: kv[1]))
        sms = v.get("channel", "sms") != "email"
        daily = v.get("frequency") == "daily"
        err = f'<p role="alert"><strong>{html.escape(error)}</strong></p>' if error else ""
        return (f"<h1>Messages from us</h1>{err}"
                '<form method="post" action="/push/subscribe">'
                f'<p><label for="topic">Topic</label><br><select id="topic" name="topic">{topics}</select></p>'
                '<fieldset><legend>Send them by</legend>'
                f'<input type="radio" id="ch-sms" name="channel" value="sms"{" checked" if sms else ""}>'
                '<label for="ch-sms">SMS</label> '
                f'<input type="radio" id="ch-email" name="channel" value="email"{"" if sms else " checked"}>'
                '<label for="ch-email">E-mail</label></fieldset>'
                '<p><label for="address">Your mobile number or e-mail address</label><br>'
                '<input id="address" name="address" required maxlength="320" autocomplete="on" '
                f'value="{html.escape(v.get("address", ""))}"></p>'
                '<p><label for="frequency">How often</label><br><select id="frequency" name="frequency">'
                f'<option value="immediate"{"" if daily else " selected"}>At once</option>'
                f'<option value="daily"{" selected" if daily else ""}>One message a day</option></select></p>'
                '<p><button type="submit">Subscribe</button></p></form>'
                "<p>We first ask you to confirm (reply YES to our SMS, or follow the link in our e-mail); "
                "without it you get nothing. Reply STOP, or use the link in every e-mail, to leave.</p>")

    async def _form_page(self, request: web.Request) -> web.Response:
        """GET /push/subscribe: the subscription form for the web page (or a link to it)."""
        if not self.settings.push_topics:
            return _page("There is nothing to subscribe to yet.", status=404)
        return _page(self._form(), blocks=True)

    async def _form_post(self, request: web.Request) -> web.Response:
        """The form's POST: the same checks, limits and confirmation as the JSON endpoint."""
        wait = self.form_limit.take(request.remote or "?")
        if wait:
            return _page(f"Too many requests: try again in {max(1, int(wait + 0.999))} s.", status=429)
        form = await request.post()
        values = {k: str(form.get(k, ""))[:320] for k in ("topic", "channel", "address", "frequency")}
        try:
            sub = await self.push.subscribe(values["topic"], values["channel"], values["address"],
                                            values["frequency"] or "immediate", by="web")
        except SmsError as exc:
            return _page(self._form(exc.message, values), status=400, blocks=True)
        where = "Reply YES to the SMS we sent you" if sub["channel"] == "sms" else \
            "Follow the link in the e-mail we sent you"
        return _page(f"Almost done. {where} to start getting our messages.")

    def _linked(self, request: web.Request, query: Any, purpose: str = "unsubscribe") -> str:
        sid, token = str(query.get("s", "")), str(query.get("t", ""))
        return sid if sid and self.push.signed(sid, token, purpose) else ""

    async def _confirm_page(self, request: web.Request) -> web.Response:
        """The link of the confirmation e-mail: a page with one button (GET changes nothing)."""
        sid = self._linked(request, request.query, "confirm")
        sub = await self.store.run(self.store.subscription, sid) if sid else None
        if sub is None or sub["ended"] is not None:
            return _page("This link is not valid.", status=404)
        topic = html.escape(self.settings.push_topics.get(sub["topic"], sub["topic"]))
        if sub["confirmed"] is not None:
            return _page(f"You receive our messages about {topic}.")
        s, t = html.escape(sid), html.escape(str(request.query.get("t", "")))
        return _page(f"Get our messages about {topic} at {html.escape(sub['address'])}?"
                     f'<form method="post" action="/push/confirm?s={s}&amp;t={t}">'
                     '<button type="submit">Confirm</button></form>')

    async def _confirm(self, request: web.Request) -> web.Response:
        sid = self._linked(request, request.query, "confirm")
        sub = await self.store.run(self.store.subscription, sid) if sid else None
        if sub is None or sub["ended"] is not None:
            return _page("This link is not valid.", status=404)
        await self.push.confirm(sid=sid)
        topic = html.escape(self.settings.push_topics.get(sub["topic"], sub["topic"]))
        return _page(f"Done: you will get our messages about {topic}.")

    async def _unsubscribe_page(self, request: web.Request) -> web.Response:
        """The link in every push e-mail: a page with one button. GET changes nothing (mail scanners
        open links); the button, or a mail program's one-click (RFC 8058), POSTs."""
        sid = self._linked(request, request.query)
        if not sid:
            return _page("This link is not valid.", status=404)
        sub = await self.store.run(self.store.subscription, sid)
        if sub is None:
            return _page("This link is not valid.", status=404)
        topic = html.escape(self.settings.push_topics.get(sub["topic"], sub["topic"]))
        if sub["ended"] is not None:
            return _page(f"You no longer receive messages about {topic}.")
        s, t = html.escape(sid), html.escape(str(request.query.get("t", "")))
        return _page(f"Stop messages about {topic} to {html.escape(sub['address'])}?"
                     f'<form method="post" action="/push/unsubscribe?s={s}&amp;t={t}">'
                     '<button type="submit">Unsubscribe</button></form>')

    async def _unsubscribe(self, request: web.Request) -> web.Response:
        sid = self._linked(request, request.query)
        if not sid:
            return _page("This link is not valid.", status=404)
        ended = await self.push.unsubscribe(sid=sid, by="link")
        sub = await self.store.run(self.store.subscription, sid)
        topic = html.escape(self.settings.push_topics.get(sub["topic"], sub["topic"])) if sub else ""
        log.info("push: %d subscription(s) ended by link", len(ended))
        return _page(f"Done: you will get no more messages about {topic}.")


def _page(body: str, status: int = 200, *, blocks: bool = False) -> web.Response:
    """A page of ours: ``body`` is one paragraph, or (``blocks``) the page's own block elements."""
    main = body if blocks else f"<p>{body}</p>"
    return web.Response(status=status, content_type="text/html", charset="utf-8", text=(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><title>Subscriptions</title></head>'
        f"<body><main>{main}</main></body></html>"), headers={"Cache-Control": "no-store"})


_SUB = {"type": "object", "required": ["topic", "channel", "address"], "additionalProperties": False,
        "properties": {"topic": {"type": "string", "maxLength": 100},
                       "channel": {"type": "string", "enum": ["sms", "email"]},
                       "address": {"type": "string", "maxLength": 320,
                                   "description": "a phone number (sms) or an e-mail address (email)"},
                       "frequency": {"type": "string", "enum": ["immediate", "daily"]}}}
OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/push/subscriptions": {"post": {
        "operationId": "push_subscribe", "tags": ["push"], "security": [],
        "summary": "Subscribe to a topic from the web page (no login; a few a minute per address); it waits "
                   "for the citizen's confirmation (YES by SMS, or the link in an e-mail).",
        "requestBody": {"required": True, "content": {"application/json": {"schema": _SUB}}},
        "responses": {"201": {"description": "subscribed, waiting for confirmation (or the same subscription again)",
                              "content": {"application/json": {"schema": {
                                  "type": "object", "required": ["subscription"],
                                  "properties": {"subscription": {"type": "object"}}}}}},
                      "400": {"$ref": "#/components/responses/P400"},
                      "413": {"$ref": "#/components/responses/P413"},
                      "429": {"$ref": "#/components/responses/P429"},
                      "503": {"$ref": "#/components/responses/P503"}}}},
}
