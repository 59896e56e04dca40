"""The supervisor screen: live agents and queues tables, `/` filter, set an agent's state.

Both tables are DiffTables: events only mark the screen dirty; a timer flushes a few times a
second and touches only the cells that changed. Ids: #agents (columns id, name, state, reason,
time, queues, call), #queues, #agent-filter (Input, shown by `/`), #connection.
"""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.reactive import reactive
from textual.widgets import Footer, Header, Input, Label

from cc_console.widgets.diff_table import DiffTable
from cc_console.widgets.fmt import duration, long_duration, longest_wait, percent, state_label, state_style
from cc_console.widgets.status import ConnectionStatus

from .base import ConsoleScreen

AGENT_COLUMNS = [
    ("id", "Agent", 8),
    ("name", "Name", 12),
    ("state", "State", 10),
    ("reason", "Reason", 8),
    ("time", "Time", 6),
    ("queues", "Queues", 12),
    ("call", "Call", 10),
]

QUEUE_COLUMNS = [
    ("name", "Queue", 10),
    ("waiting", "Wait", 4),
    ("longest", "Longest", 7),
    ("ready", "Rdy", 3),
    ("busy", "Busy", 4),
    ("paused", "Paus", 4),
    ("offered", "Offer", 5),
    ("answered", "Ans", 4),
    ("abandoned", "Abn", 4),
    ("sl", "SL%", 4),
]


def agent_row(agent: dict[str, Any], calls: dict[str, dict[str, Any]], now: float) -> tuple[Any, ...]:
    state = agent.get("state", "")
    since = agent.get("state_since") or 0.0
    call = calls.get(agent.get("call_id") or "")
    call_text = (call.get("caller") if call else None) or agent.get("call_id") or ""
    return (
        agent.get("id", ""),
        agent.get("name", ""),
        Text(state_label(state), style=state_style(state)),
        agent.get("reason", "") if state == "paused" else "",
        long_duration(now - since) if since and state != "logged_out" else "",
        ",".join(agent.get("queues") or []),
        call_text,
    )


def queue_row(q: dict[str, Any], now: float) -> tuple[Any, ...]:
    waiting = int(q.get("waiting") or 0)
    return (
        q.get("name", ""),
        Text(str(waiting), style="bold black on yellow" if waiting else ""),
        duration(longest_wait(q, now)),
        str(q.get("agents_ready", 0)),
        str(q.get("agents_busy", 0)),
        str(q.get("agents_paused", 0)),
        str(q.get("offered", 0)),
        str(q.get("answered", 0)),
        str(q.get("abandoned", 0)),
        percent(q.get("service_level")),
    )


class SupervisorScreen(ConsoleScreen):
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="supervisor.filter", tooltip="Filter the agents table"),
        Binding("r", "set_state('ready')", "Make ready", id="supervisor.agent_ready"),
        Binding("p", "set_state('paused')", "Pause agent", id="supervisor.agent_pause"),
        Binding("o", "set_state('logged_out')", "Log agent out", id="supervisor.agent_logout"),
        Binding("w", "wallboard", "Wallboard", id="supervisor.wallboard"),
        Binding("escape", "back", "Back", show=False, id="screen.back"),
    ]

    BATCH_SECONDS = 0.25

    filter_text: reactive[str] = reactive("", init=False)

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        super().__init__(client, id="supervisor", **kwargs)

    def compose(self) -> ComposeResult:
        yield Header(icon="☎")
        yield ConnectionStatus(id="connection")
        yield Input(placeholder="filter agents: id, name, state, queue…", id="agent-filter")
        yield Label("Agents", id="agents-title", classes="section-title")
        yield DiffTable(AGENT_COLUMNS, sort_column="id", id="agents")
        yield Label("Queues", id="queues-title", classes="section-title")
        yield DiffTable(QUEUE_COLUMNS, sort_column="name", id="queues")
        yield Footer()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#agents", DiffTable).focus()

    def refresh_state(self) -> None:
        state = self.state
        now = self.now()
        self.query_one("#connection", ConnectionStatus).show(
            self.connected, self.stale, str(state.server.get("ari", "")))
        needle = self.filter_text.lower().strip()
        rows: dict[str, tuple[Any, ...]] = {}
        for agent_id in sorted(state.agents):
            row = agent_row(state.agents[agent_id], state.calls, now)
            if needle and needle not in " ".join(str(getattr(c, "plain", c)) for c in row).lower():
                continue
            rows[agent_id] = row
        agents = self.query_one("#agents", DiffTable)
        with self.app.batch_update():
            agents.sync(rows)
            self.query_one("#queues", DiffTable).sync(
                {name: queue_row(state.queues[name], now) for name in sorted(state.queues)})
        total = len(state.agents)
        title = f"Agents ({len(rows)}/{total} matching '{self.filter_text}')" if needle else f"Agents ({total})"
        self.query_one("#agents-title", Label).update(title)

    # -- filter ---------------------------------------------------------------------------------
    def action_filter(self) -> None:
        box = self.query_one("#agent-filter", Input)
        box.add_class("-visible")
        box.focus()

    @on(Input.Changed, "#agent-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value

    @on(Input.Submitted, "#agent-filter")
    def _filter_done(self) -> None:
        self.query_one("#agents", DiffTable).focus()

    def watch_filter_text(self) -> None:
        self.refresh_state()

    def action_back(self) -> None:
        box = self.query_one("#agent-filter", Input)
        if box.has_class("-visible"):
            box.value = ""
            box.remove_class("-visible")
            self.query_one("#agents", DiffTable).focus()
            return
        super().action_back()

    # -- supervisor actions ----------------------------------------------------------------------
    def action_set_state(self, state: str) -> None:
        agent_id = self.query_one("#agents", DiffTable).selected_key
        if not agent_id:
            self.notify("Select an agent first.", severity="warning")
            return
        self.send_command("agent.set_state", {"agent": agent_id, "state": state},
                          ok_message=f"{agent_id}: {state_label(state).lower()}")

    def action_wallboard(self) -> None:
        from .wallboard import WallboardScreen

        self.app.push_screen(WallboardScreen(self._client, now=self._now))
