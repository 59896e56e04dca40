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
    me = ""  # whose console this is: a call someone else has, consulting me, reads differently

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Current call"

    def show(self, call: dict[str, Any] | None, now: float, me: str = "") -> None:
        with self.app.batch_update():
            self.me = me
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

    @property
    def consult_lines(self) -> tuple[str, str]:
        """(who and how far, who is talking with whom) of a consultation, in an agent's words;
        short enough for the panel at 80 columns."""
        call = self.call or {}
        c = call.get("consult")
        if not c:
            return ("", "")
        other = who(c.get("target", ""))
        if self.consulted:
            if c.get("state") == "conference":
                return (f"from {who(call.get('agent') or '')}", "conference: all three of you")
            return (f"from {who(call.get('agent') or '')}", "the caller is on hold")
        state = c.get("state")
        if state == "ringing":
            return (f"{other} ringing", "the caller is on hold")
        if state == "conference":
            return (f"{other} in conference", "caller, you and them together")
        if c.get("with") == "caller":
            return (f"{other} answered", f"with the caller; {other} on hold")
        return (f"{other} answered", f"with {other}; the caller on hold")

    @property
    def consulted(self) -> bool:
        """This console's agent is the one consulted, not the one who has the call."""
        call = self.call or {}
        return bool(self.me and call.get("agent") != self.me
                    and (call.get("consult") or {}).get("agent") == self.me)

    # -- rendering ----------------------------------------------------------------------------
    def watch_call(self, call: dict[str, Any] | None) -> None:
        state = call.get("state") if call else None
        self.set_class(call is None, "-idle")
        self.set_class(state == "ringing", "-ringing")
        self.set_class(state == "connected", "-connected")
        if state == "ringing":
            self.border_title = "INCOMING CALL"
        elif self.consulted:
            self.border_title = "Consultation"
        elif call and call.get("consult"):
            self.border_title = "Current call: consultation"
        else:
            self.border_title = "Current call"

    def render(self) -> Table | Text:
        call = self.call
        if not call:
            return Text("No call. Calls offered to you ring here.", style="italic")
        grid = Table.grid(padding=(0, 1))
        # Labels keep their width: at 80 columns the values are cut, never the labels.
        grid.add_column(style="bold", no_wrap=True, min_width=7)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        state = call.get("state")
        state_style = "bold reverse" if state == "ringing" else "bold"
        grid.add_row("Caller", Text(call.get("caller") or "unknown", style="bold"))
        ident = identity_line(call)
        if ident is not None:
            grid.add_row("Identity", ident[0])
            grid.add_row("", ident[1])
        where = call.get("queue") or "-"
        if call.get("did"):
            where += f" · DID {call['did']}"
        grid.add_row("Queue", where)
        if call.get("tags"):
            # What the caller chose in the IVR: the agent need not ask again.
            grid.add_row("Chose", Text(", ".join(f"{k}: {v}" for k, v in call["tags"].items()), style="bold cyan"))
        status = Text(call_state_label(state), style=state_style)
        # What the agent must not forget: the caller on hold, the microphone off.
        if call.get("held"):
            status.append(" ")
            status.append("ON HOLD", style="bold reverse yellow")
        if call.get("muted"):
            status.append(" ")
            status.append("MUTED", style="bold reverse red")
        if call.get("direction") == "outbound":
            status.append(" OUTBOUND", style="bold")
        grid.add_row("State", status)
        first, second = self.consult_lines
        if first:
            grid.add_row("Consult", Text(first, style="bold cyan"))
            grid.add_row("", Text(second, style="cyan"))
        label, value = self.timer
        grid.add_row(label, value)
        return grid


def identity_line(call: dict[str, Any]) -> tuple[Text, Text] | None:
    """The badge of a caller who proved who they are (server/verified), and what was proved, when.
    A call that was not verified has no line at all: an unverified caller never looks verified."""
    v = call.get("verified")
    if not v:
        return None
    import time as _time
    when = _time.strftime("%H:%M", _time.localtime(float(v.get("at") or 0)))
    if v.get("kind") == "yivi":
        badge = Text(" ✔ VERIFIED ", style="bold reverse green")
        badge.append(f" with Yivi at {when}", style="green")
    else:
        badge = Text(" ✔ IDENTIFIED ", style="bold reverse cyan")
        badge.append(f" by id and password at {when}", style="cyan")
    detail = Text(" · ".join(f"{k}: {val}" for k, val in (v.get("attributes") or {}).items()), style="bold")
    return badge, detail


def who(target: str) -> str:
    """An agent:ID target as the agent's id; a number as it is."""
    return target.split(":", 1)[1] if target.startswith("agent:") else target
