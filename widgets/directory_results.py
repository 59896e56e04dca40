"""The directory's result rows: who, where, in or away (why, until when), who covers, line state.

``DirectoryResults.show(rows, now)`` replaces the rows (a search returns at most a few dozen);
``.rows_data`` keeps the row dicts, ``.current`` is the highlighted one.

Not a DataTable: the operator sees new rows on every keystroke, and DataTable renders each cell
through Rich's console (wrapping, padding, style stacks), 150 ms and more for a screenful of 30 rows
on a busy machine. Every cell here is one text in one style, so a row is a few Segments built
straight into a Strip: the keystroke-to-rows budget (50 ms, bench/directory.py) goes to the search.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

ABSENCE_LABELS = {"lunch": "lunch", "meeting": "meeting", "vacation": "vacation", "sick": "sick",
                  "travel": "travelling", "course": "course", "out": "out", "other": "away"}
LINE_STYLES = {"free": "green", "busy": "red", "ringing": "yellow", "wrap-up": "yellow", "paused": "yellow",
               "logged out": "dim", "unknown": "dim"}
MAX_WIDTH = 32  # a column is as wide as its widest cell, up to this


def local_time(t: float) -> datetime:
    return datetime.fromtimestamp(t).astimezone()


def ambiguous(dt: datetime) -> bool:
    """A wall-clock time that happens twice (the hour the clocks go back)."""
    if dt.tzinfo is not None and hasattr(dt.tzinfo, "key"):  # a zoneinfo zone knows both offsets
        return dt.replace(fold=1 - dt.fold).utcoffset() != dt.utcoffset()
    # the system's local time: the two readings of a wall-clock time differ only where it is ambiguous
    naive = dt.replace(tzinfo=None)
    return naive.replace(fold=0).timestamp() != naive.replace(fold=1).timestamp()


def hhmm(dt: datetime) -> str:
    """14:30; in the hour that happens twice, with its UTC offset: 02:30+02:00 / 02:30+01:00."""
    text = dt.strftime("%H:%M")
    if ambiguous(dt):
        text += dt.strftime("%z")[:3] + ":" + dt.strftime("%z")[3:]
    return text


def when(t: float, now: float) -> str:
    """A short local time: 14:30 today, 'Fri 14:30' within a week, else 12.08.2025."""
    dt, today = local_time(t), local_time(now)
    if dt.date() == today.date():
        return hhmm(dt)
    if 0 < (dt.date() - today.date()).days < 7:
        return dt.strftime("%a ") + hhmm(dt)
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


def cells(r: dict[str, Any], now: float) -> list[Text]:
    line = r.get("line", "unknown")
    return [Text(r["name"], style="strike dim" if r.get("gone") else "bold"), Text(r.get("unit", "")),
            Text(r.get("title", "")), Text(r.get("desk", "")), status_text(r, now), Text(cover_text(r)),
            Text(line, style=LINE_STYLES.get(line, ""))]


class DirectoryResults(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    DirectoryResults { height: 1fr; }
    DirectoryResults > .directory-results--header { text-style: bold; background: $panel; color: $foreground; }
    DirectoryResults > .directory-results--even { background: $surface-lighten-1; }
    DirectoryResults > .directory-results--cursor { background: $block-cursor-blurred-background; }
    DirectoryResults:focus > .directory-results--cursor { background: $block-cursor-background;
                                                          color: $block-cursor-foreground; }
    """
    COMPONENT_CLASSES = {"directory-results--header", "directory-results--even", "directory-results--cursor"}
    BINDINGS = [
        Binding("up", "cursor(-1)", "Up", show=False, id="directory_results.up"),
        Binding("down", "cursor(1)", "Down", show=False, id="directory_results.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="directory_results.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="directory_results.page_down"),
        Binding("home", "first", "First", show=False, id="directory_results.first"),
        Binding("end", "last", "Last", show=False, id="directory_results.last"),
        Binding("enter", "select", "Details", show=False, id="directory_results.select"),
    ]
    COLUMNS = ("Name", "Unit", "Title", "Desk", "Status", "Cover", "Line")

    class RowHighlighted(Message):
        def __init__(self, table: DirectoryResults, cursor_row: int) -> None:
            super().__init__()
            self.table, self.cursor_row = table, cursor_row

    class RowSelected(Message):
        def __init__(self, table: DirectoryResults, cursor_row: int) -> None:
            super().__init__()
            self.table, self.cursor_row = table, cursor_row

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows_data: list[dict[str, Any]] = []
        self._cells: list[list[Text]] = []
        self._widths = [len(c) for c in self.COLUMNS]
        self.cursor_row = 0

    # -- data ------------------------------------------------------------------------------------
    def show(self, rows: list[dict[str, Any]], now: float) -> None:
        self.rows_data = list(rows)
        self._cells = [cells(r, now) for r in rows]
        widths = [len(c) for c in self.COLUMNS]
        for row in self._cells:
            for i, c in enumerate(row):
                widths[i] = max(widths[i], min(MAX_WIDTH, cell_len(c.plain)))
        self._widths = widths
        self.cursor_row = 0
        self.virtual_size = Size(sum(w + 2 for w in widths), len(rows) + 1)
        self.scroll_to(y=0, animate=False)
        self.refresh()  # no RowHighlighted: whoever shows new rows shows the first one's details

    @property
    def row_count(self) -> int:
        return len(self.rows_data)

    def get_row(self, key: str) -> list[Text]:
        for r, c in zip(self.rows_data, self._cells):
            if r["id"] == key:
                return c
        raise KeyError(key)

    @property
    def current(self) -> dict[str, Any] | None:
        i = self.cursor_row
        return self.rows_data[i] if 0 <= i < len(self.rows_data) else None

    # -- cursor ----------------------------------------------------------------------------------
    def move_cursor(self, *, row: int) -> None:
        if not self.rows_data:
            return
        row = max(0, min(row, len(self.rows_data) - 1))
        if row == self.cursor_row:
            return
        self.cursor_row = row
        visible = max(1, self.size.height - 1)
        top = int(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False)
        elif row >= top + visible:
            self.scroll_to(y=row - visible + 1, animate=False)
        self.refresh()
        self.post_message(self.RowHighlighted(self, row))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(row=self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(row=self.cursor_row + direction * max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self.rows_data) - 1)

    def action_select(self) -> None:
        if self.current is not None:
            self.post_message(self.RowSelected(self, self.cursor_row))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return
        row = int(self.scroll_offset.y) + event.y - 1
        if 0 <= row < len(self.rows_data):
            if row == self.cursor_row:
                self.action_select()
            self.move_cursor(row=row)

    # -- rendering ---------------------------------------------------------------------------------
    def _strip(self, texts: list[Text], base: Style) -> Strip:
        segments = []
        for text, width in zip(texts, self._widths):
            style = base + text.style if isinstance(text.style, Style) else base + Style.parse(text.style or "")
            segments.append(Segment(" " + set_cell_size(text.plain, width) + " ", style))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = self.get_component_rich_style("directory-results--header")
            strip = self._strip([Text(c) for c in self.COLUMNS], base + header)
            return strip.crop_extend(int(self.scroll_offset.x), int(self.scroll_offset.x) + width, base + header)
        i = int(self.scroll_offset.y) + y - 1
        if i >= len(self._cells):
            return Strip.blank(width, base)
        style = base
        if i == self.cursor_row:
            style = base + self.get_component_rich_style("directory-results--cursor")
        elif i % 2:
            style = base + self.get_component_rich_style("directory-results--even")
        return self._strip(self._cells[i], style).crop_extend(int(self.scroll_offset.x),
                                                               int(self.scroll_offset.x) + width, style)
