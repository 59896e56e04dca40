"""A console restarted during wrap-up finds the call it just ended (issue 26): on the real sandbox
Asterisk with a real phone, the agent takes a call, the caller hangs up, wrap-up starts; a console
started only then shows that call's registration and registers a category on it."""
from __future__ import annotations

import pytest

from cc_console.tui import CCConsoleApp
from cc_console.widgets.contact_panel import ContactPanel

from .asterisk import start_routed, until
from .conftest import PASSWORD
from .test_tui_e2e import agent_screen_ready, wait_screen

pytestmark = pytest.mark.asterisk

ROUTING = """
[queues.support]
dids = ["5000"]
wrapup = 120

[agents.agent1]
queues = { support = 0 }
"""


async def test_console_started_in_wrapup_registers_the_call_just_ended(settings, connect_to, pbx, phone, tmp_path):
    srv = await start_routed(settings, ROUTING, tmp_path / "routing.toml")
    try:
        await phone("1001", auto_answer=True)
        first = await connect_to(srv, "agent1")  # the console that will be "restarted"
        await first.call("agent.login")
        placed = await pbx.place_call("5000", caller="0612345670")
        await until(first, lambda: (c := first.state.my_call) and c["state"] == "ringing", what="ringing")
        call_id = first.state.my_call["id"]
        await first.call("call.answer")
        await until(first, lambda: (c := first.state.my_call) and c["state"] == "connected", what="connected")
        await pbx.hangup(placed.outer)  # the caller hangs up: wrap-up
        await until(first, lambda: (first.state.my_agent or {}).get("state") == "wrap_up", what="wrap-up")
        await first.close()

        app = CCConsoleApp(url=srv.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
            panel = app.screen.query_one("#contact-panel", ContactPanel)
            await wait_screen(pilot, lambda: panel.reg and panel.reg.get("caller") == "0612345670",
                              what="the ended call's registration")
            assert panel.reg["call_id"] == call_id and panel.wrapup
            await pilot.press("g")
            await pilot.press("enter")  # the first category
            await wait_screen(pilot, lambda: panel.category, what="category registered")
            assert srv.contacts.store.meta(call_id)["category"] == panel.category
    finally:
        await srv.stop()
