"""Pilot tests of the agent console's keyboard flows (no server: AgentDemoClient answers from fixed
data and records what was sent): pick a contact on an incoming call, enter one by hand, write a
note, set a category in wrap-up, claim and dial a callback, the transfer panel."""
from __future__ import annotations

from typing import Any

import pytest

from cc_console.screens.agent import AgentScreen
from cc_console.screens.agent_callbacks import CallbacksScreen
from cc_console.screens.agent_demo import AgentDemoClient
from cc_console.screens.agent_figures import FiguresScreen
from cc_console.screens.agent_forms import ContactFormScreen, ContactPickScreen, NoteScreen, WrapUpScreen
from cc_console.screens.agent_transfer import TransferScreen
from cc_console.screens.demo import demo_now, demo_snapshot
from cc_console.tui import CCConsoleApp
from cc_console.widgets.contact_panel import ContactPanel
from cc_console.widgets.help import HelpScreen
from cc_console.widgets.transfer_panel import Favourites, TransferPanel

from .test_tui_pilot import wait_until

SIZE = (120, 36)


@pytest.fixture(autouse=True)
def _local_dirs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CC_CONSOLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path / "config"))


def make(client: AgentDemoClient | None = None) -> tuple[CCConsoleApp, AgentDemoClient]:
    client = client or AgentDemoClient()
    return CCConsoleApp(client=client, mode="agent", now=demo_now, keymap={}), client


def emit(client: AgentDemoClient, kind: str, data: dict[str, Any]) -> None:
    client.state.apply(kind, data)
    client._emit(kind, data)


def sent(client: AgentDemoClient, cmd: str) -> list[dict[str, Any]]:
    return [a for c, a in client.sent if c == cmd]


async def settle(app: CCConsoleApp, pilot: Any) -> None:
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def test_incoming_call_shows_matches_and_the_agent_picks_one() -> None:
    app, client = make()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        panel = app.screen.query_one("#contact-panel", ContactPanel)
        assert sent(client, "contacts.call") == [{"call_id": "c1"}]
        assert [m["id"] for m in panel.matches] == ["k1", "k2"] and panel.contact is None
        assert "matches=2" in panel.summary
        await pilot.press("i")
        assert isinstance(app.screen, ContactPickScreen)
        await pilot.press("down", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, AgentScreen)
        assert sent(client, "contacts.link") == [{"call_id": "c1", "contact_id": "k2"}]
        assert panel.contact["id"] == "k2" and "contact=Andrew Archer" in panel.summary
        # The CRM link: k2 has none; pick k1, which has.
        await pilot.press("u")
        await pilot.press("i", "enter")
        await settle(app, pilot)
        assert panel.contact["id"] == "k1"
        await pilot.press("u")
        await pilot.pause()
        assert "https://crm.example/customer/A-77" in [n.message for n in app._notifications]


async def test_enter_a_new_customer_by_hand_and_link_it() -> None:
    app, client = make()
    client.responses["contacts.save"] = lambda a: {"contact": {**a["contact"], "id": "k9"}}
    client.responses["contacts.link"] = lambda a: {"call_id": a["call_id"], "contact": {
        "id": a["contact_id"], "first_name": "Zoe", "phone": "+442079460001"}}
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("i", "end", "up", "enter")  # "+ Enter a new customer by hand…"
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ContactFormScreen)
        assert form.query_one("#field-phone").value == "+442079460001"  # the caller's number, prefilled
        assert len(form.fields) >= 15
        form.query_one("#field-first_name").focus()
        await pilot.press(*"Zoe", "ctrl+s")
        await settle(app, pilot)
        assert sent(client, "contacts.save") == [{"contact": {"first_name": "Zoe", "phone": "+442079460001"}}]
        assert sent(client, "contacts.link") == [{"call_id": "c1", "contact_id": "k9"}]
        assert app.screen.query_one("#contact-panel", ContactPanel).contact["id"] == "k9"


async def test_write_a_note_adds_a_version() -> None:
    app, client = make()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        assert isinstance(app.screen, NoteScreen)
        await pilot.press(*"wants a callback", "ctrl+s")
        await settle(app, pilot)
        assert sent(client, "notes.add") == [{"call_id": "c1", "text": "wants a callback"}]
        panel = app.screen.query_one("#contact-panel", ContactPanel)
        assert panel.note == "wants a callback"
        await pilot.press("n")
        assert app.screen.query_one("#note-text").text == "wants a callback"  # edit the latest version
        await pilot.press("end", *" tomorrow", "ctrl+s")
        await settle(app, pilot)
        assert sent(client, "notes.add")[-1]["text"] == "wants a callback tomorrow"
        assert [n["version"] for n in panel.reg["notes"]] == [1, 2]


