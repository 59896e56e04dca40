"""The agent-state badge: state, pause reason and time in state, coloured by CSS class.

Query it as ``#agent-state`` on the agent screen; ``badge.state`` is the AgentState value
(``"ready"``, ``"ringing"``...) and ``badge.label`` the plain text shown.
"""
from __future__ import annotations

from textual.reactive import reactive
from textual.widget import Widget

from .fmt import long_duration, state_label

STATES = ("logged_out", "ready", "ringing", "on_call", "wrap_up", "paused", "unknown")


class AgentStateBadge(Widget):
    DEFAULT_CSS = """
    AgentStateBadge {
        width: auto;
        height: 1;
        padding: 0 1;
        text-style: bold;
        background: $panel;
        color: $foreground;
    }
    AgentStateBadge.-ready { background: $success; color: $background; }
    AgentStateBadge.-ringing { background: $warning; color: $background; text-style: bold reverse; }
    AgentStateBadge.-on_call { background: $accent; color: $background; }
    AgentStateBadge.-paused { background: $secondary; color: $background; }
    AgentStateBadge.-wrap_up { background: $primary; color: $background; }
    AgentStateBadge.-logged_out { background: $panel; color: $text-muted; }
    """

    state: reactive[str] = reactive("unknown")
    reason: reactive[str] = reactive("")
    since: reactive[float] = reactive(0.0)
    now: reactive[float] = reactive(0.0)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)

    def show(self, state: str, reason: str, since: float, now: float) -> None:
        """Set everything at once (one refresh)."""
        with self.app.batch_update():
            self.state = state or "unknown"
            self.reason = reason or ""
            self.since = since or 0.0
            self.now = now

    @property
    def label(self) -> str:
        text = state_label(self.state) if self.state != "unknown" else "UNKNOWN"
        if self.state == "paused" and self.reason:
            text += f" ({self.reason})"
        if self.since and self.state not in ("unknown",):
            text += f"  {long_duration(self.now - self.since)}"
        return text

    def watch_state(self, old: str, new: str) -> None:
        self.remove_class(f"-{old}")
        self.add_class(f"-{new}")

    def on_mount(self) -> None:
        self.add_class(f"-{self.state}")

    def render(self) -> str:
        return self.label
