"""The agent's work list: callback requests, voicemails and missed calls, with the caller's history.

Keys: c claim, d dial (claims it if needed), s reschedule (asks a time: HH:MM, +30m, ISO), x done,
p listen to a voicemail (p again stops it; python-vlc over the server's stream), u give back,
f5 refresh, esc back. Two agents cannot take the same item: the server says
``conflict`` to the second (shown as a notification). ``callback.update`` events refresh the list.

Ids: #callbacks (DataTable, row keys are item ids), #callback-detail (Static: the selected item's
history).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import DataTable, Static

from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader

from .base import ConsoleScreen

KIND_LABEL = {"callback": "callback", "voicemail": "voicemail", "missed": "missed"}


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%d-%m %H:%M") if ts else "asap"


class CallbacksScreen(ConsoleScreen):
    BINDINGS = [
        Binding("c", "claim", "Claim", id="callbacks.claim", tooltip="Take the selected item (nobody else can)"),
        Binding("d", "dial", "Dial", id="callbacks.dial", tooltip="Call the selected caller back (claims it)"),
        Binding("s", "reschedule", "Reschedule", id="callbacks.reschedule", tooltip="Set a new preferred time"),
        Binding("x", "done", "Done", id="callbacks.done", tooltip="Mark the selected item done"),
        Binding("p", "play", "Listen", id="callbacks.play", tooltip="Play the selected voicemail (p again: stop)"),
        Binding("u", "release", "Give back", id="callbacks.release", show=False,
                tooltip="Give a taken item back to the list"),
        Binding("f5", "reload", "Refresh", id="callbacks.refresh", show=False, tooltip="Reload the list"),
    ]
    DEFAULT_CSS = """
    CallbacksScreen #callbacks-body { height: 1fr; }
    CallbacksScreen #callbacks { width: 2fr; height: 100%; }
    CallbacksScreen #callback-detail { width: 1fr; height: 100%; border: round $secondary; padding: 0 1; }
    """

    def __init__(self, client: Any = None, *, vlc_args: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(client, id="callbacks-screen", **kwargs)
        self.items: list[dict[str, Any]] = []
        self.vlc_args = vlc_args  # tests: --aout=afile (a file instead of the sound card)
        self.player: Any = None

    def action_play(self) -> None:
        if self.player is not None:
            self._stop()
            return
        it = self.selected()
        if not it or it.get("kind") != "voicemail":
            self.notify("Only a voicemail can be listened to.", severity="warning")
            return
        if not it.get("audio"):
            self.notify("This message is still on its way from the phone system; try again in a moment.",
                        severity="warning")
            return
        try:
            from cc_console.widgets.player import RecordingPlayer

            from .recordings import http_base
            self.player = RecordingPlayer(http_base(self.client.url), self.client.token or "", it["id"],
                                          kind="voicemails", vlc_args=self.vlc_args)
        except Exception as exc:  # no libvlc here
            self.notify(f"Cannot play here: {exc}", severity="error")
            return
        self.player.play()

    def _stop(self) -> None:
        if self.player is not None:
            self.player.close()
            self.player = None

    def on_unmount(self) -> None:
        self._stop()

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="☎")
        with Horizontal(id="callbacks-body"):
            table: DataTable[Any] = DataTable(id="callbacks", cursor_type="row", zebra_stripes=True)
            table.border_title = "Callbacks, voicemails, missed calls"
            yield table
            detail = Static("", id="callback-detail", markup=False)
            detail.border_title = "History"
            yield detail
        yield ConsoleFooter()

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        t.add_columns("Kind", "Caller", "Time", "Queue", "State", "Earlier")
        super().on_mount()
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self._load(), group="callbacks", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            result = await self.client.call("callbacks.worklist", {})
        except Exception as exc:
            self.notify(str(exc), title="callbacks.worklist failed", severity="error")
            return
        self.items = list((result or {}).get("items") or [])
        self._fill()

    def state_changed(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "callback.update" and data.get("id"):
            for i, it in enumerate(self.items):
                if it["id"] == data["id"]:
                    self.items[i] = {**it, **data}
                    break
            else:
                if data.get("state") == "open":
                    self.items.append(data)
            self._fill()
        super().state_changed(kind, data)

    def _fill(self) -> None:
        t = self.query_one(DataTable)
        keep = self.selected_id
        t.clear()
        me = self.state.me.get("user")
        for it in self.items:
            if it.get("state") not in ("open", "taken"):
                continue
            state = it.get("state", "")
            if state == "taken":
                state = "mine" if it.get("agent") == me else f"taken: {it.get('agent')}"
            t.add_row(KIND_LABEL.get(it.get("kind", ""), it.get("kind", "")), it.get("caller", ""),
                      _when(it.get("preferred") or it.get("requested")), it.get("queue", ""), state,
                      str(len(it.get("history") or [])), key=it["id"])
        if keep is not None and keep in [str(r.value) for r in t.rows]:
            t.move_cursor(row=t.get_row_index(keep))
        self._show_detail()

    @property
    def selected_id(self) -> str | None:
        t = self.query_one(DataTable)
        if not t.row_count:
            return None
        try:
            return str(t.coordinate_to_cell_key(t.cursor_coordinate).row_key.value)
        except Exception:
            return None

    def selected(self) -> dict[str, Any] | None:
        sid = self.selected_id
        return next((it for it in self.items if it["id"] == sid), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        it = self.selected()
        if not it:
            self.query_one("#callback-detail", Static).update("Nothing to call back.")
            return
        lines = [f"{it.get('caller', '')}  ({it.get('kind')}, {it.get('queue', '')})",
                 f"requested {_when(it.get('requested'))}; preferred {_when(it.get('preferred'))}"]
        if it.get("duration"):
            lines.append(f"message: {it['duration']:.0f} s (p to listen)")
        if it.get("attempts"):
            lines.append(f"attempts: {it['attempts']}")
        lines.append("")
        for h in it.get("history") or []:
            lines.append(f"{_when(h['ts'])} {'in' if h['direction'] == 'inbound' else 'out'} "
                         f"{h.get('agent') or '-'} {h.get('category') or ''} {h.get('outcome', '')}")
            if h.get("note"):
                lines.append(f"   {h['note']}")
        if not it.get("history"):
            lines.append("No earlier calls.")
        self.query_one("#callback-detail", Static).update("\n".join(lines))

    def _act(self, cmd: str, extra: dict[str, Any] | None = None) -> None:
        it = self.selected()
        if it is None:
            self.notify("Nothing selected.", severity="warning", timeout=3)
            return
        self.run_worker(self._do(cmd, {"id": it["id"], **(extra or {})}), group="commands", exit_on_error=False)

    async def _do(self, cmd: str, args: dict[str, Any]) -> None:
        try:
            result = await self.client.call(cmd, args) or {}
        except Exception as exc:  # refused or not connected: said in the person's words
            self.notify_refusal(cmd, exc)
            return
        item = result.get("item")
        if item:
            self.state_changed("callback.update", item)
        if cmd == "callback.dial":
            self.notify(f"Calling {args.get('id')} back…", timeout=3)

    def action_claim(self) -> None:
        self._act("callback.claim")

    def action_dial(self) -> None:
        self._act("callback.dial")

    def action_done(self) -> None:
        self._act("callback.done")

    def action_release(self) -> None:
        self._act("callback.release")

    def action_reschedule(self) -> None:
        from .agent import AskScreen
        if self.selected() is None:
            return

        def asked(value: str | None) -> None:
            if value and value.strip():
                self._act("callback.reschedule", {"preferred": value.strip()})
        self.app.push_screen(AskScreen("New time: HH:MM, +30m, +2h or 2025-01-31T14:00"), asked)
