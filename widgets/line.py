"""A one-line text widget whose updates repaint it without re-laying out the screen.

Static.update() asks for a layout pass (its size may change); at 500 agents a screen layout costs
more than the table diff, so the supervisor's status lines use this fixed-height widget instead.
"""
from __future__ import annotations

from textual.reactive import reactive
from textual.widget import Widget


class Line(Widget):
    DEFAULT_CSS = "Line { height: 1; width: 1fr; }"

    text: reactive[str] = reactive("", layout=False)

    def __init__(self, text: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(Line.text, text)

    def update(self, text: str) -> None:
        self.text = text

    def render(self) -> str:
        return self.text
