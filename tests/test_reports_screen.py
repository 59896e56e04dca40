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
        screen.query_one("#from").value = "2024-03-04T08:00"
        await pilot.press("r")
        for _ in range(20):
            await pilot.pause()
            if screen.report:
                break
        assert client.calls[0] == ("report.run", {"kind": "queue", "from": "2024-03-04T08:00", "interval": "total"})
        table = screen.query_one("#report", DataTable)
        assert table.row_count == 2 and table.get_row_at(0) == ["q1", "9", "2"]
        screen.query_one("#report").focus()
        await pilot.press("e")
        await pilot.pause()
        assert screen.last_export and screen.last_export.read_text().startswith("# Queues")
