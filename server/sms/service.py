"""SMS conversations as written work items in the ACD: an SMS from a number with no open
conversation starts one, waiting in a queue and offered by decide_work (as chats and e-mails are:
capacity, presence, skills, the number's last agent first); an SMS from a number whose conversation
is open joins it. Agents answer in the conversation or write to a number from the contact card (that
opens a conversation held by them, so the answer comes back to them). Every message we send carries
a dlr-url; Kannel's delivery reports, one per part, give the message its state. The daily record
lists what was sent.

On the event loop, no I/O of its own: the store's work goes to its thread, HTTP is aiohttp's.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote

from cc_console.models import AgentState
from cc_console.server.acd.work_queue import WorkQueue

from . import gsm
from .kannel import GatewayRefused, Inbound, Kannel
from .settings import SmsSettings
from .store import SmsStore

log = logging.getLogger(__name__)

# Kannel's delivery report codes (%d): 1 delivered, 2 failed, 4 buffered, 8 taken by the SMSC, 16 rejected by it
DELIVERED, FAILED, BUFFERED, SUBMITTED, REJECTED = 1, 2, 4, 8, 16
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


class SmsError(Exception):
    """A refused operation; `message` is written for the agent who asked."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code  # not_found | conflict | bad_request | unavailable
        self.message = message


def normalise(number: str) -> str:
    """A phone number as we key conversations by it: digits with a leading + kept, no spaces."""
    n = re.sub(r"[\s\-/().]", "", number or "")
    if n.startswith("00"):
        n = "+" + n[2:]
    return n


def message_state(m: dict[str, Any], codes: list[int]) -> str:
    """A message's state from its delivery reports. Kannel's bearerbox splits a long message itself
    and reports the message once for all its parts (delivered only when every part was), so one
    report stands for the whole message: failed or rejected, delivered, else the furthest step."""
    if FAILED in codes or REJECTED in codes:
        return "failed"
    if DELIVERED in codes:
        return "delivered"
    if BUFFERED in codes:
        return "buffered"
    if SUBMITTED in codes or DELIVERED in codes:
        return "submitted"
    return str(m["status"])


@dataclass
class Conversation:
    id: str
    number: str
    queue: str
    created: float
    state: str = "queued"  # queued, offered, active, closed
    agent: str | None = None
    agents: list[str] = field(default_factory=list)
    enqueued: float | None = None
    accepted: float | None = None
    closed: float | None = None
    outcome: str = ""
    category: str = ""
    sticky: str | None = None
    target: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    ring: asyncio.TimerHandle | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "channel": "sms", "queue": self.queue, "number": self.number, "state": self.state,
                "agent": self.agent, "agents": list(self.agents), "created": self.created,
                "enqueued": self.enqueued, "accepted": self.accepted, "closed": self.closed,
                "outcome": self.outcome, "category": self.category}

    def row(self) -> dict[str, Any]:
        return self.public()

    def full(self) -> dict[str, Any]:
        return {**self.public(), "messages": self.messages}


