"""Written conversations in the ACD: a visitor's (or a chatbot's) conversation waits in a queue as a
work item, is offered to agents by decide_work within their capacity, accepted, answered,
transferred, closed with a category; messages stored as they come.

Everything here runs on the event loop and does no I/O itself: the store's writes go to its
thread in order (ChatStore.run), e-mail to a thread. Visitors are reached through sinks (one per
open widget or chatbot socket, server/chat/visitors.py); consoles through ctx.publish.
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import smtplib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from cc_console.errors import Conflict, DomainError, Invalid, NotFound, Unavailable
from cc_console.models import AgentState
from cc_console.protocol import ErrorCode, Event
from cc_console.server.acd.routing_work import CHANNELS, WorkItem, decide_work

from .figures import DayFigures
from .results import Escalation
from .settings import ChatSettings
from .store import ChatStore, token_hash

log = logging.getLogger(__name__)

Sink = Callable[[dict[str, Any]], None]
LIVE = ("bot", "queued", "offered", "active")


class QueueClosed(Conflict):
    """The chat's queue is outside its working hours: a conflict to the consoles and the REST API;
    the visitors' widget is told ``closed`` (it shows the opening hours)."""


class TooManyChats(DomainError):
    """Too many chats started from one address (the visitors' door only)."""

    code = ErrorCode.RATE_LIMITED


def visitor_code(exc: DomainError) -> str:
    """The word the visitors' widget gets for a refusal (its error frame's ``code``)."""
    return "closed" if isinstance(exc, QueueClosed) else str(exc.code)


@dataclass
class Conversation:
    id: str
    channel: str
    queue: str
    name: str
    email: str
    token_hash: str
    created: float
    bot: bool = False
    state: str = "queued"  # bot, queued, offered, active, closed
    agent: str | None = None
    agents: list[str] = field(default_factory=list)  # everyone who accepted it, in order
    invited: list[str] = field(default_factory=list)
    enqueued: float | None = None
    accepted: float | None = None
    closed: float | None = None
    outcome: str = ""  # handled, abandoned, overflow
    category: str = ""
    notes: str = ""
    target: str | None = None  # transferred to this agent
    sticky: str | None = None
    overflowed: bool = False
    looking_up: bool = False  # the customer's last agent is being read: not routed until known
    visitor_left: float | None = None  # when the last visitor socket went away
    messages: list[dict[str, Any]] = field(default_factory=list)
    ring: asyncio.TimerHandle | None = None

    @property
    def contact(self) -> str:
        return self.email

    def public(self, now: float | None = None) -> dict[str, Any]:
        return {"id": self.id, "channel": self.channel, "queue": self.queue, "name": self.name,
                "email": self.email, "state": self.state, "agent": self.agent, "agents": list(self.agents),
                "invited": list(self.invited), "created": self.created, "enqueued": self.enqueued,
                "accepted": self.accepted, "closed": self.closed, "outcome": self.outcome,
                "category": self.category, "notes": self.notes, "bot": self.bot,
                "visitor_here": self.visitor_left is None}

    def row(self) -> dict[str, Any]:
        return {**self.public(), "token_hash": self.token_hash, "contact": self.contact}


