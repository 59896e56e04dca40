"""The supervisor screen under load: 500 agents, 50 queues, 100 events a second, headless.

    python -m bench.supervisor_tui [--agents 500] [--queues 50] [--rate 100] [--seconds 10]

Events go in the way the network delivers them: applied to the client's ConsoleState, then handed
to the client's listeners (the app turns them into messages for the screen). Events that fell due
while the app was busy go in together, without yielding to the loop between them (up to a socket
read's worth), as the client reads the frames that its socket buffered meanwhile. Measured:

* CPU of this (the TUI) process over the run, from resource.getrusage, as % of one core;
* event-to-screen delay: from injection of an agent.state event until the agents table paints
  after holding the new value (update_cell, then the next render_line of the table) when the
  agent's row is in view; for a row out of view, until the table holds the value (nothing to
  paint: the row is drawn from it when it scrolls into view). ``p99_visible`` is the first kind
  alone.

``--table diff`` runs the screen as before AgentsTable (every row's time kept current, every change
through DataTable, which rebuilds the table's layout caches) for before/after on the same bench.

One figure per line; the headline is ``p99: <value> ms``. Targets: CPU < 30 %, p99 < 250 ms.
"""
from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import resource
import tempfile
import time
from typing import Any

from textual.widgets.data_table import RowKey

from cc_console.client import ConsoleClient
from cc_console.screens import supervisor as supervisor_screen
from cc_console.screens.demo import DEMO_NOW
from cc_console.screens.supervisor import SupervisorScreen
from cc_console.tui import CCConsoleApp
from cc_console.widgets.agents_table import AgentsTable
from cc_console.widgets.diff_table import DiffTable
from cc_console.widgets.fmt import state_label

READ_BATCH = 64  # frames of ~0.5 KiB in one 32 KiB socket read
STATES = ["ready", "ringing", "on_call", "wrap_up", "paused", "ready"]


def snapshot(n_agents: int, n_queues: int, now: float) -> dict[str, Any]:
    rnd = random.Random(1)
    queues = [f"q{i:02d}" for i in range(n_queues)]
    agents = []
    for i in range(n_agents):
        member = rnd.sample(queues, 3)
        agents.append({"id": f"a{i:03d}", "name": f"Agent {i:03d}", "device": f"PJSIP/{2000 + i}",
                       "answer_mode": "console", "state": rnd.choice(STATES), "reason": "",
                       "state_since": now - rnd.uniform(0, 900), "queues": member, "call_id": None,
                       "last_call_end": 0.0, "penalties": dict.fromkeys(member, 0), "skills": {}})
    qs = [{"name": q, "tenant": "t", "open": True, "problem": False, "waiting": 0, "oldest_enqueued": None,
           "longest_wait": 0, "agents_logged_in": 30, "agents_ready": 10, "agents_busy": 10,
           "agents_wrapup": 2, "agents_paused": 8, "offered": 100, "answered": 90, "abandoned": 5,
           "overflowed": 0, "callbacks": 0, "voicemails": 0, "service_level": 0.9} for q in queues]
    return {"me": {"user": "sup1", "role": "supervisor", "name": "Sup"}, "agents": agents, "calls": [],
            "queues": qs, "pause_reasons": [], "monitors": [], "server": {"ari": "up", "time": now}}


class Probe:
    """Stamps injections and the first paint of the agents table that shows them."""

    def __init__(self) -> None:
        self.injected: dict[str, tuple[float, str]] = {}  # agent id -> (first unshown injection, label)
        self.updated: dict[str, float] = {}  # agent id -> injection time, now in the table's data
        self.delays: list[float] = []
        self.visible: list[float] = []
        self.painted: set[str] = set()  # agents in updated whose row was in view at sync

    def install(self) -> None:
        probe = self
        orig_sync = DiffTable.sync
        orig_sync_rows = DiffTable.sync_rows
        orig_render_line = DiffTable.render_line

        def sync_rows(table: DiffTable, rows: Any) -> None:
            orig_sync_rows(table, rows)
            held(table)

        def sync(table: DiffTable, rows: Any, order: Any = None) -> None:
            orig_sync(table, rows, order)
            held(table)

        def held(table: DiffTable) -> None:
            if table.id != "agents":
                return
            for aid, (t, label) in list(probe.injected.items()):
                cells = table.cells(aid)
                if cells is not None and getattr(cells[2], "plain", cells[2]) == label:
                    del probe.injected[aid]
                    if on_screen(table, aid):
                        probe.updated.setdefault(aid, t)
                        probe.painted.add(aid)
                    elif aid not in probe.updated:
                        probe.delays.append(time.perf_counter() - t)

        def render_line(table: DiffTable, y: int) -> Any:
            if table.id == "agents" and probe.updated:
                now = time.perf_counter()
                for aid, t in probe.updated.items():
                    probe.delays.append(now - t)
                    if aid in probe.painted:
                        probe.visible.append(now - t)
                probe.updated.clear()
                probe.painted.clear()
            return orig_render_line(table, y)

        DiffTable.sync = sync  # type: ignore[method-assign]
        DiffTable.sync_rows = sync_rows  # type: ignore[method-assign]
        DiffTable.render_line = render_line  # type: ignore[method-assign]


