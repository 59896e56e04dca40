"""SVG snapshots of the agent console (fixed data from screens/agent_demo.py, frozen clock, UTC).

Baselines live in tests/__snapshots__/test_agent_snapshots/. Update with:
    pytest tests/test_agent_snapshots.py --snapshot-update
"""
from __future__ import annotations

import time

import pytest

from cc_console.screens.agent_demo import AgentDemoClient
from cc_console.screens.demo import demo_now
from cc_console.tui import CCConsoleApp

SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


@pytest.fixture(autouse=True)
def _fixed_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("CC_CONSOLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def app() -> CCConsoleApp:
    return CCConsoleApp(client=AgentDemoClient(), mode="agent", now=demo_now, keymap={})


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", ["80x24", "160x48"])
def test_agent_incoming_call_with_matches(snap_compare, size: str) -> None:
    assert snap_compare(app(), terminal_size=SIZES[size], run_before=_settle)


@pytest.mark.parametrize("size", ["80x24", "160x48"])
def test_agent_contact_picked_with_note_and_category(snap_compare, size: str) -> None:
    async def pick(pilot) -> None:
        await _settle(pilot)
        await pilot.press("i", "enter")  # Ann Archer
        await pilot.press("g", "down", "enter")  # Complaint
        await pilot.press("n", *"router reboots twice a day", "ctrl+s")
        await _settle(pilot)
    assert snap_compare(app(), terminal_size=SIZES[size], run_before=pick)


def test_agent_callbacks(snap_compare) -> None:
    async def open_list(pilot) -> None:
        await _settle(pilot)
        await pilot.press("b")
        await _settle(pilot)
    assert snap_compare(app(), terminal_size=(80, 24), run_before=open_list)


def test_agent_transfer_panel(snap_compare) -> None:
    async def open_panel(pilot) -> None:
        await _settle(pilot)
        await pilot.press("T")
        await _settle(pilot)
    assert snap_compare(app(), terminal_size=(80, 24), run_before=open_panel)


# -- consultation and conference at 80x24 (issue 11: labels and states were cut to "C…") -----------
def _on_call(consult: dict | None = None, *, held: bool = True, pending: str = "", user: str = "agent1",
             call_agent: str = "agent1") -> dict:
    from cc_console.screens.demo import DEMO_NOW, demo_snapshot
    snap = demo_snapshot(user)
    me = next(a for a in snap["agents"] if a["id"] == user)
    me.update(state="on_call", call_id="c1", pending_pause=pending, state_since=DEMO_NOW - 95)
    call = next(c for c in snap["calls"] if c["id"] == "c1")
    call.update(state="connected", answered=DEMO_NOW - 95, held=held, consult=consult, agent=call_agent)
    return snap


CONSULT = {"target": "agent:agent2", "agent": "agent2", "leg": "cc-c1-t2", "bridge": "cc-c1-c", "state": "talking",
           "with": "target"}
CONSULT_STATES = {
    "ringing_number": (dict(CONSULT, target="+442079460100", agent=None, state="ringing"), True),
    "talking_with_target": (CONSULT, True),
    "talking_with_caller": (dict(CONSULT, **{"with": "caller"}), True),
    "conference": (dict(CONSULT, state="conference"), False),
}


@pytest.mark.parametrize("state", list(CONSULT_STATES))
def test_agent_consult_states_80x24(snap_compare, state: str) -> None:
    consult, held = CONSULT_STATES[state]
    client = AgentDemoClient(_on_call(consult, held=held))
    assert snap_compare(CCConsoleApp(client=client, mode="agent", now=demo_now, keymap={}),
                        terminal_size=(80, 24), run_before=_settle)


def test_agent_being_consulted_80x24(snap_compare) -> None:
    """agent2's console while agent1 consults them about agent1's caller."""
    snap = _on_call(CONSULT, user="agent2", call_agent="agent1")
    snap["agents"] = [a for a in snap["agents"] if a["id"] != "agent1"]
    client = AgentDemoClient(snap)
    assert snap_compare(CCConsoleApp(client=client, mode="agent", now=demo_now, keymap={}),
                        terminal_size=(80, 24), run_before=_settle)


def test_agent_pause_pending_80x24(snap_compare) -> None:
    client = AgentDemoClient(_on_call(None, held=False, pending="lunch"))
    assert snap_compare(CCConsoleApp(client=client, mode="agent", now=demo_now, keymap={}),
                        terminal_size=(80, 24), run_before=_settle)


def test_agent_chats_panel(snap_compare) -> None:
    """Two chats beside the call: one offered (new), one picked with its messages (widgets/chats.py)."""
    async def chats(pilot) -> None:
        from cc_console.widgets.chats import ChatsPanel
        await _settle(pilot)
        now = demo_now()
        panel = pilot.app.screen.query_one(ChatsPanel)
        base = {"channel": "chat", "queue": "support", "email": "", "agents": [], "invited": [], "bot": False}
        panel.chat_event("chat.offer", {**base, "id": "c1", "name": "Vera Visitor", "state": "active",
                                        "agent": "agent1", "created": now - 200, "enqueued": now - 200,
                                        "accepted": now - 185, "messages": [
                                            {"n": 1, "at": now - 190, "sender": "visitor", "author": "Vera Visitor",
                                             "text": "My invoice shows the wrong address"},
                                            {"n": 2, "at": now - 185, "sender": "system", "author": "",
                                             "text": "Agent1 joined the conversation."},
                                            {"n": 3, "at": now - 180, "sender": "agent", "author": "Agent1",
                                             "text": "I can fix that. Which address should it be?"}]})
        panel.chat_event("chat.offer", {**base, "id": "c2", "name": "Walt Waiting", "state": "offered",
                                        "agent": "agent1", "created": now - 12, "enqueued": now - 12,
                                        "accepted": None, "messages": []})
        await pilot.press("1")
        await _settle(pilot)
    assert snap_compare(app(), terminal_size=SIZES["160x48"], run_before=chats)


@pytest.mark.parametrize("size", ["80x24", "160x48"])
def test_agent_emails_panel(snap_compare, size: str) -> None:
    """Two e-mail threads: one picked with its messages and an attachment, one offered (widgets/emails.py)."""
    async def emails(pilot) -> None:
        from cc_console.widgets.emails import EmailsPanel
        await _settle(pilot)
        now = demo_now()
        panel = pilot.app.screen.query_one(EmailsPanel)
        base = {"channel": "email", "queue": "support", "agents": [], "agent": "agent1", "closed": None}
        panel.email_event("email.offer", {
            **base, "id": "e1", "customer": "jana@example.cz", "name": "Jana Nováková", "subject": "Claim 4711",
            "state": "active", "created": now - 900, "enqueued": now - 900, "accepted": now - 600, "messages": [
                {"n": 1, "at": now - 900, "direction": "in", "author": "Jana Nováková", "message_id": "<1@x>",
                 "subject": "Claim 4711", "text": "Photos of the damage attached. [bold]not markup[/bold]",
                 "attachments": [{"id": "a1", "filename": "damage.png", "content_type": "image/png",
                                  "size": 48213, "url": "/api/v1/email/attachments/a1"}]},
                {"n": 2, "at": now - 899, "direction": "ack", "author": "", "message_id": "<2@x>",
                 "subject": "We have received your message: Claim 4711", "text": "Dear Jana, ...",
                 "attachments": []}]})
        panel.email_event("email.offer", {
            **base, "id": "e2", "customer": "karel@example.cz", "name": "Karel Dvořák", "subject": "Invoice",
            "state": "offered", "created": now - 30, "enqueued": now - 30, "accepted": None, "messages": []})
        panel.current = "e1"
        panel.show()
        panel.query_one("#email-reply").focus()
        await pilot.press(*"We will settle it by Friday.")
        await _settle(pilot)
    assert snap_compare(app(), terminal_size=SIZES[size], run_before=emails)


@pytest.mark.parametrize("size", ["80x24", "160x48"])
def test_agent_sms_panel(snap_compare, size: str) -> None:
    """Two SMS conversations: one picked with a long answer delivered and a failed one, one offered
    (widgets/sms.py)."""
    async def sms(pilot) -> None:
        from cc_console.widgets.sms import SmsPanel
        await _settle(pilot)
        now = demo_now()
        panel = pilot.app.screen.query_one(SmsPanel)
        base = {"channel": "sms", "queue": "support", "agents": [], "agent": "agent1", "closed": None}
        out = {"direction": "out", "author": "Agent1", "coding": 2, "kind": "agent"}
        panel.sms_event("sms.offer", {
            **base, "id": "s1", "number": "+420777123456", "state": "active", "created": now - 600,
            "enqueued": now - 600, "accepted": now - 540, "messages": [
                {"id": "m1", "at": now - 600, "direction": "in", "author": "", "text": "Kdy přijde karta? [bold]x",
                 "coding": 2, "parts": 1, "status": "received"},
                {**out, "id": "m2", "at": now - 500, "text": "Dobrý den, karta odešla včera doporučeně; "
                 "přijde do tří pracovních dnů. Hei fra Bodø: æøå.", "parts": 2, "status": "delivered"},
                {**out, "id": "m3", "at": now - 400, "text": "Číslo zásilky: RR123456789CZ", "parts": 1,
                 "status": "failed"}]})
        panel.sms_event("sms.offer", {
            **base, "id": "s2", "number": "+4791234567", "state": "offered", "created": now - 20,
            "enqueued": now - 20, "accepted": None, "messages": []})
        panel.current = "s1"
        panel.show()
        panel.query_one("#sms-reply").focus()
        await pilot.press(*"Děkujeme.")
        await _settle(pilot)
    assert snap_compare(app(), terminal_size=SIZES[size], run_before=sms)


def test_agent_my_figures_with_chats(snap_compare) -> None:
    """My figures (F): calls and, per period, my chats (a Channel column); recent calls and chats."""
    async def figures(pilot) -> None:
        await _settle(pilot)
        await pilot.press("F")
        await _settle(pilot)
    assert snap_compare(app(), terminal_size=(100, 40), run_before=figures)
