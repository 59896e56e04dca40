"""The agent's own figures: handled and lost calls and service level for the last 24 h, 7, 14 and
30 days, overall and per queue I am logged into, and beside them my chats (handled, service level;
a Channel column tells them apart); waiting calls per queue now; my recent calls and chats.

Ids: #figures (DataTable), #waiting (Static), #recent (DataTable). Keys: f5 refresh, esc back.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from cc_console.widgets.fmt import duration, percent
from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader

from .base import ConsoleScreen

WINDOW_LABELS = {"24h": "24 h", "7d": "7 days", "14d": "14 days", "30d": "30 days"}
CHANNEL_LABELS = {"call": "Call", "chat": "Chat", "email": "E-mail", "sms": "SMS"}


class FiguresScreen(ConsoleScreen):
    BINDINGS = [Binding("f5", "reload", "Refresh", id="figures.refresh", tooltip="Reload my figures")]
    DEFAULT_CSS = """
    FiguresScreen #figures { height: auto; max-height: 50%; }
    FiguresScreen #waiting { height: auto; padding: 0 1; background: $panel; }
    FiguresScreen #recent { height: 1fr; }
    """

    def __init__(self, client: Any = None, **kwargs: Any) -> None:
        super().__init__(client, id="figures-screen", **kwargs)
        self.figures: dict[str, Any] = {}

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="☎")
        yield DataTable(id="figures", cursor_type="row", zebra_stripes=True)
        yield Static("", id="waiting")
        yield DataTable(id="recent", cursor_type="row", zebra_stripes=True)
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.query_one("#figures", DataTable).add_columns("Period", "Channel", "Queue", "Handled", "Lost", "SL %",
                                                          "Outbound")
        self.query_one("#recent", DataTable).add_columns("When", "Channel", "Caller", "Queue", "Dir", "Outcome",
                                                         "Talk")
        super().on_mount()
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self._load(), group="figures", exclusive=True, exit_on_error=False)

    async def _load(self) -> None:
        try:
            result = await self.client.call("agent.figures", {})
        except Exception as exc:
            self.notify(str(exc), title="agent.figures failed", severity="error")
            return
        self.show((result or {}).get("figures") or {})

    def show(self, fig: dict[str, Any]) -> None:
        self.figures = fig
        t = self.query_one("#figures", DataTable)
        t.clear()
        for name, w in (fig.get("windows") or {}).items():
            label = WINDOW_LABELS.get(name, name)
            rows = [("all queues", w.get("all") or {})] + list((w.get("queues") or {}).items())
            for queue, f in rows:
                t.add_row(label, CHANNEL_LABELS["call"], queue, str(f.get("handled", 0)), str(f.get("lost", 0)),
                          percent(f.get("service_level")), str(f.get("outbound", 0)), key=f"{name}:{queue}")
                label = ""
            # written channels: no lost or outbound figures are kept for them
            for channel, c in (w.get("channels") or {}).items():
                for queue, f in [("all queues", c.get("all") or {})] + list((c.get("queues") or {}).items()):
                    t.add_row("", CHANNEL_LABELS.get(channel, channel), queue, str(f.get("handled", 0)), "-",
                              percent(f.get("service_level")), "-", key=f"{name}:{channel}:{queue}")
        waiting = fig.get("waiting") or {}
        self.query_one("#waiting", Static).update(
            "Waiting now: " + ("  ".join(f"{q} {n}" for q, n in waiting.items()) if waiting else "not in a queue"))
        r = self.query_one("#recent", DataTable)
        r.clear()
        for row in fig.get("recent") or []:
            r.add_row(datetime.fromtimestamp(row["ts"]).strftime("%d-%m %H:%M"),
                      CHANNEL_LABELS.get(row.get("channel", "call"), row.get("channel", "")), row.get("caller", ""),
                      row.get("queue") or "-", "in" if row.get("direction") == "inbound" else "out",
                      row.get("outcome", ""), duration(row.get("talk") or 0))
