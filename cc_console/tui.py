"""The Textual console app: login, then the agent, supervisor or wallboard screen.

    CCConsoleApp(url="ws://127.0.0.1:8765", mode="agent").run()

Network work happens in workers; ConsoleClient listener callbacks (same asyncio loop) become
``ClientEvent`` messages, which the app hands to every console screen on the stack (a
``StateChanged`` message to a screen that is not running yet); the events of a burst share one
message.
Keys have binding ids; ``<config_dir>/keymap.toml`` may remap them:

    [keymap]
    "agent.answer" = "space"
    "app.help" = "f1"
"""
from __future__ import annotations

import inspect
import logging
import time
import tomllib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from cc_console import heap
from cc_console.client import ConsoleClient
from cc_console.config import ServerSettings, config_dir
from cc_console.messages import refusal
from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.screens.agent import AgentScreen
from cc_console.screens.base import ConsoleScreen, StateChanged
from cc_console.screens.login import LoginScreen
from cc_console.screens.supervisor import SupervisorScreen
from cc_console.screens.wallboard import BoardFilter, WallboardScreen
from cc_console.themes import CONSOLE_CSS, DEFAULT_THEME, HIGH_CONTRAST_THEME, THEMES
from cc_console.widgets.help import HelpScreen, collect_bindings

log = logging.getLogger(__name__)

Mode = Literal["agent", "supervisor", "wallboard"]
MODES: tuple[str, ...] = ("agent", "supervisor", "wallboard")
ROLE_MODES = {"agent": "agent", "supervisor": "supervisor", "admin": "supervisor", "wallboard": "wallboard"}

RememberCallback = Callable[[str, str, str], Awaitable[Any] | Any]
ClientFactory = Callable[[str], Any]


def default_url() -> str:
    s = ServerSettings()
    return f"ws://{s.host}:{s.port}"


