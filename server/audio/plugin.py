"""Console audio as a capability: the device ``Console`` (the console is the phone) and its relay.

No commands of its own: a person chooses console audio by their device setting (``Console``), and
every call command (answer, hold, transfer, consultation, conference, listen/whisper/barge) works on
the leg as on a phone's. docs/audio.md.
"""
from __future__ import annotations

from typing import Any

from aiohttp import web

from cc_console import audio_frames as wire
from cc_console.protocol import CommandSpec
from cc_console.server.audio.relay import DEVICE, AudioRelay, AudioSettings
from cc_console.server.capability import Capability, Context

COMMANDS: tuple[CommandSpec, ...] = ()
EVENTS: tuple[str, ...] = ()


class ConsoleAudio(Capability):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.relay = AudioRelay(ctx.engine.ari, ctx.settings.section("audio", AudioSettings))
        ctx.engine.dialers[DEVICE] = self.relay.dial

    def add_routes(self, app: web.Application) -> None:
        async def audio_ws(request: web.Request) -> Any:
            return await self.relay.handle(request, self.ctx.principals)
        app.router.add_get(wire.PATH, audio_ws)

    async def stop(self) -> None:
        await self.relay.stop()


def make(ctx: Context) -> Capability:
    return ConsoleAudio(ctx)
