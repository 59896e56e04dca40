"""The switchboard directory as a capability: its commands, its HTTP routes, its own database.

Persons, units and absences live in ``<db>.directory.sqlite3``, or with `[store] url` in PostgreSQL
(docs/directory.md, docs/storage.md); the directory shows each person's phone as busy or free from
the call engine's agents.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cc_console.protocol import P_AGENT, P_SESSION, Arg, CommandSpec
from cc_console.server.capability import Capability, Context, Handler
from cc_console.server.store import capability_target

from .service import DirectoryService
from .store import DirectoryStore

COMMANDS = (
    CommandSpec("directory.search", P_SESSION, {"q": Arg(str), "tenant": Arg(str, False), "limit": Arg(int, False)},
                "Search persons as you type (name, unit, title, subject, number); ranked rows with absence."),
    CommandSpec("directory.person", P_SESSION, {"id": Arg(str)}, "One person's details ('<tenant>:<id>')."),
    CommandSpec("directory.notes", P_AGENT, {"id": Arg(str), "notes": Arg(str)},
                "Set the operator notes on a person (kept only here, never overwritten by imports)."),
    CommandSpec("directory.message", P_AGENT, {"person_id": Arg(str), "text": Arg(str)},
                "E-mail the person a telephone message."),
    CommandSpec("absence.add", P_AGENT, {"person_id": Arg(str, False), "type": Arg(str),
                                         "from": Arg((int, float, str)), "until": Arg((int, float, str), False),
                                         "message": Arg(str, False), "substitute": Arg(str, False)},
                "Add an absence: one's own, or (supervise) another person's."),
    CommandSpec("absence.update", P_AGENT, {"id": Arg(str), "type": Arg(str, False),
                                            "from": Arg((int, float, str), False),
                                            "until": Arg((int, float, str), False),
                                            "message": Arg(str, False), "substitute": Arg(str, False)},
                "Change an absence: one's own, or (supervise) another person's."),
    CommandSpec("absence.delete", P_AGENT, {"id": Arg(str)},
                "Delete an absence: one's own, or (supervise) another person's."),
)
EVENTS: tuple[str, ...] = ()


class DirectoryCapability(Capability):
    name = "directory"

    def __init__(self, ctx: Context) -> None:
        from .feeds import DirectorySettings
        from .live import DirectoryLive
        engine = ctx.engine
        ds = ctx.settings.section("directory", DirectorySettings)

        def devices() -> dict[str, str]:
            return {a.device: str(a.state) for a in engine.agents.values() if a.device}
        self.service = DirectoryService(DirectoryStore(capability_target(ctx.settings, "directory")),
                                        devices=devices, tz=ds.tz, country_code=ds.country_code, codes=ds.codes)
        # Calendar feeds on their own schedules, and changes other processes (the CLI) committed.
        self.live = DirectoryLive(self.service, ds, ctx.publish)
        self.principals: Any = ctx.principals

    def handlers(self) -> dict[str, Handler]:
        return self.service.handlers()

    def add_routes(self, app: web.Application) -> None:
        self.service.add_routes(app, self.principals)  # GET /api/directory/... (bearer token)

    async def start(self) -> None:
        await self.live.start()

    async def stop(self) -> None:
        await self.live.stop()
        self.service.store.close()


def make(ctx: Context) -> DirectoryCapability:
    return DirectoryCapability(ctx)
