"""Reports as a capability: the ``report.run`` command (within the user's report scope) and the
e-mailed reports on a timetable (docs/reports.md). Figures come from the event store's events,
folded into the read model beside it; every report is computed off the event loop. The channel
report also reads the written work items (chats) from their owners through ``ctx.written``.
"""
from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from cc_console.config import config_dir
from cc_console.protocol import P_SUPERVISE, Arg, CommandSpec, Request
from cc_console.server.capability import Capability, Context, Handler
from cc_console.server.routes import RestHandler

from .rest import ROUTES, ReportsRest

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("report.run", P_SUPERVISE,
                {"kind": Arg(str), "from": Arg(str, False), "to": Arg(str, False), "queues": Arg(list, False, str),
                 "agents": Arg(list, False, str), "tenants": Arg(list, False, str), "interval": Arg(str, False),
                 "options": Arg(dict, False)},
                "Run a report (queue, interval, agent, tenant, category, busiest, erlang, channel: calls "
                "and chats side by side) within the user's report scope."),
)
EVENTS: tuple[str, ...] = ()
__all__ = ["COMMANDS", "EVENTS", "ROUTES", "make"]
WRITTEN_TIMEOUT = 30.0  # seconds for the owners of written work items to answer (the chat store's thread)


class ReportsCapability(Capability):
    name = "reports"

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.scheduler: Any = None
        self.rest = ReportsRest(ctx.commands)

    def handlers(self) -> dict[str, Handler]:
        return {"report.run": self._run}

    def rest_handlers(self) -> dict[str, RestHandler]:
        return self.rest.handlers()

    async def _run(self, caller: Any, req: Request) -> dict[str, Any]:
        from .service import run_for_user
        engine = self.ctx.engine  # the routing configuration as it is now (a reload swaps it)
        loop = asyncio.get_running_loop()

        def written(start: float, end: float) -> list[Any]:
            # on the report's thread: each owner reads its own store on its own thread (server/written.py)
            async def gather() -> list[Any]:
                return [it for w in self.ctx.written for it in await w.items_between(start, end)]
            fut = asyncio.run_coroutine_threadsafe(gather(), loop)
            try:
                return fut.result(timeout=WRITTEN_TIMEOUT)
            finally:
                fut.cancel()  # after a timeout: nobody waits for it any more (a no-op once done)

        return await asyncio.to_thread(run_for_user, self.ctx.store, engine.cfg, caller.principal.username,
                                       req.args, written=written)

    async def start(self) -> None:
        """Scheduled reports, when a schedule file is configured or present."""
        s = self.ctx.settings.server
        path = Path(s.reports_schedule) if s.reports_schedule else config_dir() / "reports.toml"
        if not path.exists():
            return
        from .schedule import Scheduler, load_schedule
        from .service import cache_for, run
        smtp, jobs = load_schedule(path)
        store, engine = self.ctx.store, self.ctx.engine
        self.scheduler = Scheduler(smtp, jobs, lambda p: run(cache_for(store), engine.cfg, p))
        self.scheduler.start()
        log.info("report schedule %s: %d job(s)", path, len(jobs))

    async def stop(self) -> None:
        if self.scheduler is not None:
            await self.scheduler.stop()


def make(ctx: Context) -> ReportsCapability:
    return ReportsCapability(ctx)
