"""The switchboard directory: type a few letters, see who, whether they are in, who covers; transfer.

Search runs on the server (``directory.search``) in a worker, at once on a keystroke; keystrokes
that come while an answer is awaited are coalesced into one search for what is typed by then (one
request in flight per console, no fixed typing delay). Only the latest query's answer is shown; a
``directory.changed`` push (a calendar sync, an import) searches again. In the search box Down or
Enter moves to the results; there t/m/s transfer the current call (blind) to the person's desk, mobile or substitute
(T/M/S: announced), Enter shows details, e e-mails them a message, / goes back to the search box.

Ids a test can read: #directory-search (Input), #directory-results (DirectoryResults: ``.rows_data``,
``.current``), #directory-detail (DirectoryDetail: ``.person``). ``.rendered_query`` is the query
whose results are on screen; ``.searches`` counts answers rendered.
"""
from __future__ import annotations

import gc
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from cc_console.protocol import ProtocolError
from cc_console.widgets.directory_detail import DirectoryDetail
from cc_console.widgets.directory_results import DirectoryResults
from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader

from .base import ConsoleScreen


def dial_target(number: str) -> str:
    """What we dial for a directory number: digits, with a leading + kept."""
    number = (number or "").strip()
    digits = "".join(c for c in number if c.isdigit())
    return ("+" + digits) if number.startswith("+") and digits else digits


_frozen = False


def _freeze_heap() -> None:
    """Once per process, when the operator first opens the directory: what the console built so far
    (the app, its screens and styles) moves out of the garbage collector's sight. Every full
    collection otherwise walks it all, 300 ms and more on a busy machine, in the middle of a
    keystroke (bench/directory.py showed it as the whole tail of keystroke-to-rows)."""
    global _frozen
    if not _frozen:
        _frozen = True
        gc.collect()
        gc.freeze()


