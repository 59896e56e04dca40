"""The agent console's customer side as a capability: contacts, versioned notes, categories, the
callback work list, the agent's own figures and the transfer panel's targets (docs/agent.md). Its
own database beside the main one; its configuration from contacts.toml in the config folder.
"""
from __future__ import annotations

from cc_console.protocol import P_AGENT, P_SESSION, P_SUPERVISE, Arg, CommandSpec
from cc_console.server.capability import Capability, Context, Handler
from cc_console.server.routes import RestHandler
from cc_console.server.store import store_url

from .rest import ROUTES, ContactsRest
from .service import ContactsService
from .store import ContactsStore, default_path

COMMANDS = (
    CommandSpec("contacts.config", P_SESSION, {},
                "The customer-record fields, CRM link template, call categories and transfer lines."),
    CommandSpec("contacts.search", P_AGENT,
                {"q": Arg(str, False), "number": Arg(str, False), "limit": Arg(int, False)},
                "Customer records matching a phone number (normalised) and/or words."),
    CommandSpec("contacts.get", P_AGENT, {"id": Arg(str)}, "One customer record with its CRM link."),
    CommandSpec("contacts.save", P_AGENT, {"contact": Arg(dict)},
                "Create (no id) or update a customer record; fields as configured."),
    CommandSpec("contacts.link", P_AGENT, {"call_id": Arg(str), "contact_id": Arg(str, False)},
                "Register which customer a call was with (empty contact_id: none)."),
    CommandSpec("contacts.call", P_AGENT, {"call_id": Arg(str)},
                "A call's registration: matches for the caller, picked contact, category, notes."),
    CommandSpec("contacts.history", P_AGENT,
                {"number": Arg(str), "exclude": Arg(str, False), "limit": Arg(int, False)},
                "Earlier calls with this number, in and out, with agent, category and notes."),
    CommandSpec("notes.add", P_AGENT, {"call_id": Arg(str), "text": Arg(str), "contact_id": Arg(str, False)},
                "Save a call's note; every save adds a version."),
    CommandSpec("notes.history", P_AGENT, {"call_id": Arg(str)}, "Every version of a call's note (who, when)."),
    CommandSpec("call.category", P_AGENT, {"call_id": Arg(str), "category": Arg(str)},
                "Set a call's category (during or after the call) from the supervisors' list."),
    CommandSpec("categories.list", P_SESSION, {}, "The call categories."),
    CommandSpec("categories.set", P_SUPERVISE, {"categories": Arg(list, True, str)},
                "Replace the call category list."),
    CommandSpec("callbacks.worklist", P_AGENT, {"state": Arg(str, False)},
                "Callback requests, voicemails and missed calls to work, each with its caller's history."),
    CommandSpec("callback.claim", P_AGENT, {"id": Arg(str)},
                "Take a callback/voicemail/missed call (one agent wins; the others get conflict)."),
    CommandSpec("callback.release", P_AGENT, {"id": Arg(str)}, "Give a taken item back to the list."),
    CommandSpec("callback.dial", P_AGENT, {"id": Arg(str), "caller_id": Arg(str, False)},
                "Claim (if needed) and call the item's number from my device."),
    CommandSpec("callback.reschedule", P_AGENT, {"id": Arg(str), "preferred": Arg((int, float, str))},
                "Set a new preferred time (epoch, ISO 8601, HH:MM, +30m); the item is open again."),
    CommandSpec("callback.done", P_AGENT, {"id": Arg(str)}, "Mark a callback/voicemail/missed call done."),
    CommandSpec("agent.figures", P_AGENT, {"agent": Arg(str, False)},
                "My handled/lost calls and service level (24h, 7d, 14d, 30d), waiting calls, recent calls."),
    CommandSpec("transfer.targets", P_AGENT, {},
                "Agents, supervisors and configured lines with their live state, for the transfer panel."),
    CommandSpec("transfer.watch", P_AGENT, {"on": Arg(bool)},
                "Have the transfer panel's state changes pushed (transfer.update) while it is open."),
)
EVENTS = ("categories.update", "callback.update", "transfer.update")
__all__ = ["COMMANDS", "EVENTS", "ROUTES", "make"]


class ContactsCapability(Capability):
    name = "contacts"

    def __init__(self, ctx: Context) -> None:
        db = ctx.settings.server.db_file
        self.service = ContactsService.from_config_dir(
            # [store] url: contacts and notes go to PostgreSQL with the main store (docs/storage.md).
            ctx.engine, ContactsStore(store_url(ctx.settings) or (":memory:" if str(db) == ":memory:"
                                                                   else default_path(db))), publish=ctx.publish)
        self.rest = ContactsRest(ctx, self.service)
        self.service.written = ctx.written  # the same list: capabilities built later add theirs

    def handlers(self) -> dict[str, Handler]:
        return self.service.handlers()

    def rest_handlers(self) -> dict[str, RestHandler]:
        return self.rest.handlers()

    async def stop(self) -> None:
        self.service.store.close()


def make(ctx: Context) -> ContactsCapability:
    return ContactsCapability(ctx)
