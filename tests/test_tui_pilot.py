"""Pilot tests of the console UI that need no server (an in-memory fake client stands in)."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cc_console.client import ConsoleState
from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.screens.agent import AgentScreen, PauseReasonScreen
from cc_console.screens.demo import DEMO_NOW, demo_client, demo_now, demo_snapshot
from cc_console.screens.login import LoginScreen
from cc_console.screens.supervisor import SupervisorScreen
from cc_console.screens.wallboard import WallboardScreen
from cc_console.tui import CCConsoleApp, load_keymap
from cc_console.widgets.agent_state import AgentStateBadge
from cc_console.widgets.call_panel import CallPanel
from cc_console.widgets.diff_table import DiffTable
from cc_console.widgets.help import HelpScreen
from cc_console.widgets.status import ConnectionStatus
from cc_console.widgets.tile import Tile

SIZE = (100, 30)


class FakeClient:
    """Just enough of ConsoleClient's interface for UI unit tests: records the commands sent."""

    def __init__(self, snapshot: dict[str, Any] | None = None, *, url: str = "ws://fake.invalid",
                 logged_in: bool = True) -> None:
        self.url = url
        self.state = ConsoleState()
        self._snapshot = snapshot or demo_snapshot()
        if logged_in:
            self.state.load(self._snapshot)
        self.connected = asyncio.Event()
        self.connected.set()
        self.stale = False
        self.token: str | None = "tok" if logged_in else None
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.errors: dict[str, ProtocolError] = {}
        self.login_error: Exception | None = None
        self.logins: list[tuple[str, str, str | None]] = []
        self.closed = False
        self._listeners: list[Any] = []

    def add_listener(self, fn: Any) -> None:
        self._listeners.append(fn)

    def emit(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "snapshot":
            self.state.load(data)
        elif kind != "connection":
            self.state.apply(kind, data)
        for fn in self._listeners:
            fn(kind, data)

    async def connect(self) -> None:
        self.connected.set()

    async def login(self, username: str, password: str, totp: str | None = None) -> dict[str, Any]:
        self.logins.append((username, password, totp))
        if self.login_error is not None:
            raise self.login_error
        self.token = "tok"
        snap = dict(self._snapshot, me={"user": username, "role": "agent", "name": username})
        asyncio.get_running_loop().call_soon(self.emit, "snapshot", snap)
        return {"token": "tok", "role": "agent"}

    async def call(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        self.sent.append((cmd, dict(args or {})))
        if cmd in self.errors:
            raise self.errors[cmd]
        return {}

    async def close(self) -> None:
        self.closed = True


async def wait_until(pilot: Any, predicate: Any, attempts: int = 200) -> None:
    """Let the app process messages until predicate() holds (for work we cannot await directly)."""
    for _ in range(attempts):
        if predicate():
            return
        await pilot.pause()
    raise AssertionError("condition not reached")


def make_app(client: Any = None, **kwargs: Any) -> CCConsoleApp:
    kwargs.setdefault("keymap", {})
    kwargs.setdefault("now", demo_now)
    return CCConsoleApp(client=client if client is not None else FakeClient(), **kwargs)


# -- help ---------------------------------------------------------------------------------------------
async def test_help_opens_on_question_mark_and_closes_on_escape() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert isinstance(app.screen, AgentScreen)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = [r.binding_id for r in app.screen.rows]
        assert {"agent.answer", "agent.hangup", "agent.ready", "agent.pause", "agent.login_toggle",
                "app.help", "app.quit"} <= set(ids)
        await pilot.press("escape")
        assert isinstance(app.screen, AgentScreen)


async def test_help_opens_on_f1_and_lists_the_current_screens_keys() -> None:
    app = make_app(mode="supervisor")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        ids = {r.binding_id for r in app.screen.rows}
        assert "supervisor.filter" in ids and "agent.answer" not in ids
        await pilot.press("f1")
        assert isinstance(app.screen, SupervisorScreen)


# -- keymap ---------------------------------------------------------------------------------------------
async def test_keymap_override_remaps_a_binding() -> None:
    client = FakeClient()
    app = make_app(client, keymap={"agent.answer": "x"})
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await app.workers.wait_for_complete()
        assert client.sent == []
        await pilot.press("x")
        await app.workers.wait_for_complete()
        assert client.sent == [("call.answer", {"call_id": "c1"})]
        await pilot.press("question_mark")
        row = next(r for r in app.screen.rows if r.binding_id == "agent.answer")
        assert row.key == "x"


async def test_keymap_loaded_from_config_dir(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path))
    (tmp_path / "keymap.toml").write_text('[keymap]\n"agent.ready" = "f5"\n"app.help" = "f2"\n')
    assert load_keymap() == {"agent.ready": "f5", "app.help": "f2"}
    client = FakeClient()
    app = CCConsoleApp(client=client, now=demo_now)  # keymap=None: read keymap.toml
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        assert client.sent == [("agent.ready", {})]
        await pilot.press("f2")
        assert isinstance(app.screen, HelpScreen)


def test_bad_keymap_file_is_reported(tmp_path) -> None:
    path = tmp_path / "keymap.toml"
    path.write_text("[keymap]\n'agent.answer' = 3\n")
    with pytest.raises(ValueError, match="agent.answer"):
        load_keymap(path)
    assert load_keymap(tmp_path / "missing.toml") == {}


# -- agent screen ------------------------------------------------------------------------------------------
async def test_answer_key_sends_call_answer_for_the_ringing_call() -> None:
    client = FakeClient()
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        assert app.screen.query_one("#agent-state", AgentStateBadge).state == "ringing"
        panel = app.screen.query_one("#call-panel", CallPanel)
        assert panel.call_id == "c1" and panel.call_state == "ringing" and panel.has_class("-ringing")
        await pilot.press("a")
        await app.workers.wait_for_complete()
        assert client.sent == [("call.answer", {"call_id": "c1"})]


@pytest.mark.parametrize(("key", "expected"), [
    ("h", ("call.hangup", {"call_id": "c1"})),
    ("r", ("agent.ready", {})),
    ("p", ("agent.pause", {})),
    ("l", ("agent.logout", {})),
])
async def test_agent_keys_send_commands(key: str, expected: tuple[str, dict[str, Any]]) -> None:
    client = FakeClient()
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press(key)
        await app.workers.wait_for_complete()
        assert client.sent == [expected]


async def test_login_toggle_logs_in_when_logged_out_and_pause_reason_picker() -> None:
    snap = demo_snapshot()
    snap["agents"][0].update(state="logged_out", call_id=None)
    client = FakeClient(snap)
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("l")
        await app.workers.wait_for_complete()
        await pilot.press("P")
        assert isinstance(app.screen, PauseReasonScreen)
        await pilot.press("down", "enter")
        await app.workers.wait_for_complete()
        assert client.sent == [("agent.login", {}), ("agent.pause", {"reason": "lunch"})]


async def test_server_error_is_shown_as_a_notification() -> None:
    client = FakeClient()
    client.errors["call.answer"] = ProtocolError(ErrorCode.CONFLICT, "no call is ringing for agent1")
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        await app.workers.wait_for_complete()
        await pilot.pause()
        shown = [(n.title, n.message) for n in app._notifications]
        assert shown == [("Answer: not done", "No call is ringing for you.")]  # no command, no code


async def test_events_update_the_agent_screen_and_ring_the_bell_once() -> None:
    snap = demo_snapshot()
    snap["agents"][0].update(state="ready", call_id=None)
    snap["calls"] = [c for c in snap["calls"] if c["id"] != "c1"]
    client = FakeClient(snap)
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert screen.query_one("#call-panel", CallPanel).call is None
        assert app.bells == 0
        call = dict(demo_snapshot()["calls"][0])
        agent = dict(snap["agents"][0], state="ringing", call_id="c1", state_since=DEMO_NOW)
        client.emit("call.update", call)
        client.emit("agent.state", agent)
        await pilot.pause()
        assert screen.query_one("#agent-state", AgentStateBadge).state == "ringing"
        assert screen.query_one("#call-panel", CallPanel).call_id == "c1"
        assert screen.has_class("-ringing")
        client.emit("queue.stats", dict(snap["queues"][0], waiting=3))
        screen.on_tick()
        await pilot.pause()
        assert app.bells == 1  # once per call, not per refresh
        client.emit("call.update", dict(call, state="connected", answered=DEMO_NOW - 3))
        client.emit("agent.state", dict(agent, state="on_call"))
        await pilot.pause()
        panel = screen.query_one("#call-panel", CallPanel)
        assert panel.call_state == "connected" and panel.timer == ("Talk", "00:03")
        assert not screen.has_class("-ringing")
        client.emit("call.ended", dict(call, state="ended"))
        client.emit("agent.state", dict(agent, state="ready", call_id=None))
        await pilot.pause()
        assert screen.query_one("#call-panel", CallPanel).call is None
        assert screen.query_one("#agent-state", AgentStateBadge).label.startswith("READY")


async def test_connection_indicator_follows_the_client() -> None:
    client = FakeClient()
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        status = app.screen.query_one("#connection", ConnectionStatus)
        assert status.level == "live"
        client.connected.clear()
        client.stale = True
        client.emit("connection", {"connected": False})
        await pilot.pause()
        assert status.level == "down" and status.has_class("-down")
        assert app.connected is False
        client.connected.set()
        client.emit("connection", {"connected": True})
        await pilot.pause()
        assert status.level == "stale"
        client.stale = False
        client.emit("snapshot", client._snapshot)
        await pilot.pause()
        assert status.level == "live"


# -- login -------------------------------------------------------------------------------------------------
async def test_login_form_shows_server_error_then_logs_in() -> None:
    client = FakeClient(logged_in=False)
    client.login_error = ProtocolError(ErrorCode.TOTP_REQUIRED, "a TOTP code is required for agent1")
    factory_urls: list[str] = []

    def factory(url: str) -> FakeClient:
        factory_urls.append(url)
        client.url = url
        return client

    remembered: list[tuple[str, str, str]] = []
    app = CCConsoleApp("ws://server.invalid:8765", client_factory=factory, keymap={}, now=demo_now,
                       remember=lambda *a: remembered.append(a))
    async with app.run_test(size=SIZE) as pilot:
        login = app.screen
        assert isinstance(login, LoginScreen)
        await pilot.click("#username")
        await pilot.press(*"agent1")
        await pilot.click("#password")
        await pilot.press(*"secret", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert login.error_code == "totp_required"
        assert "a TOTP code is required for agent1" in login.error_text
        assert app.focused is login.query_one("#totp")
        client.login_error = None
        await pilot.press(*"123456")
        await pilot.click("#remember")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert factory_urls == ["ws://server.invalid:8765"]
        assert client.logins[-1] == ("agent1", "secret", "123456")
        assert remembered == [("ws://server.invalid:8765", "agent1", "secret")]
        assert isinstance(app.screen, AgentScreen)
        assert app.screen.query_one("#agent-state", AgentStateBadge).state == "ringing"


async def test_login_unreachable_server_is_reported() -> None:
    def factory(url: str) -> Any:
        class Unreachable(FakeClient):
            async def connect(self) -> None:
                raise OSError("Connect call failed ('127.0.0.1', 9)")

        c = Unreachable(logged_in=False, url=url)
        c.connected.clear()
        return c

    app = CCConsoleApp("ws://127.0.0.1:9", client_factory=factory, keymap={}, username="agent1",
                       password="pw")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.error_code == "connection"
        assert "cannot reach ws://127.0.0.1:9" in app.screen.error_text


async def test_credentials_skip_the_login_form() -> None:
    client = FakeClient(logged_in=False)
    app = CCConsoleApp(client_factory=lambda url: client, keymap={}, now=demo_now, mode="wallboard",
                       username="sup1", password="pw", totp="654321")
    async with app.run_test(size=SIZE) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert client.logins == [("sup1", "pw", "654321")]
        assert isinstance(app.screen, WallboardScreen)


# -- supervisor and wallboard ----------------------------------------------------------------------------------
async def test_supervisor_filter_and_diffed_updates() -> None:
    client = FakeClient(demo_snapshot("sup1", "supervisor"))
    app = make_app(client, mode="supervisor")
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one("#agents", DiffTable)
        assert table.row_keys == ["agent1", "agent2", "agent3", "agent4", "agent5", "agent6"]
        await app.workers.wait_for_complete()  # the server's handled/missed figures
        await pilot.pause()
        app.screen.flush()
        adds, updates = table.row_adds, table.cell_updates
        client.emit("agent.state", dict(client.state.agents["agent3"], state="paused", reason="Break"))
        await pilot.pause()  # the ClientEvent -> StateChanged messages
        app.screen.flush()  # what the batch timer does
        assert table.row_adds == adds
        assert table.cell_updates == updates + 2  # state and reason; nothing else changed
        await pilot.press("slash", *"paused")
        await pilot.pause()
        assert table.row_keys == ["agent3", "agent4"]
        await pilot.press("escape")
        await pilot.pause()
        assert len(table.row_keys) == 6
        table.move_cursor(row=table.get_row_index("agent4"))
        await pilot.press("r")
        await app.workers.wait_for_complete()
        assert client.sent[-1:] == [("agent.set_state", {"agent": "agent4", "state": "ready"})]
        await pilot.press("w")
        assert isinstance(app.screen, WallboardScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, SupervisorScreen)


async def test_wallboard_tiles_and_stale_banner() -> None:
    client = demo_client(demo_snapshot("wb", "wallboard"))
    app = make_app(client, mode="wallboard")
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert screen.query_one("#tile-waiting", Tile).value == "2"
        assert screen.query_one("#tile-longest", Tile).value == "01:15"
        assert screen.query_one("#tile-longest", Tile).has_class("-alert")
        assert screen.query_one("#tile-ready", Tile).value == "2"
        assert not screen.query_one("#stale-banner").has_class("-visible")
        client.stale = True
        client._emit("connection", {"connected": True})
        await pilot.pause()
        screen.flush()  # what the batch timer does
        assert screen.query_one("#stale-banner").has_class("-visible")


async def test_theme_toggle_and_palette_commands() -> None:
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        assert app.theme == "cc-default"
        await pilot.press("ctrl+t")
        assert app.theme == "cc-high-contrast"
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert {"Answer", "Hang up", "Ready", "Pause", "Log in/out", "Theme: default"} <= set(titles)


async def test_command_palette_finds_and_runs_screen_actions() -> None:
    from textual.command import CommandList, CommandPalette

    client = FakeClient()
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"answer")
        commands = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: commands.option_count > 0
                         and "Answer" in str(commands.get_option_at_index(0).prompt))
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        assert isinstance(app.screen, AgentScreen)
        assert client.sent == [("call.answer", {"call_id": "c1"})]


