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
