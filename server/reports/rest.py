"""The reports capability's REST resource: GET /api/v1/reports/{kind}, a thin adapter over the
report.run command (the same report scope as the supervisor console)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cc_console.protocol import P_SUPERVISE, ErrorCode, ProtocolError
from cc_console.server.routes import ApiCaller, Param, RestHandler, Route, run_command

REPORT_KINDS = ("queue", "interval", "agent", "tenant", "category", "busiest", "erlang")
ROUTES: list[Route] = [
    Route("GET", "/reports/{kind}", "report", "Run a report within the caller's report scope.", P_SUPERVISE,
          "report.run", (Param("from", doc="today, yesterday, a date or epoch"), Param("to"),
                         Param("queues", doc="comma-separated"), Param("agents", doc="comma-separated"),
                         Param("tenants", doc="comma-separated"),
                         Param("interval", enum=("15", "30", "60", "hour", "total"))),
          path_enums=(Param("kind", enum=REPORT_KINDS),)),
]


class ReportsRest:
    def __init__(self, commands: Any) -> None:
        self.commands = commands

    def handlers(self) -> dict[str, RestHandler]:
        return {"report": self.report}

    async def report(self, request: web.Request, caller: ApiCaller) -> Any:
        kind = request.match_info["kind"]
        if kind not in REPORT_KINDS:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no report {kind!r}; reports are {', '.join(REPORT_KINDS)}")
        args: dict[str, Any] = {"kind": kind}
        for k in ("from", "to", "interval"):
            if k in request.query:
                args[k] = request.query[k]
        for k in ("queues", "agents", "tenants"):
            if request.query.get(k):
                args[k] = [v for v in request.query[k].split(",") if v]
        return await run_command(self.commands, caller, "report.run", args)
