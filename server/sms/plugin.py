"""The SMS capability: SMS in and out through Kannel, conversations as written work items in the ACD,
delivery reports, the daily record of what was sent, and push subscriptions (docs/sms.md)."""
from __future__ import annotations

import asyncio
import csv
import hmac
import io
import logging
from typing import Any

from aiohttp import web

from cc_console.protocol import P_AGENT, P_SUPERVISE, Arg, CommandSpec, ErrorCode, ProtocolError
from cc_console.server.capability import CallHooks, Capability, Context
from cc_console.server.routes import ApiCaller, Param, RestHandler, Route, run_command
from cc_console.server.store import capability_target

from .history import SmsHistory
from .kannel import inbound
from .push import PushService
from .push_pages import OPENAPI_PATHS, PushPages
from .service import SmsError, SmsService, normalise
from .settings import SmsSettings
from .store import SmsStore

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("sms.list", P_AGENT, {}, "The open SMS conversations offered to me or mine (supervisors: all)."),
    CommandSpec("sms.accept", P_AGENT, {"id": Arg(str)}, "Accept the SMS conversation offered to me."),
    CommandSpec("sms.send", P_AGENT, {"id": Arg(str, False), "number": Arg(str, False), "text": Arg(str, False),
                                      "template": Arg(str, False)},
                "Send an SMS: in a conversation (id), or to a number from the contact card (number)."),
    CommandSpec("sms.transfer", P_AGENT, {"id": Arg(str), "agent": Arg(str, False), "queue": Arg(str, False)},
                "Hand an SMS conversation to another agent or queue."),
    CommandSpec("sms.close", P_AGENT, {"id": Arg(str), "category": Arg(str, False)},
                "Close an SMS conversation with a category."),
    CommandSpec("sms.templates", P_AGENT, {}, "The SMS templates, by name."),
    CommandSpec("sms.record", P_SUPERVISE, {"day": Arg(str)},
                "The daily record: every SMS sent on a day (YYYY-MM-DD) with its delivery state."),
    CommandSpec("push.topics", P_AGENT, {}, "The push topics with their number of subscribers."),
    CommandSpec("push.subscribe", P_AGENT, {"topic": Arg(str), "channel": Arg(str), "address": Arg(str),
                                            "frequency": Arg(str, False)},
                "Subscribe a citizen to a topic: channel sms or email, frequency immediate or daily."),
    CommandSpec("push.unsubscribe", P_AGENT, {"id": Arg(str, False), "channel": Arg(str, False),
                                              "address": Arg(str, False), "topic": Arg(str, False)},
                "End a subscription (id), or a citizen's subscriptions (channel and address, optionally a topic)."),
    CommandSpec("push.subscriptions", P_AGENT, {"topic": Arg(str, False), "address": Arg(str, False),
                                                "all": Arg(bool, False)},
                "Subscriptions by topic and/or address (all: the ended ones too)."),
    CommandSpec("push.publish", P_SUPERVISE, {"topic": Arg(str), "title": Arg(str, False), "text": Arg(str)},
                "Publish an event on a topic: sent to its subscribers (daily ones in their digest)."),
    CommandSpec("push.event", P_SUPERVISE, {"id": Arg(str)},
                "A published event with its recipients counted by state (delivered, failed, queued, ...)."),
    CommandSpec("push.log", P_SUPERVISE, {"event": Arg(str, False), "address": Arg(str, False),
                                          "limit": Arg(int, False)},
                "What was sent to whom: per event and subscriber, when, and its delivery state."),
)
EVENTS = ("sms.offer", "sms.update", "sms.message", "sms.status")

ROUTES: list[Route] = [
    Route("GET", "/sms/record", "sms_record", "The daily record of sent SMS as CSV, for the insurer's system: one "
          "row per message with time, number, agent, text, coding, parts and delivery state.", P_SUPERVISE,
          "sms.record", (Param("day", doc="YYYY-MM-DD (the server's local day)"),), produces=("text/csv",)),
]