class MessageScreen(ModalScreen[str | None]):
    """Type a telephone message for a person; Enter sends, esc cancels."""

    DEFAULT_CSS = """
    MessageScreen { align: center middle; }
    MessageScreen > Vertical { width: 70; height: auto; border: thick $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="directory_message.cancel")]

    def __init__(self, name: str) -> None:
        super().__init__(id="directory-message")
        self.person_name = name

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Message for {self.person_name} (sent by e-mail)")
            yield Input(placeholder="Who called, about what, call back on …", id="directory-message-text")

    @on(Input.Submitted)
    def send(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)


class DirectoryScreen(ConsoleScreen):
    DEFAULT_CSS = """
    DirectoryScreen #directory-search { margin: 0 0; }
    DirectoryScreen #directory-body { height: 1fr; }
    """
    BINDINGS = [
        Binding("slash", "focus_search", "Search", id="directory.search", tooltip="Go to the search box"),
        Binding("t", "transfer('desk')", "Desk", id="directory.transfer_desk",
                tooltip="Transfer my call (blind) to the person's desk number"),
        Binding("m", "transfer('mobile')", "Mobile", id="directory.transfer_mobile",
                tooltip="Transfer my call (blind) to the person's mobile"),
        Binding("s", "transfer('substitute')", "Substitute", id="directory.transfer_substitute",
                tooltip="Transfer my call (blind) to whoever covers for the person"),
        Binding("T", "transfer('desk', 'announced')", "Desk (announced)", id="directory.announce_desk", show=False,
                tooltip="Announced transfer to the desk number"),
        Binding("M", "transfer('mobile', 'announced')", "Mobile (announced)", id="directory.announce_mobile",
                show=False, tooltip="Announced transfer to the mobile"),
        Binding("S", "transfer('substitute', 'announced')", "Substitute (announced)",
                id="directory.announce_substitute", show=False, tooltip="Announced transfer to the substitute"),
        Binding("e", "message", "E-mail", id="directory.message", tooltip="E-mail the person a telephone message"),
        Binding("d", "details", "Details", id="directory.details", show=False,
                tooltip="Show the person's details (also Enter)"),
    ]
    TICK_SECONDS = 30.0  # statuses ("until 12:00") are refreshed by searching again

    def __init__(self, client: Any = None, *, tenant: str | None = None, limit: int = 30, **kwargs: Any) -> None:
        super().__init__(client, id="directory", **kwargs)
        self.tenant = tenant
        self.limit = limit
        self.query_text = ""
        self.rendered_query: str | None = None
        self.searches = 0
        self._searching = False  # a search is in flight; its worker searches again for newer text
        self._stale = False  # what is shown may be out of date (state changed during a search)
        self._details: dict[str, dict[str, Any]] = {}

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="☎")
        yield Input(placeholder="Name, unit, title, subject or number…", id="directory-search")
        with Horizontal(id="directory-body"):
            yield DirectoryResults(id="directory-results")
            yield DirectoryDetail(id="directory-detail")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#directory-search", Input).focus()
        _freeze_heap()

    def refresh_state(self) -> None:
        if self.query_text and self.is_mounted:
            self._kick()

    # -- search as you type ----------------------------------------------------------------------
    @on(Input.Changed, "#directory-search")
    def _typed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self._kick()

    def _kick(self) -> None:
        if self._searching:
            self._stale = True  # the worker in flight searches again when its answer is in
            return
        self._searching = True
        self.run_search(self.query_text)

    async def _fetch(self, q: str) -> list[dict[str, Any]] | None:
        if not q.strip():
            return []
        args: dict[str, Any] = {"q": q, "limit": self.limit}
        if self.tenant:
            args["tenant"] = self.tenant
        try:
            result = await self.client.call("directory.search", args)
        except ProtocolError as exc:
            self.notify(exc.message, title="Search refused", severity="error")
            return None
        except (TimeoutError, ConnectionError, OSError) as exc:
            self.notify(str(exc) or "no answer", title="Search failed", severity="error")
            return None
        rows: list[dict[str, Any]] = result.get("results", [])
        return rows

    @work(group="directory-search", exit_on_error=False)
    async def run_search(self, q: str) -> None:
        try:
            while True:
                self._stale = False
                rows = await self._fetch(q)
                if rows is not None and q == self.query_text:
                    self.query_one("#directory-results", DirectoryResults).show(rows, self.now())
                    self.rendered_query = q
                    self.searches += 1
                    self._show_detail(rows[0] if rows else None)
                if q == self.query_text and not self._stale:
                    return
                q = self.query_text
        finally:
            self._searching = False

    @on(Input.Submitted, "#directory-search")
    def _submitted(self) -> None:
        self._to_results()

    def on_key(self, event: Any) -> None:
        if event.key == "down" and isinstance(self.focused, Input) and self.focused.id == "directory-search":
            event.stop()
            self._to_results()

    def _to_results(self) -> None:
        table = self.query_one("#directory-results", DirectoryResults)
        if table.row_count:
            table.focus()

    # -- the current row -----------------------------------------------------------------------------
    @property
    def current(self) -> dict[str, Any] | None:
        return self.query_one("#directory-results", DirectoryResults).current

    def _show_detail(self, row: dict[str, Any] | None) -> None:
        if row is not None and row["id"] in self._details:
            row = {**self._details[row["id"]], **row}
        self.query_one("#directory-detail", DirectoryDetail).show(row, self.now())

    @on(DirectoryResults.RowHighlighted)
    def _highlighted(self, event: DirectoryResults.RowHighlighted) -> None:
        self._show_detail(self.current)

    @on(DirectoryResults.RowSelected)
    def _selected(self, event: DirectoryResults.RowSelected) -> None:
        self.action_details()

    def action_details(self) -> None:
        row = self.current
        if row is not None:
            self.load_details(row["id"])

    @work(group="directory-details", exit_on_error=False)
    async def load_details(self, pid: str) -> None:
        try:
            result = await self.client.call("directory.person", {"id": pid})
        except (TimeoutError, ProtocolError, ConnectionError, OSError) as exc:
            self.notify(getattr(exc, "message", "") or str(exc), title="Details", severity="error")
            return
        person = result.get("person") or {}
        self._details[pid] = person
        cur = self.current
        if cur is not None and cur["id"] == pid:
            self.query_one("#directory-detail", DirectoryDetail).show(person, self.now())

    def action_focus_search(self) -> None:
        self.query_one("#directory-search", Input).focus()

    # -- transfer ----------------------------------------------------------------------------------
    def my_call(self) -> dict[str, Any] | None:
        return getattr(self.state, "my_call", None)

    def transfer_target(self, row: dict[str, Any], kind: str) -> tuple[str, str]:
        """(number, who) for 'desk', 'mobile' or 'substitute'; ('', reason) when there is none."""
        if kind in ("desk", "mobile"):
            number = dial_target(row.get(kind, ""))
            return (number, row["name"]) if number else ("", f"{row['name']} has no {kind} number")
        sub = row.get("substitute")
        if not sub:
            subs = (self._details.get(row["id"]) or {}).get("substitutes") or []
            sub = subs[0] if subs else None
        if not sub:
            return "", f"no substitute for {row['name']}"
        number = dial_target(sub.get("desk") or sub.get("mobile") or "")
        return (number, sub.get("name", "")) if number else ("", f"{sub.get('name', 'the substitute')} has no number")

    def action_transfer(self, kind: str, mode: str = "blind") -> None:
        row = self.current
        if row is None:
            self.notify("No person selected", severity="warning")
            return
        target, who = self.transfer_target(row, kind)
        if not target:
            self.notify(who, severity="warning")
            return
        args: dict[str, Any] = {"target": target, "mode": mode}
        call = self.my_call()
        if call is not None:
            args["call_id"] = call["id"]
        self.send_command("call.transfer", args, ok_message=f"Transferred to {who} ({target})")

    # -- message -----------------------------------------------------------------------------------
    def action_message(self) -> None:
        row = self.current
        if row is None:
            return
        if not row.get("email"):
            self.notify(f"{row['name']} has no e-mail address", severity="warning")
            return

        def send(text: str | None) -> None:
            if text:
                self.send_command("directory.message", {"person_id": row["id"], "text": text},
                                  ok_message=f"Message e-mailed to {row['name']}")

        self.app.push_screen(MessageScreen(row["name"]), send)
