"""The agent console's chats panel (widgets/chats.py) on the real server, driven with Textual's
Pilot; the visitor is on the widget's websocket."""
from __future__ import annotations

from cc_console.tui import CCConsoleApp
from tests.chat_helpers import Visitor
from tests.conftest import PASSWORD
from tests.test_tui_e2e import agent_screen_ready, wait_screen


async def test_agent_handles_two_chats_with_number_keys(server, connect):
    base = f"http://127.0.0.1:{server.port}"
    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    async with app.run_test(size=(140, 40)) as pilot, Visitor(base) as v1, Visitor(base) as v2:
        await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
        panel = app.screen.query_one("#chats")
        assert not panel.display, "no chat: no panel"
        await wait_screen(pilot, lambda: app.screen.query_one("#agent-state").state == "logged_out", what="state")
        await pilot.press("l")
        await wait_screen(pilot, lambda: app.screen.query_one("#agent-state").state == "ready", what="ready")
        await v1.start(name="Vera")
        await v2.start(name="Walt")
        await wait_screen(pilot, lambda: len(panel.order) == 2, what="two chats offered")
        assert panel.display
        await pilot.press("2")  # Walt's: accept and reply
        await wait_screen(pilot, lambda: panel.chats[v2.id]["state"] == "active", what="accepted")
        await v2.expect("agent", lambda f: f["name"] == "Agent1")
        await pilot.press(*"hello Walt", "enter")
        await v2.expect("message", lambda f: f["message"]["text"] == "hello Walt")
        await v2.send(op="say", text="hi there")
        await wait_screen(pilot, lambda: any(m["text"] == "hi there" for m in panel.chats[v2.id]["messages"]),
                          what="the visitor's message on screen")
        assert "hi there" in str(panel.query_one("#chat-log").render())
        await pilot.press("escape", "1")  # back to the console's keys, then Vera's chat
        await wait_screen(pilot, lambda: panel.chats[v1.id]["state"] == "active", what="second accepted")
        a2 = await connect("agent2")
        await a2.call("agent.login", {})
        await pilot.press(*"/transfer agent2", "enter")
        await wait_screen(pilot, lambda: v1.id not in panel.chats, what="transferred away")
        await pilot.press("escape", "1")
        assert panel.current == v2.id
        await pilot.press(*"/close question solved", "enter")
        await v2.expect("closed")
        await wait_screen(pilot, lambda: not panel.order and not panel.display, what="panel hidden again")
    found = (await server.capabilities["chat"].store.run(server.capabilities["chat"].store.search, "", "", "", 10))
    closed = next(c for c in found if c["id"] == v2.id)
    assert closed["category"] == "question" and closed["notes"] == "solved"


async def test_wallboard_shows_chat_figures(server, connect, tmp_path):
    base = f"http://127.0.0.1:{server.port}"
    layout = tmp_path / "wallboard.toml"
    layout.write_text('tiles = ["waiting", "chats_waiting", "chats_handled", "chats_abandoned", "chats_sl"]\n')
    app = CCConsoleApp(url=server.url, mode="wallboard", username="wall1", password=PASSWORD, keymap={},
                       wallboard_layout=layout)
    a1 = await connect("agent1")
    async with app.run_test(size=(140, 40)) as pilot, Visitor(base) as v1, Visitor(base) as v2:
        await wait_screen(pilot, lambda: app.screen.id == "wallboard", what="wallboard")
        board = app.screen
        tile = lambda kind: board.query_one(f"#tile-{kind}").value  # noqa: E731
        await v1.start()
        await v2.start()
        await wait_screen(pilot, lambda: tile("chats_waiting") == "2", what="two chats waiting")
        assert tile("waiting") == "0", "the calls' tile counts calls only"
        await v2.send(op="end")
        await a1.call("agent.login", {})
        await wait_screen(pilot, lambda: tile("chats_abandoned") == "1" and tile("chats_waiting") == "0",
                          what="one abandoned, none waiting")
        chats = (await a1.call("chat.list"))["chats"]
        await a1.call("chat.accept", {"id": chats[0]["id"]})
        await a1.call("chat.close", {"id": chats[0]["id"]})
        await wait_screen(pilot, lambda: tile("chats_handled") == "1", what="one handled")
        assert tile("chats_sl") == "50%", "one of two chats accepted in time"


async def test_supervisor_invited_into_a_chat_writes_from_the_console(server, connect):
    base = f"http://127.0.0.1:{server.port}"
    a1 = await connect("agent1")
    await a1.call("agent.login", {})
    app = CCConsoleApp(url=server.url, mode="supervisor", username="sup1", password=PASSWORD, keymap={})
    async with app.run_test(size=(160, 40)) as pilot, Visitor(base) as v, Visitor(base) as other:
        await wait_screen(pilot, lambda: app.screen.query("#chats"), what="supervisor screen")
        panel = app.screen.query_one("#chats")
        await v.start()
        await other.start(name="Not Invited")
        chats = (await a1.call("chat.list"))["chats"]
        for c in chats:
            await a1.call("chat.accept", {"id": c["id"]})
        await a1.call("chat.invite", {"id": v.id, "user": "sup1"})
        await wait_screen(pilot, lambda: panel.order == [v.id], what="the invited chat only")
        await pilot.press("1")
        await pilot.press(*"Supervisor here", "enter")
        await v.expect("message", lambda f: f["message"]["text"] == "Supervisor here"
                       and f["message"]["author"] == "Sup1")


async def test_supervisor_sees_chats_by_channel(server, connect):
    """The supervisor's written-channels table follows chat.stats: a waiting chat, then a handled one."""
    base = f"http://127.0.0.1:{server.port}"
    a1 = await connect("agent1")
    app = CCConsoleApp(url=server.url, mode="supervisor", username="sup1", password=PASSWORD, keymap={})
    async with app.run_test(size=(140, 40)) as pilot, Visitor(base) as v:
        await wait_screen(pilot, lambda: app.screen.query("#chat-figures-table"), what="supervisor screen")
        box = app.screen.query_one("#chat-figures")
        table = app.screen.query_one("#chat-figures-table")
        cell = lambda i: str((table.cells("chat:support") or ("",) * 8)[i])  # noqa: E731
        await v.start()
        await wait_screen(pilot, lambda: cell(2) == "1", what="one chat waiting in support")
        assert box.has_class("-visible")
        await a1.call("agent.login", {})
        chats = (await a1.call("chat.list"))["chats"]
        await a1.call("chat.accept", {"id": chats[0]["id"]})
        await a1.call("chat.close", {"id": chats[0]["id"]})
        await wait_screen(pilot, lambda: cell(5) == "1" and cell(2) == "0", what="one handled, none waiting")
        assert cell(7) == "100", "accepted at once: within the service level"