_CODES = {"not_found": ErrorCode.NOT_FOUND, "conflict": ErrorCode.CONFLICT, "bad_request": ErrorCode.BAD_REQUEST,
          "unavailable": ErrorCode.UNAVAILABLE}
RECORD_FIELDS = ("at", "number", "agent", "kind", "conversation", "text", "coding", "parts", "status", "id")


def _who(s: Any) -> tuple[str, bool]:
    return s.principal.username, P_SUPERVISE in s.principal.permissions


def record_csv(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    w = csv.DictWriter(out, RECORD_FIELDS, extrasaction="ignore")
    w.writeheader()
    w.writerows(rows)
    return out.getvalue()


class _Hooks(CallHooks):
    """An agent who becomes free is offered a waiting conversation at once."""

    def __init__(self, service: SmsService) -> None:
        self.service = service

    def agent_changed(self, agent: Any, previous: Any = None) -> None:
        if any(c.state == "queued" for c in self.service.live.values()):
            self.service.want_route()


class SmsCapability(Capability):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.section("sms", SmsSettings)
        if self.settings.enabled and len(self.settings.secret) < 16:
            raise ValueError("[sms] secret must be at least 16 characters (Kannel's get-url and dlr-url carry it)")
        self.store = SmsStore(capability_target(ctx.settings, "sms"))
        self.service = SmsService(self.settings, self.store, ctx.engine, ctx.publish)
        self.push = PushService(self.settings, self.store, self.service)
        self.push_web = PushPages(self.settings, self.store, self.push)
        ctx.add_hooks(_Hooks(self.service))
        ctx.written.append(SmsHistory(self.store, self.settings.service_level))

    async def start(self) -> None:
        await self.service.start()
        await self.push.start()

    async def stop(self) -> None:
        await self.push.stop()
        await self.service.stop()
        await asyncio.to_thread(self.store.close)

    def handlers(self) -> dict[str, Any]:
        svc = self.service

        def wrap(fn: Any) -> Any:
            async def run(s: Any, r: Any) -> dict[str, Any]:
                try:
                    out = fn(s, r.args)
                    if hasattr(out, "__await__"):
                        out = await out
                    result: dict[str, Any] = out
                    return result
                except SmsError as exc:
                    raise ProtocolError(_CODES.get(exc.code, ErrorCode.CONFLICT), exc.message) from None
            return run

        async def send(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            user, sup = _who(s)
            if bool(a.get("id")) == bool(a.get("number")):
                raise SmsError("bad_request", "Send in a conversation or to a number.")
            c, msg = await svc.send(user, cid=a.get("id", ""), number=a.get("number", ""), text=a.get("text", ""),
                                    template=a.get("template", ""), supervise=sup)
            return {"sms": c.public(), "message": msg}

        async def record(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            return {"day": a["day"], "messages": await svc.record(a["day"])}

        push = self.push

        async def subscribe(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            return {"subscription": await push.subscribe(a["topic"], a["channel"], a["address"],
                                                         a.get("frequency", "immediate"), by=_who(s)[0])}

        async def unsubscribe(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            if not a.get("id") and not (a.get("channel") and a.get("address")):
                raise SmsError("bad_request", "Name the subscription, or the channel and the address.")
            return {"ended": await push.unsubscribe(sid=a.get("id", ""), channel=a.get("channel", ""),
                                                    address=a.get("address", ""), topic=a.get("topic", ""),
                                                    by=_who(s)[0])}

        async def subscriptions(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            address = a.get("address", "")
            if address:
                address = address.strip().lower() if "@" in address else normalise(address)
            rows = await self.store.run(lambda: self.store.subscriptions(
                topic=a.get("topic", ""), address=address, active=not a.get("all", False)))
            return {"subscriptions": [push.public(r) for r in rows]}

        async def topics(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            counts = await self.store.run(self.store.counts)
            return {"topics": [{"topic": t, "name": n, "subscribers": counts.get(t, 0)}
                               for t, n in self.settings.push_topics.items()]}

        async def publish(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            return {"event": await push.publish(a["topic"], a.get("title", ""), a["text"], by=_who(s)[0])}

        async def event(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            e = await self.store.run(self.store.event_summary, a["id"])
            if e is None:
                raise SmsError("not_found", "There is no such event.")
            return {"event": e}

        async def push_log(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            address = a.get("address", "")
            if address:
                address = address.strip().lower() if "@" in address else normalise(address)
            limit = max(1, min(int(a.get("limit", 1000)), 10000))
            return {"log": await self.store.run(lambda: self.store.push_log(event=a.get("event", ""),
                                                                           address=address, limit=limit))}

        return {
            "push.topics": wrap(topics),
            "push.subscribe": wrap(subscribe),
            "push.unsubscribe": wrap(unsubscribe),
            "push.subscriptions": wrap(subscriptions),
            "push.publish": wrap(publish),
            "push.event": wrap(event),
            "push.log": wrap(push_log),
            "sms.list": wrap(lambda s, a: {"conversations": svc.mine_list(*_who(s))}),
            "sms.accept": wrap(lambda s, a: {"sms": svc.accept(_who(s)[0], a["id"]).full()}),
            "sms.send": wrap(send),
            "sms.transfer": wrap(lambda s, a: {"sms": svc.transfer(
                _who(s)[0], a["id"], agent=a.get("agent", ""), queue=a.get("queue", ""),
                supervise=_who(s)[1]).public()}),
            "sms.close": wrap(lambda s, a: {"sms": svc.close(_who(s)[0], a["id"], a.get("category", ""),
                                                             supervise=_who(s)[1]).public()}),
            "sms.templates": wrap(lambda s, a: {"templates": dict(self.settings.templates)}),
            "sms.record": wrap(record),
        }

    def rest_handlers(self) -> dict[str, RestHandler]:
        async def sms_record(request: web.Request, caller: ApiCaller) -> Any:
            day = request.query.get("day", "")
            result = await run_command(self.ctx.commands, caller, "sms.record", {"day": day})
            return web.Response(text=record_csv(result["messages"]), content_type="text/csv",
                                headers={"Content-Disposition": f'attachment; filename="sms-{day}.csv"'})
        return {"sms_record": sms_record}

    def add_routes(self, app: web.Application) -> None:
        # Kannel's side: smsbox's get-url (inbound SMS) and the dlr-url we give each message
        app.router.add_get("/sms/kannel/inbound", self._inbound)
        app.router.add_get("/sms/kannel/dlr", self._dlr)
        self.push_web.add_routes(app)

    def _authentic(self, request: web.Request) -> bool:
        key = request.query.get("key", "")
        return bool(self.settings.secret) and hmac.compare_digest(key.encode(), self.settings.secret.encode())

    async def _inbound(self, request: web.Request) -> web.Response:
        if not self._authentic(request):
            log.warning("sms: an inbound request from %s without the right key was refused", request.remote)
            return web.Response(status=403, text="")
        sms = inbound(request.rel_url.raw_query_string)
        if not sms.sender:
            return web.Response(status=400, text="")
        try:
            await self.service.receive(sms)
        except Exception:
            # Kannel retries a failed get-url (http-request-retry): the SMS is not lost
            log.exception("sms: an inbound SMS could not be taken")
            return web.Response(status=503, text="")
        return web.Response(text="")  # empty: smsbox sends no answer to the customer

    async def _dlr(self, request: web.Request) -> web.Response:
        if not self._authentic(request):
            log.warning("sms: a delivery report from %s without the right key was refused", request.remote)
            return web.Response(status=403, text="")
        try:
            status = int(request.query.get("status", ""))
        except ValueError:
            return web.Response(status=400, text="")
        m = await self.service.report(request.query.get("id", ""), status, request.query.get("answer", ""))
        if m is None:
            log.info("sms: a delivery report for an unknown message")
        return web.Response(text="")


__all__ = ["COMMANDS", "EVENTS", "OPENAPI_PATHS", "ROUTES", "make"]


def make(ctx: Context) -> SmsCapability:
    return SmsCapability(ctx)
