"""The voicemail inbox: a message left in Asterisk (from an IVR node, a closed queue, a queue's
voicemail key) is moved off the PBX like a recording, its duration added to its work item (the
callbacks list: caller, queue, state; claimed, called back and marked done there), and served to
the consoles' player at GET /api/voicemails/{id}/audio (Range; the same bearer token as every
route). An optional e-mail notice goes out per message. docs/voicemail.md.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import smtplib
import time
import wave
from dataclasses import dataclass
from email.message import EmailMessage
from io import BytesIO
from pathlib import Path
from typing import Any

from aiohttp import web

from cc_console.errors import NotFound
from cc_console.protocol import P_AGENT, Arg, CommandSpec, Event, ProtocolError, Request
from cc_console.server.capability import CallHooks, Capability, Context, Handler

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("voicemail.list", P_AGENT, {"state": Arg(str, False)},
                "Voicemails (open by default, or all): caller, queue, when, duration, whether the audio is here."),
)
EVENTS = ()


@dataclass
class VoicemailSettings:
    """[voicemail] in config.toml."""

    folder: str = ""  # empty: a "voicemail" folder beside the database
    fetch_timeout: float = 30.0  # seconds the PBX has to hand a finished message over
    # An e-mail notice per message (empty: none); sent through the SMTP server below.
    notify_to: str = ""
    notify_from: str = "cc-console@localhost"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25


def wav_seconds(data: bytes) -> float:
    with wave.open(BytesIO(data)) as w:
        return w.getnframes() / float(w.getframerate() or 1)


class Voicemail(Capability, CallHooks):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.s = ctx.settings.section("voicemail", VoicemailSettings)
        db = str(ctx.settings.server.db_file)
        base = Path(db).parent if db != ":memory:" else Path(os.environ.get("TMPDIR", "/tmp"))
        self.folder = Path(self.s.folder) if self.s.folder else base / "voicemail"
        self.engine = ctx.engine
        ctx.add_hooks(self)

    # -- following calls ---------------------------------------------------------------------------
    def call_ended(self, call: Any, kind: str) -> None:
        if kind == "call.voicemail":
            self.ctx.spawn(self._move_off_pbx(call.id), f"store voicemail of {call.id}")

    def _item(self, call_id: str) -> dict[str, Any] | None:
        return next((i for i in self.ctx.store.callbacks("all")
                     if i.get("call_id") == call_id and i.get("kind") == "voicemail"), None)

    async def _move_off_pbx(self, call_id: str) -> None:
        item = await asyncio.to_thread(self._item, call_id)
        if item is None:
            log.warning("voicemail of call %s: no work item", call_id)
            return
        name = item["recording"]
        data = await self._fetch(name)
        if data is None:
            log.warning("voicemail %s: the PBX did not hand the message over in time", name)
            return
        try:
            seconds = wav_seconds(data)
        except (wave.Error, EOFError):
            seconds = 0.0
        await asyncio.to_thread(self._write, item["id"], data)
        try:
            await self.engine.ari.request("DELETE", f"/recordings/stored/{name}")
        except Exception as exc:
            log.warning("voicemail %s stored here but not deleted in Asterisk: %s", name, exc)
        item = await asyncio.to_thread(self._item, call_id) or item  # an agent may have claimed it meanwhile
        item.update(duration=round(seconds, 2), audio=True)
        self.ctx.store.save_callback(item)
        self.ctx.publish(Event.CALLBACK, item, None)
        log.info("voicemail %s from %s stored (%.1f s)", item["id"], item.get("caller"), seconds)
        if self.s.notify_to:
            await asyncio.to_thread(self._notify, dict(item))

    async def _fetch(self, name: str) -> bytes | None:
        ari = self.engine.ari
        deadline = time.monotonic() + self.s.fetch_timeout
        while time.monotonic() < deadline:
            try:
                await ari.request("GET", f"/recordings/live/{name}")  # still recording or finishing
            except Exception as exc:
                if getattr(exc, "status", 0) == 404:
                    try:
                        data = await ari.stored_recording(name)
                        if len(data) > 44 and wav_seconds(data) > 0:
                            return data
                    except Exception as err:  # not there yet, or its header not final
                        log.debug("voicemail %s not ready: %s", name, err)
            await asyncio.sleep(0.2)
        return None

    def path(self, item_id: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{6,32}", item_id):
            raise NotFound("no such voicemail")
        return self.folder / f"{item_id}.wav"

    def _write(self, item_id: str, data: bytes) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(item_id)
        tmp = path.with_name(path.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)

    def _notify(self, item: dict[str, Any]) -> None:
        msg = EmailMessage()
        msg["From"], msg["To"] = self.s.notify_from, self.s.notify_to
        msg["Subject"] = f"Voicemail from {item.get('caller') or 'an unknown number'} ({item.get('queue')})"
        msg.set_content(f"A message of {item.get('duration', 0):.0f} seconds from {item.get('caller') or 'unknown'} "
                        f"is waiting in the {item.get('queue')} work list.")
        try:
            with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=10) as smtp:
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("voicemail notice for %s not sent: %s", item["id"], exc)

    # -- commands and the audio route ----------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        return {"voicemail.list": self._list}

    async def _list(self, caller: Any, r: Request) -> dict[str, Any]:
        state = r.args.get("state", "open")
        items = await asyncio.to_thread(self.ctx.store.callbacks, "all")
        return {"items": [i for i in items if i.get("kind") == "voicemail"
                          and (state == "all" or i.get("state") in (state, "taken"))]}

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/voicemails/{id}/audio", self._audio)

    async def _audio(self, request: web.Request) -> web.StreamResponse:
        try:
            p = self.ctx.principals.from_headers(request.headers, basic=True)
        except ProtocolError as exc:
            raise web.HTTPUnauthorized(text=exc.message) from None
        if P_AGENT not in p.permissions:
            raise web.HTTPForbidden(text="only agents and supervisors may listen to voicemails")
        try:
            path = self.path(request.match_info["id"])
            data = await asyncio.to_thread(path.read_bytes)
        except (NotFound, FileNotFoundError):
            raise web.HTTPNotFound(text="no such voicemail, or its audio is not here yet") from None
        size = len(data)
        headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/wav", "Cache-Control": "no-store"}
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", request.headers.get("Range", "").strip())
        if m is None:
            return web.Response(body=data, headers=headers)
        a, b = m.group(1), m.group(2)
        start, end = (max(0, size - int(b or 0)), size - 1) if a == "" else (int(a), min(int(b) if b else size - 1,
                                                                                        size - 1))
        if start >= size or start > end:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        return web.Response(status=206, body=data[start:end + 1], headers=headers)


def make(ctx: Context) -> Capability:
    return Voicemail(ctx)
