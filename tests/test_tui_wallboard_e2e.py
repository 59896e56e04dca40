"""The wallboard against the real server: STALE when the server stops, live again by itself when
it is back (the app's client reconnects and resumes its stored session); a tenant's board with real
callers waiting on the sandbox Asterisk."""
from __future__ import annotations

import pytest

from cc_console.screens.wallboard import BoardFilter, WallboardScreen
from cc_console.server.app import Server
from cc_console.tui import CCConsoleApp
from cc_console.widgets.bigdigits import BigFigure
from cc_console.widgets.tile import Tile

from .conftest import PASSWORD
from .test_tui_e2e import wait_screen


async def test_wallboard_goes_stale_when_the_server_stops_and_recovers(settings, tmp_path, monkeypatch):
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path))
    srv = Server(settings)
    await srv.start()
    srv2 = None
    try:
        app = CCConsoleApp(url=srv.url, mode="wallboard", username="wall1", password=PASSWORD, keymap={})
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_screen(pilot, lambda: isinstance(app.screen, WallboardScreen), what="wallboard")
            screen = app.screen
            banner = screen.query_one("#stale-banner")
            await wait_screen(pilot, lambda: not screen.has_class("-stale") and "support" in app.client.state.queues,
                              what="live figures")
            assert app.client.reconnect is True
            assert "STALE" not in str(banner.render())  # (it may say PBX DOWN: no Asterisk here)

            port = srv.port
            await srv.stop()
            srv = None
            await wait_screen(pilot, lambda: banner.has_class("-visible") and screen.has_class("-stale"),
                              timeout=5, what="STALE banner")
            assert "STALE" in str(banner.render())

            settings.server.port = port
            srv2 = Server(settings)
            await srv2.start()
            await wait_screen(pilot, lambda: "STALE" not in str(banner.render()) and not screen.has_class("-stale"),
                              timeout=20, what="live again")
            assert app.client.state.me.get("user") == "wall1"
    finally:
        if srv is not None:
            await srv.stop()
        if srv2 is not None:
            await srv2.stop()


@pytest.mark.asterisk
async def test_a_tenants_wallboard_counts_only_its_callers(settings, pbx, tmp_path, monkeypatch):
    """Real callers waiting in two tenants' queues: each tenant's board shows its own."""
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path))
    settings.queues[1].tenant = "acme"  # sales (5001); support (5000) stays "default"
    srv = Server(settings)
    await srv.start()
    try:
        app = CCConsoleApp(url=srv.url, mode="wallboard", username="wall1", password=PASSWORD, keymap={},
                           wallboard_filter=BoardFilter(tenant="acme"))
        async with app.run_test(size=(200, 60)) as pilot:
            await wait_screen(pilot, lambda: isinstance(app.screen, WallboardScreen), what="wallboard")
            screen = app.screen
            waiting = screen.query_one("#tile-waiting", Tile)
            queues = app.client.state.queues
            await wait_screen(pilot, lambda: "sales" in queues and not screen.has_class("-stale"), what="live")
            await pbx.place_call("5000", caller="0611110000")  # the other tenant's queue
            await wait_screen(pilot, lambda: queues["support"].get("waiting") == 1, what="support caller queued")
            await pbx.place_call("5001", caller="0622220000")
            await pbx.place_call("5001", caller="0622220001")
            await wait_screen(pilot, lambda: waiting.value == "2", what="acme's two callers on the board")
            assert queues["support"].get("waiting") == 1  # counted by the server, not on this board
            assert sorted(screen.query_one("#wallboard-queues").rows) == ["sales"]
            fig = waiting.query_one(BigFigure)
            assert fig.glyph_size is not None and fig.figure_rows >= 0.6 * waiting.content_region.height
    finally:
        await srv.stop()
