"""The directory's result rows: who, where, in or away (why, until when), who covers, line state.

``DirectoryResults.show(rows, now)`` replaces the rows (a search returns at most a few dozen);
``.rows`` keeps the row dicts, ``.current`` is the highlighted one.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

ABSENCE_LABELS = {"lunch": "lunch", "meeting": "meeting", "vacation": "vacation", "sick": "sick",
                  "travel": "travelling", "course": "course", "out": "out", "other": "away"}
LINE_STYLES = {"free": "green", "busy": "red", "ringing": "yellow", "wrap-up": "yellow", "paused": "yellow",
               "logged out": "dim", "unknown": "dim"}


def when(t: float, now: float) -> str:
    """A short local time: 14:30 today, 'Fri 14:30' within a week, else 12.08.2025."""
    dt, today = datetime.fromtimestamp(t), datetime.fromtimestamp(now)
    if dt.date() == today.date():
        return dt.strftime("%H:%M")
    if 0 < (dt.date() - today.date()).days < 7:
        return dt.strftime("%a %H:%M")
    return dt.strftime("%d.%m.%Y")


def status_text(row: dict[str, Any], now: float) -> Text:
    if row.get("status") == "gone":
        return Text("gone", style="bold magenta")
    a = row.get("absence")
    if a:
        label = ABSENCE_LABELS.get(a.get("type", ""), a.get("type", "away"))
        return Text(f"{label} until {when(a['until'], now)}", style="bold yellow")
    return Text("in", style="bold green")


def cover_text(row: dict[str, Any]) -> str:
    sub = row.get("substitute")
    if not sub:
        return ""
    return sub.get("name") or sub.get("desk") or ""


class DirectoryResults(DataTable):
    DEFAULT_CSS = """
    DirectoryResults { height: 1fr; }
    """

    COLUMNS = ("Name", "Unit", "Title", "Desk", "Status", "Cover", "Line")

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_data: list[dict[str, Any]] = []

    def on_mount(self) -> None:
        for c in self.COLUMNS:
            self.add_column(c, key=c.lower())

    def show(self, rows: list[dict[str, Any]], now: float) -> None:
        self.rows_data = list(rows)
        self.clear()
        for r in rows:
            line = r.get("line", "unknown")
            name = Text(r["name"], style="strike dim" if r.get("gone") else "bold")
            self.add_row(name, r.get("unit", ""), r.get("title", ""), r.get("desk", ""), status_text(r, now),
                         cover_text(r), Text(line, style=LINE_STYLES.get(line, "")), key=r["id"])
        if rows:
            self.move_cursor(row=0)

    @property
    def current(self) -> dict[str, Any] | None:
        if not self.rows_data:
            return None
        i = self.cursor_row
        return self.rows_data[i] if 0 <= i < len(self.rows_data) else None
