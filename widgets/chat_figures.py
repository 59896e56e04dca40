"""The supervisor's written channels: today's chat.stats per channel and queue (waiting, longest
wait, offered, handled, abandoned, service level) as a small table under the queues. Hidden while
the server reports no chat figures, so a voice-only floor loses no room.

Ids a test can read: #chat-figures-table (a DiffTable keyed ``<channel>:<queue>``).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label

from .diff_table import DiffTable
from .fmt import duration

COLUMNS = [
    ("channel", "Channel", 7),
    ("queue", "Queue", 12),
    ("waiting", "Wait", 4),
    ("longest", "Longest", 7),
    ("offered", "Offer", 5),
    ("handled", "Hand", 4),
    ("abandoned", "Abn", 4),
    ("sl", "SL%", 4),
]
CHANNELS = {"chat": "Chat", "email": "E-mail", "sms": "SMS", "call": "Call"}


def figures_row(r: dict[str, Any]) -> tuple[Any, ...]:
    """One chat.stats row as cells; the service level is already a percentage (None: nothing done)."""
    waiting = int(r.get("waiting") or 0)
    sl = r.get("service_level")
    return (
        CHANNELS.get(str(r.get("channel", "chat")), str(r.get("channel", ""))),
        str(r.get("queue", "")),
        Text(str(waiting), style="bold black on yellow" if waiting else ""),
        duration(float(r.get("longest_wait") or 0.0)),
        str(r.get("offered", 0)),
        str(r.get("handled", 0)),
        str(r.get("abandoned", 0)),
        "--" if sl is None else f"{round(float(sl)):d}",
    )


class ChatFigures(Vertical):
    DEFAULT_CSS = """
    ChatFigures { height: auto; display: none; }
    ChatFigures.-visible { display: block; }
    ChatFigures #chat-figures-table { height: auto; max-height: 8; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cells: dict[str, tuple[Any, ...]] = {}

    def compose(self) -> ComposeResult:
        yield Label("Written channels", id="chat-figures-title", classes="section-title")
        yield DiffTable(COLUMNS, id="chat-figures-table")

    def on_mount(self) -> None:
        self.call_after_refresh(self._apply)

    def show(self, rows: Iterable[dict[str, Any]]) -> None:
        """The rows of the last chat.stats (its ``queues``)."""
        self._cells = {f"{r.get('channel', 'chat')}:{r.get('queue', '')}": figures_row(r) for r in rows}
        self._apply()

    def _apply(self) -> None:
        # chat.stats may come before the table is mounted (its columns are added then): kept until it is
        tables = self.query(DiffTable)
        if not tables or not tables.first().is_mounted:
            return
        tables.first().sync(self._cells, order=sorted(self._cells))
        self.set_class(bool(self._cells), "-visible")
