"""The agent's script panel during a campaign call: the question to ask, its answers by key, the
branch taken, the answers stored (by the real outbound service, over its own store); snapshots at
80x24 and 160x48."""
from __future__ import annotations

import time
from typing import Any

import pytest

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.screens.agent_demo import AgentDemoClient
from cc_console.screens.demo import DEMO_NOW, demo_now, demo_snapshot
from cc_console.server.outbound.campaigns import CampaignError
from cc_console.server.outbound.service import OutboundService
from cc_console.server.outbound.store import OutboundStore
from cc_console.tui import CCConsoleApp
from cc_console.widgets.script_panel import RescheduleScreen, ScriptAnswerScreen, ScriptPanel

from .test_outbound_scripts import GOOD

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


class CampaignCallClient(AgentDemoClient):
    """The demo agent on an outbound campaign call c1; script.get and script.answer go to a real
    OutboundService (its store in memory) in which c1 is the call of contact Ann Archer."""

    def __init__(self) -> None:
        snap = demo_snapshot("agent1")
        me = next(a for a in snap["agents"] if a["id"] == "agent1")
        me.update(state="on_call", call_id="c1", state_since=DEMO_NOW - 40)
        call = next(c for c in snap["calls"] if c["id"] == "c1")
        call.update(state="connected", answered=DEMO_NOW - 40, direction="outbound", caller="+420601123456",
                    agent="agent1", held=False)
        super().__init__(snap)
        self.service = OutboundService(OutboundStore(":memory:"), clock=lambda: DEMO_NOW)
        c = self.service.create({"name": "Renewals", "queue": "support", "mode": "predictive", "script": GOOD,
                                 "mapping": {"number": "Phone", "name": "Name"}})
        self.service.import_list(c.id, b"Phone,Name\n+420601123456,Ann Archer\n", "csv")
        self.service.act(c.id, "start")
        seq = self.service.contacts(c.id)[0]["id"]
        self.service.store.update_contact(seq, DEMO_NOW, state="dialing", call_id="c1", agent="agent1")

    async def call(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        args = dict(args or {})
        if cmd == "script.get":
            self.sent.append((cmd, args))
            return self.service.script_for_call(args["call_id"])
        if cmd == "script.answer":
            self.sent.append((cmd, args))
            return self.service.answer(args["call_id"], args["question"], args["answer"], "agent1")
        if cmd == "campaign.reschedule":  # as the plugin: the service's refusal is a conflict
            self.sent.append((cmd, args))
            try:
                return {"contact": self.service.reschedule(args["call_id"], args["when"], "agent1",
                                                           mine=bool(args.get("mine")))}
            except CampaignError as exc:
                raise ProtocolError(ErrorCode.CONFLICT, str(exc)) from None
        return await super().call(cmd, args, timeout)


def app(client: AgentDemoClient) -> CCConsoleApp:
    return CCConsoleApp(client=client, mode="agent", now=demo_now, keymap={})


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", ["80x24", "160x48"])
def test_agent_script_panel(snap_compare, size: str) -> None:
    assert snap_compare(app(CampaignCallClient()), terminal_size=SIZES[size], run_before=_settle)


async def test_the_agent_answers_by_key_and_the_script_branches() -> None:
    client = CampaignCallClient()
    async with app(client).run_test(size=(160, 48)) as pilot:
        await _settle(pilot)
        panel = pilot.app.screen.query_one(ScriptPanel)
        assert panel.display and panel.data["current"] == "interest"
        await pilot.press("Q")
        await pilot.pause()
        assert isinstance(pilot.app.screen, ScriptAnswerScreen)
        await pilot.press("1")  # yes -> budget
        await _settle(pilot)
        assert panel.data["current"] == "budget"
        await pilot.press("Q")
        await pilot.pause()
        await pilot.press(*"1200 a year", "enter")  # a free answer: digits are text here
        await _settle(pilot)
        assert panel.data["current"] == ""  # the end
        stored = {a["question"]: a["answer"] for a in client.service.store.answers("", "c1")}
        assert stored == {"interest": "yes", "budget": "1200 a year"}
        await pilot.press("Q")  # nothing left to ask: said, not a screen
        await pilot.pause()
        assert not isinstance(pilot.app.screen, ScriptAnswerScreen)


async def test_no_panel_for_an_inbound_call() -> None:
    client = AgentDemoClient()
    async with app(client).run_test(size=(160, 48)) as pilot:
        await _settle(pilot)
        assert not pilot.app.screen.query_one(ScriptPanel).display
        assert all(cmd != "script.get" for cmd, _ in client.sent)


async def test_the_agent_reschedules_the_contact_and_the_server_checks_the_time() -> None:
    client = CampaignCallClient()
    async with app(client).run_test(size=(160, 48)) as pilot:
        await _settle(pilot)
        # DEMO_NOW is Tuesday 2023-11-14 22:13 UTC; the campaign calls Monday to Friday, 09:00-20:00 UTC.
        await pilot.press("R")
        await pilot.pause()
        assert isinstance(pilot.app.screen, RescheduleScreen)
        await pilot.press(*"2023-11-18 10:00", "enter")  # a Saturday: refused, said in the agent's words
        await _settle(pilot)
        said = [n.message for n in pilot.app._notifications]
        assert any("outside the campaign's calling hours" in m for m in said), said
        contact = client.service.store.contact_by_call("c1")
        assert contact["rescheduled"] == 0 and contact["owner"] == ""
        await pilot.press("R")
        await pilot.pause()
        await pilot.press(*"2023-11-15 10:00", "tab", "space", "enter")  # Wednesday, only me
        await _settle(pilot)
        contact = client.service.store.contact_by_call("c1")
        assert (contact["next_at"], contact["owner"], contact["rescheduled"]) == (1_700_042_400.0, "agent1", 1)


def test_reschedule_dialog_snapshot(snap_compare) -> None:
    async def open_dialog(pilot) -> None:
        await _settle(pilot)
        await pilot.press("R")
        await pilot.press(*"2023-11-15 10:00", "tab", "space")
        await _settle(pilot)
    assert snap_compare(app(CampaignCallClient()), terminal_size=(80, 24), run_before=open_dialog)
