"""The campaign call's script, beside the call (docs/outbound.md): the question to ask now with its
answers and where each leads, and the answers given so far. Hidden unless the agent's call is a
campaign call with a script.

The agent answers with `Q` (agent.script: the question): ScriptAnswerScreen shows the question; a number key
picks an answer (the script branches on it), or a free answer is typed; `script.answer` stores it
and the panel shows the script as it goes on. `R` (agent.reschedule) asks when to call the contact
again (RescheduleScreen; `campaign.reschedule`). Ids: #script-question, #script-answers (Static).
"""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Static

END = "end"


def question_of(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    for q in (data.get("script") or {}).get("questions") or []:
        if q.get("key") == key:
            return q
    return None


def choices(q: dict[str, Any]) -> list[tuple[str, str]]:
    """(answer, where it leads) in the script's order; empty for a free answer."""
    return list((q.get("answers") or {}).items())


class ScriptPanel(Vertical):
    DEFAULT_CSS = """
    ScriptPanel { width: 1fr; height: auto; max-height: 16; border: round $accent; display: none; }
    ScriptPanel #script-question { height: auto; }
    ScriptPanel #script-answers { height: auto; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data: dict[str, Any] | None = None
        self.campaign: dict[str, Any] | None = None
        self.border_title = "Call script"

    def compose(self) -> ComposeResult:
        yield Static("", id="script-question")
        yield Static("", id="script-answers")

    def show(self, data: dict[str, Any] | None) -> None:
        """The script.get (or script.answer) result of my call; None or a call without a script hides it."""
        self.campaign = data if data and data.get("contact") else None  # a campaign call, script or not
        self.data = data if data and data.get("script") else None
        self.display = self.data is not None
        if self.data is None:
            return
        current = self.data.get("current") or ""
        q = question_of(self.data, current)
        text = Text()
        if q is None:
            text.append("The script is complete.", style="bold")
        else:
            text.append(q.get("text", ""), style="bold")
            opts = choices(q)
            for n, (answer, target) in enumerate(opts, start=1):
                text.append(f"\n {n} {answer}", style="")
                text.append(f"  → {'end' if target == END else target}", style="dim")
            if not opts:
                text.append("\n (a free answer)", style="dim")
            text.append("\n Q answer", style="dim")
        self.query_one("#script-question", Static).update(text)
        given = Text()
        for a in self.data.get("answers") or []:
            if given:
                given.append("\n")
            given.append(f"{a['question']}: ", style="bold")
            given.append(str(a["answer"]))
        self.query_one("#script-answers", Static).update(given)
        contact = self.data.get("contact") or {}
        who = contact.get("name") or contact.get("number") or ""
        self.border_title = f"Call script · {who}" if who else "Call script"


class ScriptAnswerScreen(ModalScreen[str | None]):
    """The question to ask: a number key picks an answer; a free answer is typed, Enter keeps it;
    esc cancels."""

    DEFAULT_CSS = """
    ScriptAnswerScreen { align: center middle; }
    ScriptAnswerScreen > Vertical { width: 70; max-width: 95%; height: auto; border: thick $primary;
                                    background: $surface; padding: 0 1; }
    ScriptAnswerScreen #script-pick-answers { color: $text; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="script_answer.cancel"),
                *[Binding(str(n), f"pick({n})", f"Answer {n}", id=f"script_answer.{n}", show=False)
                  for n in range(1, 10)]]

    def __init__(self, question: dict[str, Any]) -> None:
        super().__init__(id="script-answer")
        self.question = question
        self.options = choices(question)

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Call script"
            yield Label(self.question.get("text", ""), id="script-pick-question")
            if self.options:
                yield Label("\n".join(f"[b]{n}[/b] {a}" for n, (a, _) in enumerate(self.options, start=1))
                            + "\n[dim]esc cancel[/dim]", id="script-pick-answers")
            else:
                yield Input(placeholder="The answer, Enter keeps it (esc cancels)", id="script-free")

    def on_mount(self) -> None:
        if not self.options:
            self.query_one("#script-free", Input).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # a free answer is typed: the number keys are the text's, not picks
        return bool(self.options) if action == "pick" else True

    def action_pick(self, n: int) -> None:
        if 1 <= n <= len(self.options):
            self.dismiss(self.options[n - 1][0])

    @on(Input.Submitted)
    def typed(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class RescheduleScreen(ModalScreen[dict[str, Any] | None]):
    """When to call the campaign call's contact again: a date and time (in the campaign's time zone,
    e.g. 2026-12-01 14:30), and whether only I call them back. Enter asks the server, which checks
    the calling hours and the team's; esc cancels."""

    DEFAULT_CSS = """
    RescheduleScreen { align: center middle; }
    RescheduleScreen > Vertical { width: 64; max-width: 95%; height: auto; border: thick $primary;
                                  background: $surface; padding: 0 1; }
    RescheduleScreen #reschedule-hint { color: $text-muted; }
    """
    # Enter asks from the tick box too (where it would otherwise tick it again).
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reschedule.cancel"),
                Binding("enter", "submit", "Ask", id="reschedule.submit", priority=True)]

    def __init__(self, who: str) -> None:
        super().__init__(id="reschedule")
        self.who = who

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"Call {self.who} again" if self.who else "Call again"
            yield Input(placeholder="Date and time, e.g. 2026-12-01 14:30", id="reschedule-when")
            yield Checkbox("Only I call them back", id="reschedule-mine")
            yield Label("Enter asks · tab moves · space ticks · esc cancels", id="reschedule-hint")

    def on_mount(self) -> None:
        self.query_one("#reschedule-when", Input).focus()

    def action_submit(self) -> None:
        when = self.query_one("#reschedule-when", Input).value.strip()
        if when:
            self.dismiss({"when": when, "mine": self.query_one("#reschedule-mine", Checkbox).value})

    def action_cancel(self) -> None:
        self.dismiss(None)
