"""Chats in the reports (report.run kind channel) beside calls, read from the chat capability's own
conversations through server/written.py. docs/reports.md, "Channels"."""
from __future__ import annotations

import pytest

from cc_console.server.reports.channels import channel_report
from cc_console.server.reports.figures import Params, Report
from cc_console.server.written import WrittenItem
from tests.chat_helpers import Events, Visitor


@pytest.fixture
def settings(settings):
    settings.sections["chat"] = {"capacity": {"call": 1, "chat": 2}, "ring_timeout": 5.0, "tick": 0.1}
    return settings


def by_key(report: dict) -> dict[tuple[str, str], dict]:
    return {(r[0], r[1]): dict(zip(report["columns"], r)) for r in report["rows"]}


async def test_channel_report_counts_chats_beside_calls(server, connect):
    base = f"http://127.0.0.1:{server.port}"
    sup = await connect("sup1")
    a1 = await connect("agent1")
    ev = Events(a1)
    async with Visitor(base) as v1, Visitor(base) as v2, Visitor(base) as v3:
        await v1.start(email="vera@example.org")
        await v2.start()
        await v2.send(op="end")  # left before anyone accepted: abandoned
        await v2.expect("closed", lambda f: f["outcome"] == "abandoned")
        await a1.call("agent.login", {})
        await ev.expect("chat.offer", lambda d: d["id"] == v1.id)
        await a1.call("chat.accept", {"id": v1.id})
        await a1.call("chat.close", {"id": v1.id})
        await v1.expect("closed", lambda f: f["outcome"] == "handled")
        await a1.call("agent.logout", {})
        await v3.start()  # still waiting: in progress
        await v3.expect("position", lambda f: f["position"] == 1)
        report = (await sup.call("report.run", {"kind": "channel"}))["report"]
    rows = by_key(report)
    chat = rows[("chat", "support")]
    assert (chat["offered"], chat["handled"], chat["abandoned"], chat["in_progress"]) == (3, 1, 1, 1)
    assert chat["handled_within"] == 1 and chat["service_level_pct"] == 100.0
    assert rows[("chat", "all")]["offered"] == 3
    assert rows[("call", "support")]["offered"] == 0, "calls from the queue report, beside the chats"
    assert report["title"] == "Channels" and report["params"]["report"] == "channel"
    narrowed = (await sup.call("report.run", {"kind": "channel", "queues": ["sales"]}))["report"]
    assert ("chat", "support") not in by_key(narrowed), "a report for sales shows no support chats"


def _item(n: int, queue: str, enqueued: float | None, accepted: float | None, outcome: str,
          within: bool = False, channel: str = "chat") -> WrittenItem:
    return WrittenItem(id=f"c{n}", channel=channel, queue=queue, agent="agent1" if accepted else "",
                       contact="", name="", created=enqueued or 0.0, enqueued=enqueued, accepted=accepted,
                       closed=(accepted or enqueued or 0.0) + 30 if outcome else None, outcome=outcome,
                       category="", within_sl=within)


def test_channel_rows_by_the_time_queued_and_the_service_level_formula():
    calls = Report("Queues", {}, ["queue", "offered", "answered", "answered_within", "abandoned", "overflowed",
                                  "in_progress", "service_level_pct", "asa_s", "longest_wait_s"],
                   [["support", 4, 3, 2, 1, 0, 0, 66.67, 12.0, 40.0], ["all", 4, 3, 2, 1, 0, 0, 66.67, 12.0, 40.0]])
    items = [_item(1, "support", 100.0, 110.0, "handled", True),
             _item(2, "support", 200.0, 400.0, "handled", False),
             _item(3, "support", 300.0, None, "abandoned"),  # waited 30 s: not short
             _item(4, "sales", 150.0, None, "abandoned"),
             _item(5, "support", 50.0, 60.0, "handled", True),  # queued before the range
             _item(6, "support", None, None, "closed"),  # a chatbot kept it: never offered
             _item(7, "support", 500.0, None, ""),  # waiting now
             _item(8, "support", 120.0, 125.0, "handled", True, channel="email")]
    p = Params(kind="queue", start=100.0, end=1000.0)
    rows = {(r[0], r[1]): r for r in channel_report(calls, items, p).rows}
    assert list(rows) == [("call", "support"), ("call", "all"), ("chat", "sales"), ("chat", "support"),
                          ("chat", "all"), ("email", "support"), ("email", "all")]
    # channel queue offered handled within abandoned overflowed in_progress sl asa longest
    assert rows[("chat", "support")] == ["chat", "support", 4, 2, 1, 1, 0, 1, 50.0, 105.0, 200.0]
    assert rows[("chat", "all")][2:8] == [5, 2, 1, 2, 0, 1]
    assert rows[("call", "support")][2:4] == [4, 3]
    p.sl_formula = "offered"
    assert {(r[0], r[1]): r for r in channel_report(calls, items, p).rows}[("chat", "support")][8] == 25.0
    p.queues = ["sales"]
    assert ("chat", "support") not in {(r[0], r[1]) for r in channel_report(calls, items, p).rows}


async def test_reports_screen_runs_the_channel_report(server, connect):
    """The supervisors' reports screen offers kind channel: the chats are in its table."""
    from textual.widgets import DataTable

    from cc_console.screens.reports import ReportsScreen
    from cc_console.tui import CCConsoleApp
    from tests.conftest import PASSWORD
    from tests.test_tui_e2e import wait_screen

    app = CCConsoleApp(url=server.url, mode="supervisor", username="sup1", password=PASSWORD, keymap={})
    async with app.run_test(size=(160, 40)) as pilot, Visitor(f"http://127.0.0.1:{server.port}") as v:
        await v.start()
        await v.expect("position", lambda f: f["position"] == 1)
        await wait_screen(pilot, lambda: app.screen.id == "supervisor", what="supervisor screen")
        app.push_screen(ReportsScreen(app.screen._client, kind="channel"))
        await wait_screen(pilot, lambda: isinstance(app.screen, ReportsScreen) and app.screen.report,
                          what="the channel report")
        table = app.screen.query_one("#report", DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        assert ["chat", "support", "1"] in [r[:3] for r in rows]
        assert app.screen.report["title"] == "Channels"