def on_screen(table: DiffTable, key: str) -> bool:
    index = table._row_locations.get(RowKey(key))
    top = int(table.scroll_y)
    height = table.scrollable_content_region.height - (table.header_height if table.show_header else 0)
    return index is not None and top <= index < top + height


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class PlainAgentsTable(AgentsTable):
    """The table as it was before AgentsTable: every row counts as in view (all rows rebuilt each
    second), every change goes through DataTable.update_cell."""

    def visible_keys(self, order: list[str] | None = None) -> list[str]:
        return list(order) if order is not None else self.row_keys

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        DiffTable.update_cell(self, row_key, column_key, value, update_width=update_width)


async def run(n_agents: int, n_queues: int, rate: float, seconds: float,
              table_kind: str = "agents", profile: str = "") -> dict[str, float]:
    if table_kind == "diff":
        supervisor_screen.AgentsTable = PlainAgentsTable  # type: ignore[misc]
    os.environ["CC_CONSOLE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="cc-bench-")  # default alerts
    t0 = time.time()
    clock = lambda: DEMO_NOW + (time.time() - t0)  # noqa: E731
    client = ConsoleClient("ws://bench.invalid", reconnect=False)
    client.state.load(snapshot(n_agents, n_queues, DEMO_NOW))
    client.stale = False
    client.connected.set()
    probe = Probe()
    probe.install()
    app = CCConsoleApp(client=client, mode="supervisor", keymap={}, now=clock)
    rnd = random.Random(2)
    agent_ids = sorted(client.state.agents)
    queue_names = sorted(client.state.queues)
    async with app.run_test(size=(200, 60), headless=True) as pilot:
        await pilot.pause(0.5)
        assert isinstance(app.screen, SupervisorScreen)
        table = app.screen.query_one("#agents", DiffTable)
        assert table.row_count == n_agents
        profiler = cProfile.Profile() if profile else None
        if profiler is not None:
            profiler.enable()
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        w0 = time.perf_counter()
        sent = 0
        period = 1.0 / rate
        loop = asyncio.get_running_loop()
        start = loop.time()
        while loop.time() - start < seconds:
            # Mostly agent state changes (measured), one in five queue figures (load only).
            if sent % 5 == 4:
                q = dict(client.state.queues[rnd.choice(queue_names)])
                q["offered"] += 1
                q["waiting"] = rnd.randint(0, 3)
                q["oldest_enqueued"] = clock() - rnd.uniform(0, 30) if q["waiting"] else None
                kind, data = "queue.stats", q
            else:
                aid = rnd.choice(agent_ids)
                a = dict(client.state.agents[aid])
                a["state"] = rnd.choice([s for s in STATES if s != a["state"]])
                a["reason"] = "break" if a["state"] == "paused" else ""
                a["state_since"] = clock()
                kind, data = "agent.state", a
                t_in = probe.injected.get(aid, (time.perf_counter(), ""))[0]
                probe.injected[aid] = (t_in, state_label(a["state"]))
            client.state.apply(kind, data)
            client._emit(kind, data)
            sent += 1
            # Events already due are read in one go, as the client reads the frames a socket has
            # buffered while the app was busy (at most a read's worth, READ_BATCH, at a time).
            delay = start + sent * period - loop.time()
            if delay > 0 or sent % READ_BATCH == 0:
                await asyncio.sleep(max(0.0, delay))
        await pilot.pause(0.6)  # let the last batch paint
        wall = time.perf_counter() - w0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        refreshes = app.screen.refreshes
        updates = table.cell_updates
    d = [x * 1000 for x in probe.delays]
    v = [x * 1000 for x in probe.visible]
    return {"p99": pct(d, 99), "p99_visible": pct(v, 99), "visible": len(v), "p50": pct(d, 50),
            "max": max(d) if d else float("nan"),
            "cpu": 100 * cpu / wall, "events": sent, "rate": sent / wall, "measured": len(d),
            "unmeasured": len(probe.injected) + len(probe.updated), "refreshes": refreshes,
            "cell_updates": updates, "seconds": wall}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=500)
    ap.add_argument("--queues", type=int, default=50)
    ap.add_argument("--rate", type=float, default=100.0, help="events per second")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--table", choices=["agents", "diff"], default="agents",
                    help="agents: the virtualised AgentsTable; diff: the plain DiffTable (before)")
    ap.add_argument("--profile", default="", help="write a cProfile of the measured phase here")
    a = ap.parse_args(argv)
    r = asyncio.run(run(a.agents, a.queues, a.rate, a.seconds, a.table, a.profile))
    print(f"p99: {r['p99']:.1f} ms")
    print(f"table: {a.table}")
    print(f"load_average: {os.getloadavg()[0]:.2f}")
    print(f"p99_visible: {r['p99_visible']:.1f} ms ({r['visible']} updates of rows in view)")
    print(f"p50: {r['p50']:.1f} ms")
    print(f"max: {r['max']:.1f} ms")
    print(f"cpu: {r['cpu']:.1f} % of one core")
    print(f"events: {r['events']} ({r['rate']:.0f}/s over {r['seconds']:.1f} s)")
    print(f"measured: {r['measured']} agent updates seen painted ({r['unmeasured']} unpainted at the end)")
    print(f"screen refreshes: {r['refreshes']}")
    print(f"cell updates: {r['cell_updates']}")
    print(f"agents: {a.agents}")
    print(f"queues: {a.queues}")


if __name__ == "__main__":
    main()
