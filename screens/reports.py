"""The reports screen for supervisors: pick a report and a range, run it (`report.run` on the
server, within the user's report scope), see it in a DataTable, `e` to export (csv, xlsx, pdf).

Ids: #report-kind, #report-interval, #report-format (Select), #report-from, #report-to,
#report-queues, #report-agents (Input), #report-run (Button), #report (DataTable), #params (Label
with the report's parameters). All prefixed: the shared stylesheet styles other screens' #queues
and #detail. Opened, it runs today's report at once: the queue report, or (the supervisor's `t` on
a row, "today's report") that agent's or queue's, filtered to it (``kind``, ``queues``, ``agents``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label, Select

from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader

from .base import CommandSucceeded, ConsoleScreen

KINDS = ["queue", "interval", "agent", "tenant", "category", "busiest", "erlang", "channel"]
INTERVALS = ["total", "15", "30", "60", "day", "week", "month"]
FORMATS = ["csv", "xlsx", "pdf"]


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


class ReportsScreen(ConsoleScreen):
    BINDINGS = [
        Binding("e", "export", "Export"),
        Binding("r", "run", "Run"),
    ]
    DEFAULT_CSS = """
    ReportsScreen Horizontal { height: auto; }
    ReportsScreen Select { width: 16; }
    ReportsScreen Input { width: 20; }
    ReportsScreen #report { height: 1fr; }
    """

    def __init__(self, *args: Any, export_dir: Path | None = None, kind: str = "queue",
                 queues: list[str] | None = None, agents: list[str] | None = None, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.start_kind = kind if kind in KINDS else "queue"
        self.start_queues = list(queues or [])
        self.start_agents = list(agents or [])
        self.report: dict[str, Any] | None = None
        self.export_dir = export_dir or Path.cwd()
        self.last_export: Path | None = None

    def compose(self) -> ComposeResult:
        yield ConsoleHeader()
        with Horizontal():
            yield Select([(k, k) for k in KINDS], value=self.start_kind, allow_blank=False, id="report-kind")
            yield Input(value="today", placeholder="from (ISO, today)", id="report-from")
            yield Input(value="", placeholder="to (default now)", id="report-to")
            yield Select([(i, i) for i in INTERVALS], value="total", allow_blank=False, id="report-interval")
            yield Input(value=",".join(self.start_queues), placeholder="queues a,b", id="report-queues")
            yield Input(value=",".join(self.start_agents), placeholder="agents a,b", id="report-agents")
            yield Select([(f, f) for f in FORMATS], value="csv", allow_blank=False, id="report-format")
            yield Button("Run", id="report-run")
        yield Label("", id="params")
        yield DataTable(id="report", zebra_stripes=True)
        yield ConsoleFooter()

    def args(self) -> dict[str, Any]:
        a: dict[str, Any] = {"kind": str(self.query_one("#report-kind", Select).value),
                             "from": self.query_one("#report-from", Input).value.strip() or "today",
                             "interval": str(self.query_one("#report-interval", Select).value)}
        to = self.query_one("#report-to", Input).value.strip()
        if to:
            a["to"] = to
        for key in ("queues", "agents"):
            names = [n.strip() for n in self.query_one(f"#report-{key}", Input).value.split(",") if n.strip()]
            if names:
                a[key] = names
        if a["kind"] == "interval" and a["interval"] == "total":
            a["interval"] = "30"
        return a

    @on(Button.Pressed, "#report-run")
    def _run_pressed(self) -> None:
        self.action_run()

    def action_run(self) -> None:
        self.send_command("report.run", self.args())

    @on(CommandSucceeded)
    def _got(self, msg: CommandSucceeded) -> None:
        if msg.cmd == "report.run":
            self.show(msg.result.get("report") or {})

    def show(self, report: dict[str, Any]) -> None:
        self.report = report
        t = self.query_one("#report", DataTable)
        t.clear(columns=True)
        t.add_columns(*report.get("columns", []))
        for row in report.get("rows", []):
            t.add_row(*[_fmt(v) for v in row])
        p = report.get("params", {})
        self.query_one("#params", Label).update(
            f"{report.get('title', '')}: {p.get('from', '')} - {p.get('to', '')} ({p.get('time zone', '')}), "
            f"queues {p.get('queues', 'all')}"
            + (f", agents {p['agents']}" if p.get("agents") not in (None, "", "all") else ""))

    def action_export(self) -> None:
        if not self.report:
            self.notify("run a report first", severity="warning")
            return
        from cc_console.server.reports.export import render
        from cc_console.server.reports.figures import Report
        r = Report(**self.report)
        fmt = str(self.query_one("#report-format", Select).value)
        stamp = r.params.get("from", "").replace(" ", "_").replace(":", "")
        path = self.export_dir / f"report-{r.params.get('report', 'x')}-{stamp}.{fmt}"
        path.write_bytes(render(r, fmt))
        self.last_export = path
        self.notify(f"exported {path}", timeout=4)

    def on_mount(self) -> None:
        super().on_mount()
        self.action_run()

    def refresh_state(self) -> None:
        pass
