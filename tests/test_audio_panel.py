"""The console-audio panel: device choice and level meters, or plainly no audio device."""
from __future__ import annotations

from textual.app import App, ComposeResult

from cc_console.audio import NoAudioDevice
from cc_console.widgets.audio import AudioPanel, meter


class FakeAudio:
    mic_db = -20.0
    speaker_db = -35.0
    muted = False
    active = True

    def set_muted(self, muted: bool) -> None:
        self.muted = muted

    async def close(self) -> None:
        pass


class PanelApp(App):
    def __init__(self, working: bool = True, muted: bool = False) -> None:
        super().__init__()
        self.working, self.muted = working, muted

    def compose(self) -> ComposeResult:
        async def start(device: str) -> FakeAudio:
            if not self.working:
                raise NoAudioDevice("PortAudio lists no device with input")
            a = FakeAudio()
            a.muted = self.muted
            return a

        def devices() -> list[str]:
            return ["pulse", "default"] if self.working else []
        yield AudioPanel(start, devices, id="audio")


async def _settle(pilot) -> None:
    await pilot.pause()
    await pilot.pause(0.2)


def test_audio_panel_levels(snap_compare) -> None:
    assert snap_compare(PanelApp(), terminal_size=(60, 10), run_before=_settle)


def test_audio_panel_muted(snap_compare) -> None:
    assert snap_compare(PanelApp(muted=True), terminal_size=(60, 10), run_before=_settle)


def test_audio_panel_no_device(snap_compare) -> None:
    assert snap_compare(PanelApp(working=False), terminal_size=(60, 10), run_before=_settle)


async def test_no_device_is_said_plainly() -> None:
    app = PanelApp(working=False)
    async with app.run_test() as pilot:
        await _settle(pilot)
        panel = app.query_one(AudioPanel)
        assert panel.problem == "No audio device: use a phone"
        assert panel.audio is None


def test_meter_fills_with_level() -> None:
    assert meter(-90).plain == "·" * 20
    assert meter(0).plain == "█" * 20
    assert meter(-30).plain.count("█") == 10
