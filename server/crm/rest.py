"""The CRM capability's REST routes under /api/v1/crm (declared in ROUTES, so the OpenAPI document
describes them), served by the REST API like every capability's (server/api/rest.py checks the bearer
token, the permission, the query and the rate limit, and turns ProtocolError into an RFC 9457
problem). Thin adapters: the work is the service's.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from cc_console.errors import DomainError
from cc_console.protocol import P_ADMIN, P_AGENT, ErrorCode, ProtocolError
from cc_console.server.routes import ApiCaller, Param, RestHandler, Route

from . import sync
from .webhooks import WEBHOOK_EVENTS

if TYPE_CHECKING:
    from cc_console.server.capability import Context

    from .service import CrmService

BATCH = 5000  # records per transaction of a bulk load
MAX_JSON = 64 * 1024
_STR = {"type": "string", "maxLength": 2000}
ROUTES: list[Route] = [
    Route("GET", "/crm/webhooks", "webhooks", "Webhook subscriptions (never their secrets).", P_ADMIN),
    Route("POST", "/crm/webhooks", "subscribe", "Subscribe a URL to events; the answer carries the signing "
          "secret, shown this once.", P_ADMIN, body={
              "type": "object", "additionalProperties": False, "required": ["url", "events"],
              "properties": {"url": {"type": "string", "pattern": "^https?://", "maxLength": 2000},
                             "events": {"type": "array", "minItems": 1,
                                        "items": {"type": "string", "enum": [*WEBHOOK_EVENTS, "*"]}},
                             "secret": {"type": "string", "minLength": 16, "maxLength": 200}}}, created=True),
    Route("DELETE", "/crm/webhooks/{id}", "unsubscribe", "Remove a subscription (what is queued for it is "
          "dropped as a dead letter).", P_ADMIN),
    Route("GET", "/crm/deliveries", "deliveries", "The outbox: CTI events, webhooks and records hand-offs with "
          "their state, attempts and last error.", P_ADMIN,
          params=(Param("state", doc="pending, delivered or dead", enum=("pending", "delivered", "dead")),
                  Param("stream", doc="cti:<agent>, hook:<subscription> or records"),
                  Param("after", "integer", "Items after this number (the last one of the previous page).", minimum=0),
                  Param("limit", "integer", "Items per page (1-500, default 100).", minimum=1, maximum=500))),
    Route("GET", "/crm/deliveries/{id}", "delivery", "One outbox item and its delivery log.", P_ADMIN),
    Route("POST", "/crm/replay", "replay", "Send dead letters again (the given ids, or all).", P_ADMIN,
          body={"type": "object", "additionalProperties": False,
                "properties": {"ids": {"type": "array", "items": {"type": "string", "maxLength": 64}}}}),
    Route("POST", "/crm/contacts/bulk", "bulk", "Initial load of contacts, streamed as NDJSON or CSV, keyed by "
          "external_id (idempotent).", P_ADMIN, media=("application/x-ndjson", "text/csv")),
    Route("POST", "/crm/contacts/delta", "delta", "Weekly delta: upserts and deletions (op = upsert | delete) "
          "keyed by external_id, NDJSON or CSV (idempotent).", P_ADMIN, media=("application/x-ndjson", "text/csv")),
    Route("GET", "/crm/export", "export", "Calls that ended in a period with notes, category, outcome, contact and "
          "recording references; a page at a time, X-Next-Cursor to continue.", P_ADMIN,
          params=(Param("from", doc="epoch or ISO 8601 (inclusive)"), Param("to", doc="epoch or ISO 8601 (exclusive)"),
                  Param("format", enum=("ndjson", "csv")),
                  Param("cursor", "integer", "The X-Next-Cursor of the previous page.", minimum=0),
                  Param("limit", "integer", "Rows per page (1-100000, default 10000).", minimum=1, maximum=100000)),
          produces=("application/x-ndjson", "text/csv"), headers=("X-Next-Cursor",)),
    Route("GET", "/crm/cases", "cases", "The cases of a contact or a phone number, newest first.", P_AGENT,
          params=(Param("contact_id"), Param("number"))),
    Route("GET", "/crm/cases/{id}", "case", "One case with its history.", P_AGENT),
]


def _when(value: str | None, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError:
        pass
    from datetime import datetime
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise sync.bad(f"{value!r} is not a time (epoch or ISO 8601)") from None


class CrmRest:
    def __init__(self, svc: CrmService, ctx: Context) -> None:
        self.svc = svc
        self.ctx = ctx

    def handlers(self) -> dict[str, RestHandler]:
        """ROUTES' handlers for the REST API, which checks the token, the permission, the query and
        the rate (the API's own buckets) before one runs; each takes the caller's principal."""
        def taking_principal(fn: Callable[[web.Request, Any], Awaitable[Any]]) -> RestHandler:
            async def handler(request: web.Request, caller: ApiCaller) -> Any:
                return await fn(request, caller.principal)
            return handler
        return {r.handler: taking_principal(getattr(self, r.handler)) for r in ROUTES}

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any]:
        raw = await request.content.read(MAX_JSON + 1)
        if len(raw) > MAX_JSON:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_JSON, actual_size=len(raw))
        import json
        try:
            body = json.loads(raw) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            raise sync.bad("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise sync.bad("the body must be a JSON object")
        return body

    # -- webhooks ----------------------------------------------------------------------------------------
    async def webhooks(self, request: web.Request, p: Any) -> dict[str, Any]:
        return {"subscriptions": [s.public() for s in await self.svc.db(self.svc.store.subscriptions)]}

    async def subscribe(self, request: web.Request, p: Any) -> dict[str, Any]:
        body = await self._json(request)
        url, events, secret = body.get("url"), body.get("events"), body.get("secret", "")
        if not isinstance(url, str) or not isinstance(events, list) or not all(isinstance(e, str) for e in events) \
                or not isinstance(secret, str) or set(body) - {"url", "events", "secret"}:
            raise sync.bad("send url (text), events (a list of event names) and optionally secret")
        if secret and len(secret) < 16:
            raise sync.bad("a secret has at least 16 characters")
        try:
            sub, secret = await self.svc.subscribe(url, events, secret)
        except ValueError as exc:
            raise sync.bad(str(exc)) from None
        return {"subscription": sub.public(), "secret": secret}

    async def unsubscribe(self, request: web.Request, p: Any) -> dict[str, Any]:
        sid = request.match_info["id"]
        if not await self.svc.unsubscribe(sid):
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no subscription {sid!r}")
        return {"removed": sid}

    # -- deliveries --------------------------------------------------------------------------------------
    async def deliveries(self, request: web.Request, p: Any) -> dict[str, Any]:
        q = request.query
        items = await self.svc.db(self.svc.store.items, q.get("state"), q.get("stream"),
                                  int(q.get("limit", 100)), int(q.get("after", 0)))
        return {"items": [i.to_dict() for i in items], "counts": await self.svc.db(self.svc.store.counts)}

    async def delivery(self, request: web.Request, p: Any) -> dict[str, Any]:
        key = request.match_info["id"]
        found = list(await self.svc.db(self.svc.store.find, key))
        if not found:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no delivery {key!r}")
        return {"item": found[0].to_dict(), "log": await self.svc.db(self.svc.store.log, found[0].seq)}

    async def replay(self, request: web.Request, p: Any) -> dict[str, Any]:
        ids = (await self._json(request)).get("ids")
        if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
            raise sync.bad("ids is a list of delivery ids")
        n = await self.svc.db(self.svc.store.replay, ids or None, time.time())
        self.svc.deliverer.wake()
        return {"replayed": n}

    # -- contact synchronisation ---------------------------------------------------------------------------
    def _format(self, request: web.Request) -> str:
        ctype = request.content_type
        if ctype in ("application/x-ndjson", "application/jsonl", "application/json"):
            return "ndjson"
        if ctype in ("text/csv", "application/csv"):
            return "csv"
        raise ProtocolError(ErrorCode.BAD_REQUEST, "send application/x-ndjson or text/csv")

    async def _load(self, request: web.Request, p: Any, delta: bool) -> dict[str, Any]:
        contacts = self.svc.contacts
        if contacts is None:
            raise ProtocolError(ErrorCode.UNAVAILABLE, "this server keeps no contacts")
        fmt = self._format(request)
        upserts: list[dict[str, Any]] = []
        deletes: list[str] = []
        done = {"upserted": 0, "deleted": 0, "lines": 0}
        who = f"sync:{p.username}"

        async def flush() -> None:
            if upserts:
                done["upserted"] += await asyncio.to_thread(contacts.bulk_upsert, list(upserts), who)
                upserts.clear()
            if deletes:
                await asyncio.to_thread(contacts.delete_many, list(deletes))
                done["deleted"] += len(deletes)
                deletes.clear()
        try:
            async for op in sync.read_ops(request.content, fmt, delta=delta):
                done["lines"] = op.line
                if op.op == "delete":
                    if upserts:
                        await flush()  # in order: an upsert then a delete of the same id deletes it
                    deletes.append(op.record["id"])
                else:
                    if deletes:
                        await flush()
                    upserts.append(op.record)
                if len(upserts) + len(deletes) >= BATCH:
                    await flush()
            await flush()
        except (ProtocolError, DomainError) as exc:  # a bad line, or a record the contacts refused
            if exc.code == ErrorCode.BAD_REQUEST and upserts:
                exc.message = f"{exc.message} (records before it were saved; sending the file again is safe)"
            raise
        return done

    async def bulk(self, request: web.Request, p: Any) -> dict[str, Any]:
        return await self._load(request, p, delta=False)

    async def delta(self, request: web.Request, p: Any) -> dict[str, Any]:
        return await self._load(request, p, delta=True)

    # -- export ------------------------------------------------------------------------------------------
    async def export(self, request: web.Request, p: Any) -> web.StreamResponse:
        q = request.query
        since, until = _when(q.get("from"), 0.0), _when(q.get("to"), time.time() + 1)
        cursor, limit, fmt = int(q.get("cursor", 0)), int(q.get("limit", 10000)), q.get("format", "ndjson")
        contacts = self.svc.contacts
        recordings = self.svc.recordings

        # The cursor is an event number: only events in the database have theirs. What happened
        # before this request is given a moment to be written, so that it is in this page.
        store = self.ctx.store
        written = getattr(store, "written", None)
        if written is not None:
            await written(timeout=2.0)
        read = getattr(store, "committed_events", store.events)

        def page() -> tuple[list[dict[str, Any]], int | None]:
            events = read(since=cursor, kinds=sync.END_KINDS)
            metas = contacts.store.meta if contacts else (lambda cid: None)

            def notes(cid: str) -> list[dict[str, Any]]:
                return [{"version": n["version"], "text": n["text"], "author": n["author"], "ts": n["ts"]}
                        for n in contacts.store.notes(cid)] if contacts else []

            def recs(cid: str) -> list[str]:
                return [r["id"] for r in recordings.store.for_call(cid)] if recordings else []
            return sync.export_rows(events, since, until, limit, metas, notes, recs)
        rows, nxt = await asyncio.to_thread(page)
        body = sync.to_ndjson(rows) if fmt == "ndjson" else sync.to_csv(rows, header=cursor == 0)
        return web.Response(body=body, content_type="application/x-ndjson" if fmt == "ndjson" else "text/csv",
                            headers={"X-Next-Cursor": "" if nxt is None else str(nxt)})

    # -- cases ---------------------------------------------------------------------------------------------
    async def cases(self, request: web.Request, p: Any) -> dict[str, Any]:
        return await self.svc.cases.history(p, request.query.get("contact_id", ""), request.query.get("number", ""))

    async def case(self, request: web.Request, p: Any) -> dict[str, Any]:
        return await self.svc.cases.get(p, request.match_info["id"])