class SmsService(WorkQueue):
    channel = "sms"
    live: dict[str, Conversation]

    def __init__(self, settings: SmsSettings, store: SmsStore, engine: Any,
                 publish: Callable[[str, dict[str, Any], Any], None], *, gateway: Kannel | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self.capacity = settings.capacity_rule()
        self.store = store
        self.engine = engine
        self.publish = publish
        self.clock = clock
        self._work_queue()
        self.gateway = gateway or Kannel(settings)
        self.inbound_hooks: list[Callable[[Inbound], Awaitable[bool]]] = []  # True: taken (a STOP)
        self.report_hooks: list[Callable[[dict[str, Any]], None]] = []  # a message's state changed
        self._sending = asyncio.Semaphore(max(1, settings.sends_at_once))

    async def start(self) -> None:
        for row in await self.store.run(self.store.open_conversations):
            c = Conversation(row["id"], row["number"], row["queue"], row["created"], state=row["state"],
                             agent=row["agent"], agents=list(row["agents"]), enqueued=row["enqueued"],
                             accepted=row["accepted"], closed=row["closed"], outcome=row["outcome"],
                             category=row["category"], messages=row["messages"])
            if c.state == "offered" or c.queue not in self.engine.cfg.queues:
                c.state, c.agent = "queued", None
                c.queue = c.queue if c.queue in self.engine.cfg.queues else self.s.queue
            self.live[c.id] = c
        self.want_route()

    async def stop(self) -> None:
        for c in self.live.values():
            if c.ring:
                c.ring.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.gateway.close()

    def open_of(self, number: str) -> Conversation | None:
        return next((c for c in self.live.values() if c.number == number), None)

    # -- from Kannel --------------------------------------------------------------------------------------
    async def receive(self, sms: Inbound) -> Conversation | None:
        """An SMS from smsbox's get-url: joins the number's open conversation or starts one. None: it
        was taken by a hook (a STOP for push subscriptions) or we had it already (a retried get-url)."""
        number = normalise(sms.sender)
        for hook in self.inbound_hooks:
            if await hook(Inbound(number, sms.receiver, sms.text, sms.kannel_id)):
                return None
        c = self.open_of(number)
        now = self.clock()
        new = c is None
        if c is None:
            if self.s.queue not in self.engine.cfg.queues:
                log.error("sms: [sms] queue %r does not exist; the SMS from a customer waits unrouted", self.s.queue)
            last = await self.store.run(self.store.conversations_of, [number], 1)
            c = Conversation(uuid.uuid4().hex[:12], number, self.s.queue, now, enqueued=now,
                             sticky=(last[0]["agents"] or [None])[-1] if last else None)
        msg: dict[str, Any] = {
            "id": uuid.uuid4().hex, "conversation": c.id, "at": now, "direction": "in", "number": number,
               "author": "", "text": sms.text, "coding": gsm.coding(sms.text), "parts": 1, "status": "received",
               "delivered": 0, "kind": "customer", "kannel_id": sms.kannel_id}
        if not await self.store.run(self.store.add_message, msg):
            return None
        if new:
            self.live[c.id] = c
            await self.store.run(self.store.save_conversation, c.row())
        c.messages.append(msg)
        if c.agent and c.state in ("offered", "active"):
            self.publish("sms.message", {"id": c.id, "message": msg}, c.agent)
        self._changed(c)
        return c

    async def report(self, mid: str, status: int, answer: str = "") -> dict[str, Any] | None:
        """A delivery report from Kannel's dlr-url for one part of our message ``mid``."""
        m = await self.store.run(self.store.report, mid, self.clock(), status, answer[:200], message_state)
        if m is None:
            return None
        c = self.live.get(m["conversation"])
        if c is not None:
            for x in c.messages:
                if x["id"] == mid:
                    x["status"], x["delivered"] = m["status"], m["delivered"]
            if c.agent:
                self.publish("sms.status", {"id": c.id, "message": mid, "status": m["status"]}, c.agent)
        for hook in self.report_hooks:
            hook(m)
        return m

    # -- sending ------------------------------------------------------------------------------------------
    def dlr_url(self, mid: str) -> str:
        base = self.s.callback_url.rstrip("/")
        return f"{base}/sms/kannel/dlr?key={quote(self.s.secret, safe='')}&id={mid}&status=%d&answer=%A"

    def check_text(self, text: str) -> tuple[int, int]:
        text = text.strip()
        if not text:
            raise SmsError("bad_request", "Write something first.")
        code = gsm.coding(text)
        n = gsm.parts(text, code)
        if n > self.s.max_parts:
            raise SmsError("bad_request", f"The message is too long: {n} SMS, at most {self.s.max_parts}.")
        return code, n

    async def transmit(self, number: str, text: str, *, conversation: str = "", author: str = "",
                       kind: str = "agent") -> dict[str, Any]:
        """Send one SMS through Kannel and record it (its state follows from the delivery reports)."""
        if not self.s.enabled:
            raise SmsError("unavailable", "SMS is not set up on this server; ask an administrator.")
        code, n = self.check_text(text)
        text = text.strip()
        msg: dict[str, Any] = {
            "id": uuid.uuid4().hex, "conversation": conversation, "at": self.clock(), "direction": "out",
               "number": number, "author": author, "text": text, "coding": code, "parts": n, "status": "sending",
               "delivered": 0, "kind": kind, "kannel_id": ""}
        # recorded before the request: a delivery report can beat Kannel's HTTP answer
        await self.store.run(self.store.add_message, msg)
        async with self._sending:
            try:
                await self.gateway.send(number, text, code, self.dlr_url(msg["id"]))
            except GatewayRefused as exc:
                log.warning("sms %s: not sent: %s", msg["id"], exc)
                msg["status"] = "not sent"
                await self.store.run(self.store.set_status, msg["id"], "not sent")
                raise SmsError("unavailable", "The SMS could not be sent just now; please try again.") from None
        fresh = await self.store.run(self.store.accepted, msg["id"])
        return fresh or msg

    async def send(self, user: str, *, cid: str = "", number: str = "", text: str = "", template: str = "",
                   supervise: bool = False) -> tuple[Conversation, dict[str, Any]]:
        """An agent writes: in a conversation (cid), or to a number from the contact card (which opens
        a conversation held by them, or uses the number's open one if it is theirs)."""
        if template:
            if template not in self.s.templates:
                names = ", ".join(sorted(self.s.templates)) or "none are set up"
                raise SmsError("bad_request", f"There is no SMS template {template!r} ({names}).")
            try:
                text = self.s.templates[template].format(agent=self._name(user)) + (
                    "\n" + text if text.strip() else "")
            except (KeyError, IndexError, ValueError):
                raise SmsError("bad_request",
                               f"The SMS template {template!r} is broken; ask an administrator.") from None
        self.check_text(text)
        if cid:
            c = self.get(cid)
            self._mine(c, user, supervise)
            if c.state != "active":
                raise SmsError("conflict", "Accept the conversation before you answer it.")
        else:
            n = normalise(number)
            if not _NUMBER.match(n):
                raise SmsError("bad_request", "That is not a phone number.")
            found = self.open_of(n)
            if found is not None:
                if found.agent == user and found.state == "offered":
                    raise SmsError("conflict", "This number's conversation is offered to you: accept it first.")
                if found.agent != user or found.state != "active":
                    raise SmsError("conflict", "This number has an open conversation with someone else; "
                                               "it must be closed or handed to you first.")
                c = found
            else:
                now = self.clock()
                c = Conversation(uuid.uuid4().hex[:12], n, self.s.queue, now, state="active", agent=user,
                                 agents=[user], accepted=now)
                self.live[c.id] = c
                await self.store.run(self.store.save_conversation, c.row())
        try:
            msg = await self.transmit(c.number, text, conversation=c.id, author=self._name(user))
        except SmsError:
            if not c.messages and not cid:  # nothing was said: the opened conversation goes again
                self.live.pop(c.id, None)
                c.state, c.closed, c.outcome = "closed", self.clock(), "not sent"
                self._save(c)
            raise
        c.messages.append(msg)
        self.publish("sms.message", {"id": c.id, "message": msg}, c.agent)
        if not cid:
            self._changed(c)
        return c, msg

    # -- agents -------------------------------------------------------------------------------------------
    def get(self, cid: str) -> Conversation:
        c = self.live.get(cid)
        if c is None:
            raise SmsError("not_found", "That conversation is no longer open.")
        return c

    def _mine(self, c: Conversation, user: str, supervise: bool) -> None:
        if user != c.agent and not supervise:
            raise SmsError("conflict", "This conversation is not yours.")

    def mine_list(self, user: str, supervise: bool) -> list[dict[str, Any]]:
        return [c.full() for c in self.live.values() if supervise or c.agent == user]

    def accept(self, user: str, cid: str) -> Conversation:
        c = self.get(cid)
        if c.state != "offered" or c.agent != user:
            raise SmsError("conflict", "No SMS is waiting for you to accept it.")
        if c.ring:
            c.ring.cancel()
            c.ring = None
        c.state = "active"
        c.accepted = c.accepted or self.clock()
        if user not in c.agents:
            c.agents.append(user)
        self._changed(c)
        return c

    def transfer(self, user: str, cid: str, *, agent: str = "", queue: str = "",
                 supervise: bool = False) -> Conversation:
        c = self.get(cid)
        self._mine(c, user, supervise)
        if bool(agent) == bool(queue):
            raise SmsError("bad_request", "Transfer to an agent or to a queue.")
        if agent:
            a = self.engine.agents.get(agent)
            if a is None:
                raise SmsError("not_found", "There is no such agent.")
            if a.state is AgentState.LOGGED_OUT or agent == c.agent:
                raise SmsError("conflict", f"{a.name or agent} cannot take the conversation now.")
            c.target = agent
        else:
            if queue not in self.engine.cfg.queues:
                raise SmsError("not_found", "There is no such queue.")
            c.queue, c.target = queue, None
        if c.ring:
            c.ring.cancel()
            c.ring = None
        old = c.agent
        c.state, c.agent, c.sticky = "queued", None, None
        c.enqueued = c.enqueued or self.clock()
        if old:
            self.publish("sms.update", c.public(), old)
        self._changed(c)
        return c

    def close(self, user: str, cid: str, category: str = "", *, supervise: bool = False) -> Conversation:
        c = self.get(cid)
        self._mine(c, user, supervise)
        if self.s.categories and category and category not in self.s.categories:
            raise SmsError("bad_request", f"Pick a category: {', '.join(self.s.categories)}.")
        if c.ring:
            c.ring.cancel()
            c.ring = None
        audience = c.agent
        c.state, c.category, c.closed = "closed", category, self.clock()
        c.outcome = "handled" if any(x["direction"] == "out" for x in c.messages) else "closed"
        c.agent = c.agents[-1] if c.agents else None
        self._save(c)
        self.publish("sms.update", c.public(), frozenset(filter(None, [audience])))
        del self.live[c.id]
        self.want_route()
        return c

    # -- the daily record ---------------------------------------------------------------------------------
    async def record(self, day: str) -> list[dict[str, Any]]:
        """Every SMS sent on ``day`` (YYYY-MM-DD, the server's local day): when, to whom, by whom, what,
        how many parts, and its delivery state now."""
        try:
            d = date.fromisoformat(day)
        except ValueError:
            raise SmsError("bad_request", "Give the day as YYYY-MM-DD.") from None
        start = datetime(d.year, d.month, d.day).timestamp()
        end = datetime.combine(d + timedelta(days=1), datetime.min.time()).timestamp()
        rows = await self.store.run(self.store.sent_between, start, end)
        return [{"at": datetime.fromtimestamp(r["at"]).isoformat(timespec="seconds"), "number": r["number"],
                 "agent": r["author"], "kind": r["kind"], "conversation": r["conversation"], "text": r["text"],
                 "coding": "UCS-2" if r["coding"] == gsm.UCS2 else "GSM 7-bit", "parts": r["parts"],
                 "status": r["status"], "id": r["id"]} for r in rows]

    def _save_row(self, row: dict[str, Any]) -> Awaitable[Any]:
        return self.store.run(self.store.save_conversation, row)
