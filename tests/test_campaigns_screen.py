"""The supervisor's campaign screen: campaigns with state, progress, reach, abandonment and
occupancy; start and pause after a confirmation, on a real server; live from campaign.update;
snapshots at 80x24 and 160x48."""
from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.widgets import DataTable

from cc_console.screens.base import StateChanged
from cc_console.screens.campaigns import CampaignsScreen
from cc_console.screens.team import ConfirmScreen

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
    sup = await connect_to(server, "sup1")
    cid = (await sup.call("campaign.create", {"name": "Renewals", "queue": "support", "mode": "progressive",
                                              "mapping": {"number": "Phone"}}))["campaign"]["id"]
    await sup.call("campaign.import", {"id": cid, "format": "csv", "data": "Phone\n710\n711\n"})
    app = CampaignsApp(sup)
    # the screen gets the server's events as the console app gives them (StateChanged)
    sup.add_listener(lambda kind, data: app.screen.post_message(StateChanged(kind, data))
                     if isinstance(app.screen, CampaignsScreen) and kind == "campaign.update" else None)
    async with app.run_test(size=(140, 30)) as pilot:
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, CampaignsScreen)
        assert _row(screen, cid)[:5] == ["Renewals", "progressive", "support", "draft", "0/2"]
        await pilot.press("s")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("n")  # no: nothing happens
        await _settle(pilot)
        assert (await sup.call("campaign.get", {"id": cid}))["campaign"]["state"] == "draft"
        await pilot.press("s")
        await pilot.pause()
        await pilot.press("y")
        for _ in range(50):
            await _settle(pilot)
            if _row(screen, cid)[3] == "running":
                break
        assert _row(screen, cid)[3] == "running"
        assert (await sup.call("campaign.get", {"id": cid}))["campaign"]["state"] == "running"
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("y")
        for _ in range(50):
            await _settle(pilot)
            if _row(screen, cid)[3] == "paused":
                break
        assert _row(screen, cid)[3] == "paused"