async def test_agent_call_control_keys_send_commands() -> None:
    """o hold, m mute, t transfer (asks the target), c consult, x/k/s/f the consultation, d DTMF."""
    client = FakeClient()
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, AgentScreen)
        client.sent.clear()
        for key in ("o", "m", "x", "k", "s", "f"):
            await pilot.press(key)
        await pilot.press("t")
        await pilot.pause()
        for ch in "1004":
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.press("c")
        await pilot.pause()
        for ch in "agent:agent2":
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.press("d")
        await pilot.pause()
        for ch in "12#":
            await pilot.press(ch)
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        cmds = [c for c, _ in client.sent]
        assert cmds == ["call.hold", "call.mute", "call.consult_complete", "call.consult_cancel", "call.consult_swap",
                        "call.conference", "call.transfer", "call.consult", "call.dtmf"]
        assert client.sent[6][1] == {"target": "1004"} and client.sent[7][1] == {"target": "agent:agent2"}
        assert client.sent[8][1] == {"digits": "12#"}


async def test_call_panel_shows_hold_mute_and_consult() -> None:
    snap = demo_snapshot()
    call = next(c for c in snap["calls"] if c["id"] == "c1")
    call.update(state="connected", held=True, muted=True,
                consult={"target": "1004", "state": "talking", "with": "target"})
    client = FakeClient(snap)
    app = make_app(client)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        text = str(app.screen.query_one(CallPanel).render().columns[1]._cells)
        assert "ON HOLD" in text and "MUTED" in text and "1004 answered" in text and "with 1004" in text


