"""The CRM capability as a plugin (server/capability.py): its commands, events, REST routes and make()."""
from __future__ import annotations

from typing import Any

from cc_console.protocol import P_AGENT, Arg, CommandSpec
from cc_console.server.capability import Capability, Context
from cc_console.server.routes import RestHandler
from cc_console.server.store import store_url

from .rest import ROUTES, CrmRest
from .service import CrmService
from .settings import CrmSettings
from .store import CrmStore

COMMANDS = (
    CommandSpec("case.get", P_AGENT, {"id": Arg(str, False), "call_id": Arg(str, False)},
                "The case of a call (or by its id): caller, contact, subject, notes, level, history."),
    CommandSpec("case.update", P_AGENT, {"id": Arg(str), "subject": Arg(str, False), "notes": Arg(str, False),
                                         "contact_id": Arg(str, False)},
                "Edit an open case: subject, notes, the contact it concerns."),
    CommandSpec("case.close", P_AGENT, {"id": Arg(str), "outcome": Arg(str)},
                "Close a case with an outcome; it is then handed to the records system."),
    CommandSpec("case.history", P_AGENT, {"contact_id": Arg(str, False), "number": Arg(str, False),
                                          "limit": Arg(int, False)},
                "The cases of a contact (or of a phone number), newest first."),
)
EVENTS = ("case.update", "crm.open")
__all__ = ["COMMANDS", "EVENTS", "ROUTES", "make"]


class Crm(Capability):
    def __init__(self, ctx: Context) -> None:
        settings = ctx.settings.section("crm", CrmSettings)
        # [store] url: the outbox and cases go to PostgreSQL with the main store (docs/storage.md).
        self.service = CrmService(ctx, settings, CrmStore(store_url(ctx.settings) or ctx.db_path("crm")))
        self.rest = CrmRest(self.service, ctx)
        ctx.add_hooks(self.service)

    def handlers(self) -> dict[str, Any]:
        cases = self.service.cases
        return {
            "case.get": lambda s, r: cases.get(s.principal, r.args.get("id", ""), r.args.get("call_id", "")),
            "case.update": lambda s, r: cases.update(s.principal, r.args["id"], r.args),
            "case.close": lambda s, r: cases.close(s.principal, r.args["id"], r.args["outcome"]),
            "case.history": lambda s, r: cases.history(s.principal, r.args.get("contact_id", ""),
                                                       r.args.get("number", ""), int(r.args.get("limit", 50))),
        }

    def rest_handlers(self) -> dict[str, RestHandler]:
        return self.rest.handlers()

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()


def make(ctx: Context) -> Capability:
    return Crm(ctx)
