"""The current-call panel: caller, queue, DID, state and the wait or talk timer.

Query it as ``#call-panel`` on the agent screen. ``panel.call`` is the call dict (None when idle),
``panel.call_state`` its state, ``panel.summary`` the plain text shown. A ringing call adds the
``-ringing`` class (bright highlight).
"""
from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from .fmt import call_state_label, duration


class CallPanel(Widget):
    DEFAULT_CSS = """
    CallPanel {
        height: auto;
        min-height: 7;
        border: round $secondary;
        border-title-color: $foreground;
        padding: 0 1;
    }
    CallPanel.-idle { color: $text-muted; }
    CallPanel.-ringing {
        border: heavy $warning;
        background: $warning 25%;
        border-title-color: $warning;
        border-title-style: bold;
    }
    CallPanel.-connected { border: round $accent; border-title-color: $accent; }
    """

    call: reactive[dict[str, Any] | None] = reactive(None)
    now: reactive[float] = reactive(0.0)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Current call"

    def show(self, call: dict[str, Any] | None, now: float) -> None:
        with self.app.batch_update():
            self.call = dict(call) if call else None
            self.now = now

    # -- what tests read ----------------------------------------------------------------------
    @property
    def call_id(self) -> str | None:
        return self.call.get("id") if self.call else None

    @property
    def call_state(self) -> str | None:
        return self.call.get("state") if self.call else None

    @property
    def timer(self) -> tuple[str, str]:
        """(label, mm:ss): time waiting before the answer, talk time after it."""
        call = self.call
        if not call:
            return ("", "")
        if call.get("state") == "connected" and call.get("answered"):
            return ("Talk", duration(self.now - call["answered"]))
        start = call.get("enqueued") or call.get("created") or self.now
        return ("Waiting", duration(self.now - start))

    @property
    def summary(self) -> str:
        call = self.call
        if not call:
            return "No call"
        label, value = self.timer
        return (f"{call_state_label(call.get('state'))} {call.get('caller', '')} "
                f"queue={call.get('queue', '')} did={call.get('did', '')} {label.lower()}={value}")

    # -- rendering ----------------------------------------------------------------------------
    def watch_call(self, call: dict[str, Any] | None) -> None:
        state = call.get("state") if call else None
        self.set_class(call is None, "-idle")
        self.set_class(state == "ringing", "-ringing")
        self.set_class(state == "connected", "-connected")
        self.border_title = "INCOMING CALL" if state == "ringing" else "Current call"

    def render(self) -> Table | Text:
        call = self.call
        if not call:
            return Text("No call. Calls offered to you ring here.", style="italic")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        state = call.get("state")
        state_style = "bold reverse" if state == "ringing" else "bold"
        grid.add_row("Caller", Text(call.get("caller") or "unknown", style="bold"))
        grid.add_row("Queue", call.get("queue") or "-")
        grid.add_row("DID", call.get("did") or "-")
        status = Text(call_state_label(state), style=state_style)
        # What the agent must not forget: the caller on hold, the microphone off, a consultation open.
        if call.get("held"):
            status.append("  ON HOLD", style="bold reverse yellow")
        if call.get("muted"):
            status.append("  MUTED", style="bold reverse red")
        consult = call.get("consult")
        if consult:
            status.append(f"  CONSULT {consult.get('target', '')} ({consult.get('state', '')}, "
                          f"talking with {consult.get('with', '')})", style="bold cyan")
        if call.get("direction") == "outbound":
            status.append("  OUTBOUND", style="bold")
        grid.add_row("State", status)
        label, value = self.timer
        grid.add_row(label, value)
        return grid
