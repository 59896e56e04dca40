"""Keys every console must keep in sight and in check (issue 11): help and quit always in the
footer, quitting asks first while the agent is still logged in to queues, and the help overlay
lists keys for the person, not binding ids."""
from __future__ import annotations

import pytest

from cc_console.screens.agent import AgentScreen
from cc_console.screens.demo import demo_snapshot
from cc_console.screens.quit import QuitScreen
from cc_console.screens.supervisor import SupervisorScreen
from cc_console.widgets.help import HelpScreen

from .test_tui_pilot import FakeClient, make_app


def footer_text(app) -> str:
    """The bottom line as the terminal shows it."""
    return "".join(strip.text for strip in app.screen._compositor.render_update(full=True).strips[-1])


def agent_snapshot(state: str = "ready", queues: tuple[str, ...] = ("support", "sales")) -> dict:
    snap = demo_snapshot()
    me = next(a for a in snap["agents"] if a["id"] == "agent1")
    me.update(state=state, call_id=None, queues=list(queues))
    snap["calls"] = [c for c in snap["calls"] if c["id"] != "c1"]
    return snap


@pytest.mark.parametrize("mode,width", [("agent", 60), ("agent", 80), ("supervisor", 60), ("supervisor", 80)])
async def test_help_and_quit_show_in_the_footer_at_pane_widths(mode, width) -> None:
    snap = demo_snapshot("sup1", "supervisor") if mode == "supervisor" else agent_snapshot()
    app = make_app(FakeClient(snap), mode=mode)
    async with app.run_test(size=(width, 24)) as pilot:
        await pilot.pause()
        line = footer_text(app)
        assert "? Keys" in line and "Quit" in line, line
        # The supervisor's q is "agent queues": the footer names the key that quits there.
        quit_key = "^q" if mode == "supervisor" else "q"
        assert f" {quit_key} Quit" in line, line


async def test_q_asks_first_while_logged_in_and_can_log_out_of_the_queues() -> None:
    client = FakeClient(agent_snapshot("ready"))
    app = make_app(client)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitScreen)
        assert "READY in support, sales" in app.screen.situation
        await pilot.press("escape")  # changed my mind
        await pilot.pause()
        assert isinstance(app.screen, AgentScreen) and app.is_running
        await pilot.press("q")
        await pilot.pause()
        await pilot.press("l")  # log out of my queues, then quit
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert ("agent.logout", {}) in client.sent
        assert app._exit  # the app is on its way out


async def test_q_quits_at_once_when_not_in_any_queue() -> None:
    client = FakeClient(agent_snapshot("logged_out", ()))
    app = make_app(client)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, QuitScreen)
        assert app._exit and client.sent == []


async def test_q_in_the_supervisor_is_agent_queues_not_quit() -> None:
    app = make_app(FakeClient(demo_snapshot("sup1", "supervisor")), mode="supervisor")
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause()
        assert not app._exit and not isinstance(app.screen, SupervisorScreen)  # the queue picker opened


async def test_help_lists_keys_and_actions_without_binding_ids() -> None:
    app = make_app(FakeClient(agent_snapshot()))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one("#help-table")
        assert [str(c.label) for c in table.columns.values()] == ["Key", "Action"]
        cells = [str(v) for r in range(table.row_count) for v in table.get_row_at(r)]
        assert "Answer" in cells and not any(c.startswith(("agent.", "app.")) for c in cells)


async def test_in_a_text_field_the_footer_names_keys_that_do_not_type() -> None:
    app = make_app(FakeClient(logged_in=False))  # the login form, the cursor in the user name
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = footer_text(app)
        assert " f1 Keys" in line and " ^q Quit" in line, line
