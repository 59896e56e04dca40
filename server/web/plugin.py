"""The web capability: pages for people without a console (docs/web.md).

The public directory search, the absence page, directory maintenance for an organisation's editors
and the transfer receiver's page, on the server's one aiohttp application under /web/; and the
command the agent console uses to send the employee a call is transferred to a link to that page.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cc_console.protocol import P_AGENT, Arg, CommandSpec, Request
from cc_console.server.capability import Capability, Context
from cc_console.server.store import capability_target

from .pages import WebPages
from .settings import WebSettings

COMMANDS = (
    CommandSpec("transfer.share", P_AGENT, {"call_id": Arg(str), "person_id": Arg(str), "note": Arg(str, False)},
                "E-mail the person a call is transferred to a link to a page with the caller's data and the note."),
)
EVENTS: tuple[str, ...] = ()


def directory_of(ctx: Context) -> Any:
    """The switchboard directory's service (the directory capability, listed before this one)."""
    cap = ctx.capabilities.get("directory")
    if cap is None:
        raise RuntimeError("the web capability needs the directory capability listed before it")
    return getattr(cap, "service", cap)


class Web(Capability):
    def __init__(self, ctx: Context) -> None:
        s = ctx.settings.server
        scheme = "https" if s.tls_cert else "http"
        self.pages = WebPages(ctx.settings.section("web", WebSettings), directory=directory_of(ctx),
                              auth=ctx.auth, engine=ctx.engine, db_path=capability_target(ctx.settings, "web"),
                              server_url=f"{scheme}://{s.host}:{s.port}")

    def handlers(self) -> dict[str, Any]:
        async def share(s: Any, r: Request) -> dict[str, Any]:
            return await self.pages.share_and_send(s.principal, r.args["call_id"], r.args["person_id"],
                                                   r.args.get("note", ""))
        return {"transfer.share": share}

    def add_routes(self, app: web.Application) -> None:
        self.pages.add_routes(app)

    async def stop(self) -> None:
        self.pages.close()


def make(ctx: Context) -> Capability:
    return Web(ctx)
