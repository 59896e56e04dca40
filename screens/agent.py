"""The agent screen: my state, the current call, my queues; keys answer, hang up, ready, pause, log in/out.

Ids a test can read: #agent-state (AgentStateBadge: ``.state``, ``.reason``, ``.label``),
#call-panel (CallPanel: ``.call``, ``.call_id``, ``.call_state``, ``.summary``),
#my-queues (Static), #connection (ConnectionStatus: ``.level``), #me-details (Static).
The screen gets the class ``-ringing`` while a call rings for me.
"""
from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import ModalScreen
from textual.widgets import Footer, Header, Input, OptionList, Static
from textual.widgets.option_list import Option

from cc_console.widgets.agent_state import AgentStateBadge
from cc_console.widgets.call_panel import CallPanel
from cc_console.widgets.fmt import duration, longest_wait, percent
from cc_console.widgets.status import ConnectionStatus

from .base import ConsoleScreen

# Shown only when the server has not (yet) sent its own list of pause reasons (the admin's, in
# the routing configuration); the server refuses codes it does not know.
PAUSE_REASONS = ("break", "lunch", "admin", "training", "meeting")


class PauseReasonScreen(ModalScreen[str | None]):
    """Pick a pause reason; Enter picks, esc cancels."""

    DEFAULT_CSS = """
    PauseReasonScreen { align: center middle; }
    PauseReasonScreen OptionList { width: 30; height: auto; max-height: 12; border: thick $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="pause_reason.cancel")]

    def __init__(self, reasons: tuple[str, ...] | list[tuple[str, str]] = PAUSE_REASONS) -> None:
        super().__init__(id="pause-reason")
        # (code, label) pairs; plain codes are their own labels.
        self.reasons = [r if isinstance(r, tuple) else (r, r) for r in reasons]

    def compose(self) -> ComposeResult:
        option_list = OptionList(*[Option(label, id=code) for code, label in self.reasons], id="pause-reasons")
        option_list.border_title = "Pause reason"
        yield option_list

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class AskScreen(ModalScreen[str | None]):
    """One line of input: Enter gives it, esc cancels."""

    DEFAULT_CSS = """
    AskScreen { align: center middle; }
    AskScreen Input { width: 60; border: thick $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="ask.cancel")]

    def __init__(self, title: str) -> None:
        super().__init__(id="ask")
        self.title_text = title

    def compose(self) -> ComposeResult:
        field = Input(placeholder=self.title_text, id="ask-input")
        field.border_title = self.title_text
        yield field

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class AgentScreen(ConsoleScreen):
    BINDINGS = [
        Binding("a", "answer", "Answer", id="agent.answer", tooltip="Answer the ringing call"),
        Binding("h", "hangup", "Hang up", id="agent.hangup", tooltip="Hang up my call"),
        Binding("r", "ready", "Ready", id="agent.ready", tooltip="Become ready for calls"),
        Binding("p", "pause", "Pause", id="agent.pause", tooltip="Pause (not ready)"),
        Binding("P", "pause_reason", "Pause with reason", id="agent.pause_reason", show=False,
                tooltip="Pause, picking a reason"),
        Binding("l", "login_toggle", "Log in/out", id="agent.login_toggle",
                tooltip="Log in to my queues, or log out of them"),
        Binding("o", "hold", "Hold", id="agent.hold", tooltip="Hold or take back my call (music to the caller)"),
        Binding("m", "mute", "Mute", id="agent.mute", show=False, tooltip="Mute or unmute my microphone"),
        Binding("t", "transfer", "Transfer", id="agent.transfer",
                tooltip="Blind transfer: a number, agent:ID or queue:NAME"),
        Binding("c", "consult", "Consult", id="agent.consult", tooltip="Consult a number or agent:ID first"),
        Binding("x", "consult_complete", "Complete", id="agent.consult_complete", show=False,
                tooltip="Complete the attended transfer"),
        Binding("k", "consult_cancel", "Cancel consult", id="agent.consult_cancel", show=False,
                tooltip="Cancel the consultation, back to the caller"),
        Binding("s", "consult_swap", "Swap", id="agent.consult_swap", show=False,
                tooltip="Swap between the caller and the consulted party"),
        Binding("f", "conference", "Conference", id="agent.conference", show=False,
                tooltip="Three-way conference with the caller and the consulted party"),
        Binding("d", "dtmf", "DTMF", id="agent.dtmf", show=False, tooltip="Send DTMF digits"),
        Binding("D", "directory", "Directory", id="agent.directory", tooltip="Search the directory"),
    ]

    ringing: reactive[bool] = reactive(False)

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        super().__init__(client, id="agent", **kwargs)
        self._rung: set[str] = set()

    def compose(self) -> ComposeResult:
        yield Header(icon="☎")
        yield ConnectionStatus(id="connection")
        with Horizontal(id="agent-top"):
            with Vertical(id="me-panel") as me:
                me.border_title = "Me"
                yield AgentStateBadge(id="agent-state")
                yield Static("", id="me-details")
            yield CallPanel(id="call-panel")
        my_queues = Static("", id="my-queues")
        my_queues.border_title = "My queues"
        yield my_queues
        yield Footer()

    # -- state -> widgets -----------------------------------------------------------------------
    def current_call(self) -> dict[str, Any] | None:
        state = self.state
        call = state.my_call
        if call is None:
            user = state.me.get("user")
            mine = [c for c in state.calls.values() if user and c.get("agent") == user
                    and c.get("state") in ("ringing", "connected")]
            call = mine[0] if mine else None
        return call

    def refresh_state(self) -> None:
        state = self.state
        now = self.now()
        agent = state.my_agent or {}
        call = self.current_call()
        self.query_one("#connection", ConnectionStatus).show(
            self.connected, self.stale, str(state.server.get("ari", "")))
        self.query_one("#agent-state", AgentStateBadge).show(
            agent.get("state", "unknown") if agent else "unknown", agent.get("reason", ""),
            agent.get("state_since", 0.0), now)
        self.query_one("#call-panel", CallPanel).show(call, now)
        self.query_one("#me-details", Static).update(self._me_text(agent))
        self.query_one("#my-queues", Static).update(self._queues_table(agent))
        ringing = bool(call and call.get("state") == "ringing") or agent.get("state") == "ringing"
        self.ringing = ringing
        if ringing:
            key = (call or {}).get("id") or f"agent:{agent.get('state_since')}"
            if key not in self._rung:
                self._rung.add(key)
                self.app.bell()

    def watch_ringing(self, ringing: bool) -> None:
        self.set_class(ringing, "-ringing")

    def _me_text(self, agent: dict[str, Any]) -> Text:
        me = self.state.me
        if not agent:
            who = me.get("name") or me.get("user") or "not logged in"
            return Text(f"{who}\nNo agent record for this user.", style="italic")
        text = Text()
        text.append(agent.get("name") or agent.get("id", ""), style="bold")
        text.append(f" ({agent.get('id', '')})\n")
        if agent.get("device"):
            text.append(f"{agent['device']} ({agent.get('answer_mode', 'console')})")
        return text

    def _queues_table(self, agent: dict[str, Any]) -> Table | Text:
        names = list(agent.get("queues") or [])
        if not names:
            return Text("Not in any queue. Press l to log in.", style="italic")
        table = Table(box=None, expand=True, padding=(0, 1), header_style="bold")
        table.add_column("Queue", no_wrap=True, overflow="ellipsis")
        table.add_column("Waiting", justify="right")
        table.add_column("Longest", justify="right")
        table.add_column("Ready", justify="right")
        table.add_column("Busy", justify="right")
        table.add_column("SL %", justify="right")
        for name in names:
            q = self.state.queues.get(name, {})
            waiting = int(q.get("waiting") or 0)
            style = "bold black on yellow" if waiting else ""
            table.add_row(name, Text(str(waiting), style=style), duration(longest_wait(q, self.now())),
                          str(q.get("agents_ready", 0)), str(q.get("agents_busy", 0)),
                          percent(q.get("service_level")))
        return table

    # -- actions ----------------------------------------------------------------------------------
    def _call_args(self, states: tuple[str, ...]) -> dict[str, Any]:
        call = self.current_call()
        if call and call.get("state") in states:
            return {"call_id": call["id"]}
        return {}

    def action_answer(self) -> None:
        self.send_command("call.answer", self._call_args(("ringing",)))

    def action_hangup(self) -> None:
        self.send_command("call.hangup", self._call_args(("ringing", "connected", "queued")))

    def action_ready(self) -> None:
        self.send_command("agent.ready")

    def action_pause(self) -> None:
        self.send_command("agent.pause")

    def action_pause_reason(self) -> None:
        def picked(reason: str | None) -> None:
            if reason:
                self.send_command("agent.pause", {"reason": reason})

        server_reasons = [(r["code"], f'{r["label"]} ({r["kind"]})') for r in self.state.pause_reasons]
        self.app.push_screen(PauseReasonScreen(server_reasons or PAUSE_REASONS), picked)

    def _my_connected(self) -> dict[str, Any] | None:
        call = self.current_call()
        return call if call and call.get("state") == "connected" else None

    def action_hold(self) -> None:
        call = self._my_connected()
        self.send_command("call.hold", {"on": not (call or {}).get("held", False)})

    def action_mute(self) -> None:
        call = self._my_connected()
        self.send_command("call.mute", {"on": not (call or {}).get("muted", False)})

    def _ask(self, title: str, then: Any) -> None:
        def done(value: str | None) -> None:
            if value:
                then(value.strip())
        self.app.push_screen(AskScreen(title), done)

    def action_transfer(self) -> None:
        self._ask("Transfer to (number, agent:ID, queue:NAME)",
                  lambda target: self.send_command("call.transfer", {"target": target}))

    def action_consult(self) -> None:
        self._ask("Consult (number or agent:ID)",
                  lambda target: self.send_command("call.consult", {"target": target}))

    def action_consult_complete(self) -> None:
        self.send_command("call.consult_complete")

    def action_consult_cancel(self) -> None:
        self.send_command("call.consult_cancel")

    def action_consult_swap(self) -> None:
        self.send_command("call.consult_swap")

    def action_conference(self) -> None:
        self.send_command("call.conference")

    def action_dtmf(self) -> None:
        self._ask("DTMF digits", lambda digits: self.send_command("call.dtmf", {"digits": digits}))

    def action_directory(self) -> None:
        from .directory import DirectoryScreen
        self.app.push_screen(DirectoryScreen(self.client))

    def action_login_toggle(self) -> None:
        agent = self.state.my_agent or {}
        if agent.get("state", "logged_out") == "logged_out":
            self.send_command("agent.login")
        else:
            self.send_command("agent.logout")
