"""A wallboard tile: a caption over a figure in block digits scaled to the tile, coloured by level class.

On a big tile (a 4K wallboard) the caption, too, is drawn in block capitals, up to a sixth of the
tile's height, so that it reads from as far as the figure does.

``tile.value`` is the figure shown, ``tile.level`` one of "", "ok", "warn", "alert" (CSS classes
``-ok``, ``-warn``, ``-alert``).
"""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Label

from .bigdigits import BigFigure, caption_rows

LEVELS = ("ok", "warn", "alert")
CAPTION_SHARE = 6  # a block caption takes at most 1/6 of the tile's height: the figure comes first


class Tile(Widget):
    DEFAULT_CSS = """
    Tile {
        height: 1fr;
        min-height: 5;
        border: round $secondary;
        padding: 0 1;
        align: center middle;
    }
    Tile > Label { width: 1fr; text-align: center; color: $foreground; text-style: bold; }
    Tile.-ok { border: round $success; }
    Tile.-ok > BigFigure { color: $success; }
    Tile.-warn { border: heavy $warning; }
    Tile.-warn > BigFigure { color: $warning; }
    Tile.-alert { border: heavy $error; background: $error 20%; }
    Tile.-alert > BigFigure { color: $error; text-style: bold; }
    Tile.-alert > Label { color: $error; }
    """

    # The figure repaints itself (BigFigure); the tile around it (border, caption) only changes
    # with its level: repainting it for every new figure was a millisecond a tile.
    value: reactive[str] = reactive("", init=False, repaint=False)
    level: reactive[str] = reactive("", init=False)

    def __init__(self, caption: str, value: str = "0", *, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.caption = caption
        self.caption_rows: tuple[str, ...] | None = None  # the block caption drawn, None: plain text
        self.set_reactive(Tile.value, value)

    def compose(self) -> ComposeResult:
        yield Label(self.caption)
        yield BigFigure(self.value)

    def on_resize(self) -> None:
        region = self.content_region
        rows = caption_rows(self.caption, region.width, region.height // CAPTION_SHARE)
        if rows == self.caption_rows:
            return
        self.caption_rows = rows
        label = self.query_one(Label)
        if rows:
            # No-break spaces: a label's alignment would strip the leading spaces of each row.
            label.update(Text("\n".join(r.replace(" ", "\u00a0") for r in rows)))
            label.styles.height = len(rows)
        else:
            label.update(Text(self.caption))
            label.styles.height = 1

    def show(self, value: str, level: str = "") -> None:
        self.value = value
        self.level = level

    def watch_value(self, value: str) -> None:
        self.query_one(BigFigure).update(value)

    def watch_level(self, old: str, new: str) -> None:
        if old:
            self.remove_class(f"-{old}")
        if new:
            self.add_class(f"-{new}")
