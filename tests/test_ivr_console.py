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


async def test_a_voicemail_is_played_from_the_work_list(server, connect, tmp_path):
    """p on a voicemail in the agent's work list plays it (python-vlc over the server's stream)."""
    import time

    import pytest
    pytest.importorskip("vlc")
    from cc_console.screens.agent_callbacks import CallbacksScreen
    from cc_console.server.pbx.phones import tone_level
    from cc_console.server.pbx.sandbox import write_tone_wav

    vm = server.capabilities["voicemail"]
    vm.folder = tmp_path / "voicemail"
    src = tmp_path / "msg.wav"
    write_tone_wav(src, 900, 2.0)
    item = {"id": "ab12cd34ef56", "kind": "voicemail", "caller": "0612345678", "queue": "support",
            "tenant": "default", "call_id": "c1", "requested": time.time(), "enqueued": time.time(),
            "state": "open", "agent": None, "recording": "vm-c1", "duration": 2.0, "audio": True}
    vm._write(item["id"], src.read_bytes())
    server.store.save_callback(item)
    server.store.save_callback({**item, "id": "cb0000000001", "kind": "callback", "audio": False,
                                "caller": "0611111111"})
    agent = await connect("agent1")
    out = tmp_path / "out.wav"
    screen = CallbacksScreen(agent, vlc_args=("--aout=afile", f"--audiofile-file={out}", "--audiofile-format=s16",
                                              "--audiofile-channels=1"))

    class A(App):
        def on_mount(self) -> None:
            self.push_screen(screen)

    async with A().run_test() as pilot:
        async def until(pred, timeout=15.0):
            deadline = time.monotonic() + timeout
            while not pred():
                assert time.monotonic() < deadline
                await pilot.pause(0.05)
        await until(lambda: len(screen.items) == 2)
        table = screen.query_one("#callbacks")
        table.focus()
        table.move_cursor(row=table.get_row_index("cb0000000001"))
        await pilot.press("p")  # a callback request has nothing to listen to
        assert screen.player is None
        table.move_cursor(row=table.get_row_index(item["id"]))
        await pilot.pause()
        assert "message: 2 s" in str(screen.query_one("#callback-detail").render())
        await pilot.press("p")
        await until(lambda: screen.player is not None and screen.player.ended)
        await pilot.press("p")  # stops (and closes) the player
        assert screen.player is None
    assert tone_level(out, 900, start=0.3, duration=1.0) > 0.1
