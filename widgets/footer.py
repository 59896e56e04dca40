"""The console's footer: the screen's keys, with help and quit pinned at the right.

Textual's Footer lists keys in binding order and cuts what does not fit; at a tmux pane's width
the app's own keys (help, quit) came last and were cut first. Here they sit in a fixed part of
their own, showing the keys that reach them on the current screen (a keymap or a screen's own
use of a key, such as the supervisor's `q`, is respected).
"""
from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Footer, Input, Static, TextArea

PINNED = ("help", "quit", "command_palette")  # app actions always shown, in this order


class PinnedKeys(Static):
    """``? Keys  q Quit  ^p Palette``: the keys that reach the pinned actions on this screen."""

    DEFAULT_CSS = """
    PinnedKeys { width: auto; height: 1; background: $footer-background; padding: 0 1 0 0; }
    """

    def on_mount(self) -> None:
        self.refresh_keys()
        # Bindings change with the focus (a text field, a table) and with the keymap.
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh_keys())

    def keys(self) -> list[tuple[str, str]]:
        """(key as displayed, description) for each pinned action reachable from the screen: the
        plainest key when several reach it (q before ctrl+q, ? before F1), unless the cursor is in
        a text field, where a plain key types itself (then ctrl+q, F1)."""
        app = self.app
        typing = isinstance(app.focused, (Input, TextArea))
        found: dict[str, list[tuple[bool, int, str, str]]] = {}
        for key, active in self.screen.active_bindings.items():
            b = active.binding
            if active.node is app and b.action in PINNED:
                display = app.get_key_display(b.with_key(key))
                plain = "+" not in key and not (key[:1] == "f" and key[1:].isdigit())
                found.setdefault(b.action, []).append((plain == typing, len(display), display, b.description))
        return [min(found[a])[2:] for a in PINNED if a in found]

    def refresh_keys(self) -> None:
        self.update(Content.assemble(*[part for display, description in self.keys() for part in (
            (f" {display} ", "bold $footer-key-foreground"), f"{description} ")]))


class ConsoleFooter(Horizontal):
    DEFAULT_CSS = """
    ConsoleFooter { dock: bottom; height: 1; width: 1fr; }
    ConsoleFooter > Footer { width: 1fr; dock: none; }
    """

    def compose(self) -> ComposeResult:
        yield Footer(show_command_palette=False)  # pinned here instead: Footer squeezed it at 80 columns
        yield PinnedKeys(id="pinned-keys")
