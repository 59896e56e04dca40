"""The console's picture of an agent's calls is the server's, whichever way a call leaves the agent.

Issue 11's ghost call: after consult, conference and complete the transferred call stayed in the
agent's console with its talk timer running (the server told only the new agent that the call had
moved), and `h` on it was refused. Each test here drives real phones and, after every step, checks
that the agent's console holds exactly the calls, and the current call, that a fresh login as the
same user is shown by the server.
"""
from __future__ import annotations

import pytest

from cc_console.client import ConsoleClient

from .asterisk import connected_call, until

pytestmark = pytest.mark.asterisk


def picture(client: ConsoleClient) -> tuple[str, str | None, list[str], str | None]:
    agent = client.state.my_agent or {}
    call = client.state.my_call
    return agent.get("state", ""), agent.get("call_id"), sorted(client.state.calls), (call or {}).get("id")


async def agrees(client: ConsoleClient, connect, what: str) -> None:
    """The client's picture settles on what a fresh login of the same user is given."""
    fresh = await connect(client.state.me["user"])
    await until(client, lambda: picture(client) == picture(fresh), timeout=5,
                what=f"{what}: console {picture(client)} == server {picture(fresh)}")
    await fresh.close()


def consult_state(client: ConsoleClient, call_id: str) -> str | None:
    return ((client.state.calls.get(call_id) or {}).get("consult") or {}).get("state")


async def test_consult_conference_complete_then_two_calls_leave_no_ghost(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    p2 = await phone("1002", auto_answer=True)
    a1, a2 = await connect("agent1"), await connect("agent2")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a2.call("agent.login")
    await a1.call("call.consult", {"target": "agent:agent2"})
    await until(a1, lambda: consult_state(a1, c["id"]) == "talking", what="consult answered")
    await p2.wait_call_state("ESTABLISHED", timeout=10)
    await agrees(a1, connect, "consulting")
    await agrees(a2, connect, "consulted")
    await a1.call("call.conference")
    await until(a1, lambda: consult_state(a1, c["id"]) == "conference", what="conference")
    await a1.call("call.consult_complete")  # `x`: agent2 keeps the caller
    await until(a1, lambda: not (a1.state.my_agent or {}).get("call_id"), what="agent1 handed over")
    await agrees(a1, connect, "after complete")
    await agrees(a2, connect, "agent2 has the caller")
    assert c["id"] not in a1.state.calls and a1.state.my_call is None
    assert a2.state.my_call and a2.state.my_call["id"] == c["id"]
    await caller.hangup()
    await until(a2, lambda: a2.state.my_call is None, what="transferred call over")
    await agrees(a1, connect, "transferred call over")

    # Two more calls, then a pause: no trace of the transferred call anywhere.
    for n in range(2):
        await until(a1, lambda: (a1.state.my_agent or {}).get("state") == "ready", what="agent1 ready")
        await a2.call("agent.pause", {"reason": "break"})
        later = await connected_call(a1, caller)
        assert later["id"] != c["id"]
        await agrees(a1, connect, f"later call {n + 1}")
        await a1.call("call.hangup")
        await until(a1, lambda: a1.state.my_call is None, what=f"later call {n + 1} over")
        await a2.call("agent.ready")
    await a1.call("agent.pause", {"reason": "break"})
    await until(a1, lambda: (a1.state.my_agent or {}).get("state") == "paused", what="paused")
    await agrees(a1, connect, "paused")
    assert a1.state.calls == {}


async def test_blind_transfer_leaves_the_agent(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    await phone("1004", auto_answer=True)
    a1 = await connect("agent1")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a1.call("call.transfer", {"target": "1004"})
    await until(a1, lambda: not (a1.state.my_agent or {}).get("call_id"), what="transferred")
    await agrees(a1, connect, "blind transfer")
    assert c["id"] not in a1.state.calls
    await caller.hangup()


async def test_leaving_a_conference_leaves_the_agent(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    await phone("1004", auto_answer=True)
    a1 = await connect("agent1")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a1.call("call.consult", {"target": "1004"})
    await until(a1, lambda: consult_state(a1, c["id"]) == "talking", what="talking to 1004")
    await a1.call("call.conference")
    await until(a1, lambda: consult_state(a1, c["id"]) == "conference", what="conference")
    await a1.call("call.hangup")  # I leave; the caller and 1004 go on
    await until(a1, lambda: not (a1.state.my_agent or {}).get("call_id"), what="left the conference")
    await agrees(a1, connect, "left the conference")
    assert c["id"] not in a1.state.calls
    await caller.hangup()


async def test_remote_hangup_leaves_the_agent(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    a1 = await connect("agent1")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await caller.hangup()
    await until(a1, lambda: c["id"] not in a1.state.calls, what="caller hung up")
    await agrees(a1, connect, "remote hang-up")


async def test_resume_after_a_reconnect_drops_a_call_that_left_while_away(server, connect, pbx, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    a1 = await connect("agent1", reconnect=True)
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    # The console loses its connection; while it is away the caller hangs up.
    a1.reconnect = False
    await a1._ws.close()
    await until(a1, lambda: not a1.connected.is_set(), what="disconnected")
    await caller.hangup()
    watcher = await connect("sup1")
    await until(watcher, lambda: c["id"] not in watcher.state.calls, what="call over on the server")
    a1.reconnect = True
    await a1._reconnect_loop()
    await until(a1, lambda: not a1.stale, what="resumed")
    await agrees(a1, connect, "resumed")
    assert c["id"] not in a1.state.calls and a1.state.my_call is None


async def test_agent_console_after_consult_conference_complete_shows_no_call(server, pbx, phone):
    """The issue's sequence on the agent console itself, with keys: consult agent2 (c), conference
    (f), complete (x). The call panel must be empty and `h` must say there is no call."""
    from cc_console.tui import CCConsoleApp

    from .conftest import PASSWORD
    from .test_tui_e2e import wait_screen

    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    p2 = await phone("1002", auto_answer=True)
    a2 = ConsoleClient(server.url, reconnect=False)
    await a2.connect()
    await a2.login("agent2", PASSWORD)
    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    try:
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_screen(pilot, lambda: app.screen.id == "agent" and app.client.state.my_agent,
                              what="agent screen")
            panel = app.screen.query_one("#call-panel")
            await pilot.press("l")
            await wait_screen(pilot, lambda: app.client.state.my_agent["state"] == "ready", what="ready")
            await caller.dial("5000")
            await wait_screen(pilot, lambda: panel.call_state == "ringing", what="ringing")
            await pilot.press("a")
            await wait_screen(pilot, lambda: panel.call_state == "connected", what="connected")
            call_id = panel.call_id
            await a2.call("agent.login")
            await pilot.press("c")
            await pilot.press(*"agent:agent2", "enter")
            await wait_screen(pilot, lambda: ((panel.call or {}).get("consult") or {}).get("state") == "talking",
                              what="consult answered")
            await p2.wait_call_state("ESTABLISHED", timeout=10)
            await pilot.press("f")
            await wait_screen(pilot, lambda: ((panel.call or {}).get("consult") or {}).get("state") == "conference",
                              what="conference")
            await pilot.press("x")
            await wait_screen(pilot, lambda: panel.call is None, what="the call left my panel")
            assert call_id not in app.client.state.calls
            app.clear_notifications()
            await pilot.press("h")
            await wait_screen(pilot, lambda: list(app._notifications), what="a notification")
            assert [n.message for n in app._notifications] == ["No call to hang up."]
    finally:
        await a2.close()
        await caller.hangup()
