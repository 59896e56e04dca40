"""The reports screen: run a report through a (fake) client, see the table, export with `e`."""
from __future__ import annotations

from typing import Any

from textual.app import App
from textual.widgets import DataTable

from cc_console.screens.reports import ReportsScreen


class FakeClient:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.state = type("S", (), {"agents": {}, "calls": {}, "queues": {}})()
        self.connected = True

    async def call(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((cmd, args))
        return {"report": {"title": "Queues", "params": {"report": "queue", "from": "2024-03-04 08:00",
                                                           "to": "2024-03-04 09:15", "time zone": "UTC"},
                           "columns": ["queue", "offered", "answered"], "rows": [["q1", 9, 2], ["all", 10, 3]],
                           "notes": ["n"]}}


async def test_run_and_export(tmp_path):
    client = FakeClient()
    screen = ReportsScreen(client, export_dir=tmp_path)

    class A(App):
        def on_mount(self) -> None:
            self.push_screen(screen)

    async with A().run_test() as pilot:
        await pilot.pause()
        screen.query_one("#report-from").value = "2024-03-04T08:00"
        await pilot.press("r")
        for _ in range(20):
            await pilot.pause()
            if len(client.calls) == 2 and screen.report:
                break
        # Opened, it shows today's report; `r` runs the one asked for.
        assert client.calls[0] == ("report.run", {"kind": "queue", "from": "today", "interval": "total"})
        assert client.calls[1] == ("report.run", {"kind": "queue", "from": "2024-03-04T08:00", "interval": "total"})
        table = screen.query_one("#report", DataTable)
        assert table.row_count == 2 and table.get_row_at(0) == ["q1", "9", "2"]
        screen.query_one("#report").focus()
        await pilot.press("e")
        await pilot.pause()
        assert screen.last_export and screen.last_export.read_text().startswith("# Queues")


async def test_todays_report_from_the_supervisor_console_shows_its_rows(server):
    """`t` on the supervisor console, in the real app with its stylesheet: the rows are on screen.
    (A stylesheet rule for the supervisor's #queues table once matched this screen's queues input,
    which then filled the screen and left the table no height.)"""
    from cc_console.tui import CCConsoleApp

    from .conftest import PASSWORD
    from .test_tui_e2e import wait_screen

    app = CCConsoleApp(url=server.url, mode="supervisor", username="sup1", password=PASSWORD, keymap={})
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_screen(pilot, lambda: app.screen.id == "supervisor" and app.screen.query_one("#agents").row_count,
                          what="supervisor screen with its agents")
        await pilot.pause()
        await pilot.press("tab")  # the queues table: `t` there is today's report of the selected queue
        queue = app.screen.selected_queue
        assert queue
        await pilot.press("t")
        await wait_screen(pilot, lambda: isinstance(app.screen, ReportsScreen) and app.screen.report,
                          what="today's report")
        await pilot.pause()
        table = app.screen.query_one("#report", DataTable)
        names = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert names == [queue, "all"]  # filtered to it by the server (and the total row)
        # Every row is visible: the table has room for its header and all its rows.
        assert table.size.height >= table.row_count + 1, (table.size, table.row_count)
        assert app.screen.query_one("#report-queues").size.height <= 3
