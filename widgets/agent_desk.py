"""The agent's desk: what the agent screen shows around the call when it has room (docs/agent.md).

``CallerHistoryPanel`` (#caller-history): earlier calls and chats with the current caller (when,
channel with a call's direction, agent, category, outcome, the latest note, ``●`` where a recording
of it may be heard).
``RecentCallsPanel`` (#recent-calls): my last calls and chats. ``CallbacksDuePanel``
(#callbacks-due): open callback requests, voicemails and missed calls, the ones due first on top.
Each has ``.rows`` (the data shown) and ``.summary`` (plain text tests read). Pure rendering: the
screen fetches the data.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from .fmt import duration

# A callback counts as "due soon" when its preferred time (or, without one, the time it was
# asked for) is at most this far ahead; overdue ones are shown first, in red.
DUE_SOON_SECONDS = 2 * 3600


def when(ts: float | None, now: float) -> str:
    """Time of day for today, day-month and time before."""
    if not ts:
        return "asap"
    at, today = datetime.fromtimestamp(ts), datetime.fromtimestamp(now)
    return at.strftime("%H:%M") if at.date() == today.date() else at.strftime("%d-%m %H:%M")


class DeskPanel(Widget):
    """A bordered panel that renders a table of ``rows`` (set by the screen)."""

    DEFAULT_CSS = """
    DeskPanel { height: 1fr; border: round $secondary; border-title-color: $foreground; padding: 0 1; }
    """
    TITLE = ""
    EMPTY = ""

    rows: reactive[list[dict[str, Any]]] = reactive(list, always_update=True)
    loaded: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = self.TITLE
        self.now = 0.0
        self.empty = self.EMPTY

    def show(self, rows: list[dict[str, Any]] | None, now: float, empty: str = "") -> None:
        """``rows`` None: not loaded yet; ``empty``: what to say instead of EMPTY when there are none."""
        self.now = now
        self.empty = empty or self.EMPTY
        self.loaded = rows is not None
        self.rows = list(rows or [])

    @property
    def summary(self) -> str:
        return " | ".join(self.line(r) for r in self.rows) or self.empty

    def line(self, row: dict[str, Any]) -> str:  # pragma: no cover - overridden
        return ""

    def render(self) -> Table | Text:
        if not self.rows:
            return Text(self.empty if self.loaded else "…", style="italic dim")
        return self.table()

    def table(self) -> Table:  # pragma: no cover - overridden
        return Table()

    @staticmethod
    def grid(*columns: tuple[str, dict[str, Any]]) -> Table:
        t = Table(box=None, expand=True, padding=(0, 1), header_style="bold", show_edge=False, pad_edge=False)
        for name, kw in columns:
            t.add_column(name, **{"no_wrap": True, "overflow": "ellipsis", **kw})
        return t


def _direction(row: dict[str, Any]) -> str:
    return "in" if row.get("direction", "inbound") == "inbound" else "out"


def _channel(row: dict[str, Any]) -> str:
    """The channel, with the direction for a call ("call in", "call out", "chat"): one narrow column."""
    channel = row.get("channel", "call")
    if channel == "call":
        return f"call {_direction(row)}"
    return {"email": "e-mail"}.get(channel, channel)


class CallerHistoryPanel(DeskPanel):
    TITLE = "Caller's history"
    EMPTY = "No earlier calls with this caller."

    def line(self, r: dict[str, Any]) -> str:
        rec = " rec" if r.get("recording") else ""
        return (f"{when(r.get('ts'), self.now)} {_channel(r)} {r.get('agent') or '-'} "
                f"{r.get('category') or '-'} {r.get('outcome', '')}{rec} {r.get('note') or ''}").strip()

    def table(self) -> Table:
        t = self.grid(("When", {}), ("Channel", {"max_width": 8}), ("Agent", {"max_width": 12}),
                      ("Category", {"max_width": 18}), ("Outcome", {"max_width": 16}), ("Talk", {"justify": "right"}),
                      ("Rec", {"width": 3}), ("Note", {"ratio": 1, "min_width": 10, "no_wrap": False,
                                                         "overflow": "fold"}))
        for r in self.rows:
            t.add_row(when(r.get("ts"), self.now), _channel(r), r.get("agent") or "-", r.get("category") or "-",
                      r.get("outcome", ""), duration(r.get("talk") or 0) if r.get("talk") else "",
                      Text("●", style="bold red") if r.get("recording") else "",
                      Text(r.get("note") or "", style="italic"))
        return t


class RecentCallsPanel(DeskPanel):
    TITLE = "My recent calls"
    EMPTY = "No calls yet."

    def line(self, r: dict[str, Any]) -> str:
        return f"{when(r.get('ts'), self.now)} {_channel(r)} {r.get('caller', '')} {r.get('outcome', '')}"

    def table(self) -> Table:
        t = self.grid(("When", {}), ("Channel", {"max_width": 8}), ("Caller", {"ratio": 1, "min_width": 8}),
                      ("Queue", {"max_width": 12}), ("Outcome", {"max_width": 14}), ("Talk", {"justify": "right"}))
        for r in self.rows:
            t.add_row(when(r.get("ts"), self.now), _channel(r), r.get("caller", ""), r.get("queue") or "-",
                      r.get("outcome", ""), duration(r.get("talk") or 0) if r.get("talk") else "")
        return t


def due_at(item: dict[str, Any]) -> float:
    return float(item.get("preferred") or item.get("requested") or 0.0)


def due_soon(items: list[dict[str, Any]], now: float, me: str, within: float = DUE_SOON_SECONDS
             ) -> list[dict[str, Any]]:
    """Open items and the ones I took, due within ``within`` seconds (overdue included), first due first."""
    out = [it for it in items
           if (it.get("state") == "open" or (it.get("state") == "taken" and it.get("agent") == me))
           and due_at(it) <= now + within]
    return sorted(out, key=due_at)


class CallbacksDuePanel(DeskPanel):
    TITLE = "Callbacks due soon"
    EMPTY = "No callbacks due."

    def line(self, r: dict[str, Any]) -> str:
        return f"{when(r.get('preferred'), self.now)} {r.get('kind', '')} {r.get('caller', '')} {r.get('queue', '')}"

    def table(self) -> Table:
        t = self.grid(("Due", {}), ("Kind", {"max_width": 9}), ("Caller", {"ratio": 1, "min_width": 8}),
                      ("Queue", {"max_width": 12}), ("", {"max_width": 6}))
        for r in self.rows:
            late = bool(r.get("preferred")) and due_at(r) < self.now
            t.add_row(Text(when(r.get("preferred"), self.now), style="bold red" if late else ""), r.get("kind", ""),
                      r.get("caller", ""), r.get("queue") or "-", "mine" if r.get("state") == "taken" else "")
        return t
