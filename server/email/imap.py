"""Reading the mailbox over IMAP with IDLE (aioimaplib: an asyncio IMAP client, so waiting for new
mail costs no thread). Every unseen message is handed to the service, then flagged \\Seen; the
service drops a Message-ID it already has, so a crash between the two reads a message once more,
never loses it."""
from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Awaitable, Callable

import aioimaplib

from .settings import EmailSettings

log = logging.getLogger(__name__)

Deliver = Callable[[bytes], Awaitable[object]]


class ImapError(Exception):
    pass


class MailboxReader:
    def __init__(self, s: EmailSettings, deliver: Deliver) -> None:
        self.s = s
        self.deliver = deliver
        self.connected = asyncio.Event()  # tests and the health view: the first IDLE is on
        self._imap: aioimaplib.IMAP4 | None = None
        self._failed: set[str] = set()  # UIDs whose handling failed: left unseen, not tried again in a loop

    def _client(self) -> aioimaplib.IMAP4:
        if self.s.imap_tls == "tls":
            ctx = ssl.create_default_context(cafile=self.s.imap_ca_file or None)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            return aioimaplib.IMAP4_SSL(self.s.imap_host, self.s.imap_port, timeout=30, ssl_context=ctx)
        if self.s.imap_tls == "none":
            return aioimaplib.IMAP4(self.s.imap_host, self.s.imap_port, timeout=30)
        raise ImapError(f"[email] imap_tls must be tls or none, not {self.s.imap_tls!r}")

    async def run(self) -> None:
        while True:
            try:
                await self._session()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped connection, a refused login: said once, tried again
                log.warning("email: mailbox %s@%s:%s: %s: %s; retrying in %.1f s", self.s.imap_user,
                            self.s.imap_host, self.s.imap_port, type(exc).__name__, exc, self.s.reconnect)
            finally:
                self.connected.clear()
                await self._close()
            await asyncio.sleep(self.s.reconnect)

    async def _close(self) -> None:
        imap, self._imap = self._imap, None
        if imap is not None:
            try:
                await asyncio.wait_for(imap.logout(), 2)
            except Exception:
                pass

    async def _session(self) -> None:
        imap = self._imap = self._client()
        await imap.wait_hello_from_server()
        r = await imap.login(self.s.imap_user, self.s.imap_password)
        if r.result != "OK":
            raise ImapError("the mailbox refused the login")
        r = await imap.select(self.s.mailbox)
        if r.result != "OK":
            raise ImapError(f"no mailbox {self.s.mailbox!r}")
        while True:
            await self._fetch_new(imap)
            idle = await imap.idle_start(timeout=self.s.idle_renew)
            self.connected.set()
            # EXISTS (new mail) or the renewal time ends the wait; either way: IDLE done, look again
            await imap.wait_server_push(timeout=self.s.idle_renew + 30)
            imap.idle_done()
            async with asyncio.timeout(30):  # not wait_for: it can swallow a stop (server/waits.py)
                await idle

    async def _fetch_new(self, imap: aioimaplib.IMAP4) -> None:
        r = await imap.uid_search("UNSEEN")
        if r.result != "OK":
            raise ImapError("searching the mailbox failed")
        uids = [u for line in r.lines[:1] for u in bytes(line).decode().split() if u.isdigit()]
        for uid in uids:
            if uid in self._failed:
                continue
            got = await imap.uid("fetch", uid, "(BODY.PEEK[])")
            raw = next((bytes(x) for x in got.lines if isinstance(x, bytearray)), None)
            if got.result != "OK" or raw is None:
                log.warning("email: message uid %s could not be read; left unseen", uid)
                continue
            try:
                await self.deliver(raw)
            except Exception:
                # one message we cannot take must not stop the mailbox: it stays unseen for a person
                # to look at (or for the next start), and the others go on
                log.exception("email: message uid %s could not be taken; left unseen in the mailbox", uid)
                self._failed.add(uid)
                continue
            await imap.uid("store", uid, "+FLAGS", "(\\Seen)")
