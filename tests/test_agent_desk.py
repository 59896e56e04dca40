"""The agent screen's desk (issue 26): the caller's history with recordings, callbacks due soon, my
recent calls and my queues beside the call where there is room; one line for them at 80x24; the
split moves with < and >; pushed callback updates and the end of my call keep it current.
(AgentDemoClient answers from fixed data and records what was sent.)"""
from __future__ import annotations

from cc_console.screens.demo import DEMO_NOW
from cc_console.widgets.agent_desk import CallbacksDuePanel, CallerHistoryPanel, RecentCallsPanel, due_soon

from .test_agent_pilot import emit, make, sent, settle


async def test_desk_at_160x48_shows_history_with_recordings_callbacks_recent_calls() -> None:
    app, client = make()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert sent(client, "contacts.history") == [{"number": "+442079460001", "exclude": "c1", "limit": 10}]
        assert sent(client, "recordings.search") == [{"caller": "+442079460001", "limit": 100}]
        history = screen.query_one("#caller-history", CallerHistoryPanel)
        assert history.display and [r.get("call_id") or r["id"] for r in history.rows] == ["h1", "chat7", "h2"]
        assert "chat agent3 Billing handled" in history.summary
        assert history.rows[0]["recording"] == "rec-h1" and "recording" not in history.rows[1]
        assert "agent2 Complaint answered rec router keeps rebooting" in history.summary
        due = screen.query_one("#callbacks-due", CallbacksDuePanel)
        assert [r["id"] for r in due.rows] == ["cb1", "m-c7"]
        recent = screen.query_one("#recent-calls", RecentCallsPanel)
        assert "+442079460005 handled" in recent.summary
        # The panels take the room: together they fill the middle, none of them clipped to nothing.
        middle = screen.query_one("#agent-middle").region
        assert history.region.height >= 10 and due.region.height >= 5 and recent.region.height >= 5
        assert history.region.bottom == middle.bottom
        assert not screen.query_one("#desk-summary").display
        # Other capabilities mount their panels here.
        assert screen.query_one("#agent-extras").parent.id == "agent-right"


async def test_desk_folds_into_one_line_at_80x24() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        assert screen.has_class("-short")
        for pid in ("#caller-history", "#callbacks-due", "#recent-calls"):
            assert not screen.query_one(pid).display, pid
        line = str(screen.query_one("#desk-summary").render())
        assert "2 earlier calls, 1 chat (y)" in line and "2 callbacks due (b)" in line
        # Customer and queues keep their room.
        assert screen.query_one("#contact-panel").region.height >= 8


async def test_split_moves_with_keys() -> None:
    app, _ = make()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        left, right = app.screen.query_one("#agent-left"), app.screen.query_one("#agent-right")
        assert abs(left.region.width - right.region.width) <= 1
        await pilot.press(">", ">")
        await pilot.pause()
        assert left.region.width > right.region.width + 20
        await pilot.press(*"<" * 10)  # stops at the narrowest split, never hides a side
        await pilot.pause()
        assert 20 <= left.region.width < right.region.width


async def test_pushed_callback_update_and_end_of_call_keep_the_desk_current() -> None:
    app, client = make()
    async with app.run_test(size=(160, 48)) as pilot:
        await settle(app, pilot)
        screen = app.screen
        due = screen.query_one("#callbacks-due", CallbacksDuePanel)
        emit(client, "callback.update", {"id": "cb1", "state": "done", "agent": "agent3"})
        await settle(app, pilot)
        assert [r["id"] for r in due.rows] == ["m-c7"]
        # Someone else took m-c7: not mine to call, not listed.
        emit(client, "callback.update", {"id": "m-c7", "state": "taken", "agent": "agent2"})
        await settle(app, pilot)
        assert due.rows == []
        assert len(sent(client, "agent.figures")) == 1
        me = dict(client.state.agents["agent1"], state="on_call")
        emit(client, "agent.state", me)
        await settle(app, pilot)
        emit(client, "agent.state", dict(me, state="wrap_up", call_id=None))
        await settle(app, pilot)
        assert len(sent(client, "agent.figures")) == 2  # my finished call is fetched into my recent calls
        assert len(sent(client, "callbacks.worklist")) == 2  # and the work list afresh


def test_due_soon_keeps_open_and_mine_due_within_the_window() -> None:
    now = DEMO_NOW
    items = [{"id": "later", "state": "open", "preferred": now + 5 * 3600, "requested": now - 60},
             {"id": "soon", "state": "open", "preferred": now + 600, "requested": now - 60},
             {"id": "asap", "state": "open", "preferred": None, "requested": now - 60},
             {"id": "theirs", "state": "taken", "agent": "agent2", "preferred": None, "requested": now - 90},
             {"id": "mine", "state": "taken", "agent": "agent1", "preferred": None, "requested": now - 30},
             {"id": "done", "state": "done", "preferred": None, "requested": now - 120}]
    assert [i["id"] for i in due_soon(items, now, "agent1")] == ["asap", "mine", "soon"]