def keymap_path() -> Path:
    return config_dir() / "keymap.toml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """Binding id -> key(s) from the ``[keymap]`` table of keymap.toml; a missing file is an empty map.

    Raises ValueError on a malformed file (the app shows it as a warning and uses the defaults).
    """
    path = path or keymap_path()
    if not path.exists():
        return {}
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    table = data.get("keymap", {})
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [keymap] must be a table of binding id = \"key\"")
    bad = [k for k, v in table.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ValueError(f"{path}: keys must be non-empty strings: {', '.join(sorted(bad))}")
    return {str(k): v.strip() for k, v in table.items()}


@dataclass
class ClientEvent(Message):
    """ConsoleClient listener callbacks, as a Textual message: the first, and any that arrived
    before the app handled it (``more``)."""

    kind: str  # an event name, "snapshot", "connection" or "error"
    data: dict[str, Any]
    more: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class LoggedIn(Message):
    url: str
    username: str
    result: dict[str, Any]


@dataclass
class LoginFailed(Message):
    code: str
    message: str


class CCConsoleApp(App[None]):
    """The console.

    Args:
        url: server websocket URL (default ws://<ServerSettings host>:<port>).
        client_factory: ``factory(url) -> ConsoleClient``-like object (default ConsoleClient).
        client: an already built client to use (tests inject one with a filled ``state``; if its
            ``state.me`` is set it counts as logged in and the mode screen shows at once).
        mode: "agent", "supervisor", "wallboard", or None to pick from the user's role.
        username, password, totp: log in with these at start (no form unless it fails).
        remember: ``remember(url, username, password)`` (sync or async) called after a successful
            form login with "Remember password" ticked; the checkbox shows only when given.
        keymap: binding id -> key overrides; None loads ``<config_dir>/keymap.toml``.
        theme: a theme name ("cc-default", "cc-high-contrast", or any Textual theme).
        now: the clock (epoch seconds) used for timers; inject a fixed one for snapshots.
        wallboard_layout: the wallboard's layout file (default ``<config_dir>/wallboard.toml``).
        wallboard_filter: which queues, tenant or layout group the wallboard shows (default all).
        settle_heap: this app owns its process (the ``cc-console`` commands): a while after each
            snapshot, what is alive is frozen out of the garbage collector's walks (cc_console/heap.py).
    """

    # After a snapshot, when the screen has built its rows from it: then the heap is settled.
    SETTLE_SECONDS = 1.0

    CSS_PATH = str(CONSOLE_CSS)
    TITLE = "cc-console"

    BINDINGS = [
        # Not in the Footer's list: the console footer pins them at the right (widgets/footer.py).
        Binding("question_mark,f1", "help", "Keys", id="app.help", show=False, tooltip="Show the keys of this screen"),
        Binding("q,ctrl+q", "quit", "Quit", id="app.quit", show=False,
                tooltip="Quit the console (asks first while you are logged in to queues)"),
        Binding("ctrl+t", "toggle_contrast", "High contrast", id="app.toggle_theme", show=False,
                tooltip="Switch between the default and the high-contrast theme"),
    ]

    connected: reactive[bool] = reactive(False, init=False)
    stale: reactive[bool] = reactive(True, init=False)
    username: reactive[str] = reactive("", init=False)

    def __init__(
        self,
        url: str | None = None,
        *,
        client_factory: ClientFactory | None = None,
        client: Any | None = None,
        mode: Mode | None = "agent",
        username: str | None = None,
        password: str | None = None,
        totp: str | None = None,
        remember: RememberCallback | None = None,
        keymap: dict[str, str] | None = None,
        theme: str = DEFAULT_THEME.name,
        now: Callable[[], float] | None = None,
        wallboard_layout: str | Path | None = None,
        wallboard_filter: BoardFilter | None = None,
        token: str | None = None,
        settle_heap: bool = False,
    ) -> None:
        super().__init__()
        self.settle_heap = settle_heap
        self._settle_timer: Any = None
        self.wallboard_layout = wallboard_layout  # None: <config_dir>/wallboard.toml
        self.wallboard_filter = wallboard_filter
        if mode is not None and mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)} (or None), not {mode!r}")
        self.url = url or getattr(client, "url", None) or default_url()
        self.client_factory: ClientFactory = client_factory or (lambda u: ConsoleClient(u, reconnect=True))
        self.client: Any | None = None
        self._owns_client = False
        self._pending_event: ClientEvent | None = None  # posted, not handled yet: later events join it
        self._client_closed = False
        self.mode: Mode | None = mode
        self._credentials = (username, password, totp)
        self._token = token  # a session from the server's login elsewhere (the browser front door)
        self.remember = remember
        self._keymap_override = keymap
        self._theme_name = theme
        self._now = now or time.time
        self.clock_offset = 0.0  # server clock minus ours, from the last snapshot (0 with an injected now)
        self.bells = 0
        self.login_result: dict[str, Any] = {}
        for t in THEMES.values():
            self.register_theme(t)
        if client is not None:
            self._adopt_client(client, owned=False)

    # -- clock ------------------------------------------------------------------------------------
    def server_now(self) -> float:
        return self._now() + self.clock_offset

    def bell(self) -> None:
        self.bells += 1
        super().bell()

    # -- start-up -----------------------------------------------------------------------------------
    def on_mount(self) -> None:
        self.theme = self._theme_name if self._theme_name in self.available_themes else DEFAULT_THEME.name
        self._apply_keymap()
        username, password, totp = self._credentials
        if self.client is not None and getattr(self.client.state, "me", None):
            self.username = self.client.state.me.get("user", "")
            self._sync_connection()
            self.show_mode_screen()
        elif self._token:
            login = self._login_screen(username=username or "")
            self.push_screen(login)
            login.set_busy(True)
            self.do_resume(self.url, self._token)
        elif username and password:
            login = self._login_screen(username=username)
            self.push_screen(login)
            login.set_busy(True)
            self.do_login(self.url, username, password, totp or "", False)
        else:
            self.push_screen(self._login_screen(username=username or ""))

    def _apply_keymap(self) -> None:
        if self._keymap_override is not None:
            keymap = dict(self._keymap_override)
        else:
            try:
                keymap = load_keymap()
            except (ValueError, OSError) as exc:
                self.notify(str(exc), title="keymap.toml ignored", severity="warning", timeout=10)
                keymap = {}
        if keymap:
            self.set_keymap(keymap)

    def _login_screen(self, username: str = "", error: str = "", code: str = "") -> LoginScreen:
        return LoginScreen(url=self.url, username=username or self.username,
                           can_remember=self.remember is not None, error=error, error_code=code)

    def make_mode_screen(self, mode: str | None = None) -> Screen:
        mode = mode or self.mode or self._mode_from_role()
        if mode == "supervisor":
            return SupervisorScreen(now=self._now_for_screens())
        if mode == "wallboard":
            return WallboardScreen(now=self._now_for_screens(), layout_path=self.wallboard_layout,
                                   board_filter=self.wallboard_filter)
        return AgentScreen(now=self._now_for_screens())

    def _now_for_screens(self) -> Callable[[], float] | None:
        return None  # screens use self.server_now

    def _mode_from_role(self) -> str:
        role = (self.client.state.me.get("role") if self.client is not None else None) \
            or self.login_result.get("role") or (self.login_result.get("me") or {}).get("role") or "agent"
        return ROLE_MODES.get(str(role), "agent")

    def show_mode_screen(self) -> None:
        screen = self.make_mode_screen()
        sub_title = f"{self.username} · {self.mode or self._mode_from_role()}" if self.username else ""
        # The screen's own sub-title, not the app's: changing the app's would wake the title
        # watcher of every Header, including the login screen's while it is being removed
        # (NoMatches HeaderTitle in Textual).
        self.console_sub_title = sub_title  # screens pushed later show it too (ConsoleScreen)
        screen.sub_title = sub_title
        if isinstance(self.screen, LoginScreen):
            self.switch_screen(screen)
        else:
            self.push_screen(screen)

    # -- client --------------------------------------------------------------------------------------
    def _adopt_client(self, client: Any, *, owned: bool) -> None:
        self.client = client
        self._owns_client = owned
        self._client_closed = False
        client.add_listener(self._on_client_callback)

    def _on_client_callback(self, kind: str, data: dict[str, Any]) -> None:
        # Runs on our loop, inside the client's reader task: hand over to the message queue. A
        # message per event cost a supervisor's console at 1,000 events a second about a tenth of
        # a core in Textual's dispatch alone: events that arrive before the app got to the last
        # message join it, in order.
        data = dict(data) if isinstance(data, dict) else {"value": data}
        pending = self._pending_event
        if pending is not None:
            pending.more.append((kind, data))
            return
        self._pending_event = message = ClientEvent(kind, data)
        self.post_message(message)

    async def ensure_client(self, url: str) -> Any:
        """The client for ``url``, connected (a new one from client_factory when the URL changed)."""
        client = self.client
        if client is None or self._client_closed or getattr(client, "configured", getattr(client, "url", url)) != url:
            if client is not None and self._owns_client and not self._client_closed:
                await self._close_client()
            client = self.client_factory(url)
            self._adopt_client(client, owned=True)
            self.url = url
        connected = getattr(client, "connected", None)
        is_set = getattr(connected, "is_set", None)
        is_connected = is_set() if is_set is not None else bool(connected)
        if not is_connected and hasattr(client, "connect"):
            await client.connect()
        return client

    async def _close_client(self) -> None:
        client, self._client_closed = self.client, True
        if client is not None and hasattr(client, "close"):
            try:
                await client.close()
            except Exception:  # closing must never stop a quit
                log.exception("closing the client failed")

    @work(exclusive=True, group="login", exit_on_error=False)
    async def do_login(self, url: str, username: str, password: str, totp: str, remember: bool) -> None:
        try:
            client = await self.ensure_client(url)
            result = await client.login(username, password, totp or None)
        except ProtocolError as exc:
            self.post_message(LoginFailed(str(exc.code), exc.message or str(exc.code)))
            return
        except Exception as exc:  # OSError, websockets errors, timeouts: the server is not there
            detail = str(exc) or type(exc).__name__
            self.post_message(LoginFailed("connection", f"cannot reach {url}: {detail}"))
            return
        if remember and self.remember is not None:
            try:
                outcome = self.remember(url, username, password)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception as exc:
                self.notify(str(exc), title="Could not remember the password", severity="warning")
        self.post_message(LoggedIn(url, username, result or {}))

    @work(exclusive=True, group="login", exit_on_error=False)
    async def do_resume(self, url: str, token: str) -> None:
        """Take over a session signed in elsewhere; when it has ended, the sign-in form stays."""
        try:
            client = await self.ensure_client(url)
            result = await client.call("resume", {"token": token})
            client.token = token
        except ProtocolError as exc:
            # Only a refused session has ended; a server that cannot read it just now says so itself.
            ended = exc.code != ErrorCode.UNAVAILABLE or not exc.message
            self.post_message(LoginFailed(str(exc.code), "Your session has ended: sign in again." if ended
                                          else exc.message))
            return
        except Exception as exc:  # the server is not there
            self.post_message(LoginFailed("connection", f"cannot reach {url}: {str(exc) or type(exc).__name__}"))
            return
        self.post_message(LoggedIn(url, result.get("user", ""), result))

    @on(LoginScreen.Submitted)
    def _login_submitted(self, message: LoginScreen.Submitted) -> None:
        if isinstance(self.screen, LoginScreen):
            self.screen.set_busy(True)
        self.do_login(message.url, message.username, message.password, message.totp, message.remember)

    @on(LoginFailed)
    def _login_failed(self, message: LoginFailed) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, LoginScreen):
                screen.show_error(message.message, message.code)
                return
        self.push_screen(self._login_screen(error=message.message, code=message.code))

    @on(LoggedIn)
    def _logged_in(self, message: LoggedIn) -> None:
        self.login_result = message.result
        self.username = message.username
        self._sync_connection()
        self.show_mode_screen()

    # -- client events -> screens -----------------------------------------------------------------
    def _sync_connection(self) -> None:
        client = self.client
        if client is None:
            self.connected, self.stale = False, True
            return
        ev = getattr(client, "connected", None)
        is_set = getattr(ev, "is_set", None)
        connected = is_set() if is_set is not None else bool(ev if ev is not None else True)
        stale = bool(getattr(client, "stale", False))
        # Runs for every event: setting a reactive to its own value still costs its whole machinery.
        if connected != self.connected:
            self.connected = connected
        if stale != self.stale:
            self.stale = stale

    @on(ClientEvent)
    def _client_event(self, message: ClientEvent) -> None:
        if self._pending_event is message:
            self._pending_event = None
        events = [(message.kind, message.data), *message.more]
        for kind, data in events:
            self._one_client_event(kind, data)
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen):
                # A running screen with nothing queued takes them here and now: a message of its
                # own per burst was Textual's dispatch a second time (at 1,000 events a second,
                # hundreds of bursts). One still mounting, or behind on its queue, gets a message.
                if screen.state_messages == 0 and screen.is_mounted and not screen.going:
                    screen.take_events(events)
                else:
                    screen.state_messages += 1
                    screen.post_message(StateChanged(*events[0], more=events[1:]))

    def _one_client_event(self, kind: str, data: dict[str, Any]) -> None:
        was_connected = self.connected
        self._sync_connection()
        if kind == "snapshot":
            server_time = (data.get("server") or {}).get("time")
            if isinstance(server_time, (int, float)) and server_time:
                self.clock_offset = float(server_time) - self._now()
            if self.settle_heap:
                # Once the screen has built its rows from the snapshot (a refresh is at most a
                # screen's MIN_GAP away), what it holds lives as long as the session.
                if self._settle_timer is not None:
                    self._settle_timer.stop()
                self._settle_timer = self.set_timer(self.SETTLE_SECONDS, self._settle, name="settle-heap")
        elif kind == "error":
            self.notify(str(data.get("message", data)), title="Server", severity="error", timeout=8)
        elif kind == "connection":
            if was_connected and not data.get("connected") and self.username:
                self.notify("Connection to the server lost: reconnecting…", severity="warning")

    def _settle(self) -> None:
        self._settle_timer = None
        heap.settle()

    # -- actions -------------------------------------------------------------------------------------
    def action_help(self) -> None:
        screen = self.screen
        if isinstance(screen, HelpScreen):
            screen.dismiss(None)
            return
        title = f"Keys: {type(screen).__name__.removesuffix('Screen').lower() or 'console'}"
        self.push_screen(HelpScreen(collect_bindings(screen), title=title))

    def action_toggle_contrast(self) -> None:
        self.theme = DEFAULT_THEME.name if self.theme == HIGH_CONTRAST_THEME.name else HIGH_CONTRAST_THEME.name

    async def action_logout(self) -> None:
        if self.client is not None and getattr(self.client, "token", None):
            try:
                await self.client.call("logout")
            except Exception:
                pass
        if self._owns_client:
            await self._close_client()
        self.username = ""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(self._login_screen())

    async def action_quit(self) -> None:
        """Quit; while my agent is logged in to queues, ask first: quitting leaves the agent ready
        (or paused) on the server, and calls keep coming to a console nobody watches."""
        from cc_console.screens.quit import QuitScreen
        if isinstance(self.screen, QuitScreen):
            return
        state = getattr(self.client, "state", None)
        agent = (state.my_agent if state is not None else None) or {}
        if self.username and agent.get("state", "logged_out") != "logged_out":
            self.push_screen(QuitScreen(agent), self._quit_chosen)
            return
        await self._quit_now()

    async def _quit_chosen(self, choice: str | None) -> None:
        if choice == "logout" and self.client is not None:
            try:
                await self.client.call("agent.logout")
            except Exception as exc:  # refused (a call going on) or not connected: stay
                code, message = str(getattr(exc, "code", "connection")), getattr(exc, "message", str(exc))
                title, text = refusal("agent.logout", code, message)
                self.notify(text, title=title, severity="error", timeout=8)
                return
            await self._quit_now()
        elif choice == "quit":
            await self._quit_now()

    async def _quit_now(self) -> None:
        if self._owns_client and not self._client_closed:
            await self._close_client()
        self.exit()

    # -- command palette -------------------------------------------------------------------------------
    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Theme: high contrast", "Black background, bright state colours",
                            partial(setattr, self, "theme", HIGH_CONTRAST_THEME.name))
        yield SystemCommand("Theme: default", "The default cc-console theme",
                            partial(setattr, self, "theme", DEFAULT_THEME.name))
        if self.username:
            yield SystemCommand("Log out", "End the session and return to the login form", self.action_logout)
        seen: set[tuple[int, str]] = set()
        for _key, active in screen.active_bindings.items():
            binding = active.binding
            if binding.system or not binding.description or binding.action in ("help", "quit"):
                continue
            marker = (id(active.node), binding.action)
            if marker in seen:
                continue
            seen.add(marker)
            help_text = binding.tooltip or binding.description
            yield SystemCommand(binding.description, f"{help_text}  [key: {self.get_key_display(binding)}]",
                                partial(self._run_from_palette, binding.action, active.node))

    async def _run_from_palette(self, action: str, node: Any) -> None:
        await self.run_action(action, node)


def run(url: str | None = None, **kwargs: Any) -> None:
    """Run the console in the terminal (the CLI wires arguments, keyring and config)."""
    CCConsoleApp(url, **kwargs).run()


__all__ = ["CCConsoleApp", "ClientEvent", "LoggedIn", "LoginFailed", "load_keymap", "keymap_path", "run"]
