"""A console started with a session from the server's login elsewhere (the browser front door
hands its console process the token): it resumes that session, and shows the form when it ended."""
from __future__ import annotations

import asyncio

from textual.widgets import Header

from cc_console.server.auth import Auth
from cc_console.tui import CCConsoleApp

from .conftest import PASSWORD
from .test_loop_reads import locked
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



def answer_resume_late(server, delay: float = 0.3) -> None:
    """The server's answer to resume comes late, as when the session is read off the loop under load."""
    resume = server.gateway.handlers["resume"]

    async def late(s, r):
        await asyncio.sleep(delay)
        return await resume(s, r)

    server.gateway.handlers["resume"] = late


class QuitAtTheSwitch(CCConsoleApp):
    """A console whose person quits (or whose browser tab closes) the moment the session is back:
    the mode screen has not been built yet when the app shuts down."""

    def show_mode_screen(self) -> None:
        super().show_mode_screen()
        self.exit()


async def test_quitting_as_a_late_resume_switches_from_the_sign_in_form_is_clean(server):
    token = server.auth.login("agent1", PASSWORD, None).token
    answer_resume_late(server)
    app = QuitAtTheSwitch(url=server.url, mode="agent", keymap={}, token=token)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_screen(pilot, lambda: app.return_code is not None, what="the console to quit")
    assert app.return_code == 0 and app.username == "agent1"


async def test_quitting_while_the_agent_screen_is_still_mounting_is_clean(server):
    """With the resume's answer 0.3 s late the first test left its app at this moment about two runs
    in three: the app ended with NoMatches for the header's title (HeaderTitle) and for the screen's
    own widgets instead of quitting."""
    token = server.auth.login("agent1", PASSWORD, None).token
    answer_resume_late(server)
    app = CCConsoleApp(url=server.url, mode="agent", keymap={}, token=token)
    async with app.run_test(size=(100, 30)):
        async with asyncio.timeout(10):
            # Every turn of the loop, so as to leave between the header's mount and the screen's.
            while not (app.screen.id == "agent" and any(h.is_mounted for h in app.screen.query(Header))):
                await asyncio.sleep(0)
        assert not app.screen.is_mounted  # caught in the middle: the header is up, the screen is not
    # Leaving the block quits the app; run_test raises what the app ended with, if anything.


async def test_a_session_the_server_cannot_read_just_now_is_not_called_ended(on_postgresql, server):
    token = server.auth.login("agent1", PASSWORD, None).token
    await server.store.drained()  # the session is in PostgreSQL
    app = CCConsoleApp(url=server.url, mode="agent", keymap={}, token=token)
    with locked(server.settings.sections["store"]["url"], "sessions"):
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_screen(pilot, lambda: app.screen.id == "login" and getattr(app.screen, "error_text", ""),
                              what="the sign-in form with a reason")
            assert "The server cannot read its database just now; try again in a moment" in app.screen.error_text
            assert "session has ended" not in app.screen.error_text
