"""The contacts capability's REST resources under /api/v1: customer records, their notes and the
callback list (docs/api.md). Thin adapters over the console commands (the same dispatch, so the same
result and permission decision as the websocket); a callback asked for over REST is made here.
"""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cc_console.protocol import P_AGENT, ErrorCode, Event, ProtocolError
from cc_console.server.routes import (
    PAGE,
    PREFIX,
    ApiCaller,
    Param,
    RestHandler,
    Route,
    as_object,
    bad,
    filter_items,
    next_link,
    page,
    page_args,
    read_body,
    run_command,
)

if TYPE_CHECKING:
    from cc_console.server.capability import Context

    from .service import ContactsService

ROUTES: list[Route] = [
    Route("GET", "/callbacks", "callbacks", "Callback requests and voicemails.", P_AGENT, "callbacks.list",
          (Param("state", doc="open (default), taken, done or all"), Param("kind", enum=("callback", "voicemail")),
           Param("queue"), *PAGE), paginated=True),
    Route("POST", "/callbacks", "create_callback", "Ask for a callback: the caller's number, a queue, a time.",
          P_AGENT, None, body={
              "type": "object", "additionalProperties": False, "required": ["caller", "queue"],
              "properties": {"caller": {"type": "string", "minLength": 1, "maxLength": 64},
                             "queue": {"type": "string"},
                             "preferred": {"type": ["number", "string"],
                                           "description": "epoch, ISO 8601, HH:MM or +30m; absent: soon"},
                             "note": {"type": "string", "maxLength": 2000}}}, created=True),
    Route("GET", "/contacts", "contacts", "Customer records by words and/or phone number.", P_AGENT,
          "contacts.search", (Param("q", doc="words"), Param("number", doc="a phone number, any format"), *PAGE),
          paginated=True),
    Route("POST", "/contacts", "create_contact", "Create a customer record (fields as configured).", P_AGENT,
          "contacts.save", body={"type": "object", "additionalProperties": {"type": ["string", "null"]}},
          created=True),
    Route("GET", "/contacts/{id}", "contact", "One customer record with its CRM link.", P_AGENT, "contacts.get"),
    Route("POST", "/contacts/{id}/notes", "add_note", "Add a note on a call with this customer (versioned).",
          P_AGENT, "notes.add", body={
              "type": "object", "additionalProperties": False, "required": ["call_id", "text"],
              "properties": {"call_id": {"type": "string"}, "text": {"type": "string"}}}, created=True),
]


class ContactsRest:
    def __init__(self, ctx: Context, service: ContactsService) -> None:
        self.ctx = ctx
        self.service = service

    def handlers(self) -> dict[str, RestHandler]:
        return {r.handler: getattr(self, r.handler) for r in ROUTES}

    async def _run(self, caller: ApiCaller, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        return await run_command(self.ctx.commands, caller, cmd, args)

    async def callbacks(self, request: web.Request, caller: ApiCaller) -> Any:
        state = request.query.get("state", "open")
        if state not in ("open", "taken", "done", "all"):
            raise bad("state is open, taken, done or all")
        res = await self._run(caller, "callbacks.list", {"state": state})
        return page(request, filter_items(res["items"], request, ("kind", "queue")))

    async def create_callback(self, request: web.Request, caller: ApiCaller) -> Any:
        body = as_object(await read_body(request))
        extra = set(body) - {"caller", "queue", "preferred", "note"}
        if extra:
            raise bad(f"unknown field(s) {sorted(extra)}")
        caller_no, queue = body.get("caller"), body.get("queue")
        if not isinstance(caller_no, str) or not caller_no.strip() or len(caller_no) > 64:
            raise bad("caller must be a phone number")
        if not isinstance(queue, str):
            raise bad("queue must be a queue name")
        engine = self.ctx.engine
        if queue not in engine.cfg.queues:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no queue {queue!r}")
        note = body.get("note", "")
        if not isinstance(note, str) or len(note) > 2000:
            raise bad("note must be text of at most 2000 characters")
        preferred = None
        if "preferred" in body:
            p = body["preferred"]
            if isinstance(p, bool) or not isinstance(p, (int, float, str)):
                raise bad("preferred is an epoch, ISO 8601, HH:MM or +30m")
            preferred = self.service.parse_time(p)
        now = engine.clock()
        item = {"id": uuid.uuid4().hex[:12], "kind": "callback", "caller": caller_no.strip(), "queue": queue,
                "tenant": engine.cfg.queues[queue].tenant, "call_id": None, "requested": now, "enqueued": now,
                "state": "open", "agent": None, "preferred": preferred, "note": note,
                "requested_by": caller.principal.username}
        self.ctx.store.save_callback(item)
        self.ctx.publish(Event.CALLBACK, item, None)  # consoles see it at once, as a caller's own request
        engine.hooks.callback_created(item)
        return {"item": item, "location": f"{PREFIX}/callbacks?state=all"}

    async def contacts(self, request: web.Request, caller: ApiCaller) -> Any:
        limit, offset = page_args(request)
        args: dict[str, Any] = {"limit": offset + limit + 1}
        for k in ("q", "number"):
            if request.query.get(k):
                args[k] = request.query[k]
        found = (await self._run(caller, "contacts.search", args))["contacts"]
        return {"items": found[offset:offset + limit], "limit": limit, "offset": offset,
                "next": next_link(request, offset, limit, len(found) > offset + limit)}

    async def contact(self, request: web.Request, caller: ApiCaller) -> Any:
        return await self._run(caller, "contacts.get", {"id": request.match_info["id"]})

    async def create_contact(self, request: web.Request, caller: ApiCaller) -> Any:
        body = as_object(await read_body(request))
        if body.get("id"):
            raise bad("a new contact has no id; change an existing one with the contacts.save command")
        res = await self._run(caller, "contacts.save", {"contact": body})
        res["location"] = f"{PREFIX}/contacts/{res['contact']['id']}"
        return res

    async def add_note(self, request: web.Request, caller: ApiCaller) -> Any:
        body = as_object(await read_body(request))
        extra = set(body) - {"call_id", "text"}
        if extra:
            raise bad(f"unknown field(s) {sorted(extra)}")
        return await self._run(caller, "notes.add", {**body, "contact_id": request.match_info["id"]})
