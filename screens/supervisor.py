"""The supervisor screen: live agents and queues, alerts, monitoring and agent/queue actions.

Both tables are DiffTables: events only mark the screen dirty; a timer flushes four times a
second and touches only the cells that changed (rows are re-indexed only when the order changes).

Ids: #connection, #monitor-status (what I am monitoring), #alert-bar (class ``-visible`` while any
alert is active), #agent-filter (Input, shown by `/`), #agents (columns id, name, state, reason,
time, handled, missed, queues, call; group header rows have keys ``group:<name>``), #queues,
#chat-figures (the written channels' figures from chat.stats, widgets/chat_figures.py; hidden
without chats), #detail (the detail panel, class ``-visible``).

Handled and missed are the server's figures for the chosen period (`P` cycles today, yesterday,
the last 7 and 30 days): its agent report (`report.run`), asked for when the screen opens, after a
call ends or an offer is missed (at most every FIGURES_GAP seconds) and every FIGURES_SECONDS.
`g` groups the agents by first queue, team or site (the team and site of the routing file's
agent profile). `t` opens the report of the selected agent or queue, filtered to it, for today.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Label, Static

from cc_console.models import call_agents
from cc_console.widgets.agents_table import AgentsTable
from cc_console.widgets.alerts import AgentAlerts, Alert, AlertConfig, AlertTracker, evaluate, load_alert_config
from cc_console.widgets.chat_figures import ChatFigures
from cc_console.widgets.chats import ChatsPanel
from cc_console.widgets.diff_table import DiffTable
from cc_console.widgets.fmt import duration, long_duration, longest_wait, percent, state_label, state_style
from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader
from cc_console.widgets.line import Line
from cc_console.widgets.pickers import QueuePicker, ReasonPicker
from cc_console.widgets.status import ConnectionStatus

from .base import CommandSucceeded, ConsoleScreen
from .supervisor_figures import GROUPINGS, AgentFigures, group_of, period_args

log = logging.getLogger(__name__)

AGENT_COLUMNS = [
    ("id", "Agent", 8),
    ("name", "Name", 12),
    ("state", "State", 10),
    ("reason", "Reason", 8),
    ("time", "Time", 7),
    ("handled", "Hnd", 3),
    ("missed", "Mis", 3),
    ("queues", "Queues", 14),
    ("call", "Call", 14),
]

QUEUE_COLUMNS = [
    ("name", "Queue", 12),
    ("waiting", "Wait", 4),
    ("longest", "Longest", 7),
    ("ready", "Free", 4),
    ("busy", "Busy", 4),
    ("paused", "Paus", 4),
    ("offered", "Offer", 5),
    ("answered", "Hand", 4),
    ("abandoned", "Abn", 4),
    ("sl", "SL%", 4),
    ("callbacks", "CB", 3),
]

# (key, label) cycled by `s`
SORTS = [("id", "agent"), ("name", "name"), ("state", "state"), ("time", "time in state"),
         ("handled", "handled"), ("missed", "missed")]
STATE_ORDER = {"ringing": 0, "on_call": 1, "wrap_up": 2, "paused": 3, "ready": 4, "logged_out": 5}
DEFAULT_PAUSE_REASONS = [("break", "Break"), ("lunch", "Lunch"), ("admin", "Admin work"),
                         ("training", "Training"), ("meeting", "Meeting")]
ALERT_STYLE = "bold white on red"
GROUP_PREFIX = "group:"
NO_ALERTS: frozenset[str] = frozenset()


def is_queue_agent(agent: dict[str, Any]) -> bool:
    """A member of some queue (or logged in to one): supervisors and admins who take no calls
    have an agent record too, but are nobody's agents."""
    return bool(agent.get("penalties") or agent.get("queues"))


_STATE_TEXTS: dict[str, Text] = {}


def _state_text(state: str) -> Text:
    """One Text per state, shared by every row (nothing changes a cell's Text once made): building
    one per row was much of an event's cost, and equal rows now compare by identity."""
    text = _STATE_TEXTS.get(state)
    if text is None:
        text = _STATE_TEXTS[state] = Text(state_label(state), style=state_style(state))
    return text


def agent_row(agent: dict[str, Any], calls: dict[str, dict[str, Any]], now: float, *,
              handled: int | None = 0, missed: int | None = 0,
              alerts: set[str] | frozenset[str] = frozenset()) -> tuple[Any, ...]:
    state = agent.get("state", "")
    since = agent.get("state_since") or 0.0
    call = calls.get(agent.get("call_id") or "")
    call_text = (call.get("caller") if call else None) or agent.get("call_id") or ""
    time_text = long_duration(now - since) if since and state != "logged_out" else ""
    return (
        agent.get("id", ""),
        agent.get("name", ""),
        _state_text(state),
        agent.get("reason", "") if state == "paused" else
        (f"next: {agent['pending_pause']}" if agent.get("pending_pause") else ""),  # pause asked during a call
        Text(time_text, style=ALERT_STYLE) if alerts else time_text,
        "" if handled is None else str(handled),  # None: the server has not said yet
        "" if missed is None else str(missed),
        ",".join(agent.get("queues") or []),
        call_text,
    )


