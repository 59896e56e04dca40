"""The supervisor's campaign screen: campaigns with state, progress, reach, abandonment and
occupancy; start and pause after a confirmation, on a real server; live from campaign.update;
snapshots at 80x24 and 160x48."""
from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.widgets import DataTable

from cc_console.screens.campaigns import CampaignsScreen
from cc_console.screens.supervisor import SupervisorScreen
from cc_console.screens.team import ConfirmScreen
from cc_console.tui import CCConsoleApp
from tests.conftest import PASSWORD
from tests.test_tui_e2e import wait_screen

CAMPAIGNS = [
    {"id": "c1", "name": "Home insurance renewals", "queue": "support", "mode": "predictive", "priority": 5,
     "state": "running", "created": 1.0},
    {"id": "c2", "name": "Lapsed members", "queue": "sales", "mode": "progressive", "priority": 0,
     "state": "paused", "created": 2.0},
    {"id": "c3", "name": "Survey", "queue": "support", "mode": "preview", "priority": 0, "state": "draft",
     "created": 3.0},
]
REPORTS = {
    "c1": {"contacts": 400, "by_state": {"done": 96, "closed": 24, "pending": 278, "dialing": 2},
           "reach_rate": 0.8, "abandon_rate": 0.0213, "occupancy": 0.874},
    "c2": {"contacts": 50, "by_state": {"done": 10, "closed": 5, "dnc": 1, "pending": 34},
           "reach_rate": 0.625, "abandon_rate": None, "occupancy": 0.51},
    "c3": {"contacts": 20, "by_state": {"pending": 20}, "reach_rate": None, "abandon_rate": None, "occupancy": None},
}


class FakeClient:
    connected = True

    def __init__(self) -> None:
        self.state = type("S", (), {"agents": {}, "calls": {}, "queues": {}})()

    async def call(self, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        if cmd == "campaign.list":
            return {"campaigns": [dict(c) for c in CAMPAIGNS]}
        assert cmd == "campaign.report"
        return {"report": dict(REPORTS[(args or {})["id"]])}


class CampaignsApp(App):
    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client

    def on_mount(self) -> None:
        self.push_screen(CampaignsScreen(self.client, now=lambda: 1_700_000_000.0))


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_campaigns_screen(snap_compare, size) -> None:
    assert snap_compare(CampaignsApp(FakeClient()), terminal_size=size, run_before=_settle)


def _row(screen: CampaignsScreen, cid: str) -> list[str]:
    table = screen.query_one("#campaigns", DataTable)
    return [str(x) for x in table.get_row(cid)]


async def test_a_supervisor_starts_a_campaign_and_sees_it_live(server, connect_to):
    """The real supervisor console on a real server: C opens the campaigns; a campaign made by
    another supervisor appears live (campaign.update); s and p ask first, then start and pause it."""
    app = CCConsoleApp(url=server.url, mode="supervisor", username="sup1", password=PASSWORD, keymap={})
    other = await connect_to(server, "sup1")
    async with app.run_test(size=(140, 30)) as pilot:
        await wait_screen(pilot, lambda: isinstance(app.screen, SupervisorScreen) and app.focused is not None
                          and len(app.screen_stack) == 2 and app.client.state.agents,
                          what="supervisor screen, its table focused, the floor's state in")
        await pilot.press("C")
        await wait_screen(pilot, lambda: isinstance(app.screen, CampaignsScreen), what="campaign screen")
        screen = app.screen
        cid = (await other.call("campaign.create", {"name": "Renewals", "queue": "support", "mode": "progressive",
                                                    "mapping": {"number": "Phone"}}))["campaign"]["id"]
        await other.call("campaign.import", {"id": cid, "format": "csv", "data": "Phone\n710\n711\n"})
        await other.call("campaign.update", {"id": cid, "priority": 1})  # its figures asked for again
        await wait_screen(pilot, lambda: cid in screen.campaigns and _row(screen, cid)[4] == "0/2",
                          what="the new campaign with its contacts")
        assert _row(screen, cid)[:4] == ["Renewals", "progressive", "support", "draft"]
        await pilot.press("s")
        await wait_screen(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("n")  # no: nothing happens
        await wait_screen(pilot, lambda: app.screen is screen, what="back")
        assert (await other.call("campaign.get", {"id": cid}))["campaign"]["state"] == "draft"
        await pilot.press("s")
        await wait_screen(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the question")
        await pilot.press("y")
        await wait_screen(pilot, lambda: _row(screen, cid)[3] == "running", what="running")
        assert (await other.call("campaign.get", {"id": cid}))["campaign"]["state"] == "running"
        await pilot.press("p", "y")
        await wait_screen(pilot, lambda: _row(screen, cid)[3] == "paused", what="paused")
        assert (await other.call("campaign.get", {"id": cid}))["campaign"]["state"] == "paused"
