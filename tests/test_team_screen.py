"""The supervisor's team screen: the agents of my team from the server, edited, disabled and deleted
with confirmations, the server refusing what is outside my teams; snapshots at 80x24 and 160x48."""
from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.widgets import DataTable

from cc_console.screens.team import ConfirmScreen, TeamScreen

USERS = [
    {"username": "agent1", "name": "Ann Archer", "role": "agent", "team": "north", "site": "Bergen",
     "disabled": False, "second_factor": True},
    {"username": "agent2", "name": "Bob Berg", "role": "agent", "team": "north", "site": "Oslo",
     "disabled": True, "second_factor": False},
    {"username": "agent5", "name": "Dina Dahl", "role": "agent", "team": "north-2", "site": "",
     "disabled": False, "second_factor": False},
]


class FakeClient:
    connected = True

    def __init__(self) -> None:
        self.state = type("S", (), {"agents": {}, "calls": {}, "queues": {}})()

    async def call(self, cmd: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
        assert cmd == "team.members"
        return {"teams": ["north", "north-2"], "users": [dict(u) for u in USERS]}


class TeamApp(App):
    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client

    def on_mount(self) -> None:
        self.push_screen(TeamScreen(self.client, now=lambda: 1_700_000_000.0))


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_team_screen(snap_compare, size) -> None:
    assert snap_compare(TeamApp(FakeClient()), terminal_size=size, run_before=_settle)


async def test_a_supervisor_manages_only_their_own_team(server, connect_to):
    """On a real server: sup1 leads north; agent1 and agent2 are in north, agent3 is not."""
    for name, team in (("sup1", "north"), ("agent1", "north"), ("agent2", "north"), ("agent3", "south")):
        server.store.update_user(name, attrs={"team": team})
    sup = await connect_to(server, "sup1")
    app = TeamApp(sup)
    async with app.run_test(size=(120, 30)) as pilot:
        await _settle(pilot)
        screen = app.screen
        assert isinstance(screen, TeamScreen)
        assert [u["username"] for u in screen.users] == ["agent1", "agent2"]
        table = screen.query_one("#team", DataTable)
        assert table.row_count == 2
        # x on agent2: asks, y disables it.
        table.move_cursor(row=1)
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await pilot.press("y")
        await _settle(pilot)
        assert server.store.get_user("agent2")["disabled"] == 1
        # s: a new site for agent2.
        await pilot.press("s")
        await pilot.pause()
        for _ in range(len("Oslo")):
            await pilot.press("backspace")
        await pilot.press(*"Trondheim", "enter")
        await _settle(pilot)
        assert server.store.get_user("agent2")["attrs"]["site"] == "Trondheim"
        # D on agent1, answered n: nothing happens; y: deleted.
        table.move_cursor(row=0)
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("n")
        await _settle(pilot)
        assert server.store.get_user("agent1") is not None
        await pilot.press("D")
        await pilot.pause()
        await pilot.press("y")
        await _settle(pilot)
        assert server.store.get_user("agent1") is None
        assert [u["username"] for u in screen.users] == ["agent2"]
    # The server is the judge: agent3 (south) and sup1's own team change are refused.
    from cc_console.protocol import ErrorCode, ProtocolError
    with pytest.raises(ProtocolError) as e:
        await sup.call("team.member.update", {"username": "agent3", "disabled": True})
    assert e.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(ProtocolError) as e:
        await sup.call("team.member.update", {"username": "agent2", "team": "south"})
    assert e.value.code == ErrorCode.FORBIDDEN