def queue_row(q: dict[str, Any], now: float, *, callbacks: int = 0,
              alerts: set[str] | frozenset[str] = frozenset()) -> tuple[Any, ...]:
    waiting = int(q.get("waiting") or 0)
    name = q.get("name", "")
    if q.get("problem"):
        name_cell: Any = Text(f"{name} ⚑", style="bold yellow")
    elif q.get("open") is False:
        name_cell = Text(name, style="dim")
    else:
        name_cell = name
    longest = duration(longest_wait(q, now))
    sl = percent(q.get("service_level"))
    return (
        name_cell,
        Text(str(waiting), style="bold black on yellow" if waiting else ""),
        Text(longest, style=ALERT_STYLE) if "wait" in alerts else longest,
        str(q.get("agents_ready", 0)),
        str(q.get("agents_busy", 0)),
        str(q.get("agents_paused", 0)),
        str(q.get("offered", 0)),
        str(q.get("answered", 0)),
        str(q.get("abandoned", 0)),
        Text(sl, style=ALERT_STYLE) if "sl" in alerts else sl,
        str(callbacks) if callbacks else "",
    )


def open_callbacks(callbacks: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Open callback requests and voicemails per queue."""
    out: dict[str, int] = {}
    for item in callbacks.values():
        if item.get("state", "open") == "open":
            q = item.get("queue", "")
            out[q] = out.get(q, 0) + 1
    return out


class SupervisorScreen(ConsoleScreen):
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="supervisor.filter", tooltip="Filter the agents table"),
        Binding("s", "cycle_sort", "Sort", id="supervisor.sort", tooltip="Cycle the agents' sort column"),
        Binding("g", "toggle_group", "Group", id="supervisor.group",
                tooltip="Group agents by first queue, then team, then site, then not"),
        Binding("P", "cycle_period", "Period", id="supervisor.period", show=False,
                tooltip="Handled and missed for today, yesterday, the last 7 or 30 days"),
        Binding("L", "monitor('listen')", "Listen", id="supervisor.listen",
                tooltip="Listen to the selected agent's call"),
        Binding("W", "monitor('whisper')", "Whisper", id="supervisor.whisper",
                tooltip="Talk to the selected agent only"),
        Binding("B", "monitor('barge')", "Barge", id="supervisor.barge",
                tooltip="Join the selected agent's call (both hear you)"),
        Binding("X", "monitor_stop", "End monitor", id="supervisor.monitor_stop", tooltip="Stop monitoring"),
        Binding("r", "set_state('ready')", "Make ready", id="supervisor.agent_ready"),
        Binding("p", "pause_agent", "Pause agent", id="supervisor.agent_pause",
                tooltip="Pause the selected agent, picking a reason"),
        Binding("o", "set_state('logged_out')", "Log agent out", id="supervisor.agent_logout"),
        Binding("q", "agent_queues", "Agent queues", id="supervisor.agent_queues",
                tooltip="Log the selected agent into or out of their queues"),
        Binding("a", "queue_problem", "Problem msg", id="supervisor.queue_problem",
                tooltip="General-problem announcement on/off for the selected queue"),
        Binding("d", "detail", "Details", id="supervisor.detail",
                tooltip="Details of the selected agent or queue (also enter)"),
        Binding("t", "report", "Today's report", id="supervisor.report",
                tooltip="Today's report of the selected agent or queue"),
        Binding("v", "recordings", "Recordings", id="supervisor.recordings", show=False),
        Binding("C", "campaigns", "Campaigns", id="supervisor.campaigns", show=False,
                tooltip="Outbound campaigns: progress, reach, abandonment, occupancy; start and pause"),
        Binding("T", "team", "My team", id="supervisor.team", show=False,
                tooltip="The agents of my team: site, team, disable, delete"),
        Binding("R", "reload_alerts", "Reload alerts", id="supervisor.reload_alerts", show=False,
                tooltip="Re-read the [alerts] thresholds from supervisor.toml"),
        Binding("w", "wallboard", "Wallboard", id="supervisor.wallboard"),
        Binding("escape", "back", "Back", show=False, id="screen.back"),
        # -- chats I was invited into (widgets/chats.py; docs/chat.md): one key per chat --
        *[Binding(str(n), f"chat({n})", f"Chat {n}", id=f"supervisor.chat{n}", show=False,
                  tooltip=f"Chat number {n}: show it and write in it") for n in range(1, 10)],
    ]

    # Events schedule a refresh at most MIN_GAP after the previous one (so a burst costs one
    # refresh and a lone event shows within ~MIN_GAP); the interval flush is only a safety net.
    BATCH_SECONDS = 1.0
    MIN_GAP = 0.08
    # The queues table at most this often: the server pushes a busy queue's figures up to 20 times
    # a second for the wallboards (server/calls/pacing.py), and repainting the table for each was
    # a tenth of a 2,000-agent console's CPU, for figures it had shown 4 times a second before.
    QUEUE_SECONDS = 0.25
    # The per-agent figures: asked for again at most this often after calls end, and this often anyway.
    FIGURES_GAP = 2.0
    FIGURES_SECONDS = 60.0

    filter_text: reactive[str] = reactive("", init=False)

    def __init__(self, client: Any = None, *, alerts: AlertConfig | None = None,
                 now: Callable[[], float] | None = None, **kwargs: Any) -> None:
        super().__init__(client, id="supervisor", now=now, **kwargs)
        self._alerts_given = alerts
        self.alert_config = alerts or AlertConfig()
        self._alert_error = ""
        if alerts is None:
            self._load_alerts()
        self.tracker = AlertTracker()
        self.agent_alerts = AgentAlerts()
        self.tally = AgentFigures()
        self._figures_due = False
        self.sort_index = 0
        self.grouping = 0  # index into GROUPINGS
        self.detail_target: tuple[str, str] | None = None  # ("agent"|"queue", key)
        self._row_cache: dict[str, tuple[tuple[Any, ...], tuple[Any, ...], int]] = {}
        self._texts: dict[str, str] = {}
        # What the last full pass over all agents showed, so that a refresh after a few agents'
        # events rebuilds only their rows (see _changed_rows): its inputs, the agents it showed,
        # how many agents there were, the alert kinds per agent; and the agents touched since.
        self._full_key: tuple[Any, ...] | None = None
        self._shown: set[str] = set()
        self._total_agents = 0
        self._alert_kinds: dict[str, frozenset[str]] = {}
        self._touched: set[str] = set()
        self.full_passes = 0  # refreshes that walked every agent (tests and benchmarks)
        self._queues_synced = float("-inf")  # time.monotonic() of the queues table's last sync
        self._queues_changed = False
        self._queues_timer: Any = None

    def _load_alerts(self) -> None:
        try:
            self.alert_config = load_alert_config()
            self._alert_error = ""
        except (ValueError, OSError) as exc:
            self.alert_config = AlertConfig()
            self._alert_error = str(exc)

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="☎")
        yield ConnectionStatus(id="connection")
        yield Line("", id="monitor-status")
        yield Line("", id="alert-bar")
        yield Input(placeholder="filter agents: id, name, state, queue…", id="agent-filter")
        with Horizontal(id="supervisor-body"):
            with Vertical(id="supervisor-tables"):
                yield Line("Agents", id="agents-title", classes="section-title")
                yield AgentsTable(AGENT_COLUMNS, id="agents")
                yield Label("Queues", id="queues-title", classes="section-title")
                # Not agents, but the same table: a queue's new figures repaint its line only
                # (a DiffTable repaints itself whole and empties its caches on any change).
                yield AgentsTable(QUEUE_COLUMNS, sort_column="name", id="queues")
                yield ChatFigures(id="chat-figures")
            yield Static("", id="detail")
            yield ChatsPanel(id="chats")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.tally.seed(self.state.agents)
        super().on_mount()
        self.fetch_figures()
        self.run_worker(self._load_chat_figures(), group="chat-figures", exit_on_error=False)
        self.set_interval(self.FIGURES_SECONDS, self.fetch_figures, name="figures")
        self.query_one("#agents", DiffTable).focus()
        if self._alert_error:
            self.notify(self._alert_error, title="supervisor.toml ignored", severity="warning", timeout=10)

    # -- events ------------------------------------------------------------------------------------
    def state_changed(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "chat.stats":
            self.query_one(ChatFigures).show(data.get("queues", []))
            return
        if kind.startswith("chat."):
            self.query_one(ChatsPanel).chat_event(kind, data)
            return
        if kind == "snapshot":
            self.tally.seed(self.state.agents)
            if self.is_mounted and self.tally.loaded:  # back after a reconnect: figures from now
                self.fetch_figures()
        elif self.tally.changes(kind, data) and not self._figures_due and self.is_mounted:
            self._figures_due = True
            self.set_timer(self.FIGURES_GAP, self.fetch_figures, name="figures-soon")
        if kind in ("queue.stats", "callback.update", "snapshot"):
            self._queues_changed = True
        if kind == "agent.state":
            self._touched.add(data.get("id", ""))
            self.agent_alerts.touch(data.get("id", ""))
        elif kind in ("call.update", "call.ended"):
            self._touched.update(call_agents(data))
        self.mark_dirty()

    def fetch_figures(self) -> None:
        self._figures_due = False
        self.run_worker(self._load_figures(self.tally.key), group="figures", exclusive=True, exit_on_error=False)

    async def _load_figures(self, period: str) -> None:
        try:
            result = await self.client.call("report.run", {"kind": "agent", **period_args(period, self.now())})
        except Exception as exc:  # not connected, or no report scope: the columns stay empty
            log.info("agent figures not loaded: %s", exc)
            return
        if period == self.tally.key:
            self.tally.show((result or {}).get("report") or {})
            self.mark_dirty()

    async def _load_chat_figures(self) -> None:
        """The written channels' figures until the next chat.stats event."""
        try:
            result = await self.client.call("chat.stats", {})
        except Exception as exc:  # not connected, or a server without chats: the table stays hidden
            log.info("chat figures not loaded: %s", exc)
            return
        self.query_one(ChatFigures).show((result or {}).get("queues", []))

    def action_chat(self, n: int) -> None:
        self.query_one(ChatsPanel).pick(n)

    @on(CommandSucceeded)
    def _command_ok(self, message: CommandSucceeded) -> None:
        monitor = message.result.get("monitor") if isinstance(message.result, dict) else None
        if isinstance(monitor, dict) and monitor.get("supervisor"):
            self.state.apply("monitor.update", monitor)
            self.mark_dirty()

    # -- rendering -----------------------------------------------------------------------------------
    def _console_audio(self) -> None:
        """My device is the console (docs/audio.md): listen, whisper and barge on it; its panel once."""
        from cc_console.client import ConsoleClient
        me = self.state.my_agent or {}
        if (me.get("device") == "Console" and isinstance(self.client, ConsoleClient)
                and not self.query("#console-audio")):
            from cc_console.widgets.audio import console_audio_panel
            self.query_one("#supervisor-tables").mount(console_audio_panel(self.client))

    def refresh_state(self) -> None:
        state = self.state
        now = self.now()
        self._console_audio()
        self.query_one("#connection", ConnectionStatus).show(
            self.connected, self.stale, str(state.server.get("ari", "")))
        alerts = evaluate((), state.queues.values(), now, self.alert_config, state.server)
        alerts += self.agent_alerts.alerts(state.agents, now, self.alert_config)
        if overload := state.server.get("overload"):  # the server's own word: it is degrading under load
            alerts.insert(0, Alert("overload", "server", str(overload)))
        onsets = self.tracker.update(alerts)
        if onsets:
            self.app.bell()  # once per refresh that brings new alerts, never again while they last
        table = self.query_one("#agents", AgentsTable)
        changed = self._changed_rows(now, table)
        if changed is None:
            self.full_passes += 1
            agents_rows, order = self._agent_rows(now)
            self._shown = {k for k in agents_rows if not k.startswith(GROUP_PREFIX)}
            self._total_agents = sum(1 for a in state.agents.values() if is_queue_agent(a))
        callbacks = open_callbacks(state.callbacks)
        tracker = self.tracker
        with self.app.batch_update():
            if changed is None:
                table.sync(agents_rows, order)
            else:
                table.sync_rows(changed)
            wait = self._queues_synced + self.QUEUE_SECONDS - time.monotonic()
            if wait <= 0:
                self._queues_synced, self._queues_changed = time.monotonic(), False
                self.query_one("#queues", DiffTable).sync(
                    {name: queue_row(state.queues[name], now, callbacks=callbacks.get(name, 0),
                                     alerts=tracker.kinds(name)) for name in sorted(state.queues)})
            elif self._queues_changed and self._queues_timer is None and self.is_mounted:
                self._queues_timer = self.set_timer(wait, self._queues_due, name="queues")
            self._show_alerts()
            self._show_monitor()
            self._show_detail(now)
            n_agents, total = len(self._shown), self._total_agents
            title = f"Agents ({n_agents}/{total} matching '{self.filter_text}')" if self.filter_text.strip() \
                else f"Agents ({total})"
            by = GROUPINGS[self.grouping][1]
            title += f" · sort: {SORTS[self.sort_index][1]}" + (f" · by {by}" if by else "") \
                + f" · handled/missed: {self.tally.label}"
            self._set_text(self.query_one("#agents-title", Line), title)

    def _queues_due(self) -> None:
        self._queues_timer = None
        self.mark_dirty()

    def _changed_rows(self, now: float, table: AgentsTable) -> dict[str, tuple[Any, ...]] | None:
        """The rows to change when only some agents changed since the last full pass and the order
        cannot have moved (sorted by agent, not grouped): theirs, and rows in view whose time in
        state ticked. None when a full pass is needed. At 2,000 agents and 1,000 events a second
        the full pass (every agent's row checked, the order rebuilt) was 8 ms of each refresh."""
        state, tally = self.state, self.tally
        key = (self.filter_text.lower().strip(), self.sort_index, self.grouping, id(state.agents),
               id(state.calls), tally.loaded, id(tally.handled), id(tally.missed), self.is_mounted)
        by_target = self.tracker.by_target
        kinds = {k: frozenset(v) for k, v in by_target.items() if v}
        touched, self._touched = self._touched, set()
        alerted = {k for k in kinds.keys() | self._alert_kinds.keys() if kinds.get(k) != self._alert_kinds.get(k)}
        self._alert_kinds = kinds
        full = key != self._full_key or SORTS[self.sort_index][0] != "id" or GROUPINGS[self.grouping][0]
        self._full_key = key
        if full or not self.is_mounted:
            return None
        needle = key[0]
        shown = self._shown
        in_view = set(table.visible_keys())
        changed: dict[str, tuple[Any, ...]] = {}
        cache = self._row_cache
        for agent_id in touched | alerted | in_view:
            agent = state.agents.get(agent_id)
            if agent_id not in touched and agent_id not in alerted and agent is not None:
                # In view and no event: only its time in state can have changed, once a second.
                hit = cache.get(agent_id)
                if hit is not None and hit[0][0] is agent and hit[2] == int(now - (agent.get("state_since") or 0.0)):
                    continue
            if agent is None or not is_queue_agent(agent):
                if agent_id in shown:
                    return None  # gone, or no longer anyone's agent: the order changes
                continue
            if agent_id not in self._row_cache:
                return None  # an agent the last full pass did not know
            row = self._row_of(agent_id, agent, now, in_view=agent_id in in_view or agent_id in touched)
            if needle:
                matches = needle in " ".join(str(getattr(c, "plain", c)) for c in row).lower()
                if matches != (agent_id in shown):
                    return None  # into or out of the filter: the order changes
            if agent_id not in shown:
                if not needle:
                    return None  # a new agent: a new row
                continue
            changed[agent_id] = row
        return changed

    def _row_of(self, agent_id: str, agent: dict[str, Any], now: float, *, in_view: bool) -> tuple[Any, ...]:
        """One agent's row, from the cache when nothing it shows changed (its time text only when in view)."""
        state, tally = self.state, self.tally
        zero = 0 if tally.loaded else None
        kinds = self.tracker.by_target.get(agent_id)
        stamp = (agent, state.calls.get(agent.get("call_id") or "") if agent.get("call_id") else None,
                 tally.handled.get(agent_id, zero), tally.missed.get(agent_id, zero),
                 frozenset(kinds) if kinds else NO_ALERTS)
        second = int(now - (agent.get("state_since") or 0.0))
        hit = self._row_cache.get(agent_id)
        if hit is not None and hit[0] == stamp and (hit[2] == second or not in_view):
            return hit[1]
        row = agent_row(agent, state.calls, now, handled=stamp[2], missed=stamp[3], alerts=stamp[4])
        self._row_cache[agent_id] = (stamp, row, second)
        return row

    def _agent_rows(self, now: float) -> tuple[dict[str, tuple[Any, ...]], list[str]]:
        state = self.state
        needle = self.filter_text.lower().strip()
        tally, tracker = self.tally, self.tracker
        sort_key = SORTS[self.sort_index][0]
        rows: dict[str, tuple[Any, ...]] = {}
        keyed: list[tuple[str, Any, str]] = []  # (group, sort value, id): sorted as tuples, in C
        cache = self._row_cache
        calls, handled, missed, by_target = state.calls, tally.handled, tally.missed, tracker.by_target
        zero = 0 if tally.loaded else None
        grouping = GROUPINGS[self.grouping][0]
        by_id = sort_key == "id"  # the default: no call per agent
        fresh: dict[str, tuple[tuple[Any, ...], tuple[Any, ...], int]] = {}
        # Rows out of view keep their time text until they come into view (the table says so):
        # at 2,000 agents rebuilding every row each second was most of the screen's work.
        table = self.query_one("#agents", AgentsTable) if self.is_mounted else None
        in_view = set(table.visible_keys()) if table is not None else None
        for agent_id, agent in state.agents.items():
            if not is_queue_agent(agent):
                continue  # a supervisor or admin in no queue is no queue's agent
            # Rebuild a row only when something it shows changed (the agent dict is replaced on
            # every agent.state event; the time text changes once a second).
            since = agent.get("state_since") or 0.0
            kinds = by_target.get(agent_id)
            stamp = (agent, calls.get(agent.get("call_id") or "") if agent.get("call_id") else None,
                     handled.get(agent_id, zero), missed.get(agent_id, zero),
                     frozenset(kinds) if kinds else NO_ALERTS)
            second = int(now - since)
            hit = cache.get(agent_id)
            if hit is not None and hit[0] == stamp and (  # identity first, element by element, in C
                    hit[2] == second or (in_view is not None and agent_id not in in_view)):
                fresh[agent_id] = hit
                row = hit[1]
            else:
                row = agent_row(agent, state.calls, now, handled=stamp[2], missed=stamp[3], alerts=stamp[4])
                fresh[agent_id] = (stamp, row, second)
            group = group_of(agent, grouping) if grouping else ""
            if needle and needle not in (" ".join(str(getattr(c, "plain", c)) for c in row) + " " + group).lower():
                continue
            rows[agent_id] = row
            keyed.append((group, agent_id if by_id else self._sort_value(sort_key, agent, now), agent_id))
        self._row_cache = fresh
        keyed.sort()
        if not grouping:
            flat = [k for _, _, k in keyed]
            if table is not None:
                self._fresh_in_view(table.visible_keys(flat), rows, now)
            return rows, flat
        out: dict[str, tuple[Any, ...]] = {}
        order: list[str] = []
        counts: dict[str, int] = {}
        for group, _, _ in keyed:
            counts[group] = counts.get(group, 0) + 1
        blank = ("",) * (len(AGENT_COLUMNS) - 2)
        for group, _, agent_id in keyed:
            gkey = GROUP_PREFIX + group
            if gkey not in out:
                out[gkey] = (Text(f"▾ {grouping}", style="dim"), Text(group, style="bold"),
                             Text(f"{counts[group]} agent{'s' if counts[group] != 1 else ''}", style="dim"), *blank[1:])
                order.append(gkey)
            out[agent_id] = rows[agent_id]
            order.append(agent_id)
        if table is not None:
            self._fresh_in_view(table.visible_keys(order), out, now)
        return out, order

    def _fresh_in_view(self, keys: list[str], rows: dict[str, tuple[Any, ...]], now: float) -> None:
        """Rows the new order brings into view get their time text brought up to date."""
        for key in keys:
            hit = self._row_cache.get(key)
            if hit is None or key not in rows:
                continue
            stamp, _, second = hit
            agent = stamp[0]
            now_second = int(now - (agent.get("state_since") or 0.0))
            if second != now_second:
                row = agent_row(agent, self.state.calls, now, handled=stamp[2], missed=stamp[3], alerts=stamp[4])
                self._row_cache[key] = (stamp, row, now_second)
                rows[key] = row

    @on(AgentsTable.ViewMoved)
    def _view_moved(self) -> None:
        self.mark_dirty()

    def _sort_value(self, key: str, agent: dict[str, Any], now: float) -> Any:
        aid = agent.get("id", "")
        if key == "name":
            return str(agent.get("name", "")).lower()
        if key == "state":
            return STATE_ORDER.get(agent.get("state", ""), 9)
        if key == "time":
            since = agent.get("state_since") or 0.0
            return -(now - since) if since and agent.get("state") != "logged_out" else 0.0
        if key == "handled":
            return -self.tally.handled.get(aid, 0)
        if key == "missed":
            return -self.tally.missed.get(aid, 0)
        return aid

    def _set_text(self, widget: Static | Line, text: str) -> None:
        """Update only on change: an update re-lays out the screen, which costs at 500 agents."""
        if self._texts.get(widget.id or "") != text:
            self._texts[widget.id or ""] = text
            widget.update(text)

    def _show_alerts(self) -> None:
        bar = self.query_one("#alert-bar", Line)
        active = list(self.tracker.active.values())
        self._set_text(bar, f"⚠ {len(active)} alert{'s' if len(active) > 1 else ''}: "
                       + " · ".join(a.text for a in active) if active else "")
        bar.set_class(bool(active), "-visible")

    def _show_monitor(self) -> None:
        line = self.query_one("#monitor-status", Line)
        mon = self.state.my_monitor
        if mon:
            text = f"🎧 Monitoring {mon.get('agent', '?')} · {str(mon.get('mode', '')).upper()} · " \
                   f"{mon.get('state', '')}   (X ends)"
        else:
            text = "Not monitoring · L listen · W whisper · B barge (on the selected agent)"
        self._set_text(line, text)
        line.set_class(bool(mon), "-active")

    # -- selection helpers ------------------------------------------------------------------------------
    @property
    def selected_agent(self) -> str | None:
        key = self.query_one("#agents", DiffTable).selected_key
        if key is None or key.startswith(GROUP_PREFIX):
            return None
        return key

    @property
    def selected_queue(self) -> str | None:
        return self.query_one("#queues", DiffTable).selected_key

    def _need_agent(self) -> str | None:
        agent_id = self.selected_agent
        if not agent_id:
            self.notify("Select an agent first.", severity="warning")
        return agent_id

    # -- filter -------------------------------------------------------------------------------------------
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
        self._refresh()

    def action_back(self) -> None:
        detail = self.query_one("#detail", Static)
        if detail.has_class("-visible"):
            self.detail_target = None
            detail.remove_class("-visible")
            return
        box = self.query_one("#agent-filter", Input)
        if box.has_class("-visible"):
            box.value = ""
            box.remove_class("-visible")
            self.query_one("#agents", DiffTable).focus()
            return
        super().action_back()

    def action_cycle_sort(self) -> None:
        self.sort_index = (self.sort_index + 1) % len(SORTS)
        self._refresh()

    def action_toggle_group(self) -> None:
        self.grouping = (self.grouping + 1) % len(GROUPINGS)
        self._refresh()

    def action_cycle_period(self) -> None:
        self.tally.cycle()
        self.notify(f"Handled and missed: {self.tally.label}", timeout=2)
        self.fetch_figures()
        self._refresh()

    # -- detail panel ---------------------------------------------------------------------------------------
    @on(DataTable.RowSelected)
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self._open_detail(event.data_table.id or "", str(event.row_key.value))

    def action_detail(self) -> None:
        focused = self.focused
        table = focused if isinstance(focused, DiffTable) else self.query_one("#agents", DiffTable)
        key = table.selected_key
        if key:
            self._open_detail(table.id or "", key)

    def _open_detail(self, table_id: str, key: str) -> None:
        if key.startswith(GROUP_PREFIX):
            return
        self.detail_target = ("queue" if table_id == "queues" else "agent", key)
        self.query_one("#detail", Static).add_class("-visible")
        self._show_detail(self.now())

    def _show_detail(self, now: float) -> None:
        target = self.detail_target
        if target is None:
            return
        panel = self.query_one("#detail", Static)
        kind, key = target
        lines: list[str] = []
        if kind == "agent":
            a = self.state.agents.get(key)
            if a is None:
                self._set_text(panel, f"{key}: gone")
                return
            since = a.get("state_since") or 0.0
            lines += [f"[b]{a.get('name', '')}[/b] ({key})",
                      f"State    {state_label(a.get('state'))} {a.get('reason', '') or ''}",
                      f"For      {long_duration(now - since) if since else '-'}",
                      f"Device   {a.get('device', '')} ({a.get('answer_mode', '')})",
                      f"Queues   {', '.join(a.get('queues') or []) or '-'}",
                      "Member   "
                      + (", ".join(f"{q}:{p}" for q, p in sorted((a.get('penalties') or {}).items())) or "-"),
                      "Skills   " + (", ".join(f"{s}:{v}" for s, v in sorted((a.get('skills') or {}).items())) or "-"),
                      f"Team     {a.get('team') or '-'}   Site {a.get('site') or '-'}",
                      f"Handled  {self.tally.handled.get(key, 0)}   Missed {self.tally.missed.get(key, 0)}"
                      f"   ({self.tally.label})" if self.tally.loaded else "Handled  (asking the server…)"]
            call = self.state.calls.get(a.get("call_id") or "")
            if call:
                lines.append(f"Call     {call.get('caller', '')} via {call.get('queue', '')} ({call.get('state', '')})")
            mon = self.state.my_monitor
            if mon and mon.get("agent") == key:
                lines.append(f"Monitor  {mon.get('mode', '')} ({mon.get('state', '')})")
        else:
            q = self.state.queues.get(key)
            if q is None:
                self._set_text(panel, f"{key}: gone")
                return
            lines += [f"[b]Queue {key}[/b]" + ("  ⚑ problem message ON" if q.get("problem") else ""),
                      f"Open     {'yes' if q.get('open', True) else 'no (closed)'}",
                      f"Waiting  {q.get('waiting', 0)}  longest {duration(longest_wait(q, now))}",
                      f"Agents   {q.get('agents_logged_in', 0)} in: {q.get('agents_ready', 0)} free, "
                      f"{q.get('agents_busy', 0)} busy, {q.get('agents_wrapup', 0)} wrap, "
                      f"{q.get('agents_paused', 0)} paused",
                      f"Offered  {q.get('offered', 0)}  handled {q.get('answered', 0)}  "
                      f"abandoned {q.get('abandoned', 0)}",
                      f"Overflow {q.get('overflowed', 0)}  callbacks {q.get('callbacks', 0)}  "
                      f"voicemail {q.get('voicemails', 0)}",
                      f"SL today {percent(q.get('service_level'))}% (alert below {percent(self.alert_config.sl_min)}%)"]
        lines.append("")
        lines.append("[dim]t today's report · v recordings · esc close[/dim]")
        self._set_text(panel, "\n".join(lines))

    # -- supervisor actions ------------------------------------------------------------------------------
    def action_set_state(self, state: str) -> None:
        agent_id = self._need_agent()
        if agent_id:
            self.send_command("agent.set_state", {"agent": agent_id, "state": state},
                              ok_message=f"{agent_id}: {state_label(state).lower()}")

    def action_pause_agent(self) -> None:
        agent_id = self._need_agent()
        if not agent_id:
            return
        reasons = [(r["code"], r.get("label") or r["code"]) for r in self.state.pause_reasons] or DEFAULT_PAUSE_REASONS

        def picked(code: str | None) -> None:
            if code:
                self.send_command("agent.set_state", {"agent": agent_id, "state": "paused", "reason": code},
                                  ok_message=f"{agent_id}: paused ({code})")

        self.app.push_screen(ReasonPicker(reasons, title=f"Pause {agent_id}: reason"), picked)

    def action_agent_queues(self) -> None:
        agent_id = self._need_agent()
        if not agent_id:
            return
        agent = self.state.agents.get(agent_id, {})
        member = sorted(agent.get("penalties") or {})
        for q in agent.get("queues") or []:
            if q not in member:
                member.append(q)
        if not member:
            self.notify(f"{agent_id} is a member of no queue.", severity="warning")
            return

        def picked(queues: list[str] | None) -> None:
            if queues is not None:
                self.send_command("agent.set_queues", {"agent": agent_id, "queues": queues},
                                  ok_message=f"{agent_id}: queues {', '.join(queues) or '(none: logged out)'}")

        self.app.push_screen(QueuePicker(agent_id, member, list(agent.get("queues") or [])), picked)

    def action_queue_problem(self) -> None:
        queue = self.selected_queue
        if not queue:
            self.notify("Select a queue first (tab to the queues table).", severity="warning")
            return
        on = not bool(self.state.queues.get(queue, {}).get("problem"))
        self.send_command("queue.problem", {"queue": queue, "on": on},
                          ok_message=f"{queue}: problem announcement {'on' if on else 'off'}")

    def action_monitor(self, mode: str) -> None:
        agent_id = self._need_agent()
        if agent_id:
            self.send_command("monitor.start", {"agent": agent_id, "mode": mode},
                              ok_message=f"{mode} on {agent_id}: your phone rings")

    def action_monitor_stop(self) -> None:
        self.send_command("monitor.stop", {}, ok_message="monitoring ended")
        mon = self.state.my_monitor
        if mon:  # the server confirms with monitor.update; show it at once
            self.state.apply("monitor.update", dict(mon, state="ended"))
            self.mark_dirty()

    def action_report(self) -> None:
        """Today's report of the selected row: the agent's (agent report) or the queue's (queue
        report), filtered to it; the queues table when it has the focus, else the agents table."""
        from .reports import ReportsScreen
        queues: list[str] = []
        agents: list[str] = []
        if isinstance(self.focused, DiffTable) and self.focused.id == "queues":
            queues = [q] if (q := self.selected_queue) else []
        elif a := self.selected_agent:
            agents = [a]
        self.app.push_screen(ReportsScreen(self._client, now=self._now, kind="agent" if agents else "queue",
                                           queues=queues, agents=agents))

    def action_team(self) -> None:
        from .team import TeamScreen
        self.app.push_screen(TeamScreen(self._client, now=self._now))

    def action_campaigns(self) -> None:
        from .campaigns import CampaignsScreen
        self.app.push_screen(CampaignsScreen(self._client, now=self._now))

    def action_recordings(self) -> None:
        from .recordings import RecordingsScreen
        self.app.push_screen(RecordingsScreen(self._client))

    def action_reload_alerts(self) -> None:
        if self._alerts_given is not None:
            self.notify("alert thresholds were given by the caller; supervisor.toml not read", timeout=4)
            return
        self._load_alerts()
        if self._alert_error:
            self.notify(self._alert_error, title="supervisor.toml ignored", severity="warning", timeout=10)
        else:
            c = self.alert_config
            self.notify(f"wait>{c.wait_max:g}s call>{c.call_max:g}s pause>{c.pause_max:g}s "
                        f"wrap>{c.wrapup_max:g}s SL<{percent(c.sl_min)}%", title="Alert thresholds")
        self._refresh()

    def action_wallboard(self) -> None:
        from .wallboard import WallboardScreen

        self.app.push_screen(WallboardScreen(self._client, now=self._now,
                                             layout_path=getattr(self.app, "wallboard_layout", None)))
