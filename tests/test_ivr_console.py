"""The agent's call panel shows what the caller chose in the IVR (the call's tags)."""
from __future__ import annotations

from textual.app import App, ComposeResult

from cc_console.widgets.call_panel import CallPanel


class _Host(App):
    def compose(self) -> ComposeResult:
        yield CallPanel(id="call-panel")


def _text(panel: CallPanel) -> str:
    from rich.console import Console
    console = Console(width=80, record=True)
    console.print(panel.render())
    return console.export_text()


async def test_the_call_panel_shows_the_ivr_choices():
    app = _Host()
    async with app.run_test(size=(80, 20)) as pilot:
        panel = app.query_one(CallPanel)
        call = {"id": "c1", "caller": "0611", "queue": "support", "did": "5100", "state": "ringing",
                "tags": {"problem": "claims", "product": "car"}}
        panel.call = call
        await pilot.pause()
        text = _text(panel)
        assert "Chose" in text and "problem: claims, product: car" in text
        panel.call = {**call, "id": "c2", "tags": {}}
        await pilot.pause()
        assert "Chose" not in _text(panel)
