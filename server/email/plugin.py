"""The e-mail capability: a mailbox read over IMAP with IDLE, each new thread a written work item in
the ACD, answered by agents in the console over SMTP (docs/email.md)."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiohttp import web

from cc_console.errors import DomainError
from cc_console.protocol import P_AGENT, P_SUPERVISE, Arg, CommandSpec, ProtocolError
from cc_console.server.api.problems import from_domain, from_protocol
from cc_console.server.capability import CallHooks, Capability, Context
from cc_console.server.store import capability_target

from .imap import MailboxReader
from .service import EmailService
from .settings import EmailSettings
from .store import EmailStore

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("email.list", P_AGENT, {}, "The open e-mail threads offered to me or mine (supervisors: all)."),
    CommandSpec("email.accept", P_AGENT, {"id": Arg(str)}, "Accept the e-mail thread offered to me."),
    CommandSpec("email.reply", P_AGENT, {"id": Arg(str), "text": Arg(str, False), "template": Arg(str, False)},
                "Answer the customer of a thread by e-mail (text, a reply template, or both)."),
    CommandSpec("email.transfer", P_AGENT, {"id": Arg(str), "agent": Arg(str, False), "queue": Arg(str, False)},
                "Hand an e-mail thread to another agent or queue."),
    CommandSpec("email.close", P_AGENT, {"id": Arg(str), "category": Arg(str, False)},
                "Close an e-mail thread with a category."),
    CommandSpec("email.templates", P_AGENT, {}, "The reply templates, by name."),
)
EVENTS = ("email.offer", "email.update", "email.message")

def _who(s: Any) -> tuple[str, bool]:
    return s.principal.username, P_SUPERVISE in s.principal.permissions


class _Hooks(CallHooks):
    """An agent who becomes free (a call over, back from a pause) is offered a waiting thread at once."""

    def __init__(self, service: EmailService) -> None:
        self.service = service

    def agent_changed(self, agent: Any, previous: Any = None) -> None:
        if any(t.state == "queued" for t in self.service.live.values()):
            self.service.want_route()


class EmailCapability(Capability):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.section("email", EmailSettings)
        self.store = EmailStore(capability_target(ctx.settings, "email"))
        self.service = EmailService(self.settings, self.store, ctx.engine, ctx.publish)
        self.reader = MailboxReader(self.settings, self.service.receive)
        self._task: asyncio.Task[None] | None = None
        ctx.add_hooks(_Hooks(self.service))

    async def start(self) -> None:
        await self.service.start()
        if self.settings.enabled:
            self._task = asyncio.create_task(self.reader.run(), name="email-imap")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.service.stop()
        await asyncio.to_thread(self.store.close)

    def handlers(self) -> dict[str, Any]:
        svc = self.service

        def wrap(fn: Any) -> Any:
            # The service's refusals are domain errors: each front door words them alike.
            async def run(s: Any, r: Any) -> dict[str, Any]:
                out = fn(s, r.args)
                if hasattr(out, "__await__"):
                    out = await out
                result: dict[str, Any] = out
                return result
            return run

        async def reply(s: Any, a: dict[str, Any]) -> dict[str, Any]:
            user, sup = _who(s)
            return {"message": await svc.reply(user, a["id"], a.get("text", ""), a.get("template", ""),
                                               supervise=sup)}

        return {
            "email.list": wrap(lambda s, a: {"emails": svc.mine_list(*_who(s))}),
            "email.accept": wrap(lambda s, a: {"email": svc.accept(_who(s)[0], a["id"]).full()}),
            "email.reply": wrap(reply),
            "email.transfer": wrap(lambda s, a: {"email": svc.transfer(
                _who(s)[0], a["id"], agent=a.get("agent", ""), queue=a.get("queue", ""),
                supervise=_who(s)[1]).public()}),
            "email.close": wrap(lambda s, a: {"email": svc.close(_who(s)[0], a["id"], a.get("category", ""),
                                                                 supervise=_who(s)[1]).public()}),
            "email.templates": wrap(lambda s, a: {"templates": dict(self.settings.templates)}),
        }

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/email/attachments/{id}", self._attachment)

    async def _attachment(self, request: web.Request) -> web.StreamResponse:
        """An attachment of a thread, for its agents and supervisors."""
        try:
            p = self.ctx.principals.from_headers(request.headers)
            row = await self.service.attachment(request.match_info["id"], p.username, P_SUPERVISE in p.permissions)
        except ProtocolError as exc:  # no valid token: a wire-level problem
            return from_protocol(exc, request.path)
        except DomainError as exc:
            return from_domain(exc, request.path)
        # served as a download, never rendered: an attached HTML page must not run in our origin
        safe = "".join(ch for ch in row["filename"] if ch.isalnum() or ch in "._- ")[:120] or "attachment"
        return web.Response(body=row["data"], content_type="application/octet-stream",
                            headers={"Content-Disposition": f'attachment; filename="{safe}"',
                                     "X-Content-Type-Options": "nosniff",
                                     "X-Original-Content-Type": row["content_type"][:100]})


OPENAPI_PATHS: dict[str, Any] = {
    "/api/v1/email/attachments/{id}": {"get": {
        "operationId": "email_attachment", "summary": "An e-mail attachment (its thread's agents and supervisors).",
        "tags": ["email"],
        "parameters": [{"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": {"description": "the attachment's bytes, as a download",
                              "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                   "format": "binary"}}}},
                      "401": {"$ref": "#/components/responses/P401"},
                      "404": {"$ref": "#/components/responses/P404"}}}},
}


def make(ctx: Context) -> EmailCapability:
    return EmailCapability(ctx)
