"""Campaigns (the supervisor's `C`): every outbound campaign with its state, progress, reach rate,
abandonment rate and agent occupancy, kept live by the `campaign.update` events; start and pause
with a confirmation. docs/outbound.md.

The list comes from `campaign.list`, each row's figures from `campaign.report`; an update of one
campaign asks for its report again (at most once a second per campaign). Ids: #campaigns-title,
#campaigns (DataTable), #campaigns-help.
"""
from __future__ import annotations

import time
from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Label

from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader

from .base import ConsoleScreen
from .team import ConfirmScreen

COLUMNS = ("Campaign", "Mode", "Queue", "State", "Progress", "Reach", "Abandoned", "Occupancy")
STATE_WORDS = {"draft": "draft", "running": "running", "paused": "paused", "finished": "finished"}


def pct(value: float | None) -> str:
    return "—" if value is None else f"{100.0 * value:.1f} %"


def progress(report: dict[str, Any] | None) -> str:
    """Contacts accounted for (done, closed, do-not-call) over all, e.g. "120/400"."""
    if not report:
        return "—"
    by = report.get("by_state") or {}
    settled = sum(by.get(k, 0) for k in ("done", "closed", "dnc"))
    return f"{settled}/{report.get('contacts', 0)}"


class CampaignsScreen(ConsoleScreen):
    BINDINGS = [
        Binding("s", "act('start')", "Start", id="campaigns.start", tooltip="Start or resume the selected campaign"),
        Binding("p", "act('pause')", "Pause", id="campaigns.pause", tooltip="Pause the selected campaign"),
        Binding("f5", "reload", "Reload", id="campaigns.reload", tooltip="Read every campaign again"),
    ]
    DEFAULT_CSS = """
    CampaignsScreen #campaigns { height: 1fr; }
    CampaignsScreen #campaigns-title { text-style: bold; padding: 0 1; }
    CampaignsScreen #campaigns-help { color: $text-muted; padding: 0 1; }
    """
    REPORT_GAP = 1.0  # seconds: a busy campaign's updates ask for its figures at most this often

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.campaigns: dict[str, dict[str, Any]] = {}
        self.reports: dict[str, dict[str, Any]] = {}
        self._asked: dict[str, float] = {}
        self._later: set[str] = set()  # campaigns whose figures are asked for at the end of the gap

    def compose(self) -> ComposeResult:
        yield ConsoleHeader()
        yield Label("Campaigns", id="campaigns-title")
        yield DataTable(id="campaigns", zebra_stripes=True, cursor_type="row")
        yield Label("s start  p pause  f5 reload  esc back", id="campaigns-help")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        super().on_mount()
        table = self.query_one("#campaigns", DataTable)
        for c in COLUMNS:
            table.add_column(c, key=c)
        self.action_reload()

    def refresh_state(self) -> None:
        pass  # rows change with campaign.update (state_changed), not with the call state

    def state_changed(self, kind: str, data: dict[str, Any]) -> None:
        if kind != "campaign.update" or not data.get("id"):
            return
        self.campaigns[data["id"]] = {**self.campaigns.get(data["id"], {}), **data}
        self._fill()
        self._ask_report(data["id"])

    def _ask_report(self, cid: str, timer: bool = False) -> None:
        """The campaign's figures now, or once at the end of the gap (never dropped: the last update
        of a burst must show)."""
        if timer:
            self._later.discard(cid)
        elif cid in self._later:
            return  # asked for at the end of the gap already
        wait = self._asked.get(cid, -self.REPORT_GAP) + self.REPORT_GAP - time.monotonic()
        if wait <= 0:
            self._asked[cid] = time.monotonic()
            self._report(cid)
        else:
            self._later.add(cid)
            self.set_timer(wait, lambda: self._ask_report(cid, timer=True))

    @work(exclusive=True, group="campaigns-load")
    async def action_reload(self) -> None:
        try:
            got = await self.client.call("campaign.list", {})
        except Exception as exc:
            self.notify_refusal("campaign.list", exc)
            return
        self.campaigns = {c["id"]: c for c in got.get("campaigns") or []}
        self._fill()
        for cid in list(self.campaigns):
            try:
                self.reports[cid] = (await self.client.call("campaign.report", {"id": cid}))["report"]
            except Exception as exc:
                self.notify_refusal("campaign.report", exc)
                return
        self._fill()

    @work(group="campaigns-report")
    async def _report(self, cid: str) -> None:
        try:
            self.reports[cid] = (await self.client.call("campaign.report", {"id": cid}))["report"]
        except Exception as exc:
            self.notify_refusal("campaign.report", exc)
            return
        self._fill()

    def _ordered(self) -> list[dict[str, Any]]:
        # as campaign.list gives them: highest priority first, then the oldest
        return sorted(self.campaigns.values(), key=lambda c: (-int(c.get("priority", 0)), c.get("created", 0)))

    def _fill(self) -> None:
        table = self.query_one("#campaigns", DataTable)
        keep = table.cursor_row
        table.clear()
        rows = self._ordered()
        for c in rows:
            r = self.reports.get(c["id"])
            table.add_row(c.get("name", ""), c.get("mode", ""), c.get("queue", ""),
                          STATE_WORDS.get(c.get("state", ""), c.get("state", "")), progress(r),
                          pct((r or {}).get("reach_rate")), pct((r or {}).get("abandon_rate")),
                          pct((r or {}).get("occupancy")), key=c["id"])
        if rows:
            table.move_cursor(row=min(max(keep, 0), len(rows) - 1))
        running = sum(1 for c in rows if c.get("state") == "running")
        self.query_one("#campaigns-title", Label).update(f"Campaigns: {len(rows)}, {running} running")

    @property
    def selected(self) -> dict[str, Any] | None:
        table = self.query_one("#campaigns", DataTable)
        rows = self._ordered()
        if not rows or table.cursor_row < 0 or table.cursor_row >= len(rows):
            return None
        return rows[table.cursor_row]

    def action_act(self, action: str) -> None:
        c = self.selected
        if c is None:
            self.notify("No campaign selected", severity="warning")
            return
        question = {"start": f"Start the campaign {c['name']}? Its contacts will be called.",
                    "pause": f"Pause the campaign {c['name']}? Calls in progress go on."}[action]

        def done(yes: bool | None) -> None:
            if yes:
                self.send_command(f"campaign.{action}", {"id": c["id"]},
                                  ok_message=f"{c['name']}: {'started' if action == 'start' else 'paused'}")
        self.app.push_screen(ConfirmScreen(question), done)
