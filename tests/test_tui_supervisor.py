"""Pilot tests of the supervisor screen: alerts (bell once per onset), keys -> commands, the
monitoring line, the detail panel, sort/group, handled/missed counters. No server: a fake client."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.screens.demo import DEMO_NOW, demo_snapshot
from cc_console.screens.supervisor import ALERT_STYLE, SupervisorScreen
from cc_console.widgets.alerts import AlertConfig, load_alert_config
from cc_console.widgets.diff_table import DiffTable
from cc_console.widgets.help import HelpScreen
from cc_console.widgets.pickers import QueuePicker, ReasonPicker

from .test_tui_pilot import FakeClient, make_app, wait_until

SIZE = (120, 36)
# Thresholds that the demo data stays just under: no alert at start.
QUIET = "[alerts]\nwait_max = 100\ncall_max = 300\npause_max = 900\nwrapup_max = 60\nsl_min = 0.5\n"


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path))
    (tmp_path / "supervisor.toml").write_text(QUIET)
    return tmp_path


class Clock:
    def __init__(self, t: float = DEMO_NOW) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def sup_app(client: FakeClient | None = None, **kw: Any):
    client = client or FakeClient(demo_snapshot("sup1", "supervisor"))
    return client, make_app(client, mode="supervisor", **kw)


async def settle(pilot: Any) -> None:
    await pilot.pause()
    pilot.app.screen.flush()  # what the batch timer does
    await pilot.pause()


def select(screen: SupervisorScreen, table_id: str, key: str) -> None:
    table = screen.query_one(table_id, DiffTable)
    table.move_cursor(row=table.get_row_index(key))


# -- config -----------------------------------------------------------------------------------------
def test_alert_config_file(config_dir: Path) -> None:
    assert load_alert_config() == AlertConfig(100, 300, 900, 60, 0.5)
    (config_dir / "supervisor.toml").unlink()
    assert load_alert_config() == AlertConfig()
    (config_dir / "supervisor.toml").write_text("[alerts]\nsl_min = 80\n")
    with pytest.raises(ValueError, match="sl_min"):
        load_alert_config()
    (config_dir / "supervisor.toml").write_text("[alerts]\nwait_maxx = 3\n")
    with pytest.raises(ValueError, match="wait_maxx"):
        load_alert_config()


# -- alerts -----------------------------------------------------------------------------------------
ALERT_CASES = {
    # kind: (event, data changes, target, table, column)
    "wait": ("queue.stats", "sales", {"waiting": 1, "oldest_enqueued": DEMO_NOW - 150}, "#queues", "longest"),
    "sl": ("queue.stats", "support", {"service_level": 0.42}, "#queues", "sl"),
    "call": ("agent.state", "agent2", {"state_since": DEMO_NOW - 400}, "#agents", "time"),
    "pause": ("agent.state", "agent4", {"state_since": DEMO_NOW - 1000}, "#agents", "time"),
    "wrapup": ("agent.state", "agent3", {"state": "wrap_up", "state_since": DEMO_NOW - 90}, "#agents", "time"),
}


@pytest.mark.parametrize("kind", list(ALERT_CASES))
async def test_each_alert_lights_up_and_rings_once(kind: str) -> None:
    event, target, changes, table_id, column = ALERT_CASES[kind]
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        bar = screen.query_one("#alert-bar")
        assert not bar.has_class("-visible") and app.bells == 0
        base = client.state.queues[target] if event == "queue.stats" else client.state.agents[target]
        client.emit(event, dict(base, **changes))
        await settle(pilot)
        assert (kind, target) in screen.tracker.active
        assert bar.has_class("-visible") and target in str(bar.render())
        table = screen.query_one(table_id, DiffTable)
        col = [c[0] for c in table._columns_spec].index(column)
        cell = table.cells(target)[col]
        assert getattr(cell, "style", "") == ALERT_STYLE
        assert app.bells == 1
        for _ in range(3):  # still alerting: no more bells
            screen.on_tick()
            await settle(pilot)
        assert app.bells == 1
        client.emit(event, dict(base))  # back to normal: the alert clears
        await settle(pilot)
        assert not bar.has_class("-visible") and app.bells == 1
        client.emit(event, dict(base, **changes))  # a new onset rings again
        await settle(pilot)
        assert app.bells == 2


async def test_server_overload_alert_shows_and_rings_once() -> None:
    client, app = sup_app()
    text = "The phone system is not keeping up: waiting calls stay in the queue until it recovers"
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        bar = screen.query_one("#alert-bar")
        client.emit("server.status", {"overload": text})
        await settle(pilot)
        assert bar.has_class("-visible") and "not keeping up" in str(bar.render())
        assert app.bells == 1
        client.emit("server.status", {"overload": ""})  # all well again
        await settle(pilot)
        assert not bar.has_class("-visible") and app.bells == 1


async def test_alert_starts_as_time_passes() -> None:
    clock = Clock()
    client, app = sup_app(now=clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert app.bells == 0
        clock.t += 300  # agent4 has been paused 630 s; the limit is 900
        screen.on_tick()
        await settle(pilot)
        assert ("pause", "agent4") in screen.tracker.active and app.bells == 1
        clock.t += 5
        screen.on_tick()
        await settle(pilot)
        assert app.bells == 1


async def test_bad_supervisor_toml_is_reported_and_defaults_used(config_dir: Path) -> None:
    (config_dir / "supervisor.toml").write_text("[alerts\n")
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.alert_config == AlertConfig()
        assert any("supervisor.toml" in (n.title or "") for n in app._notifications)


# -- keys -> commands ---------------------------------------------------------------------------------
async def test_supervisor_keys_send_commands() -> None:
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        select(screen, "#agents", "agent2")
        for key in ("L", "W", "B", "X"):
            await pilot.press(key)
            await app.workers.wait_for_complete()
        await pilot.press("r", "o")
        await app.workers.wait_for_complete()
        await pilot.press("p")
        assert isinstance(app.screen, ReasonPicker)
        await pilot.press("down", "enter")
        await app.workers.wait_for_complete()
        select(screen, "#agents", "agent1")
        await pilot.press("q")
        assert isinstance(app.screen, QueuePicker)
        assert app.screen.queues == ["sales", "support"]
        await pilot.press("space", "enter")  # untick sales, apply
        await app.workers.wait_for_complete()
        select(screen, "#queues", "sales")
        await pilot.press("a")
        await app.workers.wait_for_complete()
        assert client.sent[0] == ("report.run", {"kind": "agent", "from": "today"})  # the Hnd/Mis figures
        # (report.run: the Hnd/Mis figures; chat.stats: the written channels' figures, asked for on open)
        assert [s for s in client.sent if s[0] not in ("report.run", "chat.stats")] == [
            ("monitor.start", {"agent": "agent2", "mode": "listen"}),
            ("monitor.start", {"agent": "agent2", "mode": "whisper"}),
            ("monitor.start", {"agent": "agent2", "mode": "barge"}),
            ("monitor.stop", {}),
            ("agent.set_state", {"agent": "agent2", "state": "ready"}),
            ("agent.set_state", {"agent": "agent2", "state": "logged_out"}),
            ("agent.set_state", {"agent": "agent2", "state": "paused", "reason": "lunch"}),
            ("agent.set_queues", {"agent": "agent1", "queues": ["support"]}),
            ("queue.problem", {"queue": "sales", "on": True}),
        ]


async def test_server_error_shows_in_a_notification() -> None:
    client, app = sup_app()
    client.errors["monitor.start"] = ProtocolError(ErrorCode.CONFLICT, "agent3 is not on a call")
    async with app.run_test(size=SIZE) as pilot:
        select(app.screen, "#agents", "agent3")
        await pilot.press("L")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [(n.title, n.message) for n in app._notifications] == [("Monitor: not done", "Agent3 is not on a call.")]


async def test_monitoring_status_line() -> None:
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        line = app.screen.query_one("#monitor-status")
        assert "Not monitoring" in str(line.render())
        mon = {"id": "m1", "supervisor": "sup1", "agent": "agent2", "call_id": "c2", "mode": "whisper",
               "state": "active"}
        client.emit("monitor.update", mon)
        await settle(pilot)
        assert "agent2" in str(line.render()) and "WHISPER" in str(line.render()) and line.has_class("-active")
        client.emit("monitor.update", dict(mon, state="ended"))
        await settle(pilot)
        assert "Not monitoring" in str(line.render())


async def test_help_lists_supervisor_binding_ids() -> None:
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {r.binding_id for r in app.screen.rows}
        assert {"supervisor.listen", "supervisor.whisper", "supervisor.barge", "supervisor.monitor_stop",
                "supervisor.agent_ready", "supervisor.agent_pause", "supervisor.agent_logout",
                "supervisor.agent_queues", "supervisor.queue_problem", "supervisor.sort", "supervisor.group",
                "supervisor.filter", "supervisor.detail", "supervisor.report", "supervisor.recordings"} <= ids


# -- table behaviour ------------------------------------------------------------------------------------
async def test_detail_panel_sort_group_and_counters() -> None:
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#agents", DiffTable)
        select(screen, "#agents", "agent4")
        await pilot.press("enter")
        detail = screen.query_one("#detail")
        assert detail.has_class("-visible") and "Dan Dorsey" in str(detail.render())
        await pilot.press("escape")
        assert not detail.has_class("-visible")

        await pilot.press("s")  # sort by name
        await pilot.press("s", "s")  # state, then time in state (longest first)
        await settle(pilot)
        assert table.row_keys[0] == "agent4"  # paused 10:30 (logged-out agents have no time)
        assert table.selected_key == "agent4"  # the cursor follows its row
        await pilot.press("g")
        await settle(pilot)
        keys = table.row_keys
        assert keys[0] == "group:billing" and "group:support" in keys
        assert keys.index("group:sales") < keys.index("agent4") < keys.index("group:support")

        await pilot.press("g")  # by team
        await settle(pilot)
        keys = table.row_keys
        assert keys[:3] == ["group:(no team)", "agent6", "group:Blue"], keys
        assert keys.index("agent4") > keys.index("group:Green")
        await pilot.press("g")  # by site
        await settle(pilot)
        assert "group:Leeds" in table.row_keys and "group:London" in table.row_keys
        assert "by site" in str(screen.query_one("#agents-title").render())
        await pilot.press("g")  # not grouped
        await settle(pilot)
        assert not [k for k in table.row_keys if k.startswith("group:")]


async def test_report_and_recordings_keys() -> None:
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("v")
        await pilot.pause()
        from cc_console.screens.recordings import RecordingsScreen
        assert isinstance(app.screen, RecordingsScreen)
        app.pop_screen()
        await pilot.pause()
        await pilot.press("t")
        await pilot.pause()
        from cc_console.screens.reports import ReportsScreen
        assert isinstance(app.screen, ReportsScreen)


async def test_a_supervisor_in_no_queue_is_not_listed_or_counted_as_an_agent() -> None:
    snap = demo_snapshot("sup1", "supervisor")
    snap["agents"].append({"id": "sup1", "name": "Sue Super", "device": "PJSIP/1008", "answer_mode": "console",
                           "state": "logged_out", "reason": "", "state_since": 0.0, "queues": [], "call_id": None,
                           "last_call_end": 0.0, "penalties": {}, "skills": {}, "self_login": True,
                           "wrapup_until": 0.0})
    client, app = sup_app(FakeClient(snap))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#agents")
        keys = [str(k.value) for k in table.rows]
        assert "sup1" not in keys and "agent1" in keys
        assert "Agents (6)" in str(app.screen.query_one("#agents-title").render())
        await pilot.press("g")  # grouped by queue: no group for it, no count
        await settle(pilot)
        keys = [str(k.value) for k in app.screen.query_one("#agents").rows]
        assert "sup1" not in keys and "group:(no queue)" not in keys


def test_agent_row_shows_a_pause_asked_for_during_the_call() -> None:
    from cc_console.screens.supervisor import agent_row
    agent = {"id": "agent2", "name": "Bob", "state": "on_call", "reason": "", "state_since": 1.0,
             "queues": ["support"], "call_id": None, "pending_pause": "lunch"}
    assert agent_row(agent, {}, 10.0)[3] == "next: lunch"
    assert agent_row(dict(agent, state="paused", reason="lunch", pending_pause=""), {}, 10.0)[3] == "lunch"


# -- handled and missed: the server's figures for a period (issue 26) -------------------------------------
class ReportClient(FakeClient):
    """Answers report.run with an agent report whose figures grow with each request."""

    def __init__(self) -> None:
        super().__init__(demo_snapshot("sup1", "supervisor"))
        self.handled = 7

    async def call(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        await super().call(cmd, args, timeout)
        if cmd != "report.run":
            return {}
        rows = [["agent2", self.handled, 1], ["agent3", 4, 2]]
        return {"report": {"columns": ["agent", "logged_in_s", "handled", "missed"],
                           "rows": [[a, 100.0, h, m] for a, h, m in rows]}}


async def test_handled_and_missed_are_the_servers_figures_for_the_period() -> None:
    client = ReportClient()
    _, app = sup_app(client)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.FIGURES_GAP = 0.05
        table = screen.query_one("#agents", DiffTable)
        await wait_until(pilot, lambda: screen.tally.loaded)
        await settle(pilot)
        # Today's figures from the server, whenever this console connected.
        assert table.cells("agent2")[5:7] == ("7", "1") and table.cells("agent3")[5:7] == ("4", "2")
        assert table.cells("agent4")[5:7] == ("0", "0")
        assert "handled/missed: today" in str(screen.query_one("#agents-title").render())
        # A call ends: the figures are asked for again (once for a burst) and shown.
        client.handled = 8
        call = dict(client.state.calls["c2"], state="ended", answered=DEMO_NOW - 100)
        client.emit("call.ended", call)
        client.emit("call.ended", call)
        await wait_until(pilot, lambda: len([s for s in client.sent if s[0] == "report.run"]) == 2)
        await wait_until(pilot, lambda: screen.tally.handled.get("agent2") == 8)
        await settle(pilot)
        assert table.cells("agent2")[5] == "8"
        # P: another period.
        await pilot.press("P")
        await wait_until(pilot, lambda: screen.tally.loaded)
        assert client.sent[-1] == ("report.run", {"kind": "agent", "from": "yesterday", "to": "today"})
        await settle(pilot)
        assert "handled/missed: yesterday" in str(screen.query_one("#agents-title").render())


async def test_report_for_today_from_a_row_opens_it_filtered() -> None:
    from cc_console.screens.reports import ReportsScreen
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        select(screen, "#agents", "agent3")
        await pilot.press("t")
        await pilot.pause()
        await app.workers.wait_for_complete()
        report = app.screen
        assert isinstance(report, ReportsScreen)
        assert client.sent[-1] == ("report.run", {"kind": "agent", "from": "today", "interval": "total",
                                                  "agents": ["agent3"]})
        assert report.query_one("#report-agents").value == "agent3"
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is screen
        screen.query_one("#queues", DiffTable).focus()
        select(screen, "#queues", "sales")
        await pilot.press("t")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert client.sent[-1] == ("report.run", {"kind": "queue", "from": "today", "interval": "total",
                                                  "queues": ["sales"]})


async def test_an_agents_event_rebuilds_only_the_rows_it_touches() -> None:
    """At 2,000 agents a refresh that walked every agent after each burst of events was most of the
    screen's work: an event now changes its agent's row alone, and whatever can move rows (a new
    agent, the filter, an agent leaving the filter, the sort) still takes the full pass."""
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SupervisorScreen)
        table = screen.query_one("#agents", DiffTable)
        await settle(pilot)
        passes = screen.full_passes
        agent3 = dict(client.state.agents["agent3"], state="paused", reason="break", state_since=DEMO_NOW - 5)
        client.emit("agent.state", agent3)
        await settle(pilot)
        cells = table.cells("agent3")
        assert cells is not None and cells[2].plain == "PAUSED" and cells[3] == "break"
        assert screen.full_passes == passes

        # A new agent: a row is added (the full pass), in id order.
        client.emit("agent.state", dict(agent3, id="agent7", name="Gina Gray"))
        await settle(pilot)
        assert table.row_keys[-1] == "agent7" and screen.full_passes == passes + 1

        # Filtered to paused agents: one that is made ready leaves the table.
        screen.filter_text = "paused"
        await settle(pilot)
        assert set(table.row_keys) == {"agent3", "agent4", "agent7"}
        client.emit("agent.state", dict(agent3, state="ready", reason=""))
        await settle(pilot)
        assert set(table.row_keys) == {"agent4", "agent7"}
        assert "Agents (2/7 matching 'paused')" in str(screen.query_one("#agents-title").render())

        # An agent's call: the call column follows the call's update, without a full pass.
        screen.filter_text = ""
        await settle(pilot)
        passes = screen.full_passes
        call = dict(client.state.calls["c2"], caller="+49 30 1234")
        client.emit("call.update", call)
        await settle(pilot)
        assert table.cells("agent2")[8] == "+49 30 1234" and screen.full_passes == passes


def frames_sent(app: Any) -> list[str]:
    """What the app sends the terminal from now on, a frame a string."""
    sent: list[str] = []
    display = app._display

    def capture(screen: Any, renderable: Any) -> None:
        if renderable is not None:
            sent.append(renderable.render_segments(app.console))
        display(screen, renderable)
    app._display = capture
    return sent


async def test_a_changed_row_in_view_is_repainted_alone() -> None:
    """What the terminal is sent after one agent's change is that agent's line, not the table:
    a whole-table repaint for a few changed rows was half of a 2,000-agent console's paint time."""
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.1)
        sent = frames_sent(app)
        agent3 = dict(client.state.agents["agent3"], state="paused", reason="break", state_since=DEMO_NOW - 5)
        client.emit("agent.state", agent3)
        await settle(pilot)
        await wait_until(pilot, lambda: any("Carol Chen" in frame for frame in sent))
        frame = next(frame for frame in sent if "Carol Chen" in frame)
        assert "PAUSED" in frame and "break" in frame
        assert not any(name in frame for name in ("Alice Archer", "Bob Baker", "Dan Dorsey", "Frank Ford"))


