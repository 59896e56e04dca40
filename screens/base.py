"""What the mode screens share: the client, the clock, state-change messages and command sending."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual import on
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen

from cc_console.messages import refusal
from cc_console.protocol import ProtocolError

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from cc_console.client import ConsoleClient, ConsoleState


@dataclass
class StateChanged(Message):
    """The client's state changed: an event, a snapshot, or the connection went up or down; with
    ``more``, the events that came right after it, in order (one message for a burst)."""

    kind: str
    data: dict[str, Any]
    more: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


@dataclass
class CommandFailed(Message):
    """A server command came back with an error (already shown to the user as a notification)."""

    cmd: str
    code: str
    message: str


@dataclass
class CommandSucceeded(Message):
    cmd: str
    args: dict[str, Any]
    result: dict[str, Any]


class ConsoleScreen(Screen):
    """Base of the agent, supervisor and wallboard screens.

    ``client`` and ``now`` may be injected (tests); otherwise the app's are used.
    Subclasses implement ``refresh_state()``; it runs on mount, on every StateChanged and each tick.
    """

    BINDINGS = [
        Binding("escape", "back", "Back", show=False, id="screen.back"),
    ]

    TICK_SECONDS = 1.0
    # None: refresh on every state change. A number: mark dirty and refresh at most this often
    # (event bursts cost one refresh per period; tables are diffed, never rebuilt).
    BATCH_SECONDS: float | None = None
    # With BATCH_SECONDS: a change schedules a refresh at most MIN_GAP after the previous one, so a
    # burst costs one refresh and a lone event shows within MIN_GAP (not up to a whole period);
    # the BATCH_SECONDS interval is then only a safety net. None: the interval alone.
    MIN_GAP: float | None = None

    def __init__(self, client: ConsoleClient | Any | None = None, *, now: Callable[[], float] | None = None,
                 name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._client = client
        self._now = now
        self._dirty = False
        self.refreshes = 0
        self._flush_scheduled = False
        self._last_refresh = 0.0
        self.state_messages = 0  # StateChanged messages posted to this screen and not handled yet

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def client(self) -> ConsoleClient | Any:
        return self._client if self._client is not None else self.app.client  # type: ignore[attr-defined]

    @property
    def state(self) -> ConsoleState:
        return self.client.state

    def now(self) -> float:
        if self._now is not None:
            return self._now()
        server_now = getattr(self.app, "server_now", None)
        if server_now is not None:
            return server_now()
        import time

        return time.time()

    @property
    def connected(self) -> bool:
        ev = getattr(self.client, "connected", None)
        if isinstance(ev, asyncio.Event):
            return ev.is_set()
        return bool(ev) if ev is not None else True

    @property
    def stale(self) -> bool:
        return bool(getattr(self.client, "stale", False))

    @property
    def going(self) -> bool:
        """The screen, or the whole app, is being taken down: a quit (or a browser tab closed) can
        come while the screen is still mounting, and then its widgets go from under its on_mount.
        The same test as Textual's own signals make before calling a node."""
        return not (self.is_running and self.is_attached) or self._pruning

    def on_mount(self) -> None:
        # Every console screen shows who is logged in; set on the screen itself (see
        # CCConsoleApp.show_mode_screen for why not on the app).
        if self.sub_title is None:
            self.sub_title = getattr(self.app, "console_sub_title", None)
        self._refresh()
        self.set_interval(self.TICK_SECONDS, self.on_tick, name="clock")
        if self.BATCH_SECONDS:
            self.set_interval(self.BATCH_SECONDS, self.flush, name="flush")

    def on_screen_resume(self) -> None:
        self._refresh()

    def on_tick(self) -> None:
        self.mark_dirty()

    def mark_dirty(self) -> None:
        if not self.BATCH_SECONDS:
            self._refresh()
            return
        self._dirty = True
        if self.MIN_GAP is not None and not self._flush_scheduled and self.is_mounted:
            self._flush_scheduled = True
            delay = max(0.02, self._last_refresh + self.MIN_GAP - time.monotonic())
            self.set_timer(delay, self._scheduled_flush, name="batch")

    def _scheduled_flush(self) -> None:
        self._flush_scheduled = False
        self.flush()

    def flush(self) -> None:
        """Refresh now if anything changed since the last refresh."""
        if self._dirty:
            self._refresh()

    def _refresh(self) -> None:
        if self.going:
            return
        self._last_refresh = time.monotonic()
        self._dirty = False
        self.refreshes += 1
        self.refresh_state()

    @on(StateChanged)
    def _state_changed(self, message: StateChanged) -> None:
        self.state_messages = max(0, self.state_messages - 1)
        self.take_events([(message.kind, message.data), *message.more])

    def take_events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        """The client's events, in order (from the app's handler, or a StateChanged message)."""
        if self.going:
            return
        for kind, data in events:
            self.state_changed(kind, data)

    def state_changed(self, kind: str, data: dict[str, Any]) -> None:
        self.mark_dirty()

    def refresh_state(self) -> None:  # pragma: no cover - overridden
        pass

    # -- commands ------------------------------------------------------------------------------
    def send_command(self, cmd: str, args: dict[str, Any] | None = None, *, ok_message: str = "") -> None:
        """Send ``cmd`` in a worker; a failure becomes an error notification with the server's message."""
        self.run_worker(self._send(cmd, dict(args or {}), ok_message), group="commands",
                        name=f"cmd:{cmd}", exit_on_error=False)

    async def _send(self, cmd: str, args: dict[str, Any], ok_message: str) -> None:
        try:
            result = await self.client.call(cmd, args)
        except ProtocolError as exc:
            self.notify_refusal(cmd, exc)
            self.post_message(CommandFailed(cmd, str(exc.code), exc.message))
            return
        except (TimeoutError, ConnectionError, OSError) as exc:
            msg = str(exc) or "no answer from the server"
            self.notify_refusal(cmd, exc)
            self.post_message(CommandFailed(cmd, "connection", msg))
            return
        if ok_message:
            self.notify(ok_message, timeout=3)
        self.post_message(CommandSucceeded(cmd, args, result or {}))

    def notify_refusal(self, cmd: str, exc: BaseException) -> None:
        """Tell the person, in their words, that what they asked for did not happen; the command
        name, the code and the server's own message go to the log."""
        if isinstance(exc, ProtocolError):
            code, message = str(exc.code), exc.message
        elif isinstance(exc, (ConnectionError, OSError, asyncio.TimeoutError)):
            code, message = "connection", str(exc)
        else:  # a bug on our side, not something the person can act on
            log.error("%s failed", cmd, exc_info=exc)
            code, message = "internal", str(exc)
        title, text = refusal(cmd, code, message)
        self.notify(text, title=title, severity="error", timeout=8)

    # -- navigation ----------------------------------------------------------------------------
    def action_back(self) -> None:
        """esc: leave a screen pushed on top of the mode screen (e.g. the wallboard from supervisor)."""
        stack = self.app.screen_stack
        if self in stack and stack.index(self) > 1:
            self.app.pop_screen()
