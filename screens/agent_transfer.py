"""The transfer panel as a screen (``T`` on the agent screen): every agent, supervisor and
configured line with live state (free, busy, ringing, paused, logged out), grouped, favourites
first. Keys: / filter (Enter back to the list, esc clears), * favourite, t transfer (blind),
c consult (attended), f5 refresh, esc back. States are pushed: while the screen is open the server
sends ``transfer.update`` for each change (``transfer.watch``), so a state shows as it changes.
"""
from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Input, OptionList, Static

from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader
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
    def __init__(self, client: Any = None, *, favourites: Favourites | None = None, **kwargs: Any) -> None:
        super().__init__(client, id="transfer-screen", **kwargs)
        self._favourites = favourites

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="☎")
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

    def on_unmount(self) -> None:
        owned = getattr(self, "_owned", None)
        if owned is not None:
            owned.close()
        unwatch = self.client.call("transfer.watch", {"on": False})
        self.app.run_worker(self._quietly(unwatch), group="transfer-unwatch", exit_on_error=False)

    @staticmethod
    async def _quietly(aw: Any) -> None:
        try:
            await aw
        except Exception:  # disconnected: a stale watch costs only a few pushed frames to this user
            pass

    def action_reload(self) -> None:
        """The whole list, and from then on pushed changes (also after a reconnect: f5 or a snapshot)."""
        self.run_worker(self._load(), group="transfer-load", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            result = await self.client.call("transfer.watch", {"on": True})
        except Exception as exc:
            self.notify_refusal("transfer.watch", exc)
            return
        self.panel.set_targets((result or {}).get("targets") or [])

    def state_changed(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "transfer.update":
            self.panel.update_states(list(data.get("targets") or []))
        elif kind == "snapshot":  # a new session after a reconnect: watch again
            self.action_reload()
        super().state_changed(kind, data)

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