class ChatService:
    def __init__(self, settings: ChatSettings, store: ChatStore, engine: Any,
                 publish: Callable[[str, dict[str, Any], Any], None], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self.store = store
        self.engine = engine
        self.publish = publish
        self.clock = clock
        self.capacity = settings.capacity_rule()
        self.live: dict[str, Conversation] = {}
        self.by_token: dict[str, str] = {}  # token hash -> conversation id
        self.sinks: dict[str, set[Sink]] = {}
        self.paused: dict[str, float] = {}  # agent -> chats paused until (no answer in time)
        self.wrapups: dict[str, list[tuple[str, float]]] = {}  # agent -> (channel, until)
        self.figures = DayFigures(settings.service_level)
        self.last_agent: dict[str, str] = {}  # contact -> the agent of their last chat (sticky routing)
        self._day_start = self._midnight(clock())
        self._route_soon = False
        self._stats_soon = False
        self._positions: dict[str, int] = {}
        self._task: asyncio.Task[None] | None = None
        self._last_purge = 0.0

    # -- life ---------------------------------------------------------------------------------------------
    async def start(self) -> None:
        for row in await self.store.run(self.store.open_conversations):
            self._take_up(row)
        rows = await self.store.run(self.store.day_figures, self._day_start)
        for r in rows:
            self.figures.closed(r["channel"], r["queue"], r["agent"], r["enqueued"], r["accepted"], r["outcome"])
        self._task = asyncio.create_task(self._ticker(), name="chat-tick")

    def _take_up(self, row: dict[str, Any]) -> None:
        """An open conversation from before a restart: its visitor resumes with their token, a
        chat that was only offered waits again, an accepted one stays with its agent."""
        c = Conversation(row["id"], row["channel"], row["queue"], row["name"], row["email"], row["token_hash"],
                         row["created"], bot=row["bot"], state=row["state"], agent=row["agent"],
                         agents=list(row["agents"]), enqueued=row["enqueued"], accepted=row["accepted"],
                         category=row["category"], notes=row["notes"], visitor_left=self.clock())
        c.messages = [self._numbered(m, i) for i, m in enumerate(row["messages"], 1)]
        if c.state == "offered" or c.queue not in self.engine.cfg.queues:
            c.state, c.agent = "queued", None
            c.queue = c.queue if c.queue in self.engine.cfg.queues else self.s.queue
        self.live[c.id] = c
        self.by_token[c.token_hash] = c.id

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        for c in self.live.values():
            if c.ring:
                c.ring.cancel()

    @staticmethod
    def _midnight(now: float) -> float:
        return now - now % 86400

    # -- visitors and chatbots ----------------------------------------------------------------------------
    def start_conversation(self, name: str, email: str = "", queue: str = "", *, bot: bool = False,
                           channel: str = "chat", text: str = "") -> tuple[Conversation, str]:
        name = " ".join(name.split())[:80]
        if not name:
            raise Invalid("Please tell us your name.")
        email = email.strip().lower()[:200]
        if email and ("@" not in email or " " in email):
            raise Invalid("That e-mail address does not look right.")
        if channel not in CHANNELS or channel == "call":
            raise Invalid(f"Conversations are written: one of {', '.join(CHANNELS[1:])}.")
        queue = queue or self.s.queue
        if queue not in self.engine.cfg.queues:
            raise NotFound("There is no such queue.")
        now = self.clock()
        if not bot:
            self._check_open(queue, now)
        token = secrets.token_urlsafe(16)
        c = Conversation(uuid.uuid4().hex[:12], channel, queue, name, email, token_hash(token), now, bot=bot,
                         state="bot" if bot else "queued", enqueued=None if bot else now)
        self.live[c.id] = c
        self.by_token[c.token_hash] = c.id
        self._save(c)
        if text:
            self._add(c, "visitor", name, text)
        if not bot:
            self._enqueue(c, now)
        return c, token

    def _check_open(self, queue: str, now: float) -> None:
        if not self.engine.cfg.queues[queue].schedule.is_open(now):
            raise QueueClosed("We are closed now. Please come back during our opening hours.")

    def _enqueue(self, c: Conversation, now: float) -> None:
        c.state, c.enqueued = "queued", c.enqueued or now
        self.figures.offered(c.channel, c.queue)
        if c.email and c.sticky is None:
            c.sticky = self.last_agent.get(c.email)
            if c.sticky is None:
                c.looking_up = True  # routed once the store says who it was (a few ms)
                self.store_task(self._set_sticky(c))
        self._changed(c)

    async def _set_sticky(self, c: Conversation) -> None:
        try:
            c.sticky = await self.store.run(self.store.last_agent, c.email)
        finally:
            c.looking_up = False
            self.want_route()

    def conversation_for(self, token: str) -> Conversation | None:
        cid = self.by_token.get(token_hash(token))
        return self.live.get(cid) if cid else None

    async def resume(self, token: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
        """A visitor's conversation by their token: live, or closed and stored."""
        c = self.conversation_for(token)
        if c is not None:
            return c.public(), list(c.messages)
        row = await self.store.run(self.store.by_token, token)
        if row is None:
            return None
        msgs = await self.store.run(self.store.messages, row["id"])
        return row, [self._numbered(m, i) for i, m in enumerate(msgs, 1)]

    @staticmethod
    def _numbered(m: dict[str, Any], n: int) -> dict[str, Any]:
        return {"n": n, "at": m["at"], "sender": m["sender"], "author": m["author"], "text": m["text"]}

    def attach(self, c: Conversation, sink: Sink) -> None:
        self.sinks.setdefault(c.id, set()).add(sink)
        if c.visitor_left is not None:
            c.visitor_left = None
            self._changed(c)

    def detach(self, c: Conversation, sink: Sink) -> None:
        sinks = self.sinks.get(c.id)
        if sinks is not None:
            sinks.discard(sink)
            if not sinks:
                del self.sinks[c.id]
                if c.state in LIVE:
                    c.visitor_left = self.clock()
                    self._changed(c)

    def visitor_say(self, c: Conversation, text: str, *, sender: str = "visitor") -> dict[str, Any]:
        self._live(c)
        if sender == "bot" and c.state != "bot":
            raise Conflict("The conversation is with a person now; the bot may not answer.")
        return self._add(c, sender, "bot" if sender == "bot" else c.name, text)

    def visitor_typing(self, c: Conversation, on: bool) -> None:
        if c.state in ("offered", "active") and c.agent:
            self.publish("chat.typing", {"id": c.id, "who": "visitor", "on": bool(on)}, self._audience(c))

    def visitor_end(self, c: Conversation) -> None:
        if c.state == "bot":
            self._close(c, "self_served")  # the bot's own conversation: no queue's figure
        elif c.state in ("queued", "offered"):
            self._close(c, "abandoned")
        elif c.state == "active":
            self._add(c, "system", "", f"{c.name} left the conversation.")
            c.visitor_left = self.clock()
            self._changed(c)

    def handover(self, c: Conversation, queue: str = "") -> Conversation:
        """A chatbot hands its conversation to a person (within working hours); its messages so far
        are the transcript the agent reads."""
        if c.state != "bot":
            raise Conflict("The conversation is not with the bot any more.")
        queue = queue or c.queue
        if queue not in self.engine.cfg.queues:
            raise NotFound("There is no such queue.")
        now = self.clock()
        self._check_open(queue, now)
        c.queue = queue
        self._add(c, "system", "", "Handed over to an agent.")
        self._enqueue(c, now)
        return c

    async def transcript(self, c: Conversation | str, to: str = "") -> str:
        """E-mail the conversation to the visitor (or `to`); the address it went to."""
        cid = c if isinstance(c, str) else c.id
        conv = self.live.get(cid)
        if not self.s.smtp_host:
            raise Conflict("Transcripts by e-mail are not available here.")
        to = (to or (conv.email if conv else "")).strip()
        if not to or "@" not in to:
            raise Invalid("Please give an e-mail address for the transcript.")
        msgs = list(conv.messages) if conv else [self._numbered(m, i) for i, m in enumerate(
            await self.store.run(self.store.messages, cid), 1)]
        lines = [f"[{time.strftime('%H:%M', time.gmtime(m['at']))}] {m['author'] or m['sender']}: {m['text']}"
                 for m in msgs]
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.s.mail_from, to, "Your chat with us"
        mail.set_content("\n".join(lines) + "\n")

        def send() -> None:
            with smtplib.SMTP(self.s.smtp_host, self.s.smtp_port, timeout=10) as smtp:
                smtp.send_message(mail)
        try:
            await asyncio.to_thread(send)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("chat %s: transcript mail failed: %s", cid, exc)
            raise Unavailable("The transcript could not be sent just now; please try again.") from None
        return to

    # -- agents -------------------------------------------------------------------------------------------
    def get(self, cid: str) -> Conversation:
        c = self.live.get(cid)
        if c is None:
            raise NotFound("That chat is no longer open.")
        return c

    def _live(self, c: Conversation) -> None:
        if c.state not in LIVE:
            raise Conflict("This chat is closed.")

    def _mine(self, c: Conversation, user: str, supervise: bool) -> None:
        if user != c.agent and user not in c.invited and not supervise:
            raise Conflict("This chat is not yours.")

    def accept(self, user: str, cid: str) -> Conversation:
        c = self.get(cid)
        if c.state != "offered" or c.agent != user:
            raise Conflict("No chat is waiting for you to accept it.")
        if c.ring:
            c.ring.cancel()
            c.ring = None
        now = self.clock()
        c.state = "active"
        if c.accepted is None:
            c.accepted = now
        if user not in c.agents:
            c.agents.append(user)
        name = self._name(user)
        self._add(c, "system", "", f"{name} joined the conversation.")
        self._tell(c, {"op": "agent", "name": name})
        self._changed(c)
        return c

    def send(self, user: str, cid: str, text: str, *, supervise: bool = False) -> dict[str, Any]:
        c = self.get(cid)
        self._mine(c, user, supervise)
        if c.state != "active":
            raise Conflict("Accept the chat before you write.")
        return self._add(c, "agent", self._name(user), text)

    def typing(self, user: str, cid: str, on: bool) -> None:
        c = self.get(cid)
        self._mine(c, user, False)
        self._tell(c, {"op": "typing", "on": bool(on), "name": self._name(user)})

    def transfer(self, user: str, cid: str, *, agent: str = "", queue: str = "",
                 supervise: bool = False) -> Conversation:
        c = self.get(cid)
        self._mine(c, user, supervise)
        self._live(c)
        if bool(agent) == bool(queue):
            raise Invalid("Transfer to an agent or to a queue.")
        if agent:
            a = self.engine.agents.get(agent)
            if a is None:
                raise NotFound("There is no such agent.")
            if a.state is AgentState.LOGGED_OUT or agent == c.agent:
                raise Conflict(f"{a.name} cannot take the chat now.")
            c.target = agent
            note = f"Transferred to {a.name}."
        else:
            if queue not in self.engine.cfg.queues:
                raise NotFound("There is no such queue.")
            c.queue, c.target = queue, None
            note = "Transferred to another team."
        self._release(c)
        c.state = "queued"
        c.enqueued = c.enqueued or self.clock()
        self._add(c, "system", "", note + " Please wait a moment.")
        self._changed(c)
        return c

    def invite(self, user: str, cid: str, who: str, *, supervise: bool = False) -> Conversation:
        c = self.get(cid)
        self._mine(c, user, supervise)
        self._live(c)
        if who == c.agent or who in c.invited:
            raise Conflict("Already in this chat.")
        if who not in self.engine.agents:
            raise NotFound("There is no such user.")
        c.invited.append(who)
        self._add(c, "system", "", f"{self._name(who)} was invited to the conversation.")
        self._changed(c)
        self.publish("chat.invite", {**c.public(), "messages": c.messages}, who)
        return c

    def close(self, user: str, cid: str, category: str = "", notes: str = "", *,
              supervise: bool = False) -> Conversation:
        c = self.get(cid)
        self._mine(c, user, supervise)
        if self.s.categories and category and category not in self.s.categories:
            raise Invalid(f"Pick a category: {', '.join(self.s.categories)}.")
        c.category, c.notes = category, notes[:4000]
        self._close(c, "handled" if c.accepted else "abandoned")
        return c

    def escalate(self, user: str, cid: str, mode: str, number: str, when: Any = None) -> Escalation:
        """Take the conversation to the phone: call the visitor now, or book a callback."""
        c = self.get(cid)
        self._mine(c, user, False)
        number = number.strip()
        if not number:
            raise Invalid("Give the number to call.")
        if mode == "call":
            call = self.engine.dial_out(user, number, queue=c.queue)
            self._add(c, "system", "", "We are calling you now.")
            return Escalation(call=call)
        if mode != "callback":
            raise Invalid("Escalate by a call now or a callback.")
        now = self.clock()
        item = {"id": uuid.uuid4().hex[:12], "kind": "callback", "caller": number, "queue": c.queue,
                "tenant": self.engine.cfg.queues[c.queue].tenant, "call_id": None, "requested": now,
                "enqueued": now, "state": "open", "agent": None,
                "preferred": when if isinstance(when, (int, float)) and not isinstance(when, bool) else None,
                "note": f"from chat {c.id} with {c.name}", "requested_by": user}
        self.engine.store.save_callback(item)
        self.publish(Event.CALLBACK, item, None)
        self._add(c, "system", "", "We will call you back.")
        return Escalation(callback=item)

    def mine_list(self, user: str, supervise: bool) -> list[dict[str, Any]]:
        return [{**c.public(), "messages": c.messages} for c in self.live.values()
                if supervise or user == c.agent or user in c.invited]

    # -- figures ------------------------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Today's figures per channel and queue, and per agent (figures.py)."""
        now = self.clock()
        waiting: dict[tuple[str, str], list[float]] = {}
        for c in self.live.values():
            if c.state == "queued" and c.enqueued is not None:
                waiting.setdefault((c.channel, c.queue), []).append(now - c.enqueued)
        return self.figures.stats(waiting, (c.agent for c in self.live.values()
                                            if c.state in ("offered", "active") and c.agent))

    # -- routing ------------------------------------------------------------------------------------------
    def want_route(self) -> None:
        if not self._route_soon:
            self._route_soon = True
            try:
                asyncio.get_running_loop().call_soon(self.route)
            except RuntimeError:
                self.route()

    def _loads(self, now: float) -> dict[str, dict[str, int]]:
        loads: dict[str, dict[str, int]] = {}
        for c in self.live.values():
            if c.state in ("offered", "active") and c.agent:
                mine = loads.setdefault(c.agent, {})
                mine[c.channel] = mine.get(c.channel, 0) + 1
        for aid, held in list(self.wrapups.items()):
            held[:] = [(ch, until) for ch, until in held if until > now]
            if not held:
                del self.wrapups[aid]
            for ch, _ in held:
                mine = loads.setdefault(aid, {})
                mine[ch] = mine.get(ch, 0) + 1
        return loads

    def route(self) -> None:
        """Offer waiting conversations to agents with room (decide_work: capacity, state, skills)."""
        self._route_soon = False
        cfg = self.engine.cfg
        items = [WorkItem(c.id, c.channel, c.queue, list(cfg.queues[c.queue].skills) if c.queue in cfg.queues else [],
                          0, c.enqueued or c.created, c.target, c.sticky)
                 for c in self.live.values() if c.state == "queued" and not c.looking_up]
        if items:
            now = self.clock()
            paused = {a: frozenset(CHANNELS[1:]) for a, until in self.paused.items() if until > now}
            qp = {name: q.priority for name, q in cfg.queues.items()}
            for cid, aid in decide_work(items, self.engine.agents.values(), self._loads(now), self.capacity, qp,
                                        paused):
                self._offer(self.live[cid], aid)
        self._send_positions()

    def _offer(self, c: Conversation, aid: str) -> None:
        c.state, c.agent, c.target = "offered", aid, None
        loop = asyncio.get_running_loop()
        c.ring = loop.call_later(self.s.ring_timeout, self._no_answer, c.id, aid)
        self.publish("chat.offer", {**c.public(), "messages": c.messages}, aid)
        self._changed(c)

    def _no_answer(self, cid: str, aid: str) -> None:
        c = self.live.get(cid)
        if c is None or c.state != "offered" or c.agent != aid:
            return
        log.info("chat %s: %s did not accept in time; back to the queue", cid, aid)
        c.ring = None
        self.paused[aid] = self.clock() + self.s.rona_pause
        self.publish("chat.update", {**c.public(), "state": "queued", "agent": None, "missed": True}, aid)
        c.state, c.agent = "queued", None
        self._changed(c)

    def _release(self, c: Conversation) -> None:
        """The agent's slot is free (transfer, close); a wrap-up holds it a while longer."""
        if c.ring:
            c.ring.cancel()
            c.ring = None
        old = c.agent
        if old and c.state == "active" and self.s.wrapup > 0:
            self.wrapups.setdefault(old, []).append((c.channel, self.clock() + self.s.wrapup))
        if old:
            self.publish("chat.update", {**c.public(), "state": "gone", "agent": None}, old)
        c.agent = None
        c.invited.clear()

    def _close(self, c: Conversation, outcome: str) -> None:
        was_active = c.state == "active"
        audience = self._audience(c)
        self._release(c)
        c.agent = c.agents[-1] if (was_active and c.agents) else None
        c.state, c.outcome, c.closed = "closed", outcome, self.clock()
        if outcome == "abandoned":
            c.agent = None
        self.figures.closed(c.channel, c.queue, c.agent, c.enqueued, c.accepted, outcome)
        if c.agent and c.email:
            if len(self.last_agent) > 100_000:  # bounded: the store still knows the older ones
                self.last_agent.clear()
            self.last_agent[c.email] = c.agent
        self._tell(c, {"op": "closed", "outcome": outcome})
        self.publish("chat.update", c.public(), audience)
        self._save(c)
        del self.live[c.id]
        self.by_token.pop(c.token_hash, None)
        self._positions.pop(c.id, None)
        self.want_route()
        self._want_stats()

    # -- periodic -----------------------------------------------------------------------------------------
    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.s.tick)
            try:
                self.tick()
                if self.clock() - self._last_purge > 3600:
                    self._last_purge = self.clock()
                    gone = await self.store.run(self.store.purge, self.clock() - self.s.retention_days * 86400)
                    if gone:
                        log.info("chat retention: %d conversation(s) deleted", gone)
            except Exception:
                log.exception("chat tick failed")

    def tick(self) -> None:
        now = self.clock()
        if self._midnight(now) != self._day_start:
            self._day_start = self._midnight(now)
            self.figures.reset()
        for aid in [a for a, until in self.paused.items() if until <= now]:
            del self.paused[aid]
        for c in list(self.live.values()):
            if c.state in ("queued", "offered") and c.visitor_left is not None and not c.bot \
                    and now - c.visitor_left > self.s.visitor_gone:
                self._close(c, "abandoned")
                continue
            limit = self.s.max_wait.get(c.queue)
            if c.state == "queued" and limit and not c.overflowed and c.enqueued is not None \
                    and now - c.enqueued > limit:
                self._overflow(c)
        self.want_route()
        self._want_stats()

    def _overflow(self, c: Conversation) -> None:
        where = self.s.overflow.get(c.queue, "close")
        c.overflowed = True
        kind, _, target = where.partition(":")
        if kind == "queue" and target in self.engine.cfg.queues:
            self.figures.overflowed(c.channel, c.queue)
            c.queue = target
            self._add(c, "system", "", "All our agents are still busy; we moved you to another team.")
            self._changed(c)
            return
        self._add(c, "system", "", "All our agents are busy. Please try again later or write us an e-mail.")
        self._close(c, "overflow")

    # -- plumbing -----------------------------------------------------------------------------------------
    def _name(self, user: str) -> str:
        a = self.engine.agents.get(user)
        return a.name if a is not None and a.name else user

    def _audience(self, c: Conversation) -> frozenset[str]:
        return frozenset(filter(None, [c.agent, *c.invited]))

    def _add(self, c: Conversation, sender: str, author: str, text: str) -> dict[str, Any]:
        text = text.strip()
        if not text:
            raise Invalid("Write something first.")
        if len(text) > self.s.max_message:
            raise Invalid(f"Messages are at most {self.s.max_message} characters.")
        m = {"n": len(c.messages) + 1, "at": self.clock(), "sender": sender, "author": author, "text": text}
        c.messages.append(m)
        self._tell(c, {"op": "message", "message": m})
        if c.agent or c.invited:
            self.publish("chat.message", {"id": c.id, "message": m}, self._audience(c))
        self.store_task(self.store.submit(self.store.add_message, c.id, m["at"], sender, author, text))
        return m

    def _tell(self, c: Conversation, frame: dict[str, Any]) -> None:
        for sink in list(self.sinks.get(c.id, ())):
            sink(frame)

    def _changed(self, c: Conversation) -> None:
        self._save(c)
        if c.agent or c.invited:
            self.publish("chat.update", c.public(), self._audience(c))
        else:
            self.publish("chat.update", c.public(), frozenset())  # supervisors only
        if c.state == "queued":
            self.want_route()
        self._want_stats()

    def _send_positions(self) -> None:
        by_queue: dict[tuple[str, str], list[Conversation]] = {}
        for c in self.live.values():
            if c.state == "queued":
                by_queue.setdefault((c.channel, c.queue), []).append(c)
        seen = set()
        for convs in by_queue.values():
            convs.sort(key=lambda c: (c.enqueued or c.created, c.id))
            for i, c in enumerate(convs, 1):
                seen.add(c.id)
                if self._positions.get(c.id) != i:
                    self._positions[c.id] = i
                    self._tell(c, {"op": "position", "position": i})
        for cid in [k for k in self._positions if k not in seen]:
            del self._positions[cid]

    def _want_stats(self) -> None:
        if not self._stats_soon:
            self._stats_soon = True
            try:
                asyncio.get_running_loop().call_later(0.2, self._push_stats)
            except RuntimeError:
                self._stats_soon = False

    def _push_stats(self) -> None:
        self._stats_soon = False
        # supervisors and wallboards only: a hundred agents' consoles need not parse the floor's
        # figures a few times a second (an agent asks chat.stats for their own)
        self.publish("chat.stats", self.stats(), frozenset())

    def _save(self, c: Conversation) -> None:
        self.store_task(self.store.submit(self.store.save_conversation, c.row()))

    def store_task(self, aw: Any) -> None:
        task = asyncio.ensure_future(aw)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("chat store write failed: %s", task.exception())
