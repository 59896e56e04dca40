"""The supervisor screen shows the server's store fault as an alert, and clears it when it ends.
No server: a fake client fed the server.status events the server pushes (tests/test_store_fault.py
checks that the server pushes them)."""
from __future__ import annotations

from .test_tui_supervisor import SIZE, config_dir, settle, sup_app  # noqa: F401 (config_dir: fixture)

FAULT = {"store": "fault", "store_problem": "the database is locked by another program"}


async def test_store_fault_is_an_alert_until_it_clears() -> None:
    client, app = sup_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        bar = screen.query_one("#alert-bar")
        assert not bar.has_class("-visible") and app.bells == 0
        client.emit("server.status", dict(FAULT))
        await settle(pilot)
        assert bar.has_class("-visible") and app.bells == 1
        text = str(bar.render())
        assert "call records not saved" in text and "locked by another program" in text
        client.emit("server.status", {"store": "ok", "store_problem": ""})
        await settle(pilot)
        assert not bar.has_class("-visible") and app.bells == 1
