"""The directory screen (Pilot): search as you type, rows, transfer keys, message; fake and real server."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from textual.widgets import Input

from cc_console.client import ConsoleState
from cc_console.screens.directory import DirectoryScreen, MessageScreen, dial_target
from cc_console.server.directory import DirectoryService, DirectoryStore
from cc_console.tui import CCConsoleApp
from cc_console.widgets.directory_detail import DirectoryDetail
from cc_console.widgets.directory_results import DirectoryResults
from cc_console.widgets.help import HelpScreen

from .test_directory_fixtures import load_sample

SIZE = (140, 36)


def snapshot() -> dict[str, Any]:
    now = time.time()
    return {"me": {"user": "agent1", "role": "agent", "name": "Agent One"},
            "agents": [{"id": "agent1", "name": "Agent One", "state": "on_call", "call_id": "c9",
                        "device": "PJSIP/1001", "queues": ["support"], "state_since": now}],
            "calls": [{"id": "c9", "caller": "+4799999999", "state": "connected", "agent": "agent1",
                       "queue": "support", "created": now}],
            "queues": [], "server": {"ari": "up"}}


class DirClient:
    """A ConsoleClient stand-in answering directory commands from a real DirectoryService."""

    def __init__(self, service: DirectoryService, delay: float = 0.0) -> None:
        self.url = "ws://fake.invalid"
        self.service = service
        self.delay = delay
        self.state = ConsoleState()
        self.state.load(snapshot())
        self.connected = asyncio.Event()
        self.connected.set()
        self.stale = False
        self.token = "tok"
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._listeners: list[Any] = []

    def add_listener(self, fn: Any) -> None:
        self._listeners.append(fn)

    async def connect(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def call(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        args = dict(args or {})
        self.sent.append((cmd, args))
        if self.delay:
            await asyncio.sleep(self.delay)
        if cmd == "directory.search":
            return {"q": args["q"], "results": self.service.search(args["q"], tenant=args.get("tenant"),
                                                                   limit=args.get("limit", 20))}
        if cmd == "directory.person":
            return {"person": self.service.person(args["id"])}
        return {}


@pytest.fixture
def service(tmp_path):
    s = DirectoryService(DirectoryStore(tmp_path / "d.sqlite3"))
    load_sample(s)
    yield s
    s.store.close()


async def wait_for(pilot, cond, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await pilot.pause(0.01)


async def open_directory(app: CCConsoleApp, pilot) -> DirectoryScreen:
    screen = DirectoryScreen()
    app.push_screen(screen)
    await pilot.pause()
    return screen


def searches(client: DirClient) -> list[str]:
    return [a["q"] for c, a in client.sent if c == "directory.search"]


async def test_search_as_you_type_coalesced_then_transfer_keys(service):
    client = DirClient(service)
    app = CCConsoleApp(client=client, keymap={})
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_directory(app, pilot)
        assert app.focused.id == "directory-search"
        search_box = screen.query_one("#directory-search", Input)
        for ch in "dvo":  # typed while the first search is answered: one more search, for the last text
            search_box.insert_text_at_cursor(ch)
        await wait_for(pilot, lambda: screen.rendered_query == "dvo")
        assert searches(client) == ["d", "dvo"]
        table = screen.query_one("#directory-results", DirectoryResults)
        assert [r["name"] for r in table.rows_data] == ["Antonín Dvořák"]
        assert screen.query_one("#directory-detail", DirectoryDetail).person["id"] == "oslo:p3"
        # keep typing: the rows follow
        await pilot.press("backspace", "backspace", "backspace", *"Øyvind")  # real key presses
        await wait_for(pilot, lambda: screen.rendered_query == "Øyvind")
        assert searches(client)[-1] == "Øyvind"
        assert [r["id"] for r in table.rows_data] == ["bergen:b1", "oslo:p1"]  # Berg before Hansen
        # letters in the search box are text, not keys: nothing was transferred
        assert not [c for c, _ in client.sent if c == "call.transfer"]
        # down to the results (first row), down again to Øyvind Hansen; t = desk, m = mobile (blind, my call)
        await pilot.press("down", "down")
        assert screen.current["id"] == "oslo:p1"
        await pilot.press("t")
        await wait_for(pilot, lambda: any(c == "call.transfer" for c, _ in client.sent))
        await pilot.press("m")
        await wait_for(pilot, lambda: len([c for c, _ in client.sent if c == "call.transfer"]) == 2)
        transfers = [a for c, a in client.sent if c == "call.transfer"]
        assert transfers == [{"target": "1001", "mode": "blind", "call_id": "c9"},
                             {"target": "+4790011001", "mode": "blind", "call_id": "c9"}]
        # s = the substitute: while Øyvind is in, his listed substitute (Kari, from the details)
        await pilot.press("enter")  # details
        await wait_for(pilot, lambda: "oslo:p1" in screen._details)
        detail = screen.query_one("#directory-detail", DirectoryDetail)
        assert detail.person["substitutes"][0]["name"] == "Kari Nordmann"
        await pilot.press("s")
        await wait_for(pilot, lambda: len([c for c, _ in client.sent if c == "call.transfer"]) == 3)
        assert [a for c, a in client.sent if c == "call.transfer"][-1]["target"] == "+4722244590"
        # / back to the search box, esc leaves the screen
        await pilot.press("slash")
        assert app.focused.id == "directory-search"


async def test_absent_person_shows_why_until_and_cover_and_s_transfers_to_cover(service):
    now = time.time()
    service.add_absence("t", "oslo:p3", "vacation", now - 3600, now + 5 * 86400, substitute="p5")
    client = DirClient(service)
    app = CCConsoleApp(client=client, keymap={})
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_directory(app, pilot)
        await pilot.press(*"dvorak", "enter")
        await wait_for(pilot, lambda: screen.rendered_query == "dvorak")
        await pilot.press("enter") if app.focused.id == "directory-search" else None
        row = screen.current
        assert row["status"] == "absent" and row["absence"]["type"] == "vacation"
        table = screen.query_one("#directory-results", DirectoryResults)
        cells = [str(c) for c in table.get_row("oslo:p3")]
        assert cells[4].startswith("vacation until") and cells[5] == "Ola Nordmann"
        await pilot.press("S")  # S: announced, to the substitute
        await wait_for(pilot, lambda: any(c == "call.transfer" for c, _ in client.sent))
        assert [a for c, a in client.sent if c == "call.transfer"] == [
            {"target": "1005", "mode": "announced", "call_id": "c9"}]


async def test_message_and_help(service):
    client = DirClient(service)
    app = CCConsoleApp(client=client, keymap={})
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_directory(app, pilot)
        await pilot.press(*"kari", "down", "e")
        await wait_for(pilot, lambda: isinstance(app.screen, MessageScreen))
        await pilot.press(*"Call Per", "enter")
        await wait_for(pilot, lambda: any(c == "directory.message" for c, _ in client.sent))
        assert ("directory.message", {"person_id": "oslo:p2", "text": "Call Per"}) in client.sent
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        await pilot.press("escape")  # back to the agent screen
        await wait_for(pilot, lambda: app.screen is not screen)


def test_dial_target():
    assert dial_target("+47 22 24 45 90") == "+4722244590"
    assert dial_target("1001") == "1001"
    assert dial_target("(0)22-24") == "02224"
    assert dial_target("") == ""


async def test_against_the_real_server(server, connect):
    load_sample(server.directory)
    client = await connect("agent1")
    sent: list[tuple[str, dict[str, Any]]] = []
    real_call = client.call

    async def recording_call(cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0):
        sent.append((cmd, dict(args or {})))
        return await real_call(cmd, args, timeout)

    client.call = recording_call  # type: ignore[method-assign]
    app = CCConsoleApp(client=client, keymap={})
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: bool(client.state.me))
        screen = await open_directory(app, pilot)
        for ch in "ijssel":
            await pilot.press(ch)
        await wait_for(pilot, lambda: screen.rendered_query == "ijssel")
        table = screen.query_one("#directory-results", DirectoryResults)
        assert [r["name"] for r in table.rows_data] == ["Anneke IJsselmeer"]
        await pilot.press("down", "t")
        await wait_for(pilot, lambda: any(c == "call.transfer" for c, _ in sent))
        assert [a for c, a in sent if c == "call.transfer"] == [{"target": "1009", "mode": "blind"}]
