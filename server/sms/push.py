"""Push subscriptions (the regional centre's news, tenders, courses): people subscribe to a topic,
on the web page or through an agent, by SMS or e-mail, each message at once or in a daily digest; an
event published on a topic goes to its subscribers; they leave by answering STOP to an SMS or by the
signed link in an e-mail; the log says what went to whom, with each SMS's delivery state from
Kannel's reports.

It lives in the SMS capability because it sends through the same gateway and a STOP arrives as an
inbound SMS (SmsService.inbound_hooks takes it before it could open a conversation).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlencode

from cc_console.server.mail import MailRefused, send_async
from cc_console.server.waits import woken

from .kannel import Inbound
from .service import SmsError, SmsService, normalise
from .settings import SmsSettings
from .store import SmsStore

log = logging.getLogger(__name__)

CHANNELS = ("sms", "email")
FREQUENCIES = ("immediate", "daily")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{2,63}$")
_NUMBER = re.compile(r"^\+?[0-9]{6,20}$")


class PushService:
    def __init__(self, settings: SmsSettings, store: SmsStore, sms: SmsService, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self.store = store
        self.sms = sms
        self.clock = clock
        self.mail = settings.mail()
        self._key = (settings.push_link_secret or settings.secret).encode()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stop = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None
        sms.inbound_hooks.append(self._stop_word)

    async def start(self) -> None:
        n = await self.store.run(self.store.interrupted)
        if n:
            log.warning("push: %d send(s) were interrupted by the last stop; see push.log (outcome interrupted)", n)
        self._loop = asyncio.create_task(self._digests(), name="sms-push-digests")

    async def stop(self) -> None:
        self._stop.set()
        if self._loop is not None:
            self._loop.cancel()
            try:
                await self._loop
            except asyncio.CancelledError:
                pass
        # a push still going is stopped, not waited for (a slow gateway would hold the stop for
        # minutes); what it had not logged is marked "interrupted" at the next start
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- subscribing --------------------------------------------------------------------------------------
    def check(self, topic: str, channel: str, address: str, frequency: str) -> str:
        """The address as we key it; SmsError (for the person who typed it) when something is wrong."""
        if topic not in self.s.push_topics:
            names = ", ".join(sorted(self.s.push_topics)) or "none are set up"
            raise SmsError("bad_request", f"There is no topic {topic!r} ({names}).")
        if channel not in CHANNELS:
            raise SmsError("bad_request", "Choose SMS or e-mail.")
        if frequency not in FREQUENCIES:
            raise SmsError("bad_request", "Choose immediate or a daily digest.")
        if channel == "sms":
            n = normalise(address)
            if not _NUMBER.match(n):
                raise SmsError("bad_request", "That is not a phone number.")
            return n
        a = address.strip().lower()
        if not _EMAIL.match(a):
            raise SmsError("bad_request", "That is not an e-mail address.")
        return a

    async def subscribe(self, topic: str, channel: str, address: str, frequency: str = "immediate", *,
                        by: str = "web") -> dict[str, Any]:
        """A subscription. From the web page (``by`` "web") it waits for the citizen's confirmation
        (double opt-in: nobody is sent messages on a stranger's word): an SMS asking for YES, or an
        e-mail with a signed confirmation link. An agent's (``by`` the agent) is confirmed: the
        agent asked the citizen."""
        addr = self.check(topic, channel, address, frequency)
        now = self.clock()
        row = {"id": uuid.uuid4().hex[:16], "topic": topic, "channel": channel, "address": addr,
               "frequency": frequency, "created": now, "by": by, "confirmed": None if by == "web" else now}
        sub = await self.store.run(self.store.subscribe, row)
        if sub["confirmed"] is None:
            await self._ask_confirmation(sub)
        return self.public(sub)

    async def _ask_confirmation(self, sub: dict[str, Any]) -> None:
        name = self.s.push_topics.get(sub["topic"], sub["topic"])
        try:
            if sub["channel"] == "sms":
                await self.sms.transmit(sub["address"], f"Reply YES to get our messages about {name}. "
                                        "Without an answer you get nothing.", kind="push")
            else:
                link = self.link(sub["id"], "confirm")
                mail = EmailMessage()
                mail["From"], mail["To"] = self.mail.sender, sub["address"]
                mail["Subject"] = f"Please confirm: {name}"
                mail["Auto-Submitted"] = "auto-generated"
                mail.set_content(f"Someone, we hope you, asked for our messages about {name} at this address.\n"
                                 f"To get them, confirm here: {link}\nWithout it you get nothing.\n")
                await send_async(self.mail, mail)
        except (SmsError, MailRefused) as exc:
            log.warning("push: the confirmation request was not sent: %s", exc)
            raise SmsError("unavailable", "The confirmation could not be sent just now; please try again.") from None

    async def confirm(self, *, sid: str = "", channel: str = "", address: str = "") -> list[dict[str, Any]]:
        rows = await self.store.run(lambda: self.store.confirm(self.clock(), sid=sid, channel=channel,
                                                                 address=address))
        return [self.public(r) for r in rows]

    async def unsubscribe(self, *, sid: str = "", channel: str = "", address: str = "", topic: str = "",
                          by: str) -> list[dict[str, Any]]:
        if not sid:
            address = normalise(address) if channel == "sms" else address.strip().lower()
        rows = await self.store.run(lambda: self.store.unsubscribe(self.clock(), by, sid=sid, channel=channel,
                                                                     address=address, topic=topic))
        return [self.public(r) for r in rows]

    def public(self, sub: dict[str, Any]) -> dict[str, Any]:
        keys = ("id", "topic", "channel", "address", "frequency", "created", "by", "ended", "ended_by")
        out: dict[str, Any] = {k: sub[k] for k in keys if k in sub}
        out["confirmed"] = sub.get("confirmed") is not None
        return out

    # -- the signed unsubscribe link -----------------------------------------------------------------------
    def sign(self, sid: str, purpose: str = "unsubscribe") -> str:
        return hmac.new(self._key, f"{purpose}:{sid}".encode(), hashlib.sha256).hexdigest()[:32]

    def link(self, sid: str, purpose: str = "unsubscribe") -> str:
        base = self.s.push_public_url.rstrip("/") or self.s.callback_url.rstrip("/")
        return f"{base}/push/{purpose}?{urlencode({'s': sid, 't': self.sign(sid, purpose)})}"

    def signed(self, sid: str, token: str, purpose: str = "unsubscribe") -> bool:
        return bool(self._key) and hmac.compare_digest(self.sign(sid, purpose), token)

    # -- STOP ---------------------------------------------------------------------------------------------
    async def _stop_word(self, sms: Inbound) -> bool:
        """"YES" (any of [sms] yes_words) confirms the number's waiting subscriptions. "STOP" (any of
        [sms] stop_words) ends every SMS subscription of the number; "STOP news" only that topic.
        Taken (no conversation) when the number had a subscription to act on."""
        words = sms.text.strip().split()
        first = words[0].upper().strip(".!") if words else ""
        if first in {w.upper() for w in self.s.yes_words}:
            confirmed = await self.confirm(channel="sms", address=sms.sender)
            if not confirmed:
                return False  # a customer's "yes" in a conversation
            names = ", ".join(self.s.push_topics.get(r["topic"], r["topic"]) for r in confirmed)
            try:
                await self.sms.transmit(sms.sender, f"You will get our messages about: {names}. "
                                        "Reply STOP to stop them.", kind="push")
            except SmsError:
                pass
            return True
        if first not in {w.upper() for w in self.s.stop_words}:
            return False
        topic = words[1].lower() if len(words) > 1 and words[1].lower() in self.s.push_topics else ""
        ended = await self.unsubscribe(channel="sms", address=sms.sender, topic=topic, by="stop")
        if not ended:
            had = await self.store.run(lambda: self.store.subscriptions(address=sms.sender, active=False))
            return bool(had)  # a second STOP is not a conversation either
        log.info("push: %d SMS subscription(s) ended by STOP", len(ended))
        names = ", ".join(self.s.push_topics.get(r["topic"], r["topic"]) for r in ended)
        try:
            await self.sms.transmit(sms.sender, f"You will get no more messages about: {names}.", kind="push")
        except SmsError:
            pass  # the subscription is over either way
        return True

    # -- publishing ---------------------------------------------------------------------------------------
    async def publish(self, topic: str, title: str, text: str, *, by: str) -> dict[str, Any]:
        """An event on a topic: sent now to the immediate subscribers (in the background), queued for
        the daily digest of the others. Returns the event with its number of recipients."""
        if topic not in self.s.push_topics:
            raise SmsError("bad_request", f"There is no topic {topic!r}.")
        if not text.strip():
            raise SmsError("bad_request", "Write the message first.")
        subs = await self.store.run(lambda: self.store.subscriptions(topic=topic))
        now = self.clock()
        event = {"id": uuid.uuid4().hex[:16], "topic": topic, "title": title.strip(), "text": text.strip(),
                 "at": now, "by": by}
        if any(s["channel"] == "sms" for s in subs if s["frequency"] == "immediate"):
            self.sms.check_text(self.sms_text(event))  # too long is said now, not a thousand times later
        rows = [{"event": event["id"], "subscription": s["id"], "channel": s["channel"], "address": s["address"],
                 "at": None, "message": "", "outcome": "sending" if s["frequency"] == "immediate" else "queued"}
                for s in subs]
        await self.store.run(self.store.add_event, event, rows)
        now_subs = [s for s in subs if s["frequency"] == "immediate"]
        task = asyncio.create_task(self._send_all(event, now_subs), name=f"push-{event['id']}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {**event, "recipients": len(subs), "now": len(now_subs), "digest": len(subs) - len(now_subs)}

    def sms_text(self, event: dict[str, Any]) -> str:
        head = f"{event['title']}: " if event["title"] else ""
        return f"{head}{event['text']}\n(STOP: reply STOP)"

    async def _send_all(self, event: dict[str, Any], subs: list[dict[str, Any]]) -> None:
        done: list[tuple[str, str, float, str, str]] = []

        async def one(s: dict[str, Any]) -> None:
            mid, outcome = "", "sent"
            try:
                if s["channel"] == "sms":
                    mid = (await self.sms.transmit(s["address"], self.sms_text(event), kind="push"))["id"]
                else:
                    await self._mail(s, event["title"] or self.s.push_topics[event["topic"]], event["text"])
            except (SmsError, MailRefused) as exc:
                outcome = "not sent"
                log.warning("push %s: not sent to a subscriber: %s", event["id"], exc)
            done.append((event["id"], s["id"], self.clock(), mid, outcome))
            if len(done) >= 200:  # the log is written as it goes, in batches
                batch = done[:]
                done.clear()
                await self.store.run(self.store.log_sent, batch)

        await asyncio.gather(*(one(s) for s in subs))
        if done:
            await self.store.run(self.store.log_sent, done)
        log.info("push %s: sent to %d subscriber(s)", event["id"], len(subs))

    async def _mail(self, sub: dict[str, Any], subject: str, body: str) -> None:
        link = self.link(sub["id"])
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.mail.sender, sub["address"], subject
        # RFC 8058 one-click unsubscribe: mail programs show an "unsubscribe" button that POSTs the link
        mail["List-Unsubscribe"] = f"<{link}>"
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail["Auto-Submitted"] = "auto-generated"
        mail.set_content(f"{body}\n\n--\nTo stop these messages: {link}\n")
        await send_async(self.mail, mail)

    # -- daily digests ------------------------------------------------------------------------------------
    async def send_digests(self) -> int:
        """One message per daily subscriber with every event queued for them; returns how many left."""
        rows = await self.store.run(self.store.queued_digests)
        by_sub: dict[str, list[dict[str, Any]]] = {}
        for r in rows:
            by_sub.setdefault(r["subscription"], []).append(r)
        done: list[tuple[str, str, float, str, str]] = []
        sent = 0
        for sid, items in by_sub.items():
            first = items[0]
            if first["ended"] is not None:
                done += [(r["event"], sid, self.clock(), "", "unsubscribed") for r in items]
                continue
            lines = [f"{r['title']}: {r['text']}" if r["title"] else r["text"] for r in items]
            mid, outcome = "", "sent"
            try:
                if first["channel"] == "sms":
                    mid = (await self.sms.transmit(first["address"], "\n".join(lines) + "\n(STOP: reply STOP)",
                                                   kind="push"))["id"]
                else:
                    topic = self.s.push_topics.get(first["topic"], first["topic"])
                    await self._mail({"id": sid, "address": first["address"]}, f"{topic}: today",
                                     "\n\n".join(lines))
                sent += 1
            except (SmsError, MailRefused) as exc:
                outcome = "not sent"
                log.warning("push digest: not sent to a subscriber: %s", exc)
            done += [(r["event"], sid, self.clock(), mid, outcome) for r in items]
        if done:
            await self.store.run(self.store.log_sent, done)
        return sent

    def next_digest(self, now: float) -> float:
        d = datetime.fromtimestamp(now)
        at = d.replace(hour=self.s.push_digest_hour % 24, minute=0, second=0, microsecond=0)
        if at <= d:
            at += timedelta(days=1)
        return at.timestamp()

    async def _digests(self) -> None:
        while True:
            wait = max(1.0, self.next_digest(self.clock()) - self.clock())
            if await woken(self._stop, wait):
                return
            try:
                await self.send_digests()
            except Exception:
                log.exception("push: the daily digests failed; tried again tomorrow")
