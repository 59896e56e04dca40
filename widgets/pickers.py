"""Small supervisor modals: pick a pause reason, tick the queues an agent is logged into.

``ReasonPicker(reasons)`` dismisses with a reason code or None (esc).
``QueuePicker(agent, member_queues, logged_in)`` dismisses with the ticked queue names or None.
"""
from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, SelectionList
from textual.widgets.option_list import Option


class ReasonPicker(ModalScreen[str | None]):
    DEFAULT_CSS = """
    ReasonPicker { align: center middle; }
    ReasonPicker OptionList { width: 40; height: auto; max-height: 16; border: thick $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="picker.cancel")]

    def __init__(self, reasons: list[tuple[str, str]], title: str = "Pause reason") -> None:
        super().__init__(id="reason-picker")
        self.reasons = reasons
        self.title_text = title

    def compose(self) -> ComposeResult:
        options = OptionList(*[Option(label, id=code) for code, label in self.reasons], id="reasons")
        options.border_title = self.title_text
        yield options

    @on(OptionList.OptionSelected)
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class QueuePicker(ModalScreen[list[str] | None]):
    """space ticks/unticks, enter applies, esc cancels."""

    DEFAULT_CSS = """
    QueuePicker { align: center middle; }
    QueuePicker > Vertical { width: 44; height: auto; max-height: 80%; border: thick $primary;
        background: $surface; padding: 0 1; }
    QueuePicker SelectionList { height: auto; max-height: 16; }
    QueuePicker #queue-hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("enter", "apply", "Apply", id="picker.apply", priority=True),
    ]

    def __init__(self, agent: str, queues: list[str], logged_in: list[str]) -> None:
        super().__init__(id="queue-picker")
        self.agent = agent
        self.queues = queues
        self.logged_in = set(logged_in)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Queues of {self.agent}", classes="section-title")
            yield SelectionList[str](*[(q, q, q in self.logged_in) for q in self.queues], id="queue-list")
            yield Label("space: tick  enter: apply  esc: cancel", id="queue-hint")

    def action_apply(self) -> None:
        chosen = set(self.query_one(SelectionList).selected)
        self.dismiss([q for q in self.queues if q in chosen])

    def action_cancel(self) -> None:
        self.dismiss(None)
