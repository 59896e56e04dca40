"""A console started with a session from the server's login elsewhere (the browser front door
hands its console process the token): it resumes that session, and shows the form when it ended."""
from __future__ import annotations

from cc_console.server.auth import Auth
from cc_console.tui import CCConsoleApp

from .conftest import PASSWORD
from .test_tui_e2e import wait_screen


async def test_console_resumes_a_session_token_and_falls_back_to_the_form(server):
    token = server.auth.login("agent1", PASSWORD, None).token
    app = CCConsoleApp(url=server.url, mode="agent", keymap={}, token=token)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_screen(pilot, lambda: app.screen.id == "agent" and app.client.state.my_agent, what="agent screen")
        assert app.username == "agent1" and app.client.token == token
    Auth.logout(server.auth, token)
    app = CCConsoleApp(url=server.url, mode="agent", keymap={}, token=token)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_screen(pilot, lambda: app.screen.id == "login" and getattr(app.screen, "error_text", ""),
                          what="the sign-in form with a reason")
        assert "Your session has ended: sign in again." in app.screen.error_text
