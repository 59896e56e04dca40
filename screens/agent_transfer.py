"""The transfer panel as a screen (``T`` on the agent screen): every agent, supervisor and
configured line with live state (free, busy, ringing, paused, logged out), grouped, favourites
first. Keys: / filter (Enter back to the list, esc clears), * favourite, t transfer (blind),
c consult (attended), f5 refresh, esc back. The list refreshes every two seconds.
"""
from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Header, Input, OptionList, Static

from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.transfer_panel import Favourites, TransferPanel

from .base import ConsoleScreen


class TransferScreen(ConsoleScreen):
    BINDINGS = [
        Binding("slash", "filter", "Filter", id="transfer.filter", tooltip="Filter by name, number, group or state"),
        Binding("asterisk", "favourite", "Favourite", id="transfer.favourite",
                tooltip="Add or remove the selected entry as a favourite"),
        Binding("t", "transfer", "Transfer", id="transfer.transfer", tooltip="Blind transfer my call to the selection"),
        Binding("c", "consult", "Consult", id="transfer.consult", tooltip="Consult the selection first"),
        Binding("f5", "reload", "Refresh", id="transfer.refresh", show=False, tooltip="Reload the list"),
        Binding("escape", "back", "Back", id="transfer.back", show=False),
    ]
    POLL_SECONDS = 2.0

    def __init__(self, client: Any = None, *, favourites: Favourites | None = None, **kwargs: Any) -> None:
        super().__init__(client, id="transfer-screen", **kwargs)
        self._favourites = favourites

    def compose(self) -> ComposeResult:
        yield Header(icon="☎")
        yield Static("Transfer: t blind · c consult · / filter · * favourite · esc back", id="transfer-hint")
        yield TransferPanel(id="transfer-panel")
        yield ConsoleFooter()

    @property
    def panel(self) -> TransferPanel:
        return self.query_one(TransferPanel)

    def on_mount(self) -> None:
        self._owned = None if self._favourites else Favourites(self.state.me.get("user", ""))
        self.panel.favourites = self._favourites or self._owned
        super().on_mount()
        self.panel.option_list.focus()
        self.action_reload()
        self.set_interval(self.POLL_SECONDS, self.action_reload, name="transfer-poll")

    def on_unmount(self) -> None:
        owned = getattr(self, "_owned", None)
        if owned is not None:
            owned.close()

    def action_reload(self) -> None:
        self.run_worker(self._load(), group="transfer-load", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            result = await self.client.call("transfer.targets", {})
        except Exception:
            return
        self.panel.set_targets((result or {}).get("targets") or [])

    def action_filter(self) -> None:
        f = self.query_one("#transfer-filter", Input)
        f.add_class("-visible")
        f.focus()

    @on(Input.Changed, "#transfer-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.panel.set_filter(event.value)

    @on(Input.Submitted, "#transfer-filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        self.panel.option_list.focus()

    def action_back(self) -> None:
        f = self.query_one("#transfer-filter", Input)
        if f.has_focus or f.has_class("-visible"):
            f.value = ""
            f.remove_class("-visible")
            self.panel.set_filter("")
            self.panel.option_list.focus()
            return
        super().action_back()

    def action_favourite(self) -> None:
        now = self.panel.toggle_favourite()
        if now is not None:
            self.notify("Favourite added." if now else "Favourite removed.", timeout=2)

    @on(OptionList.OptionSelected, "#transfer-list")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.action_transfer()

    def _send_to(self, cmd: str) -> None:
        target = self.panel.selected
        if target is None:
            self.notify("Nothing selected.", severity="warning", timeout=3)
            return
        self.run_worker(self._do(cmd, {"target": target["target"]}, target), group="commands", exit_on_error=False)

    async def _do(self, cmd: str, args: dict[str, Any], target: dict[str, Any]) -> None:
        try:
            await self.client.call(cmd, args)
        except Exception as exc:  # refused or not connected: said in the person's words
            self.notify_refusal(cmd, exc)
            return
        verb = "Transferred to" if cmd == "call.transfer" else "Consulting"
        self.notify(f"{verb} {target.get('name')}", timeout=3)
        if cmd == "call.transfer":
            self.app.pop_screen()

    def action_transfer(self) -> None:
        self._send_to("call.transfer")

    def action_consult(self) -> None:
        self._send_to("call.consult")
