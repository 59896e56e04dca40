"""The agent console end to end: the real server, the real sandbox Asterisk, a real SIP phone.

Log in through the login screen, see an incoming call appear, answer with `a`, hang up with `h`.
"""
from __future__ import annotations

import asyncio

import pytest

from cc_console.tui import CCConsoleApp

from .asterisk import still_there
from .conftest import PASSWORD


async def wait_screen(pilot, pred, timeout: float = 15.0, what: str = "") -> None:
    """Let the app process messages until pred() holds. The UI has no event to await from outside,
    so this yields to it in short steps, bounded by the timeout."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not pred():
        if loop.time() > deadline:
            app = pilot.app  # what the console showed instead: the next look at a flaky run starts there
            raise AssertionError(f"timed out waiting for {what}; screens "
                                 f"{[type(s).__name__ for s in app.screen_stack]}, focused {app.focused!r}, "
                                 f"notifications {[n.message for n in app._notifications]}")
        await pilot.pause(0.05)


def agent_screen_ready(app) -> bool:
    """The agent screen and its last panels are mounted: nested containers mount their children
    after the first ones, and on a loaded machine a query can come in between."""
    return bool(app.screen.id == "agent" and app.screen.query("#agent-state") and app.screen.query("#sms")
                and app.screen.query("#desk-summary"))


async def test_login_screen_wrong_then_right_password(server):
    app = CCConsoleApp(url=server.url, mode="agent", keymap={})
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_screen(pilot, lambda: app.screen.id == "login", what="login screen")
        app.screen.query_one("#username").value = "agent1"
        app.screen.query_one("#password").value = "not-the-password"
        await pilot.press("enter")
        await wait_screen(pilot, lambda: getattr(app.screen, "error_code", "") == "auth_failed",
                          what="login refused")
        assert "wrong user name or password" in app.screen.error_text
        app.screen.query_one("#username").value = "agent1"
        app.screen.query_one("#password").value = PASSWORD
        await pilot.press("enter")
        await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
        assert app.client.state.me["user"] == "agent1"


@pytest.mark.asterisk
async def test_incoming_call_appears_and_is_answered_with_keys(server, pbx, phone):
    p1 = await phone("1001", auto_answer=True)
    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
        state = app.screen.query_one("#agent-state")
        await wait_screen(pilot, lambda: state.state == "logged_out", what="logged out shown")
        await pilot.press("l")  # log in to my queues: ready
        await wait_screen(pilot, lambda: state.state == "ready", what="ready")

        call = await pbx.place_call("5000", caller="0612340000")
        panel = app.screen.query_one("#call-panel")
        await wait_screen(pilot, lambda: panel.call_state == "ringing", what="ringing on screen")
        assert panel.call["caller"] == "0612340000"
        assert "0612340000" in panel.summary
        assert state.state == "ringing" and panel.has_class("-ringing")
        assert app.bells >= 1

        await pilot.press("a")
        await wait_screen(pilot, lambda: panel.call_state == "connected", what="connected on screen")
        assert state.state == "on_call"
        await p1.wait_call_state("ESTABLISHED", timeout=10)

        await pilot.press("h")
        await wait_screen(pilot, lambda: state.state == "ready" and panel.call is None, what="ready again")
        kinds = [e.kind for e in server.store.events(call_id=server.store.events(kinds=("call.completed",))
                                                     .__next__().call_id)]
        assert kinds == ["call.entered", "call.queued", "call.offered", "call.dialing", "call.connected",
                         "call.completed"]
        assert not await still_there(pbx, {call.inner})