async def test_category_and_registration_in_wrap_up_then_ready() -> None:
    app, client = make()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = app.screen
        call = dict(client.state.calls["c1"], state="ended", ended=demo_now())
        me = dict(client.state.agents["agent1"], state="wrap_up", call_id=None, wrapup_until=demo_now() + 30)
        emit(client, "call.ended", call)
        emit(client, "agent.state", me)
        await settle(app, pilot)
        panel = screen.query_one("#contact-panel", ContactPanel)
        assert screen.has_class("-wrapup") and panel.has_class("-wrapup")
        assert panel.reg["call_id"] == "c1"  # the registration of the call that just ended
        await pilot.press("g")
        await pilot.press("down", "enter")  # Complaint
        await settle(app, pilot)
        assert sent(client, "call.category") == [{"call_id": "c1", "category": "Complaint"}]
        assert panel.category == "Complaint"
        # The registration form: contact, category, note; ctrl+r saves and ends wrap-up.
        await pilot.press("w")
        form = app.screen
        assert isinstance(form, WrapUpScreen)
        form.query_one("#wrapup-contact").value = "k1"
        form.query_one("#wrapup-note").focus()
        await pilot.press(*"sent the form", "ctrl+r")
        await settle(app, pilot)
        assert sent(client, "contacts.link") == [{"call_id": "c1", "contact_id": "k1"}]
        assert sent(client, "notes.add") == [{"call_id": "c1", "text": "sent the form", "contact_id": "k1"}]
        assert len(sent(client, "call.category")) == 1  # unchanged: not sent again
        assert client.sent[-1] == ("agent.ready", {})


async def test_claim_and_dial_a_callback() -> None:
    app, client = make()
    client.responses["callback.claim"] = lambda a: {"item": {"id": a["id"], "state": "taken", "agent": "agent1"}}
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("b")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, CallbacksScreen)
        assert [i["id"] for i in screen.items] == ["cb1", "m-c7"]
        assert "router keeps" in str(screen.query_one("#callback-detail").render())
        await pilot.press("c")
        await settle(app, pilot)
        assert sent(client, "callback.claim") == [{"id": "cb1"}]
        assert screen.items[0]["state"] == "taken"
        await pilot.press("d")
        await settle(app, pilot)
        assert sent(client, "callback.dial") == [{"id": "cb1"}]
        await pilot.press("down", "s")
        await pilot.press(*"+30m", "enter")
        await settle(app, pilot)
        assert sent(client, "callback.reschedule") == [{"id": "m-c7", "preferred": "+30m"}]
        await pilot.press("x")
        await settle(app, pilot)
        assert sent(client, "callback.done") == [{"id": "m-c7"}]
        # Another agent took cb1 meanwhile: the pushed update shows it.
        emit(client, "callback.update", {"id": "cb1", "state": "taken", "agent": "agent2"})
        await settle(app, pilot)
        assert screen.items[0]["agent"] == "agent2"
        await pilot.press("escape")
        assert isinstance(app.screen, AgentScreen)


async def test_my_figures_screen() -> None:
    app, client = make()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("F")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, FiguresScreen)
        table = screen.query_one("#figures")
        assert table.row_count == 20  # 4 windows x (calls: all, support, sales; chats: all, support)
        assert [str(c) for c in table.get_row("24h:chat:support")][1:4] == ["Chat", "support", "6"]
        assert [str(c) for c in table.get_row("24h:support")][1:2] == ["Call"]
        recent = screen.query_one("#recent")
        assert [str(recent.get_row_at(i)[1]) for i in range(recent.row_count)] == ["Call", "Chat"]
        assert "support 1" in str(screen.query_one("#waiting").render())


