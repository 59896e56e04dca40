"""The keys modal (F1 / ?): the bindings active on the screen it was opened from.

Built from ``Screen.active_bindings`` so a user keymap (keymap.toml) shows the remapped keys.
esc, q, F1 or ? close it.
"""
from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Label


@dataclass(frozen=True)
class KeyHelp:
    key: str  # as displayed, e.g. "a", "^p", "F1 ?"
    description: str
    binding_id: str  # "" when the binding has no id (cannot be remapped)
    scope: str  # "screen" or "app"


def collect_bindings(screen: Screen) -> list[KeyHelp]:
    """The bindings a user can press on ``screen`` (focused widget, screen, app), keys merged per action."""
    app = screen.app
    merged: dict[tuple[int, str], tuple[list[str], Binding, str]] = {}
    for key, active in screen.active_bindings.items():
        binding = active.binding
        wanted = binding.id or binding.show or binding.action == "command_palette"
        if binding.system or not binding.description or not wanted:
            continue
        scope = "app" if active.node is app else "screen"
        display = binding.key_display or app.get_key_display(binding.with_key(key))
        entry = merged.setdefault((id(active.node), binding.action), ([], binding, scope))
        if display not in entry[0]:
            entry[0].append(display)
    rows = [KeyHelp(" ".join(keys), b.description, b.id or "", scope) for keys, b, scope in merged.values()]
    rows.sort(key=lambda r: r.scope != "screen")  # stable: declaration order within a scope
    return rows


class HelpScreen(ModalScreen[None]):
    """Lists keys and what they do; ``rows`` keep the binding ids (tests, the keymap docs)."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 70;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        border: thick $primary;
        background: $surface;
        padding: 0 1;
    }
    HelpScreen #help-title { text-style: bold; width: 1fr; }
    HelpScreen #help-hint { color: $text-muted; }
    HelpScreen DataTable { height: auto; max-height: 100%; width: auto; }
    """

    BINDINGS = [
        Binding("escape,q,f1,question_mark", "dismiss_help", "Close", id="help.close"),
    ]

    def __init__(self, rows: list[KeyHelp], title: str = "Keys") -> None:
        super().__init__(id="help")
        self.rows = rows
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, id="help-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True, show_cursor=False)
            yield Label("esc closes · ctrl+p finds any action by name", id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # Binding ids are for whoever edits keymap.toml (docs/agent.md, docs/consoles.md), not
        # for the agent reading this.
        table.add_columns("Key", "Action")
        for row in self.rows:
            table.add_row(row.key, row.description)

    def action_dismiss_help(self) -> None:
        self.dismiss(None)
