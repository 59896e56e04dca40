"""The transfer panel is pushed, not polled (issue 26): the real app against a real server; another
agent logging in and pausing shows on the open panel, and the screen asks for the list only once."""
from __future__ import annotations

from cc_console.screens.agent_transfer import TransferScreen
from cc_console.tui import CCConsoleApp
from cc_console.widgets.transfer_panel import TransferPanel

from .conftest import PASSWORD
from .test_tui_e2e import agent_screen_ready, wait_screen


async def test_open_panel_shows_state_changes_as_they_happen(server, connect):
    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
        asked: list[tuple[str, dict]] = []
        real_call = app.client.call

        async def counting(cmd, args=None, timeout=10.0):
            asked.append((cmd, dict(args or {})))
            return await real_call(cmd, args, timeout)
        app.client.call = counting
        await pilot.press("T")
        await wait_screen(pilot, lambda: isinstance(app.screen, TransferScreen), what="transfer panel")
        panel = app.screen.query_one(TransferPanel)

        def state(key: str) -> str | None:
            return next((t["state"] for t in panel.targets if t["key"] == key), None)
        await wait_screen(pilot, lambda: state("agent:agent2") == "logged out", what="the list")
        agent2 = await connect("agent2")
        await agent2.call("agent.login")
        await wait_screen(pilot, lambda: state("agent:agent2") == "free", what="agent2 free on the panel")
        await agent2.call("agent.pause")
        await wait_screen(pilot, lambda: state("agent:agent2") == "paused", what="agent2 paused on the panel")
        assert "paused" in str(panel.option_list.get_option("agent:agent2").prompt)
        lists = [c for c in asked if c[0] in ("transfer.targets", "transfer.watch")]
        assert lists == [("transfer.watch", {"on": True})], lists  # one request; the rest was pushed
        await pilot.press("escape")
        await wait_screen(pilot, lambda: ("transfer.watch", {"on": False}) in asked, what="unwatched on close")
        await wait_screen(pilot, lambda: not server.contacts.presence.watchers, what="the server forgot the watch")