async def test_a_queues_new_figures_repaint_its_line_alone() -> None:
    """The queues table repaints the line of the queue whose figures changed, not every queue's."""
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.pause(0.1)
        sent = frames_sent(app)
        client.emit("queue.stats", dict(client.state.queues["sales"], offered=77))
        await settle(pilot)
        await wait_until(pilot, lambda: any("77" in frame for frame in sent))
        frame = next(frame for frame in sent if "77" in frame)
        assert "sales" in frame and "support" not in frame and "billing" not in frame


async def test_agents_alerts_walk_only_the_touched_agents_between_seconds(
        config_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each refresh evaluated every agent's alert rules (2 ms of every refresh at 2,000 agents): now
    every agent once a second or when an alert is due, in between only the agents with events; an
    alert still starts and ends at the first refresh after it should."""
    (config_dir / "supervisor.toml").write_text(QUIET.replace("pause_max = 900", "pause_max = 900.5"))
    import cc_console.screens.supervisor as sup
    import cc_console.widgets.alerts as alerts_mod
    evaluated: list[int] = []
    original = alerts_mod.evaluate

    def counting(agents: Any, *args: Any, **kwargs: Any) -> Any:
        agents = list(agents)
        evaluated.append(len(agents))
        return original(agents, *args, **kwargs)
    monkeypatch.setattr(alerts_mod, "evaluate", counting)
    monkeypatch.setattr(sup, "evaluate", counting)
    clock = Clock(DEMO_NOW + 0.1)
    client, app = sup_app(now=clock)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, SupervisorScreen)
        await settle(pilot)
        evaluated.clear()
        agent3 = dict(client.state.agents["agent3"], state="paused", reason="break", state_since=DEMO_NOW - 950)
        client.emit("agent.state", agent3)  # paused longer than the limit: an alert at once
        await settle(pilot)
        assert ("pause", "agent3") in screen.tracker.active
        for _ in range(3):
            screen.on_tick()
            await settle(pilot)
        assert sum(evaluated) <= 1, evaluated  # agent3 alone, once (before: every agent, every refresh)
        client.emit("agent.state", dict(agent3, state="ready", reason="", state_since=DEMO_NOW))
        await settle(pilot)
        assert ("pause", "agent3") not in screen.tracker.active
        # agent4 has been paused since DEMO_NOW - 630: its alert is due at DEMO_NOW + 270.5, within a
        # second whose first refresh saw none.
        clock.t = DEMO_NOW + 270.3
        screen.on_tick()
        await settle(pilot)
        assert ("pause", "agent4") not in screen.tracker.active
        bells = app.bells
        clock.t = DEMO_NOW + 270.6
        screen.on_tick()
        await settle(pilot)
        assert ("pause", "agent4") in screen.tracker.active and app.bells == bells + 1


async def test_the_queues_table_follows_a_burst_of_queue_figures_at_its_own_pace() -> None:
    """The server pushes a busy queue's figures up to 20 times a second for the wallboards; the
    supervisor's queues table takes them at most every QUEUE_SECONDS, the last of a burst always."""
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, SupervisorScreen)
        table = screen.query_one("#queues", DiffTable)
        await pilot.pause(0.25)  # QUEUE_SECONDS since the last sync
        before = table.cell_updates
        for i in range(5):
            client.emit("queue.stats", dict(client.state.queues["sales"], offered=100 + i))
            await settle(pilot)  # a refresh after each (as the agents' events bring them)
        assert table.cell_updates - before <= 1  # the first at once, the rest held (before: 5)
        await wait_until(pilot, lambda: table.cells("sales")[6] == "104")
        assert table.cell_updates - before <= 2


