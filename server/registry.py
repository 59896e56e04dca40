"""The one list of capabilities the server loads (server/capability.py says what each declares).

Adding a capability touches its own folder and one line here.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from cc_console.protocol import COMMANDS, CommandSpec
from cc_console.server.capability import Capability, Context, check_commands

# name -> the module with COMMANDS, EVENTS and make(ctx)
CAPABILITIES: dict[str, str] = {
    "audit": "cc_console.server.audit.plugin",  # first: the others write to it through ctx.audit
    "directory": "cc_console.server.directory.plugin",
    "recordings": "cc_console.server.recordings.plugin",
    "contacts": "cc_console.server.contacts.plugin",
    "reports": "cc_console.server.reports.plugin",
    "identity": "cc_console.server.identity.plugin",
    "verified": "cc_console.server.verified.plugin",
    "chat": "cc_console.server.chat.plugin",
    "email": "cc_console.server.email.plugin",
    "sms": "cc_console.server.sms.plugin",
    "ivr": "cc_console.server.ivr.plugin",
    "voicemail": "cc_console.server.voicemail.plugin",
    "crm": "cc_console.server.crm.plugin",
    "web": "cc_console.server.web.plugin",
    "outbound": "cc_console.server.outbound.plugin",
    "audio": "cc_console.server.audio.plugin",
}


def plugin(name: str) -> ModuleType:
    return importlib.import_module(CAPABILITIES[name])


def load_commands() -> dict[str, CommandSpec]:
    """Merge every capability's declared commands into the one command table (idempotent)."""
    for name in CAPABILITIES:
        specs: tuple[CommandSpec, ...] = tuple(getattr(plugin(name), "COMMANDS", ()))
        check_commands(name, specs, COMMANDS)
        for spec in specs:
            COMMANDS[spec.name] = spec
    return COMMANDS


def build(ctx: Context) -> dict[str, Capability]:
    """Build every listed capability, in the order listed (a later one may use an earlier one
    through ctx.capabilities, by its typed interface)."""
    load_commands()
    for name in CAPABILITIES:
        cap: Capability = plugin(name).make(ctx)
        cap.name = cap.name or name
        ctx.capabilities[name] = cap
    return ctx.capabilities
