"""Asked before quitting while my agent is logged in to queues: quitting the console does not log
the agent out, so calls would keep coming to a console nobody watches.

`l` logs out of my queues and quits, `q` (or Enter) quits and stays logged in, esc cancels.
Dismissed with "logout", "quit" or None.
"""
from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from cc_console.widgets.fmt import state_label


class QuitScreen(ModalScreen[str | None]):
    DEFAULT_CSS = """
    QuitScreen { align: center middle; }
    QuitScreen > Vertical {
        width: 64; max-width: 95%; height: auto; border: thick $warning; background: $surface; padding: 0 1;
    }
    QuitScreen #quit-title { text-style: bold; }
    QuitScreen #quit-keys { margin-top: 1; }
    """
    BINDINGS = [
        Binding("l", "choose('logout')", "Log out and quit", id="quit.logout"),
        Binding("q,enter", "choose('quit')", "Quit, stay logged in", id="quit.quit"),
        Binding("escape", "choose(None)", "Cancel", id="quit.cancel"),
    ]

    def __init__(self, agent: dict[str, Any]) -> None:
        super().__init__(id="quit")
        self.agent = agent

    @property
    def situation(self) -> str:
        a = self.agent
        state = state_label(a.get("state"))
        if a.get("state") == "paused" and a.get("reason"):
            state += f" ({a['reason']})"
        queues = ", ".join(a.get("queues") or []) or "your queues"
        if a.get("call_id"):
            return f"You are {state} in {queues}. Your call goes on on your phone."
        if a.get("state") == "paused":
            return f"You are {state} in {queues}. Once you are ready again, calls come to you."
        return f"You are {state} in {queues}: calls will still be offered to you."

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Quit the console?", id="quit-title")
            yield Label(self.situation, id="quit-situation")
            yield Label("[b]l[/b] log out of my queues and quit   [b]q[/b] quit, stay logged in   "
                        "[b]esc[/b] cancel", id="quit-keys")

    def action_choose(self, choice: str | None) -> None:
        self.dismiss(choice)