async def test_client_events_reach_a_running_screen_without_a_message_of_its_own() -> None:
    """The app hands a burst of client events to a running screen in its own handler: a second
    Textual message per burst (the screen's) was dispatch work again, hundreds of times a second."""
    from cc_console.screens.base import StateChanged
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        posted: list[Any] = []
        post = screen.post_message

        def counting(message: Any) -> bool:
            if isinstance(message, StateChanged):
                posted.append(message)
            return post(message)
        screen.post_message = counting  # type: ignore[method-assign]
        seen: list[str] = []
        changed = screen.state_changed

        def noting(kind: str, data: dict[str, Any]) -> None:
            seen.append(str(data.get("reason")))
            changed(kind, data)
        screen.state_changed = noting  # type: ignore[method-assign]
        agent3 = client.state.agents["agent3"]
        for i in range(5):
            client.emit("agent.state", dict(agent3, state="paused", reason=f"r{i}"))
        await wait_until(pilot, lambda: len(seen) >= 5)
        assert seen == [f"r{i}" for i in range(5)] and posted == []  # in order, no message of its own
        await settle(pilot)
        assert screen.query_one("#agents", DiffTable).cells("agent3")[3] == "r4"


async def test_events_for_a_screen_still_being_pushed_wait_for_it_to_mount() -> None:
    """A burst that arrives while a console screen is pushed but not mounted goes to it as a message
    (handled once it is up), not into its widgets at once: they are not there yet."""
    from cc_console.screens.agent import AgentScreen
    from cc_console.tui import ClientEvent
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        second = AgentScreen(now=lambda: DEMO_NOW)  # its chats panel takes chat events at once
        app.push_screen(second)
        assert not second.is_mounted
        app._client_event(ClientEvent("chat.closed", {"id": "nobody's"}))
        assert second.state_messages == 1
        await wait_until(pilot, lambda: second.is_mounted and second.state_messages == 0)
