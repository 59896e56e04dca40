"""The agent console and the CRM page (`crm.open`): over SSH the URL is shown and copied, on a
desktop the browser opens it."""
from __future__ import annotations

import pytest

from cc_console.screens.agent_demo import AgentDemoClient
from cc_console.screens.demo import demo_now
from cc_console.tui import CCConsoleApp
from cc_console.widgets.crm_page import how_to_open

URL = "https://crm.example/kcc/contact?callerid=%2B420601000007&userid=anna.k"


@pytest.fixture(autouse=True)
def _local_dirs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CC_CONSOLE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path / "config"))


def test_ssh_copies_a_desktop_opens():
    assert how_to_open({"SSH_CONNECTION": "1.2.3.4 5 6.7.8.9 22", "DISPLAY": ":0"}) == "copy"
    assert how_to_open({"DISPLAY": ":0"}) == "browser"
    assert how_to_open({"WAYLAND_DISPLAY": "wayland-0"}) == "browser"
    assert how_to_open({}) == "copy"


@pytest.mark.parametrize("env, opened", [({"SSH_CONNECTION": "a b c d"}, False), ({"DISPLAY": ":0"}, True)])
async def test_crm_open_over_ssh_copies_and_on_a_desktop_opens(monkeypatch, env, opened):
    for k in ("SSH_CONNECTION", "SSH_TTY", "DISPLAY", "WAYLAND_DISPLAY"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    browsed: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: browsed.append(url))  # no real browser in a test
    client = AgentDemoClient()
    app = CCConsoleApp(client=client, mode="agent", now=demo_now, keymap={})
    copied: list[str] = []
    app.copy_to_clipboard = copied.append  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        client._emit("crm.open", {"call_id": "c1", "url": URL})
        await pilot.pause()
        for _ in range(50):
            if browsed or copied:
                break
            await pilot.pause(0.02)
        toasts = [n.message for n in app._notifications]
        assert URL in toasts
        assert (browsed == [URL]) is opened and (copied == [URL]) is (not opened)


@pytest.mark.parametrize("args", [["admin", "deliveries"], ["admin", "deliveries", "list"],
                                  ["admin", "deliveries", "dead"], ["admin", "deliveries", "show"],
                                  ["admin", "deliveries", "replay"], ["admin", "webhooks"],
                                  ["admin", "webhooks", "add"], ["admin", "webhooks", "list"],
                                  ["admin", "webhooks", "remove"]])
def test_every_crm_admin_command_has_help(args):
    from typer.testing import CliRunner

    from cc_console.cli import app
    r = CliRunner().invoke(app, [*args, "--help"])
    assert r.exit_code == 0 and "Usage" in r.output, r.output


async def test_a_level_2_case_is_shown_while_it_rings_once():
    client = AgentDemoClient()
    app = CCConsoleApp(client=client, mode="agent", now=demo_now, keymap={})
    case = {"id": "k1", "call_id": "c1", "caller": "+420601000007", "level": 2, "state": "open",
            "subject": "Invoice question", "notes": "Asked about May", "contact": {"first_name": "Ada",
                                                                                   "last_name": "Lovelace"}}
    async with app.run_test(size=(120, 36)) as pilot:
        await pilot.pause()
        client._emit("case.update", {"case": {**case, "level": 1}})  # level 1's own case: no toast
        client._emit("case.update", {"case": case})
        client._emit("case.update", {"case": case})  # the same case again: shown once
        for _ in range(50):
            if app._notifications:
                break
            await pilot.pause(0.02)
        await pilot.pause()
        toasts = [n.message for n in app._notifications]
        assert toasts == ["Ada Lovelace (+420601000007)\nInvoice question\nAsked about May"]