async def test_a_console_that_owns_its_process_settles_its_heap_after_a_snapshot() -> None:
    """A full garbage collection over a 2,000-agent console's heap stopped its loop for up to half
    a second; the cc-console command's app freezes what a snapshot built, and an app embedded in
    another process (tests, benchmarks that say otherwise) leaves the collector alone."""
    import gc

    gc.unfreeze()
    embedded = FakeClient()
    app = make_app(embedded)
    async with app.run_test(size=SIZE) as pilot:
        embedded.emit("snapshot", demo_snapshot())
        await pilot.pause()
        assert app._settle_timer is None and gc.get_freeze_count() == 0

    owner = FakeClient()
    app = make_app(owner, settle_heap=True)
    app.SETTLE_SECONDS = 0.05
    try:
        async with app.run_test(size=SIZE) as pilot:
            owner.emit("snapshot", demo_snapshot())
            await wait_until(pilot, lambda: gc.get_freeze_count() > 0)
            assert app._settle_timer is None
    finally:
        gc.unfreeze()


def test_settling_again_collects_what_the_last_settle_froze_and_is_gone_since() -> None:
    """A screen frozen at one snapshot and closed since (a log-out) is collected at the next settle."""
    import gc
    import weakref

    from cc_console import heap

    class Node:  # a widget's shape: parent and children refer to each other
        def __init__(self) -> None:
            self.children: list[Node] = []
            self.parent: Node | None = None

    gc.unfreeze()
    try:
        screen = Node()
        child = Node()
        child.parent, screen.children = screen, [child]
        gone = weakref.ref(screen)
        assert heap.settle() > 0
        del screen, child  # a cycle: reference counting alone never frees it
        assert gone() is not None
        heap.settle()
        assert gone() is None
    finally:
        gc.unfreeze()
