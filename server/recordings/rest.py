"""The recordings capability's REST resource: recordings' metadata under /api/v1/recordings, a thin
adapter over the recordings.search command (the audio itself is at /api/recordings/{id}/audio)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cc_console.protocol import P_AGENT
from cc_console.server.routes import (
    PAGE,
    ApiCaller,
    Param,
    RestHandler,
    Route,
    bad,
    next_link,
    page_args,
    run_command,
)

_FILTERS = ("agent", "from", "to", "category", "queue", "caller", "call_type", "status", "tenant", "text", "sort")
ROUTES: list[Route] = [
    Route("GET", "/recordings", "recordings", "Recordings' metadata (agents: their own).", P_AGENT,
          "recordings.search",
          (Param("agent"), Param("from", doc="epoch or ISO 8601"), Param("to", doc="epoch or ISO 8601"),
           Param("category"), Param("queue"), Param("caller"), Param("call_type"), Param("status"), Param("tenant"),
           Param("text"), Param("sort", enum=("started", "duration", "agent", "caller", "queue")),
           Param("desc", "boolean"), *PAGE), paginated=True),
]


class RecordingsRest:
    def __init__(self, commands: Any) -> None:
        self.commands = commands

    def handlers(self) -> dict[str, RestHandler]:
        return {"recordings": self.recordings}

    async def recordings(self, request: web.Request, caller: ApiCaller) -> Any:
        limit, offset = page_args(request)
        args: dict[str, Any] = {"limit": limit, "offset": offset}
        for k in _FILTERS:
            if k in request.query:
                args[k] = request.query[k]
        if "desc" in request.query:
            d = request.query["desc"].lower()
            if d not in ("true", "false", "1", "0"):
                raise bad("desc is true or false")
            args["desc"] = d in ("true", "1")
        res = await run_command(self.commands, caller, "recordings.search", args)
        return {"items": res["recordings"], "limit": limit, "offset": offset,
                "next": next_link(request, offset, limit, bool(res.get("more")))}
