"""The agent screen: my state, the current call, the caller's customer records, my queues; every
action is a key (``?`` lists them, the palette finds them, keymap.toml remaps them by binding id).

Ids a test can read: #agent-state (AgentStateBadge: ``.state``, ``.reason``, ``.label``),
#call-panel (CallPanel: ``.call``, ``.call_id``, ``.call_state``, ``.summary``),
#contact-panel (ContactPanel: ``.reg``, ``.matches``, ``.contact``, ``.category``, ``.summary``),
#my-queues (Static), #connection (ConnectionStatus: ``.level``), #me-details (Static), the desk
panels #caller-history, #recent-calls and #callbacks-due (widgets/agent_desk.py: ``.rows``,
``.summary``) and #desk-summary (Static: the one line that stands for them on a short screen).
The screen gets the class ``-ringing`` while a call rings for me and ``-wrapup`` in wrap-up.

Layout: the customer and the caller's history on the left, my queues, callbacks due soon and my
recent calls on the right; ``<`` and ``>`` move the split. Below 36 rows (``-short``, e.g. 80x24)
the desk panels fold into #desk-summary. #agent-extras (a Vertical under the right column, empty
and zero rows high by default) is where other capabilities mount their own small panels.

Caller identification, notes, categories, the wrap-up registration, history, callbacks, my figures
and the transfer panel are described in docs/agent.md. The screen looks things up by itself (the
caller's records when a call rings) only with a client that can (``client.lookups``, true for the
real ConsoleClient); commands sent by keys always go through ``client.call``.
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
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from cc_console.widgets.agent_desk import CallbacksDuePanel, CallerHistoryPanel, RecentCallsPanel, due_soon
from cc_console.widgets.agent_state import AgentStateBadge
from cc_console.widgets.call_panel import CallPanel
from cc_console.widgets.chats import ChatsPanel
from cc_console.widgets.contact_panel import ContactPanel
from cc_console.widgets.emails import EmailsPanel
from cc_console.widgets.fmt import duration, longest_wait, percent
from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader
from cc_console.widgets.script_panel import RescheduleScreen, ScriptAnswerScreen, ScriptPanel, question_of
from cc_console.widgets.sms import SmsPanel
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
        Binding("r", "ready", "Ready", id="agent.ready",
                tooltip="Become ready for calls; during a call, cancel the pause asked for"),
        Binding("p", "pause", "Pause", id="agent.pause",
                tooltip="Pause (not ready); during a call, once the call and its wrap-up end"),
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
        # -- caller identification and registration (docs/agent.md) --
        Binding("i", "identify", "Identify", id="agent.identify",
                tooltip="Pick the caller's customer record (or enter one by hand)"),
        Binding("e", "edit_contact", "Edit customer", id="agent.edit_contact", show=False,
                tooltip="Edit the picked customer record, or enter a new one"),
        Binding("n", "note", "Note", id="agent.note", tooltip="Write the call's note (every save is a version)"),
        Binding("g", "category", "Category", id="agent.category", tooltip="Set the call's category"),
        Binding("w", "wrapup", "Register", id="agent.wrapup", show=False,
                tooltip="The registration form: contact, category and note (wrap-up)"),
        Binding("y", "history", "History", id="agent.history", show=False,
                tooltip="Earlier calls with this caller"),
        Binding("u", "crm", "CRM link", id="agent.crm", show=False, tooltip="The customer's page in the CRM"),
        Binding("b", "callbacks", "Callbacks", id="agent.callbacks",
                tooltip="Callback requests, voicemails and missed calls"),
        Binding("F", "figures", "My figures", id="agent.figures", show=False,
                tooltip="My handled and lost calls, service level, recent calls"),
        Binding("T", "transfer_panel", "Transfer panel", id="agent.transfer_panel", show=False,
                tooltip="Agents, supervisors and lines with their state; transfer or consult"),
        Binding("less_than_sign", "split(-1)", "Narrower", id="agent.narrow", show=False,
                tooltip="Give the customer's side less room"),
        Binding("greater_than_sign", "split(1)", "Wider", id="agent.widen", show=False,
                tooltip="Give the customer's side more room"),
        # -- chats (widgets/chats.py; docs/chat.md): one key per chat --
        *[Binding(str(n), f"chat({n})", f"Chat {n}", id=f"agent.chat{n}", show=False,
                  tooltip=f"Chat number {n}: show it (accept it if offered) and reply") for n in range(1, 10)],
        # -- e-mail (widgets/emails.py; docs/email.md) --
        Binding("Q", "script", "Script", id="agent.script", show=False,
                tooltip="Answer the campaign call's script question (the script panel)"),
        Binding("R", "reschedule", "Reschedule", id="agent.reschedule", show=False,
                tooltip="Have the campaign call's contact called again at a date and time"),
        Binding("E", "email", "E-mail", id="agent.email", show=False,
                tooltip="The next e-mail thread: show it (accept it if offered) and answer it"),
        # -- SMS (widgets/sms.py; docs/sms.md) --
        Binding("S", "sms", "SMS", id="agent.sms", show=False,
                tooltip="The next SMS conversation: show it (accept it if offered) and answer it"),
        Binding("M", "sms_to_customer", "SMS to customer", id="agent.sms_to", show=False,
                tooltip="Write an SMS to the customer on the contact card"),
    ]

    # Below this many rows the desk panels do not fit beside the call: they fold into one line.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]
    SPLIT_MIN, SPLIT_MAX, SPLIT_PARTS = 2, 8, 10

    DEFAULT_CSS = """
    AgentScreen #agent-middle { height: 1fr; }
    AgentScreen #agent-left, AgentScreen #agent-right { width: 1fr; height: 100%; }
    AgentScreen #agent-extras { height: auto; }
    AgentScreen #agent-extras > #chats { height: 18; }
    AgentScreen.-short #agent-extras > #chats { height: 10; }
    AgentScreen #agent-extras > #emails { height: 18; }
    AgentScreen.-short #agent-extras > #emails { height: 10; }
    AgentScreen.-short #emails #email-list { max-height: 2; }
    AgentScreen.-short #emails #email-reply { height: 3; }
    AgentScreen.-short #emails #email-hint { display: none; }
    AgentScreen #agent-extras > #sms { height: 16; }
    AgentScreen.-short #agent-extras > #sms { height: 9; }
    AgentScreen.-short #sms #sms-list { max-height: 2; }
    AgentScreen.-short #sms #sms-reply { height: 3; }
    AgentScreen.-short #sms #sms-hint { display: none; }
    AgentScreen.-wrapup #me-panel { border: heavy $primary; }
    """

    DEFAULT_CATEGORIES = ("Order", "Complaint", "Information", "Technical problem", "Billing", "Other")

    ringing: reactive[bool] = reactive(False)
    # The left column's share of the width, in tenths (``<`` and ``>``).
    split: reactive[int] = reactive(5)

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        super().__init__(client, id="agent", **kwargs)
        self._rung: set[str] = set()
        # The registration of the current call, or of the last one (wrap-up, after the call).
        self.reg: dict[str, Any] | None = None
        self.fields: list[dict[str, Any]] | None = None
        self.categories: list[str] = list(self.DEFAULT_CATEGORIES)
        self.crm_url = ""
        self.lines: list[dict[str, Any]] = []
        # The desk's data: None until the server answered.
        self.recent: list[dict[str, Any]] | None = None
        self.worklist: list[dict[str, Any]] | None = None
        self._was_busy = False

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="☎")
        yield ConnectionStatus(id="connection")
        with Horizontal(id="agent-top"):
            with Vertical(id="me-panel") as me:
                me.border_title = "Me"
                yield AgentStateBadge(id="agent-state")
                yield Static("", id="pause-pending")
                yield Static("", id="me-details")
            yield CallPanel(id="call-panel")
        with Horizontal(id="agent-middle"):
            with Vertical(id="agent-left"):
                yield ContactPanel(id="contact-panel")
                yield CallerHistoryPanel(id="caller-history")
            with Vertical(id="agent-right"):
                my_queues = Static("", id="my-queues")
                my_queues.border_title = "My queues"
                yield my_queues
                yield CallbacksDuePanel(id="callbacks-due")
                yield RecentCallsPanel(id="recent-calls")
                with Vertical(id="agent-extras"):  # other capabilities' panels
                    yield ScriptPanel(id="script")
                    yield ChatsPanel(id="chats")
                    yield EmailsPanel(id="emails")
                    yield SmsPanel(id="sms")
        yield Static("", id="desk-summary")
        yield ConsoleFooter()

    # -- state -> widgets -----------------------------------------------------------------------
    def current_call(self) -> dict[str, Any] | None:
        # Only the server's word: the call my agent record names. Guessing from the calls that
        # name me as their agent showed a transferred call as mine long after it had left me.
        return self.state.my_call

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
        self.query_one("#call-panel", CallPanel).show(call, now, str(state.me.get("user") or ""))
        self._follow_call(call)
        wrapup = agent.get("state") == "wrap_up"
        self.set_class(wrapup, "-wrapup")
        self.query_one("#contact-panel", ContactPanel).show(self.reg, wrapup)
        self.query_one("#me-details", Static).update(self._me_text(agent))
        self._console_audio(agent)
        pending = agent.get("pending_pause") or ""
        self.query_one("#pause-pending", Static).update(
            Text(f"pause pending ({self._reason_label(pending)})", style="bold") if pending else "")
        self.query_one("#my-queues", Static).update(self._queues_table(agent))
        self._show_desk(agent, now)
        ringing = bool(call and call.get("state") == "ringing") or agent.get("state") == "ringing"
        self.ringing = ringing
        if ringing:
            key = (call or {}).get("id") or f"agent:{agent.get('state_since')}"
            if key not in self._rung:
                self._rung.add(key)
                self.app.bell()

    # -- the desk: caller's history, callbacks due, my recent calls -------------------------------
    def _show_desk(self, agent: dict[str, Any], now: float) -> None:
        reg = self.reg
        history = None if reg is None else reg.get("history")
        self.query_one("#caller-history", CallerHistoryPanel).show(
            [] if reg is None else history, now,
            "" if reg else "No call. Earlier calls with the caller show here.")
        due = None if self.worklist is None else due_soon(self.worklist, now, str(self.state.me.get("user") or ""))
        self.query_one("#callbacks-due", CallbacksDuePanel).show(due, now)
        self.query_one("#recent-calls", RecentCallsPanel).show(self.recent, now)
        self.query_one("#desk-summary", Static).update(self._desk_line(history, due))
        busy = agent.get("state") in ("ringing", "on_call")
        if self._was_busy and not busy and self.lookups:
            # A call of mine just ended: it belongs in my recent calls now, and the work list may have
            # changed without an event (a missed call is one only once it is over, and leaves it
            # once the number was reached).
            self.fetch("agent.figures", {}, self._got_figures)
            self.fetch("callbacks.worklist", {}, self._got_worklist)
        self._was_busy = busy

    def _desk_line(self, history: list[dict[str, Any]] | None, due: list[dict[str, Any]] | None) -> Text:
        bits = []
        if self.reg is not None and history is not None:
            calls = sum(1 for r in history if r.get("channel", "call") == "call")
            chats = len(history) - calls  # the customer's chats (contacts.history): said apart from calls
            said = [f"{n} {what}{'s' if n != 1 else ''}" for n, what in ((calls, "earlier call"), (chats, "chat")) if n]
            bits.append(f"{', '.join(said)} (y)" if history else "first call from this number")
        if due is not None:
            bits.append(f"{len(due)} callback{'s' if len(due) != 1 else ''} due (b)" if due else "no callbacks due")
        if self.recent:
            bits.append("my recent calls (F)")
        return Text(" · ".join(bits), style="dim")

    def _got_figures(self, result: dict[str, Any]) -> None:
        self.recent = list((result.get("figures") or {}).get("recent") or [])

    def _got_worklist(self, result: dict[str, Any]) -> None:
        self.worklist = list(result.get("items") or [])

    def _got_history(self, call_id: str, caller: str, result: dict[str, Any]) -> None:
        if not self.reg or self.reg.get("call_id") != call_id:
            return
        self.reg["history"] = list(result.get("history") or [])
        if self.reg["history"]:
            # Mark the calls a recording of which I may hear (agents: their own; supervisors: all).
            self.fetch("recordings.search", {"caller": caller, "limit": 100},
                       lambda r: self._got_recordings(call_id, r))

    def _got_recordings(self, call_id: str, result: dict[str, Any]) -> None:
        if not self.reg or self.reg.get("call_id") != call_id:
            return
        recorded = {r.get("call_id"): r.get("id") for r in result.get("recordings") or []}
        for row in self.reg.get("history") or []:
            if row.get("call_id") in recorded:
                row["recording"] = recorded[row["call_id"]]

    def watch_split(self, split: int) -> None:
        if not self.is_mounted:
            return
        self.query_one("#agent-left").styles.width = f"{split}fr"
        self.query_one("#agent-right").styles.width = f"{self.SPLIT_PARTS - split}fr"

    def action_split(self, step: int) -> None:
        self.split = max(self.SPLIT_MIN, min(self.SPLIT_MAX, self.split + step))

    def _reason_label(self, code: str) -> str:
        return next((r.get("label") or code for r in self.state.pause_reasons if r.get("code") == code), code)

    def _busy(self) -> bool:
        return (self.state.my_agent or {}).get("state") in ("ringing", "on_call")

    def watch_ringing(self, ringing: bool) -> None:
        self.set_class(ringing, "-ringing")

    def _console_audio(self, agent: dict[str, Any]) -> None:
        """My device is the console (docs/audio.md): show its audio panel once, and the audio starts."""
        if agent.get("device") == "Console" and self.lookups and not self.query("#console-audio"):
            from cc_console.widgets.audio import console_audio_panel
            self.query_one("#agent-extras").mount(console_audio_panel(self.client))

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
        if self._busy() and (self.state.my_agent or {}).get("pending_pause"):
            # During the call "ready" can only mean: not the pause I asked for.
            self.send_command("agent.pause_cancel", ok_message="Pause cancelled: ready after this call.")
            return
        self.send_command("agent.ready")

    def _pause(self, args: dict[str, Any]) -> None:
        note = "Pause requested: it starts when this call and its wrap-up end (r cancels it)." \
            if self._busy() else ""
        self.send_command("agent.pause", args, ok_message=note)

    def action_pause(self) -> None:
        self._pause({})

    def action_pause_reason(self) -> None:
        def picked(reason: str | None) -> None:
            if reason:
                self._pause({"reason": reason})

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
        on = not (call or {}).get("muted", False)
        self.send_command("call.mute", {"on": on})
        for panel in self.query("#console-audio"):  # console audio: not a frame leaves while muted
            panel.set_muted(on)  # type: ignore[attr-defined]

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

    # -- caller identification and registration ----------------------------------------------------
    @property
    def lookups(self) -> bool:
        """May the screen send requests of its own (not only on keys)? The real client may."""
        flag = getattr(self.client, "lookups", None)
        if flag is not None:
            return bool(flag)
        from cc_console.client import ConsoleClient
        return isinstance(self.client, ConsoleClient)

    def on_mount(self) -> None:
        super().on_mount()
        self.watch_split(self.split)
        if self.lookups:
            self.fetch("contacts.config", {}, self._got_config)
            self.fetch("callbacks.worklist", {}, self._got_worklist)
            self.fetch("agent.figures", {}, self._got_figures)

    def _got_config(self, result: dict[str, Any]) -> None:
        self.fields = result.get("fields") or self.fields
        self.categories = list(result.get("categories") or self.categories)
        self.crm_url = result.get("crm_url", "")
        self.lines = list(result.get("lines") or [])

    def state_changed(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "categories.update":
            self.categories = list(data.get("categories") or self.categories)
        elif kind == "callback.update" and data.get("id") and self.worklist is not None:
            before = next((it for it in self.worklist if it.get("id") == data["id"]), {})
            self.worklist = [it for it in self.worklist if it.get("id") != data["id"]] + [{**before, **data}]
        if kind.startswith("chat.") or kind == "snapshot":
            self.query_one(ChatsPanel).chat_event(kind, data)
        if kind.startswith("email.") or kind == "snapshot":
            self.query_one(EmailsPanel).email_event(kind, data)
        if kind.startswith("sms.") or kind == "snapshot":
            self.query_one(SmsPanel).sms_event(kind, data)
        if kind == "crm.open" and data.get("url"):
            from cc_console.widgets.crm_page import open_crm_page
            open_crm_page(self.app, str(data["url"]))
        elif kind == "case.update" and isinstance(data.get("case"), dict):
            from cc_console.widgets.crm_page import show_case
            show_case(self.app, data["case"])
        super().state_changed(kind, data)

    def action_chat(self, n: int) -> None:
        self.query_one(ChatsPanel).pick(n)

    def action_email(self) -> None:
        self.query_one(EmailsPanel).pick_next()

    def action_sms(self) -> None:
        self.query_one(SmsPanel).pick_next()

    def action_sms_to_customer(self) -> None:
        """An SMS to the customer on the contact card: the record's mobile or phone, else the caller."""
        reg = self.reg or {}
        contact = reg.get("contact") or {}
        number = str(contact.get("mobile") or contact.get(self._phone_field()) or reg.get("caller") or "").strip()
        if not number:
            self.app.notify("No customer number on the card.", severity="warning", timeout=3)
            return
        self.query_one(SmsPanel).write_to(number)

    def fetch(self, cmd: str, args: dict[str, Any], then: Any, *, quiet: bool = True) -> None:
        """Send ``cmd`` in a worker and hand the result to ``then`` (on the UI). Failures of the
        screen's own look-ups are quiet; failures of what a key asked for are shown."""
        async def go() -> None:
            try:
                result = await self.client.call(cmd, args)
            except Exception as exc:  # refused, not connected, a fake client without this command, ...
                if not quiet:
                    self.notify_refusal(cmd, exc)
                return
            then(result or {})
            self.mark_dirty()
        self.run_worker(go(), group="lookups", name=f"fetch:{cmd}", exit_on_error=False)

    def _follow_call(self, call: dict[str, Any] | None) -> None:
        """A new call for me starts a new registration (and looks up the caller's records)."""
        if not call:
            self._recover_wrapup()
            return
        if self.reg and self.reg.get("call_id") == call.get("id"):
            return
        self.reg = {"call_id": call["id"], "caller": call.get("caller", ""), "matches": [], "contact": None,
                    "category": "", "notes": [], "direction": call.get("direction", "inbound")}
        if self.lookups:
            call_id, caller = call["id"], call.get("caller", "")
            self.fetch("contacts.call", {"call_id": call_id}, self._got_registration)
            self.query_one("#script", ScriptPanel).show(None)
            if call.get("direction") == "outbound":  # a campaign call has its script (not_found: none)
                self.fetch("script.get", {"call_id": call_id}, self._got_script)
            if caller:
                self.fetch("contacts.history", {"number": caller, "exclude": call_id, "limit": 10},
                           lambda r: self._got_history(call_id, caller, r))

    def _got_script(self, result: dict[str, Any]) -> None:
        call = self.current_call()
        if call and (result.get("contact") or {}).get("call_id") == call["id"]:  # still that call
            self.query_one("#script", ScriptPanel).show(result)

    def action_script(self) -> None:
        panel = self.query_one("#script", ScriptPanel)
        call = self.current_call()
        if panel.data is None or call is None:
            self.notify("No script question to answer on this call", severity="warning")
            return
        q = question_of(panel.data, panel.data.get("current") or "")
        if q is None:
            self.notify("The script is complete", severity="warning")
            return
        call_id, question = call["id"], q["key"]

        def answered(answer: str | None) -> None:
            if answer is not None:
                self.fetch("script.answer", {"call_id": call_id, "question": question, "answer": answer},
                           self._got_script, quiet=False)
        self.app.push_screen(ScriptAnswerScreen(q), answered)

    def action_reschedule(self) -> None:
        """During a campaign call or its wrap-up: the contact's next call at a date and time."""
        data = self.query_one("#script", ScriptPanel).campaign
        if data is None:
            self.notify("Not a campaign call: nothing to reschedule", severity="warning")
            return
        contact = data.get("contact") or {}
        call_id = contact.get("call_id", "")

        def asked(got: dict[str, Any] | None) -> None:
            if got is not None:
                self.fetch("campaign.reschedule", {"call_id": call_id, **got},
                           lambda r: self.notify(f"{contact.get('name') or contact.get('number', '')} will be "
                                                 f"called again {got['when']}"
                                                 + (" by you" if got["mine"] else ""), timeout=5), quiet=False)
        self.app.push_screen(RescheduleScreen(contact.get("name") or contact.get("number", "")), asked)

    def _recover_wrapup(self) -> None:
        """In wrap-up with no registration (this console started after the call ended): the call
        is the one my agent record names as ended last; its registration comes from the server."""
        agent = self.state.my_agent or {}
        call_id = agent.get("last_call_id")
        if self.reg is not None or agent.get("state") != "wrap_up" or not call_id or not self.lookups:
            return
        self.reg = {"call_id": call_id, "caller": "", "matches": [], "contact": None, "category": "",
                    "notes": [], "direction": "inbound"}
        self.fetch("contacts.call", {"call_id": call_id}, self._got_registration)

    def _got_registration(self, result: dict[str, Any]) -> None:
        reg = self.reg
        if not reg or result.get("call_id") != reg["call_id"]:
            return
        if not reg.get("caller") and result.get("caller"):  # a registration recovered after a restart
            reg["caller"] = result["caller"]
            self.fetch("contacts.history", {"number": reg["caller"], "exclude": reg["call_id"], "limit": 10},
                       lambda r: self._got_history(reg["call_id"], reg["caller"], r))
        reg["matches"] = result.get("matches") or []
        reg["contact"] = result.get("contact") or reg.get("contact")
        reg["category"] = result.get("category") or reg.get("category", "")
        reg["notes"] = result.get("notes") or reg.get("notes", [])
        if reg["contact"] is None and len(reg["matches"]) == 1:
            reg["suggested"] = reg["matches"][0]["id"]

    def _need_reg(self) -> dict[str, Any] | None:
        if self.reg is None:
            self.notify("No call to register yet.", severity="warning", timeout=3)
        return self.reg

    def _reg_update(self, call_id: str, **fields: Any) -> None:
        if self.reg and self.reg.get("call_id") == call_id:
            self.reg.update(fields)
            self.mark_dirty()

    def _link(self, reg: dict[str, Any], contact: dict[str, Any] | None) -> None:
        call_id = reg["call_id"]
        self._reg_update(call_id, contact=contact)
        self.fetch("contacts.link", {"call_id": call_id, "contact_id": (contact or {}).get("id", "")},
                   lambda r: self._reg_update(call_id, contact=r.get("contact", contact)), quiet=False)

    def action_identify(self) -> None:
        from .agent_forms import NEW, NONE, ContactPickScreen
        reg = self._need_reg()
        if reg is None:
            return

        def picked(choice: str | None) -> None:
            if choice is None:
                return
            if choice == NEW:
                self._edit_contact(reg, {self._phone_field(): reg.get("caller", "")}, link=True)
            elif choice == NONE:
                self._link(reg, None)
            else:
                self._link(reg, next((m for m in reg["matches"] if str(m.get("id")) == choice), {"id": choice}))
        current = (reg.get("contact") or {}).get("id") or reg.get("suggested")
        self.app.push_screen(ContactPickScreen(reg.get("matches") or [], reg.get("caller", ""), current), picked)

    def _phone_field(self) -> str:
        fields = self.fields or []
        return next((f["name"] for f in fields if f.get("type") == "phone"), "phone")

    def _edit_contact(self, reg: dict[str, Any] | None, contact: dict[str, Any], *, link: bool) -> None:
        from .agent_forms import DEFAULT_FIELDS, ContactFormScreen

        def saved(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            call_id = reg["call_id"] if reg else None

            def done(result: dict[str, Any]) -> None:
                c = result.get("contact")
                if not c or not reg:
                    return
                if link:
                    reg["matches"] = [m for m in reg.get("matches") or [] if m.get("id") != c["id"]] + [c]
                    self._link(reg, c)
                elif (reg.get("contact") or {}).get("id") == c["id"] and call_id:
                    self._reg_update(call_id, contact=c)
            self.fetch("contacts.save", {"contact": values}, done, quiet=False)
        title = "Edit customer record" if contact.get("id") else "New customer record"
        self.app.push_screen(ContactFormScreen(self.fields or DEFAULT_FIELDS, contact, title), saved)

    def action_edit_contact(self) -> None:
        reg = self.reg
        contact = (reg or {}).get("contact")
        if contact:
            self._edit_contact(reg, contact, link=False)
        else:
            self._edit_contact(reg, {self._phone_field(): (reg or {}).get("caller", "")}, link=reg is not None)

    def _save_note(self, reg: dict[str, Any], text: str) -> None:
        call_id = reg["call_id"]
        notes = list(reg.get("notes") or [])
        notes.append({"call_id": call_id, "version": len(notes) + 1, "text": text,
                      "author": self.state.me.get("user", ""), "ts": self.now()})
        self._reg_update(call_id, notes=notes)
        args: dict[str, Any] = {"call_id": call_id, "text": text}
        if (reg.get("contact") or {}).get("id"):
            args["contact_id"] = reg["contact"]["id"]
        self.fetch("notes.add", args, lambda r: self._reg_update(call_id, notes=r.get("notes") or notes), quiet=False)

    def action_note(self) -> None:
        from .agent_forms import NoteScreen
        reg = self._need_reg()
        if reg is None:
            return

        def saved(text: str | None) -> None:
            if text is not None and text.strip():
                self._save_note(reg, text.strip())
        self.app.push_screen(NoteScreen(list(reg.get("notes") or []), reg.get("caller", "")), saved)

    def _set_category(self, reg: dict[str, Any], category: str) -> None:
        call_id = reg["call_id"]
        self._reg_update(call_id, category=category)
        self.fetch("call.category", {"call_id": call_id, "category": category},
                   lambda r: self._reg_update(call_id, category=r.get("category", category)), quiet=False)

    def action_category(self) -> None:
        from .agent_forms import CategoryScreen
        reg = self._need_reg()
        if reg is None:
            return

        def picked(category: str | None) -> None:
            if category is not None:
                self._set_category(reg, category)
        self.app.push_screen(CategoryScreen(self.categories, reg.get("category", "")), picked)

    def action_wrapup(self) -> None:
        from .agent_forms import WrapUpScreen
        reg = self._need_reg()
        if reg is None:
            return

        def saved(values: dict[str, Any] | None) -> None:
            if values is None:
                return
            contact_id = values.get("contact_id")
            if contact_id != (reg.get("contact") or {}).get("id"):
                contact = next((m for m in reg.get("matches") or [] if m.get("id") == contact_id), None)
                self._link(reg, contact if contact_id else None)
            if values.get("category") and values["category"] != reg.get("category"):
                self._set_category(reg, values["category"])
            notes = reg.get("notes") or []
            note = (values.get("note") or "").strip()
            if note and (not notes or notes[-1]["text"] != note):
                self._save_note(reg, note)
            if values.get("ready"):
                self.send_command("agent.ready")
        self.app.push_screen(WrapUpScreen(reg, self.categories), saved)

    def action_history(self) -> None:
        from .agent_forms import HistoryScreen
        reg = self._need_reg()
        if reg is None or not reg.get("caller"):
            return
        caller = reg["caller"]
        self.fetch("contacts.history", {"number": caller, "exclude": reg["call_id"]},
                   lambda r: self.app.push_screen(HistoryScreen(r.get("history") or [], caller)), quiet=False)

    def action_crm(self) -> None:
        contact = (self.reg or {}).get("contact") or {}
        link = contact.get("crm_link")
        if not link:
            self.notify("This customer has no CRM record." if contact else "No customer picked.",
                        severity="warning", timeout=4)
            return
        from cc_console.widgets.links import open_link
        self.run_worker(open_link(self.app, link, "CRM"), group="links", exit_on_error=False)

    def action_callbacks(self) -> None:
        from .agent_callbacks import CallbacksScreen
        self.app.push_screen(CallbacksScreen(self._client, now=self._now))

    def action_figures(self) -> None:
        from .agent_figures import FiguresScreen
        self.app.push_screen(FiguresScreen(self._client, now=self._now))

    def action_transfer_panel(self) -> None:
        from .agent_transfer import TransferScreen
        self.app.push_screen(TransferScreen(self._client, now=self._now))
