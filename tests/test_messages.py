"""What a person reads when the server refuses a command: their words, never a command or a code."""
from __future__ import annotations

import pytest

from cc_console.messages import refusal
from cc_console.protocol import COMMANDS, ErrorCode
from cc_console.tui import CCConsoleApp

from .conftest import PASSWORD
from .test_tui_e2e import wait_screen

# What the server says in its own message: internal words a person must not see on screen.
SERVER_TEXT = "no call for this agent right now"


@pytest.mark.parametrize("code", [c.value for c in ErrorCode])
def test_no_refusal_names_a_command_or_a_code(code):
    for cmd in [*COMMANDS, "agent.pause_cancel"]:
        title, text = refusal(cmd, code, SERVER_TEXT)
        shown = f"{title} {text}"
        assert cmd not in shown and f"({code})" not in shown and "refused" not in shown, (cmd, code, shown)
        assert text[:1].isupper() and text.endswith("."), (cmd, code, text)


def notices(app) -> list[str]:
    return [f"{n.title}|{n.message}" for n in app._notifications]


async def test_keys_refused_by_the_server_say_why_in_an_agents_words(server):
    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_screen(pilot, lambda: app.screen.id == "agent" and app.client.state.my_agent, what="agent screen")
        await pilot.press("h")  # no call
        await wait_screen(pilot, lambda: notices(app), what="a notification")
        assert notices(app) == ["Hang up: not done|No call to hang up."]
        app.clear_notifications()
        await pilot.press("s")  # no consultation
        await wait_screen(pilot, lambda: notices(app), what="a notification")
        assert notices(app) == ["Swap: not done|No consultation to swap to."]


async def test_a_refused_resume_is_said_in_words(server, connect):
    import asyncio
    client = await connect("agent1", reconnect=True)
    errors: asyncio.Queue = asyncio.Queue()
    client.add_listener(lambda kind, data: errors.put_nowait(data) if kind == "error" else None)
    client.token = "not-a-session"  # the server forgot us (expired)
    await client._ws.close()
    data = await asyncio.wait_for(errors.get(), 10)
    assert data["message"] == "Your session has ended: log in again."
    assert "resume" not in data["message"] and data["code"] == "unauthenticated"
    client.reconnect = False
