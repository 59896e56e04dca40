"""The console-audio panel: which device plays and captures, level meters, mute, or why there is no audio.

Shown on the agent's (and supervisor's) screen when their device is ``Console``. The audio itself is
cc_console/audio.py's ConsoleAudio (no Textual); this panel starts it, shows its levels ten times a
second and restarts it on another device when the agent picks one.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Select, Static

from cc_console.audio import FLOOR_DB, NO_DEVICE, NoAudioDevice

log = logging.getLogger(__name__)

METER_WIDTH = 20
METER_FLOOR = -60.0  # dBFS shown as an empty meter; speech sits around -30..-10


def meter(db: float, width: int = METER_WIDTH) -> Text:
    """A level as a bar: green, yellow near the top, red at clipping."""
    filled = 0 if db <= METER_FLOOR else min(width, round((db - METER_FLOOR) / -METER_FLOOR * width))
    bar = Text()
    for i in range(width):
        on = i < filled
        style = "red" if i >= width - 2 else "yellow" if i >= width * 0.7 else "green"
        bar.append("█" if on else "·", style=style if on else "dim")
    return bar


class AudioPanel(Vertical):
    """Device choice and level meters of the console's audio.

    ``start(device)`` returns a started ConsoleAudio-like object (mic_db, speaker_db, muted, active,
    close()); ``devices()`` the device names to offer. Both may raise NoAudioDevice.
    """

    DEFAULT_CSS = """
    AudioPanel { height: auto; border: round $primary; padding: 0 1; }
    AudioPanel Select { width: 100%; }
    AudioPanel #audio-levels { height: auto; }
    """

    def __init__(self, start: Callable[[str], Awaitable[Any]], devices: Callable[[], list[str]], *,
                 id: str | None = None) -> None:  # noqa: A002 - Textual's name
        super().__init__(id=id)
        self.border_title = "Console audio"
        self._start = start
        self._devices = devices
        self.audio: Any = None
        self.problem = ""
        self.device = ""

    def compose(self) -> ComposeResult:
        yield Select[str]([], prompt="Audio device", allow_blank=True, id="audio-device")
        yield Static("", id="audio-levels")

    async def on_mount(self) -> None:
        self.set_interval(0.1, self.show_levels)
        await self._open("")

    async def _open(self, device: str) -> None:
        if self.audio is not None:
            await self.audio.close()
            self.audio = None
        select = self.query_one(Select)
        try:
            names = await asyncio.to_thread(self._devices)
            select.set_options([(n, n) for n in names])
            self.audio = await self._start(device)
            self.device = device or (names[0] if names else "")
            self.problem = ""
            if self.device in names:
                select.value = self.device
        except NoAudioDevice as exc:
            log.warning("console audio: %s", exc.detail or exc)
            self.problem = NO_DEVICE
        except Exception:
            log.exception("console audio did not start")
            self.problem = "Console audio could not connect: use a phone"
        select.display = not self.problem
        self.show_levels()

    async def on_select_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, str) and event.value != self.device:
            await self._open(event.value)

    def set_muted(self, muted: bool) -> None:
        if self.audio is not None:
            self.audio.set_muted(muted)
        self.show_levels()

    def show_levels(self) -> None:
        out = Text()
        a = self.audio
        if self.problem or a is None:
            out.append(self.problem or "Starting console audio…", style="bold red" if self.problem else "dim")
        else:
            mic = FLOOR_DB if a.muted else a.mic_db
            out.append("Mic      ")
            out.append_text(meter(mic))
            out.append("  muted" if a.muted else "", style="bold red")
            out.append("\nSpeaker  ")
            out.append_text(meter(a.speaker_db))
            out.append("\n" + ("In a call" if a.active else "No call audio"), style="dim")
        self.query_one("#audio-levels", Static).update(out)

    async def on_unmount(self) -> None:
        if self.audio is not None:
            await self.audio.close()


def console_audio_panel(client: Any) -> AudioPanel:
    """The panel for a connected ConsoleClient: audio over its server address with its session token."""
    from cc_console import audio

    async def start(device: str) -> audio.ConsoleAudio:
        link = audio.ConsoleAudio(client.url, client.token or "", device=device)
        await link.start()
        return link

    def devices() -> list[str]:
        found = audio.devices()
        return [d.name for d in found if d.inputs and d.outputs] or [d.name for d in found]
    return AudioPanel(start, devices, id="console-audio")
