"""My team (the supervisor's `T`): the agents of the teams I lead, with their site and whether they
may sign in; edit an agent's name, site or team, disable or enable them, delete an account.

The server decides what I may do (`team.members`, `team.member.update`, `team.member.delete`: only
agents of the teams I lead; admins: everyone); this screen shows and asks. Destructive actions
confirm. Ids: #team-title, #team (DataTable), #team-help.
"""
from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label

from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader

from .base import ConsoleScreen

COLUMNS = ("User", "Name", "Team", "Site", "Sign-in", "2FA")


class ConfirmScreen(ModalScreen[bool]):
    """y confirms, n or esc cancels."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical { width: 60; max-width: 95%; height: auto; border: thick $error;
                               background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("y", "answer(True)", "Yes", id="confirm.yes"),
                Binding("n,escape", "answer(False)", "No", id="confirm.no")]

    def __init__(self, question: str) -> None:
        super().__init__(id="confirm")
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.question, id="confirm-question")
            yield Label("[b]y[/b] yes   [b]n[/b] no", id="confirm-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class FieldScreen(ModalScreen[str | None]):
    """One value to change, shown with its current value: Enter keeps what is typed, esc cancels."""

    DEFAULT_CSS = """
    FieldScreen { align: center middle; }
    FieldScreen Input { width: 60; max-width: 95%; border: thick $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="field.cancel")]

    def __init__(self, title: str, value: str) -> None:
        super().__init__(id="field")
        self.title_text, self.value = title, value

    def compose(self) -> ComposeResult:
        field = Input(value=self.value, placeholder=self.title_text, id="field-input")
        field.border_title = self.title_text
        yield field

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)


class TeamScreen(ConsoleScreen):
    BINDINGS = [
        Binding("n", "edit('name')", "Name", id="team.name", tooltip="Change the agent's display name"),
        Binding("s", "edit('site')", "Site", id="team.site", tooltip="Change the agent's site"),
        Binding("m", "edit('team')", "Move to team", id="team.move", tooltip="Move the agent to a team you lead"),
        Binding("x", "toggle_disabled", "Disable/enable", id="team.disable",
                tooltip="Disable the account (it can no longer sign in) or enable it again"),
        Binding("D", "delete", "Delete", id="team.delete", tooltip="Delete the account (asks first)"),
        Binding("f5", "reload", "Reload", id="team.reload"),
    ]
    DEFAULT_CSS = """
    TeamScreen #team { height: 1fr; }
    TeamScreen #team-title { text-style: bold; padding: 0 1; }
    TeamScreen #team-help { color: $text-muted; padding: 0 1; }
    """

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.users: list[dict[str, Any]] = []
        self.teams: list[str] | None = None

    def compose(self) -> ComposeResult:
        yield ConsoleHeader()
        yield Label("My team", id="team-title")
        yield DataTable(id="team", zebra_stripes=True, cursor_type="row")
        yield Label("n name  s site  m move to team  x disable/enable  D delete  esc back", id="team-help")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#team", DataTable)
        for c in COLUMNS:
            table.add_column(c, key=c)
        self.action_reload()

    def refresh_state(self) -> None:
        pass  # the team changes by this screen's own commands, which reload it

    @work(exclusive=True, group="team-load")
    async def action_reload(self) -> None:
        try:
            got = await self.client.call("team.members", {})
        except Exception as exc:
            self.notify_refusal("team.members", exc)
            return
        self.teams = got.get("teams")
        self.users = sorted(got.get("users") or [], key=lambda u: (u.get("team") or "", u["username"]))
        self._fill()

    def _fill(self) -> None:
        table = self.query_one("#team", DataTable)
        keep = table.cursor_row
        table.clear()
        for u in self.users:
            table.add_row(u["username"], u.get("name") or "", u.get("team") or "-", u.get("site") or "-",
                          "disabled" if u.get("disabled") else "allowed",
                          "on" if u.get("second_factor") else "off", key=u["username"])
        if self.users:
            table.move_cursor(row=min(max(keep, 0), len(self.users) - 1))
        led = "everyone (administrator)" if self.teams is None else (", ".join(self.teams) or "no team")
        self.query_one("#team-title", Label).update(f"My team: {led} — {len(self.users)} agent(s)")

    @property
    def selected(self) -> dict[str, Any] | None:
        table = self.query_one("#team", DataTable)
        if not self.users or table.cursor_row < 0 or table.cursor_row >= len(self.users):
            return None
        return self.users[table.cursor_row]

    def _need_selection(self) -> dict[str, Any] | None:
        u = self.selected
        if u is None:
            self.notify("No agent selected", severity="warning")
        return u

    def action_edit(self, field: str) -> None:
        u = self._need_selection()
        if u is None:
            return
        label = {"name": "Name", "site": "Site", "team": "Team"}[field]

        def done(value: str | None) -> None:
            if value is not None and value != (u.get(field) or ""):
                self._update(u["username"], {field: value}, f"{u['username']}: {label.lower()} is now {value or '-'}")
        self.app.push_screen(FieldScreen(f"{label} of {u['username']}", u.get(field) or ""), done)

    def action_toggle_disabled(self) -> None:
        u = self._need_selection()
        if u is None:
            return
        if u.get("disabled"):
            self._update(u["username"], {"disabled": False}, f"{u['username']} may sign in again")
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._update(u["username"], {"disabled": True}, f"{u['username']} can no longer sign in")
        self.app.push_screen(ConfirmScreen(f"Disable {u['username']} ({u.get('name') or ''})? "
                                           "They can no longer sign in."), done)

    def action_delete(self) -> None:
        u = self._need_selection()
        if u is None:
            return

        def done(yes: bool | None) -> None:
            if yes:
                self._delete(u["username"])
        self.app.push_screen(ConfirmScreen(f"Delete the account {u['username']} ({u.get('name') or ''})? "
                                           "This cannot be undone."), done)

    @work(group="team-change")
    async def _update(self, username: str, change: dict[str, Any], ok: str) -> None:
        try:
            got = await self.client.call("team.member.update", {"username": username, **change})
        except Exception as exc:
            self.notify_refusal("team.member.update", exc)
            return
        self.users = [got["user"] if u["username"] == username else u for u in self.users]
        if self.teams is not None and got["user"].get("team") not in self.teams:
            self.users = [u for u in self.users if u["username"] != username]
        self._fill()
        self.notify(ok)

    @work(group="team-change")
    async def _delete(self, username: str) -> None:
        try:
            await self.client.call("team.member.delete", {"username": username})
        except Exception as exc:
            self.notify_refusal("team.member.delete", exc)
            return
        self.users = [u for u in self.users if u["username"] != username]
        self._fill()
        self.notify(f"{username} deleted")
