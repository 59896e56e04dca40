"""SVG snapshots of the console screens, fed from a fixed snapshot dict (no network, frozen clock).

Update the baselines with:  pytest tests/test_tui_snapshots.py --snapshot-update
"""
from __future__ import annotations

from typing import Any

import pytest

from cc_console.screens.demo import demo_client, demo_now, demo_snapshot
from cc_console.tui import CCConsoleApp


def app_for(mode: str, user: str = "agent1", role: str = "agent", *, live: bool = True,
            snapshot: dict[str, Any] | None = None, **kwargs: Any) -> CCConsoleApp:
    client = demo_client(snapshot or demo_snapshot(user, role), live=live)
    return CCConsoleApp(client=client, mode=mode, now=demo_now, keymap={}, **kwargs)


SIZES = {"80x24": (80, 24), "160x48": (160, 48), "200x60": (200, 60), "400x120": (400, 120)}


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path, monkeypatch) -> None:
    """Default alert thresholds and wallboard layout, whatever the user's config dir holds."""
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path))


@pytest.mark.parametrize("size", ["80x24", "160x48"])
def test_agent_ringing(snap_compare, size: str) -> None:
    assert snap_compare(app_for("agent"), terminal_size=SIZES[size])


async def test_the_agent_screen_starts_with_the_consoles_keys() -> None:
    """No side panel takes the focus on its own: its keys (esc, arrows, typing) would shadow the
    console's (the SMS panel's scroll once did, so esc left an SMS box instead of going back)."""
    app = app_for("agent")
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        focused = app.focused
        panels = {"sms", "emails", "chats", "script", "agent-extras"}
        assert focused is None or not ({w.id for w in focused.ancestors_with_self} & panels), focused


def test_agent_on_call_stale(snap_compare) -> None:
    snap = demo_snapshot("agent2")
    app = app_for("agent", snapshot=snap, live=False)
    assert snap_compare(app, terminal_size=(80, 24))


def _figures_in(*keys: str):
    """Press ``keys`` once the server's handled/missed figures (a worker) are in and shown."""
    async def run(pilot) -> None:
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        pilot.app.screen.flush()
        await pilot.press(*keys)
        await pilot.pause()
        pilot.app.screen.flush()
        await pilot.pause()
    return run


@pytest.mark.parametrize("size", ["80x24", "160x48", "200x60"])
def test_supervisor(snap_compare, size: str) -> None:
    assert snap_compare(app_for("supervisor", "sup1", "supervisor"), terminal_size=SIZES[size],
                        run_before=_figures_in())


def test_supervisor_filtered(snap_compare) -> None:
    assert snap_compare(app_for("supervisor", "sup1", "supervisor"), terminal_size=(80, 24),
                        run_before=_figures_in("slash", *"support"))


def test_supervisor_grouped_with_detail(snap_compare) -> None:
    assert snap_compare(app_for("supervisor", "sup1", "supervisor"), terminal_size=(120, 32),
                        run_before=_figures_in("g", "down", "down", "enter"))


@pytest.mark.parametrize("size", ["80x24", "160x48"])
def test_supervisor_grouped_by_team_with_detail(snap_compare, size: str) -> None:
    assert snap_compare(app_for("supervisor", "sup1", "supervisor"), terminal_size=SIZES[size],
                        run_before=_figures_in("g", "g", "down", "down", "down", "down", "enter"))


def test_supervisor_monitoring_and_alerts(snap_compare) -> None:
    snap = demo_snapshot("sup1", "supervisor")
    snap["monitors"] = [{"id": "m1", "supervisor": "sup1", "agent": "agent2", "call_id": "c2",
                         "mode": "listen", "state": "active"}]
    snap["agents"][3]["state_since"] -= 600  # paused 20:30: over the 15-minute default
    assert snap_compare(app_for("supervisor", "sup1", "supervisor", snapshot=snap), terminal_size=(80, 24),
                        run_before=_figures_in())


@pytest.mark.parametrize("size", ["80x24", "200x60", "400x120"])
def test_wallboard(snap_compare, size: str) -> None:
    assert snap_compare(app_for("wallboard", "wb", "wallboard"), terminal_size=SIZES[size])


@pytest.mark.parametrize("size", ["80x24", "200x60"])
def test_wallboard_stale(snap_compare, size: str) -> None:
    assert snap_compare(app_for("wallboard", "wb", "wallboard", live=False), terminal_size=SIZES[size])


def test_wallboard_high_contrast(snap_compare) -> None:
    app = app_for("wallboard", "wb", "wallboard", theme="cc-high-contrast")
    assert snap_compare(app, terminal_size=(80, 24))


def test_help_modal(snap_compare) -> None:
    assert snap_compare(app_for("agent"), terminal_size=(80, 24), press=["question_mark"])


def test_login_with_error(snap_compare) -> None:
    async def fail(pilot) -> None:
        pilot.app.screen.show_error("too many failed logins; try again in 300 s", "rate_limited")

    app = CCConsoleApp("ws://127.0.0.1:8765", keymap={}, now=demo_now, username="agent1",
                       remember=lambda *a: None)
    # username without password: the form shows, user prefilled.
    assert snap_compare(app, terminal_size=(80, 24), run_before=fail)


def test_supervisor_with_chat_figures(snap_compare) -> None:
    """The written channels' table under the queues (chat.stats, widgets/chat_figures.py)."""
    app = app_for("supervisor", "sup1", "supervisor")
    app.client.responses["chat.stats"] = {"queues": [
        {"channel": "chat", "queue": "support", "waiting": 2, "longest_wait": 95.0, "offered": 14,
         "handled": 10, "abandoned": 1, "overflowed": 0, "service_level": 81.8},
        {"channel": "chat", "queue": "sales", "waiting": 0, "longest_wait": 0.0, "offered": 0,
         "handled": 0, "abandoned": 0, "overflowed": 0, "service_level": None}], "agents": {}}
    assert snap_compare(app, terminal_size=(120, 36), run_before=_figures_in())
