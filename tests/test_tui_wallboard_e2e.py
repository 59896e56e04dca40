"""The wallboard against the real server (no Asterisk): STALE when the server stops, live again by
itself when it is back (the app's client reconnects and resumes its stored session)."""
from __future__ import annotations

from cc_console.screens.wallboard import WallboardScreen
from cc_console.server.app import Server
from cc_console.tui import CCConsoleApp

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
