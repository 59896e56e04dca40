"""A real Kannel for the SMS tests: bearerbox and smsbox (Debian's kannel package) as the test's own
processes, their config in a tmp folder, every port free and on 127.0.0.1; and a fake SMSC on the
far side of bearerbox's ``smsc = fake`` link.

The fake SMSC speaks Kannel's fakesmsc line protocol (Kannel's test/fakesmsc.c, which Debian does not
package): bearerbox listens, the fake connects, and each SMS is one line ``sender receiver type body``.
Lines from bearerbox (what our server sent): ``text <raw>``, ``data <url-encoded>``, ``ucs-2
<url-encoded>``, each optionally preceded by ``udh <url-encoded UDH>`` for one part of a concatenated
message. Lines to bearerbox (a customer writing): ``text``, ``ucs2`` (url-encoded UTF-16BE),
``udh-text``/``udh-data`` (url-encoded UDH, then the part). To use Kannel's own fakesmsc instead,
build Kannel's source tree and run, e.g.:
``test/fakesmsc -H 127.0.0.1 -r <smsc port> -i 0.1 -m 1 "+420777123456 1234 text Dobry den"``.
"""
from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, quote_from_bytes, unquote_to_bytes

from tests.dovecot import free_port

BEARERBOX, SMSBOX = "/usr/sbin/bearerbox", "/usr/sbin/smsbox"


@dataclass
class Part:
    sender: str
    receiver: str
    kind: str  # text, data, ucs-2
    data: bytes
    udh: bytes = b""


@dataclass
class Received:
    """One message as the handset would show it: its parts joined by their concatenation header."""

    sender: str
    receiver: str
    parts: list[Part] = field(default_factory=list)

    @property
    def data(self) -> bytes:
        return b"".join(p.data for p in self.parts)


def concat_info(udh: bytes) -> tuple[int, int, int] | None:
    """(reference, total, number) from a UDH's concatenation element (8- or 16-bit reference)."""
    i = 1
    while i + 1 < len(udh):
        iei, n = udh[i], udh[i + 1]
        v = udh[i + 2:i + 2 + n]
        if iei == 0x00 and n == 3:
            return v[0], v[1], v[2]
        if iei == 0x08 and n == 4:
            return v[0] << 8 | v[1], v[2], v[3]
        i += 2 + n
    return None


def _unquote(s: str) -> bytes:
    """Kannel's url-encoding: %XX, and + for a space byte (a + byte is %2B)."""
    return unquote_to_bytes(s.replace("+", " "))


