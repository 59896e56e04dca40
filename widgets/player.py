"""Recording playback: python-vlc fed over the server's authenticated HTTP stream.

`RecordingPlayer` (no Textual) plays ``GET /api/recordings/{id}/audio`` with
``Authorization: Bearer <session token>``: libvlc reads through media callbacks that fetch byte
ranges over HTTP, so the token is sent as a header, never put in a URL or a VLC log line, and
seeking is a Range request. Play, pause, seek, speed and the position; extra libvlc options send
the audio elsewhere than the sound card (tests: ``--aout=afile --audiofile-file=out.wav``).

`PlayerBar` is the Textual widget around it: the position, speed and the time-pinned notes.
"""
from __future__ import annotations

import ctypes
import threading
from typing import Any

import httpx

try:
    from textual.reactive import reactive
    from textual.widgets import Static
except ImportError:  # pragma: no cover - the player works without the UI
    Static = object  # type: ignore[assignment,misc]
    reactive = None  # type: ignore[assignment,misc]


class _HttpSource:
    """A seekable byte source over HTTP Range requests (read-ahead in 64 KiB chunks)."""

    CHUNK = 64 * 1024

    def __init__(self, url: str, token: str, timeout: float = 15.0) -> None:
        self.url = url
        self.http = httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=timeout)
        self.pos = 0
        self.size = 0
        self._buf = b""
        self._buf_at = 0
        self.error = ""

    def open(self) -> int:
        # The first chunk comes with the size: one request (and one audit row) to start listening.
        r = self.http.get(self.url, headers={"Range": f"bytes=0-{self.CHUNK - 1}"})
        if r.status_code not in (200, 206):
            self.error = f"{r.status_code}: {r.text.strip()}"
            return -1
        cr = r.headers.get("Content-Range", "")
        self.size = int(cr.rsplit("/", 1)[1]) if "/" in cr else len(r.content)
        self._buf, self._buf_at, self.pos = r.content, 0, 0
        return 0

    def read(self, n: int) -> bytes:
        if self.pos >= self.size:
            return b""
        off = self.pos - self._buf_at
        if not (0 <= off < len(self._buf)):
            end = min(self.size, self.pos + max(n, self.CHUNK)) - 1
            r = self.http.get(self.url, headers={"Range": f"bytes={self.pos}-{end}"})
            if r.status_code not in (200, 206):
                self.error = f"{r.status_code}"
                return b""
            self._buf, self._buf_at, off = r.content, self.pos, 0
        data = self._buf[off:off + n]
        self.pos += len(data)
        return data

    def close(self) -> None:
        self.http.close()


class RecordingPlayer:
    def __init__(self, base_url: str, token: str, recording_id: str, *, vlc_args: tuple[str, ...] = (),
                 kind: str = "recordings") -> None:
        import vlc
        self._vlc = vlc
        # kind "voicemails": a voicemail from the work list (the same stream, server/voicemail)
        self.url = f"{base_url.rstrip('/')}/api/{kind}/{recording_id}/audio"
        self.source = _HttpSource(self.url, token)
        self.instance = vlc.Instance("--no-video", "--quiet", "--intf=dummy", *vlc_args)
        self._lock = threading.Lock()
        self._cbs = self._callbacks()
        self.media = self.instance.media_new_callbacks(*self._cbs, None)
        self.player = self.instance.media_player_new()
        self.player.set_media(self.media)

    def _callbacks(self) -> tuple[Any, ...]:
        cb = self._vlc.CallbackDecorators
        src, lock = self.source, self._lock

        @cb.MediaOpenCb
        def on_open(opaque, datap, sizep):
            with lock:
                try:
                    rc = src.open()
                except Exception as exc:  # the server is unreachable: an error, never a hang
                    src.error, rc = str(exc), -1
            sizep[0] = src.size
            return rc

        @cb.MediaReadCb
        def on_read(opaque, buf, length):
            with lock:
                try:
                    data = src.read(length)
                except Exception as exc:
                    src.error = str(exc)
                    return -1
            ctypes.memmove(buf, data, len(data))
            return len(data)

        @cb.MediaSeekCb
        def on_seek(opaque, offset):
            with lock:
                src.pos = min(int(offset), src.size)
            return 0

        @cb.MediaCloseCb
        def on_close(opaque):
            return None

        return on_open, on_read, on_seek, on_close

    # -- controls ------------------------------------------------------------------------------------
    def play(self) -> None:
        self.player.play()

    def pause(self) -> None:
        self.player.set_pause(1)

    def resume(self) -> None:
        self.player.set_pause(0)

    def toggle(self) -> None:
        self.player.pause()

    def seek(self, seconds: float) -> None:
        self.player.set_time(int(max(0.0, seconds) * 1000))

    def skip(self, delta: float) -> None:
        self.seek(self.position + delta)

    def set_speed(self, rate: float) -> None:
        self.player.set_rate(float(rate))

    @property
    def speed(self) -> float:
        return float(self.player.get_rate())

    @property
    def position(self) -> float:
        return max(0, self.player.get_time()) / 1000.0

    @property
    def length(self) -> float:
        return max(0, self.player.get_length()) / 1000.0

    @property
    def playing(self) -> bool:
        return bool(self.player.is_playing())

    @property
    def ended(self) -> bool:
        return self.player.get_state() in (self._vlc.State.Ended, self._vlc.State.Error, self._vlc.State.Stopped)

    def close(self) -> None:
        self.player.stop()
        self.player.release()
        self.media.release()
        self.instance.release()
        self.source.close()


def fmt_time(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 60:d}:{s % 60:02d}"


class PlayerBar(Static):
    """The position, the length, the speed and the state of a `RecordingPlayer`; refreshed 4× a second."""

    DEFAULT_CSS = "PlayerBar { height: 1; padding: 0 1; }"

    def __init__(self, **kw: Any) -> None:
        super().__init__("no recording loaded", **kw)
        self.player: RecordingPlayer | None = None
        self.error = ""

    def on_mount(self) -> None:
        self.set_interval(0.25, self.refresh_position)

    def load(self, player: RecordingPlayer | None) -> None:
        if self.player is not None:
            self.player.close()
        self.player = player
        self.refresh_position()

    def refresh_position(self) -> None:
        p = self.player
        if self.error:
            self.update(f"[b red]{self.error}[/]")
        elif p is None:
            self.update("no recording loaded")
        else:
            state = "▶" if p.playing else "⏸"
            self.update(f"{state} {fmt_time(p.position)} / {fmt_time(p.length)}   ×{p.speed:.2g}")

    def on_unmount(self) -> None:
        if self.player is not None:
            self.player.close()
            self.player = None
