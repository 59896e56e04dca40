"""Dialling a callback from the console on real phones (issue 26): a caller gives up while waiting;
the agent opens the work list, presses d on the missed call; the agent's phone and then the
caller's phone ring and are answered, and the caller hears the agent; the item is the agent's,
with one attempt, and once the caller was reached it leaves the work list."""
from __future__ import annotations

import asyncio

import pytest

from cc_console.screens.agent_callbacks import CallbacksScreen
from cc_console.server.pbx.phones import phone_tone_freq, tone_level
from cc_console.tui import CCConsoleApp

from .asterisk import until
from .conftest import PASSWORD
from .test_tui_e2e import agent_screen_ready, wait_screen

pytestmark = pytest.mark.asterisk


async def test_dial_a_missed_call_back_from_the_work_list(server, connect, pbx, phone):
    agent_phone = await phone("1001", auto_answer=True)
    caller = await phone("1005", auto_answer=True)
    agent = await connect("agent1")
    await agent.call("agent.login")
    await agent.call("agent.pause", {"reason": "break"})  # logged in but not taking calls: the caller waits
    watcher = await connect("sup1")  # sees every call
    await caller.dial("5000")
    await until(watcher, lambda: any(c["state"] == "queued" and c["caller"] == "1005"
                                     for c in watcher.state.calls.values()), what="caller queued")
    await caller.wait_call_state("ESTABLISHED", timeout=10)  # answered by the queue: music on hold
    await caller.hangup()
    await caller.wait_call_state("CLOSED", timeout=10)
    await until(watcher, lambda: not any(c["caller"] == "1005" for c in watcher.state.calls.values()),
                what="caller gone")

    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    async with app.run_test(size=(120, 36)) as pilot:
        await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
        await pilot.press("b")
        await wait_screen(pilot, lambda: isinstance(app.screen, CallbacksScreen) and app.screen.items,
                          what="the work list")
        screen = app.screen
        missed = [it for it in screen.items if it["kind"] == "missed" and it["caller"] == "1005"]
        assert len(missed) == 1
        screen.query_one("#callbacks").move_cursor(row=screen.items.index(missed[0]))
        await pilot.press("d")
        await wait_screen(pilot, lambda: (c := app.client.state.my_call) and c["state"] == "connected",
                          timeout=20, what="the callback connected")
        call = app.client.state.my_call
        assert call["direction"] == "outbound" and call["caller"] == "1005"
        await agent_phone.wait_call_state("ESTABLISHED", timeout=10)
        await caller.wait_call_state("ESTABLISHED", timeout=10)
        item = next(it for it in screen.items if it["id"] == missed[0]["id"])
        assert item["state"] == "taken" and item["agent"] == "agent1" and item["attempts"] == 1
        await asyncio.sleep(2.0)  # talk: each phone's tone into the other's recording
        await pilot.press("escape")
        await pilot.press("h")  # the agent hangs up
        await wait_screen(pilot, lambda: app.client.state.my_call is None, what="call over")
        await caller.wait_call_state("CLOSED", timeout=10)
        heard = caller.recorded_wav()
        assert heard is not None and tone_level(heard, phone_tone_freq(1001), start=0.5, duration=1.0) > 0.02
        await pilot.press("b")
        await wait_screen(pilot, lambda: isinstance(app.screen, CallbacksScreen) and app.screen.items is not None,
                          what="the work list again")
        # Reached: the missed call needs no call back any more (a later call with the number was answered).
        await wait_screen(pilot, lambda: app.screen.query_one("#callbacks").row_count == len(
            [it for it in app.screen.items if it.get("state") in ("open", "taken")]), what="the list drawn")
        assert missed[0]["id"] not in [it["id"] for it in app.screen.items]
