"""Call recording as a capability: it follows calls through the engine's hooks, declares its
commands and serves the recording streams (docs/recordings.md). Its own database beside the main one.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cc_console.protocol import P_ADMIN, P_AGENT, P_SUPERVISE, Arg, CommandSpec
from cc_console.server.capability import Capability, Context, Handler
from cc_console.server.routes import RestHandler
from cc_console.server.store import store_url

from .rest import ROUTES, RecordingsRest
from .service import RecordingService, RecordingSettings
from .store import RecordingStore, default_path

COMMANDS = (
    CommandSpec("recording.optout", P_AGENT, {"call_id": Arg(str, False)},
                "Switch recording off for my call (users in recording_optout_users, supervisors, admins)."),
    CommandSpec("recordings.search", P_AGENT,
                {"agent": Arg(str, False), "from": Arg((int, float, str), False),
                 "to": Arg((int, float, str), False),
                 "category": Arg(str, False), "queue": Arg(str, False), "caller": Arg(str, False),
                 "call_type": Arg(str, False), "status": Arg(str, False), "tenant": Arg(str, False),
                 "text": Arg(str, False), "sort": Arg(str, False), "desc": Arg(bool, False),
                 "limit": Arg(int, False), "offset": Arg(int, False)},
                "Search recordings' metadata (agents: their own)."),
    CommandSpec("recordings.get", P_AGENT, {"id": Arg(str)},
                "One recording's metadata, my rights on it, its evaluations and time-pinned notes."),
    CommandSpec("recordings.update", P_AGENT,
                {"id": Arg(str), "category": Arg(str, False), "notes": Arg(str, False)},
                "Set a recording's category and notes (its agent, or a supervisor)."),
    CommandSpec("recordings.hold", P_SUPERVISE, {"id": Arg(str), "on": Arg(bool)},
                "Put a recording under legal hold (never purged) or release it."),
    CommandSpec("recordings.evaluate", P_SUPERVISE,
                {"id": Arg(str), "scores": Arg(dict, True, (int, float)), "comment": Arg(str, False)},
                "Score a recording: criterion -> number (one evaluation per evaluator, replaced)."),
    CommandSpec("recordings.mark", P_SUPERVISE, {"id": Arg(str), "at": Arg((int, float)), "text": Arg(str)},
                "Pin a note to a moment (seconds) of a recording."),
    CommandSpec("recordings.audit", P_SUPERVISE, {"id": Arg(str, False), "user": Arg(str, False),
                                                 "limit": Arg(int, False)},
                "The audit log of listens and downloads."),
    CommandSpec("recordings.purge", P_ADMIN, {}, "Run the retention purge now; returns what it deleted."),
)
EVENTS: tuple[str, ...] = ()
__all__ = ["COMMANDS", "EVENTS", "ROUTES", "make"]


class RecordingsCapability(Capability):
    name = "recordings"

    def __init__(self, ctx: Context) -> None:
        s = ctx.settings.server
        db = s.db_file
        # [store] url: the metadata goes to PostgreSQL with the main store (docs/storage.md).
        store = RecordingStore(store_url(ctx.settings) or (":memory:" if str(db) == ":memory:" else default_path(db)))
        self.service = RecordingService(ctx.engine, store, RecordingSettings.from_server(s))
        ctx.add_hooks(self.service)
        self.principals: Any = ctx.principals
        self.rest = RecordingsRest(ctx.commands)

    def handlers(self) -> dict[str, Handler]:
        return self.service.handlers()

    def rest_handlers(self) -> dict[str, RestHandler]:
        return self.rest.handlers()

    def add_routes(self, app: web.Application) -> None:
        # GET /api/recordings/{id}/audio|download (bearer token). The purge loop starts with the
        # application and the store closes at its cleanup, after the engine's last recording is saved.
        self.service.add_routes(app, self.principals)


def make(ctx: Context) -> RecordingsCapability:
    return RecordingsCapability(ctx)
