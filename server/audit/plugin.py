"""The audit capability: every command through any front door, every sign-in (successful or not),
every API request that reads or changes sensitive data, each with who, when, from where, what and
the outcome; queryable and exportable by admins; purged after the retention (each purge logged)."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from cc_console.protocol import P_ADMIN, Arg, CommandSpec, ErrorCode, ProtocolError, Request
from cc_console.server.capability import Capability, Context, Handler
from cc_console.server.store import capability_target

from .log import AuditLog

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("audit.query", P_ADMIN, {
        "since": Arg((int, float), False), "until": Arg((int, float), False), "actor": Arg(str, False),
        "action": Arg(str, False), "target": Arg(str, False), "outcome": Arg(str, False),
        "after_id": Arg(int, False), "limit": Arg(int, False)},
        "Audit entries, oldest first (action may end with * for a prefix; page with after_id)."),
    CommandSpec("audit.verify", P_ADMIN, {}, "Check the audit log's hash chain; names the first broken entry."),
)
EVENTS: tuple[str, ...] = ()

# Commands too frequent and too harmless to audit when they succeed (a refusal is always audited).
QUIET = frozenset({"ping", "snapshot", "agent.figures", "transfer.targets", "directory.search", "categories.list",
                   "contacts.config", "callbacks.list", "callbacks.worklist", "audit.query", "audit.verify"})
# The argument that names what a command acted on, in order of preference.
TARGET_ARGS = ("call_id", "agent", "username", "contact_id", "recording_id", "id", "person_id", "number", "target",
               "queue")
# API paths whose every request is audited (reads included): data about people and their calls.
SENSITIVE = ("/api/v1/contacts", "/api/v1/recordings", "/api/v1/reports", "/api/recordings", "/api/v1/audit",
             "/api/directory", "/api/v1/export")


@dataclass
class AuditSettings:
    retention_days: float = 183.0  # at least six months (the insurer's tender)
    purge_interval: float = 24 * 3600.0


class Audit(Capability):
    def __init__(self, ctx: Context, settings: AuditSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.log = AuditLog(capability_target(ctx.settings, "audit"))
        self._purger: asyncio.Task[None] | None = None
        ctx.commands.observers.append(self.command_ran)
        ctx.audit = self.log.record  # what capabilities do outside commands (verified calling's page, ...)

    # -- what is audited --------------------------------------------------------------------------
    def command_ran(self, caller: Any, req: Request, outcome: str) -> None:
        if outcome == "ok" and req.cmd in QUIET:
            return
        p = caller.principal
        args = req.args if isinstance(req.args, dict) else {}
        actor = p.username if p is not None else str(args.get("username") or "-")
        if req.cmd == "login" and outcome == "ok":
            actor = p.username if p is not None else actor
        target = next((str(args[k]) for k in TARGET_ARGS if args.get(k) not in (None, "")), "")
        detail = {k: _short(v) for k, v in args.items() if k not in TARGET_ARGS}
        via = "api" if type(caller).__name__ == "ApiCaller" else "console"
        self.log.record(actor, req.cmd, remote=getattr(caller, "remote", ""), target=target, outcome=outcome,
                        detail={**detail, "via": via})

    @web.middleware
    async def middleware(self, request: web.Request, handler: Any) -> Any:
        path = request.path
        if not path.startswith(SENSITIVE) or path.startswith("/api/v1/commands/"):
            return await handler(request)
        outcome = "ok"
        try:
            resp = await handler(request)
            if getattr(resp, "status", 200) >= 400:
                outcome = f"http {resp.status}"
            return resp
        except web.HTTPException as exc:
            outcome = f"http {exc.status}"
            raise
        finally:
            self.log.record(self._who(request), f"http.{request.method.lower()}", remote=request.remote or "",
                            target=path, outcome=outcome,
                            detail={"query": _short(request.query_string)} if request.query_string else {})

    def _who(self, request: web.Request) -> str:
        try:
            p = self.ctx.principals.from_headers(request.headers)
            return str(p.username)
        except Exception:
            return "-"

    # -- capability ---------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        return {"audit.query": self._query, "audit.verify": self._verify}

    async def _query(self, caller: Any, req: Request) -> dict[str, Any]:
        a = req.args
        limit = int(a.get("limit", 100))
        if not 1 <= limit <= 1000:
            raise ProtocolError(ErrorCode.BAD_REQUEST, "limit is between 1 and 1000")
        rows = await asyncio.to_thread(
            self.log.query, since=a.get("since"), until=a.get("until"), actor=a.get("actor"),
            action=a.get("action"), target=a.get("target"), outcome=a.get("outcome"),
            after_id=int(a.get("after_id", 0)), limit=limit)
        return {"entries": [e.public() for e in rows], "next_after_id": rows[-1].id if rows else None}

    async def _verify(self, caller: Any, req: Request) -> dict[str, Any]:
        check = await asyncio.to_thread(self.log.verify)
        return {"ok": check.ok, "entries": check.entries, "broken_at": check.broken_at, "problem": check.problem}

    def add_routes(self, app: web.Application) -> None:
        app.middlewares.append(self.middleware)
        app.router.add_get("/api/v1/audit/export", self._export)

    async def _export(self, request: web.Request) -> web.StreamResponse:
        """NDJSON of the entries in a period, for the archive; admins only."""
        try:
            p = self.ctx.principals.from_headers(request.headers)
        except ProtocolError as exc:
            raise web.HTTPUnauthorized(text=exc.message) from None
        if P_ADMIN not in p.permissions:
            raise web.HTTPForbidden(text="only an administrator may export the audit log")
        try:
            since = float(request.query.get("since", 0))
            until = float(request.query["until"]) if "until" in request.query else None
        except ValueError:
            raise web.HTTPBadRequest(text="since and until are times in seconds since 1970") from None
        resp = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await resp.prepare(request)
        after = 0
        while True:
            page = await asyncio.to_thread(self.log.query, since=since, until=until, after_id=after, limit=1000)
            if not page:
                break
            await resp.write("".join(json.dumps(e.public(), ensure_ascii=False) + "\n" for e in page).encode())
            after = page[-1].id
        await resp.write_eof()
        return resp

    async def start(self) -> None:
        self._purger = asyncio.get_running_loop().create_task(self._purge_loop())

    async def _purge_loop(self) -> None:
        while True:
            try:
                cutoff = time.time() - self.settings.retention_days * 86400
                n = await asyncio.to_thread(self.log.purge, cutoff, actor="system", remote="")
                if n:
                    log.info("audit: %d entries older than %.0f days purged", n, self.settings.retention_days)
            except Exception:
                log.exception("audit purge failed; it is tried again at the next interval")
            await asyncio.sleep(self.settings.purge_interval)

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
        await asyncio.to_thread(self.log.close)


def _short(v: Any) -> Any:
    if isinstance(v, str):
        return v[:200]
    if isinstance(v, (int, float, bool)) or v is None:
        return v
    return json.dumps(v, ensure_ascii=False, default=str)[:200]


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/audit/export": {"get": {
        "operationId": "audit_export", "summary": "The audit log of a period as NDJSON (administrators).",
        "tags": ["audit"],
        "parameters": [
            {"name": "since", "in": "query", "required": False, "schema": {"type": "number", "minimum": 0}},
            {"name": "until", "in": "query", "required": False, "schema": {"type": "number", "minimum": 0}}],
        "responses": {"200": {"description": "one JSON entry a line",
                              "content": {"application/x-ndjson": {"schema": {"type": "string"}}}},
                      "400": {"$ref": "#/components/responses/P400"},
                      "401": {"$ref": "#/components/responses/P401"},
                      "403": {"$ref": "#/components/responses/P403"}}}},
}


def make(ctx: Context) -> Audit:
    return Audit(ctx, ctx.settings.section("audit", AuditSettings))