async def test_transfer_panel_filter_favourite_and_transfer(tmp_path) -> None:
    app, client = make()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("T")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, TransferScreen)
        panel = screen.query_one(TransferPanel)
        assert [g for g, _ in panel.groups] == ["Agents", "Supervisors", "External", "Internal"]
        await pilot.press("slash", *"carol")
        await pilot.pause()
        assert panel.shown_keys == ["agent:agent3"]
        await pilot.press("enter")  # back to the list
        await pilot.press("asterisk")
        await pilot.pause()
        await pilot.press("escape")  # clears the filter
        await pilot.pause()
        assert panel.filter_text == ""
        assert [g for g, _ in panel.groups][0] == "★ Favourites"
        assert panel.shown_keys[0] == "agent:agent3" and panel.selected_key == "agent:agent3"
        await pilot.press("c")
        await settle(app, pilot)
        assert sent(client, "call.consult") == [{"target": "agent:agent3"}]
        await pilot.press("down", "t")  # Bob Baker (busy): group titles are skipped
        await settle(app, pilot)
        assert sent(client, "call.transfer") == [{"target": "agent:agent2"}]
        assert isinstance(app.screen, AgentScreen)
    fav = Favourites("agent1", tmp_path / "data" / "favourites.json")
    assert fav.keys() == ["agent:agent3"]
    assert Favourites("agent2", tmp_path / "data" / "favourites.json").keys() == []


async def test_help_and_palette_list_the_new_actions() -> None:
    from textual.command import CommandList
    app, client = make()
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        ids = {r.binding_id for r in app.screen.rows}
        assert {"agent.identify", "agent.note", "agent.category", "agent.wrapup", "agent.history",
                "agent.callbacks", "agent.figures", "agent.transfer_panel", "agent.crm",
                "agent.edit_contact"} <= ids
        await pilot.press("escape")
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Identify", "Note", "Category", "Register", "History", "Callbacks", "My figures",
                "Transfer panel"} <= titles
        await pilot.press("ctrl+p", *"callbacks")
        commands = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: commands.option_count > 0
                         and "Callbacks" in str(commands.get_option_at_index(0).prompt))
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, CallbacksScreen)


async def test_keys_are_remappable() -> None:
    client = AgentDemoClient()
    app = CCConsoleApp(client=client, mode="agent", now=demo_now, keymap={"agent.callbacks": "f6"})
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("f6")
        await settle(app, pilot)
        assert isinstance(app.screen, CallbacksScreen)


async def test_history_with_the_caller() -> None:
    from cc_console.screens.agent_forms import HistoryScreen
    app, client = make(AgentDemoClient(demo_snapshot()))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("y")
        await settle(app, pilot)
        assert isinstance(app.screen, HistoryScreen)
        # The desk asked for the last few when the call came in; y asks for the whole history.
        assert sent(client, "contacts.history")[-1] == {"number": "+442079460001", "exclude": "c1"}
        table = app.screen.query_one("#history-table")
        assert table.row_count == 3  # two calls and the customer's chat
        assert str(table.get_row("chat7")[2]) == "chat"


# -- the CRM link opened (issue 26) ------------------------------------------------------------------------
async def _press_crm(pilot: Any, app: CCConsoleApp) -> None:
    await settle(app, pilot)
    await pilot.press("i", "enter")  # Ann Archer, who has a CRM record
    await settle(app, pilot)
    await pilot.press("u")
    await settle(app, pilot)


async def test_crm_link_opens_in_the_browser_of_a_desktop_session(tmp_path, monkeypatch) -> None:
    import webbrowser
    opened = tmp_path / "opened.txt"
    browser = tmp_path / "browser"
    browser.write_text(f"#!/bin/sh\necho \"$1\" > {opened}\n")
    browser.chmod(0o755)
    for var in ("SSH_CONNECTION", "SSH_TTY", "SSH_CLIENT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setenv("BROWSER", str(browser))
    monkeypatch.setattr(webbrowser, "_tryorder", None)  # read BROWSER afresh (the module caches it)
    app, _ = make()
    async with app.run_test(size=SIZE) as pilot:
        await _press_crm(pilot, app)
        await wait_until(pilot, opened.exists)
        assert opened.read_text().strip() == "https://crm.example/customer/A-77"
        assert any("opened in the browser" in str(n.title) for n in app._notifications)


async def test_crm_link_over_ssh_is_shown_and_copied_with_osc52(monkeypatch) -> None:
    monkeypatch.setenv("SSH_CONNECTION", "10.0.0.2 50000 10.0.0.1 22")
    monkeypatch.setenv("DISPLAY", ":0")  # forwarded X or not: over SSH the person's own terminal has the clipboard
    app, _ = make()
    async with app.run_test(size=SIZE) as pilot:
        await _press_crm(pilot, app)
        assert app.clipboard == "https://crm.example/customer/A-77"
        assert "https://crm.example/customer/A-77" in [n.message for n in app._notifications]