class FakeSmsc:
    """The operator's side of bearerbox's fake link: records what is sent, sends what customers write."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.parts: list[Part] = []
        self.messages: list[Received] = []
        self._partial: dict[tuple[str, int], dict[int, Part]] = {}
        self._new = asyncio.Event()

    async def connect(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"bearerbox's fake SMSC port {self.port} never listened") from None
                await asyncio.sleep(0.05)
        self._task = asyncio.create_task(self._read())

    async def close(self) -> None:
        self.writer.close()
        self._task.cancel()
        try:
            await self._task
        except (asyncio.CancelledError, ConnectionError):
            pass

    async def _read(self) -> None:
        while line := await self.reader.readline():
            self._take(line.rstrip(b"\r\n").decode("latin-1"))

    def _take(self, line: str) -> None:
        sender, receiver, rest = line.split(" ", 2)
        udh = b""
        if rest.startswith("udh "):
            _, enc, rest = rest.split(" ", 2)
            udh = _unquote(enc)
        kind, _, body = rest.partition(" ")
        data = body.encode("latin-1") if kind == "text" else _unquote(body)
        part = Part(sender, receiver, kind, data, udh)
        self.parts.append(part)
        info = concat_info(udh) if udh else None
        if info is None:
            self.messages.append(Received(sender, receiver, [part]))
        else:
            ref, total, n = info
            got = self._partial.setdefault((receiver, ref), {})
            got[n] = part
            if len(got) == total:
                del self._partial[(receiver, ref)]
                self.messages.append(Received(sender, receiver, [got[i] for i in sorted(got)]))
        self._new.set()

    async def expect(self, count: int = 1, timeout: float = 20.0) -> list[Received]:
        """Wait until ``count`` whole messages have come."""
        async def wait() -> None:
            while len(self.messages) < count:
                self._new.clear()
                await self._new.wait()
        try:
            await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise AssertionError(f"the SMSC got {len(self.messages)} of {count} messages "
                                 f"({len(self.parts)} parts)") from None
        return self.messages[:count]

    async def deliver(self, sender: str, receiver: str, text: str, *, ucs2: bool = False,
                      split: int = 0, ref: int = 7) -> None:
        """A customer's SMS reaches the SMSC: one line, or ``split`` parts with a concatenation UDH
        (GSM text only: the line protocol has no UCS-2 part with a UDH)."""
        if split:
            step = -(-len(text) // split)
            chunks = [text[i:i + step] for i in range(0, len(text), step)]
            for n, chunk in enumerate(chunks, 1):
                udh = bytes([5, 0, 3, ref, len(chunks), n])
                self.writer.write(f"{sender} {receiver} udh-text {quote_from_bytes(udh)} {chunk}\n".encode())
        elif ucs2:
            self.writer.write(f"{sender} {receiver} ucs2 {quote_from_bytes(text.encode('utf-16-be'))}\n".encode())
        else:
            self.writer.write(f"{sender} {receiver} text {text}\n".encode())
        await self.writer.drain()


class Kannel:
    """bearerbox + smsbox with a config of our own; ``get_url`` is where smsbox brings inbound SMS."""

    def __init__(self, username: str = "cc-console", password: str = "kannel-send-secret") -> None:
        for exe in (BEARERBOX, SMSBOX):
            if not Path(exe).exists():
                raise RuntimeError("Kannel is not installed: install the Debian package kannel "
                                   "(scripts/debian-packages.d/sms.txt; ./scripts/setup does it)")
        self.root = Path(tempfile.mkdtemp(prefix="cc-kannel-"))
        self.username, self.password = username, password
        self.admin_port, self.box_port, self.smsc_port, self.sendsms_port = (free_port() for _ in range(4))
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    def start(self, get_url: str) -> None:
        r = self.root
        (r / "kannel.conf").write_text(f"""
group = core
admin-port = {self.admin_port}
admin-password = "{quote(self.password)}-admin"
smsbox-port = {self.box_port}
box-allow-ip = "127.0.0.1"
log-file = "{r}/bearerbox.log"
log-level = 1
access-log = "{r}/access.log"
dlr-storage = internal
sms-combine-concatenated-mo = true

group = smsc
smsc = fake
smsc-id = fake
port = {self.smsc_port}
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{r}/smsbox.log"
log-level = 1
mo-recode = true
http-request-retry = 3
http-queue-delay = 1

group = sendsms-user
username = "{self.username}"
password = "{self.password}"
concatenation = true
max-messages = 10

group = sms-service
keyword = default
catch-all = true
get-url = "{get_url}"
max-messages = 0
omit-empty = true
""")
        for exe in (BEARERBOX, SMSBOX):
            self.procs.append(subprocess.Popen([exe, str(r / "kannel.conf")], cwd=r,
                                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            if exe == BEARERBOX:
                self._wait_port(self.box_port, "bearerbox")
        self._wait_port(self.sendsms_port, "smsbox")

    def _wait_port(self, port: int, who: str) -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{who} stopped at start: {self.log()}")
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"{who} did not listen on {port}: {self.log()}")

    def log(self) -> str:
        return "".join((self.root / f).read_text(errors="replace")[-3000:]
                       for f in ("bearerbox.log", "smsbox.log") if (self.root / f).exists())

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        shutil.rmtree(self.root, ignore_errors=True)
