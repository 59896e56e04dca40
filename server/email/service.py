"""E-mail threads as written work items in the ACD: a customer's new e-mail is a thread waiting in a
queue, offered by decide_work (as chats are: capacity, presence, skills, the customer's last agent
first), accepted, answered over SMTP and closed. A customer's answer carries In-Reply-To/References
naming one of the thread's Message-IDs and joins that thread (a closed one opens again, for the
agent who had it when they are free).

On the event loop, no I/O of its own: the store's work goes to its thread, SMTP to a worker thread.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from cc_console.errors import Conflict, Invalid, NotFound, Unavailable
from cc_console.models import AgentState
from cc_console.server.acd.work_queue import WorkQueue
from cc_console.server.mail import MailRefused, send_async

from .parse import Incoming, parse
from .settings import EmailSettings
from .store import EmailStore

log = logging.getLogger(__name__)


@dataclass
class Thread:
    id: str
    queue: str
    customer: str
    name: str
    subject: str
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
    target: str | None = None  # transferred to this agent
    messages: list[dict[str, Any]] = field(default_factory=list)
    ring: asyncio.TimerHandle | None = None

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "channel": "email", "queue": self.queue, "customer": self.customer,
                "name": self.name, "subject": self.subject, "state": self.state, "agent": self.agent,
                "agents": list(self.agents), "created": self.created, "enqueued": self.enqueued,
                "accepted": self.accepted, "closed": self.closed, "outcome": self.outcome,
                "category": self.category}

    def row(self) -> dict[str, Any]:
        return self.public()

    def full(self) -> dict[str, Any]:
        return {**self.public(), "messages": self.messages}


class EmailService(WorkQueue):
    channel = "email"
    live: dict[str, Thread]

    def __init__(self, settings: EmailSettings, store: EmailStore, engine: Any,
                 publish: Callable[[str, dict[str, Any], Any], None], *,
                 clock: Callable[[], float] = time.time) -> None:
        self.s = settings
        self.mail = settings.mail()
        self.capacity = settings.capacity_rule()
        self.store = store
        self.engine = engine
        self.publish = publish
        self.clock = clock
        self._work_queue()

    async def start(self) -> None:
        for row in await self.store.run(self.store.open_threads):
            t = self._from_row(row)
            if t.state == "offered" or t.queue not in self.engine.cfg.queues:
                t.state, t.agent = "queued", None
                t.queue = t.queue if t.queue in self.engine.cfg.queues else self.s.queue
            self.live[t.id] = t
        self.want_route()

    async def stop(self) -> None:
        for t in self.live.values():
            if t.ring:
                t.ring.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    @staticmethod
    def _from_row(row: dict[str, Any]) -> Thread:
        t = Thread(row["id"], row["queue"], row["customer"], row["name"], row["subject"], row["created"],
                   state=row["state"], agent=row["agent"], agents=list(row["agents"]), enqueued=row["enqueued"],
                   accepted=row["accepted"], closed=row["closed"], outcome=row["outcome"], category=row["category"])
        t.messages = row["messages"]
        return t

    # -- the mailbox --------------------------------------------------------------------------------------
    async def receive(self, raw: bytes) -> Thread | None:
        """One message from the mailbox: a new thread, or the thread it answers. None: already had it."""
        m = await asyncio.to_thread(parse, raw)  # a mail of many megabytes parses for a while
        known: bool = bool(m.message_id) and await self.store.run(self.store.known, m.message_id)
        if known:
            return None
        if not m.message_id:
            m.message_id = make_msgid(domain="no-id.invalid")  # still threadable by our own answers
        t = await self._thread_for(m)
        new = t is None
        if t is None:
            if self.s.queue not in self.engine.cfg.queues:
                log.error("email: [email] queue %r does not exist; the message from %s waits unrouted",
                          self.s.queue, m.sender)
            now = self.clock()
            t = Thread(uuid.uuid4().hex[:12], self.s.queue, m.sender, m.name, m.subject or "(no subject)", now,
                       enqueued=now)
            self.live[t.id] = t
            await self.store.run(self.store.save_thread, t.row())
        msg, files = self._message(t, "in", m.name, m.message_id, m.subject, m.text, m)
        await self.store.run(self.store.add_message, t.id, msg, files)
        t.messages.append(msg)
        if t.agent and t.state in ("offered", "active"):
            self.publish("email.message", {"id": t.id, "message": msg}, t.agent)
        if new and not m.automatic and m.sender and m.sender != self.s.address.lower():
            await self._acknowledge(t, m)
        if t.id in self.live:
            self._changed(t)
        return t

    async def _thread_for(self, m: Incoming) -> Thread | None:
        """The thread this message answers: one that is open, or a closed one opened again."""
        parents = m.parents()
        if not parents:
            return None
        tid = await self.store.run(self.store.thread_of, parents)
        if tid is None:
            return None
        if tid in self.live:
            return self.live[tid]
        row = await self.store.run(self.store.thread, tid)
        if row is None:
            return None
        t = self._from_row(row)
        if m.automatic:
            return t  # an out-of-office or a bounce is kept with the closed thread; it wakes no agent
        # the customer wrote again: the thread waits again, for its last agent first
        t.sticky = t.agents[-1] if t.agents else None
        t.state, t.agent, t.closed, t.outcome, t.enqueued = "queued", None, None, "", self.clock()
        self.live[t.id] = t
        return t

    def _message(self, t: Thread, direction: str, author: str, mid: str, subject: str, text: str,
                 m: Incoming | None = None) -> tuple[dict[str, Any], list[tuple[str, str, str, bytes]]]:
        files: list[tuple[str, str, str, bytes]] = []
        listed: list[dict[str, Any]] = []
        for a in (m.attachments if m else []):
            if len(a.data) > self.s.max_attachment:
                text += f"\n\n[An attachment, {a.filename}, was too large to keep ({len(a.data)} bytes).]"
                continue
            aid = uuid.uuid4().hex
            files.append((aid, a.filename, a.content_type, a.data))
            listed.append({"id": aid, "filename": a.filename, "content_type": a.content_type,
                           "size": len(a.data), "url": f"/api/v1/email/attachments/{aid}"})
        msg = {"n": len(t.messages) + 1, "at": self.clock(), "direction": direction, "author": author,
               "message_id": mid, "subject": subject, "text": text, "attachments": listed}
        return msg, files

    def _outgoing(self, t: Thread, subject: str, text: str) -> EmailMessage:
        """A message in the thread: In-Reply-To the customer's last message, References the thread."""
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.s.address, t.customer, subject
        mail["Date"] = formatdate(self.clock(), localtime=False)
        domain = self.s.address.rpartition("@")[2] or "localhost"
        mail["Message-ID"] = make_msgid(domain=domain)
        ids = [x["message_id"] for x in t.messages if x["message_id"]]
        last_in = next((x["message_id"] for x in reversed(t.messages) if x["direction"] == "in"), "")
        if last_in:
            mail["In-Reply-To"] = last_in
        if ids:
            mail["References"] = " ".join(ids[-20:])
        mail.set_content(text)
        return mail

    async def _acknowledge(self, t: Thread, m: Incoming) -> None:
        fields = {"name": m.name, "subject": t.subject, "ref": t.id, "agent": ""}
        try:
            subject = self.s.ack_subject.format(**fields)
            text = self.s.ack_text.format(**fields)
        except (KeyError, IndexError, ValueError) as exc:
            log.error("email: the acknowledgement template is broken (%s); none sent", exc)
            return
        mail = self._outgoing(t, subject, text)
        mail["Auto-Submitted"] = "auto-replied"  # RFC 3834: the customer's own auto-reply must not answer it
        try:
            await send_async(self.mail, mail)
        except MailRefused as exc:
            log.warning("email %s: acknowledgement not sent: %s", t.id, exc)
            return
        msg, _ = self._message(t, "ack", "", str(mail["Message-ID"]), subject, text)
        await self.store.run(self.store.add_message, t.id, msg, [])
        t.messages.append(msg)

    # -- agents -------------------------------------------------------------------------------------------
    def get(self, tid: str) -> Thread:
        t = self.live.get(tid)
        if t is None:
            raise NotFound("That e-mail is no longer open.")
        return t

    def _mine(self, t: Thread, user: str, supervise: bool) -> None:
        if user != t.agent and not supervise:
            raise Conflict("This e-mail is not yours.")

    def mine_list(self, user: str, supervise: bool) -> list[dict[str, Any]]:
        return [t.full() for t in self.live.values() if supervise or t.agent == user]

    def accept(self, user: str, tid: str) -> Thread:
        t = self.get(tid)
        if t.state != "offered" or t.agent != user:
            raise Conflict("No e-mail is waiting for you to accept it.")
        if t.ring:
            t.ring.cancel()
            t.ring = None
        t.state = "active"
        t.accepted = t.accepted or self.clock()
        if user not in t.agents:
            t.agents.append(user)
        self._changed(t)
        return t

    async def reply(self, user: str, tid: str, text: str = "", template: str = "", *,
                    supervise: bool = False) -> dict[str, Any]:
        t = self.get(tid)
        self._mine(t, user, supervise)
        if t.state != "active":
            raise Conflict("Accept the e-mail before you answer it.")
        if template:
            if template not in self.s.templates:
                names = ", ".join(sorted(self.s.templates)) or "none are set up"
                raise Invalid(f"There is no reply template {template!r} ({names}).")
            a = self.engine.agents.get(user)
            fields = {"name": t.name, "subject": t.subject, "ref": t.id, "agent": a.name if a and a.name else user}
            try:
                text = self.s.templates[template].format(**fields) + ("\n\n" + text if text.strip() else "")
            except (KeyError, IndexError, ValueError):
                raise Invalid(f"The reply template {template!r} is broken; "
                                 "ask an administrator.") from None
        text = text.strip()
        if not text:
            raise Invalid("Write something first.")
        subject = t.subject if t.subject.lower().startswith("re:") else f"Re: {t.subject}"
        mail = self._outgoing(t, subject, text + "\n")
        try:
            await send_async(self.mail, mail)
        except MailRefused as exc:
            log.warning("email %s: reply not sent: %s", t.id, exc)
            raise Unavailable("The answer could not be sent just now; please try again.") from None
        msg, _ = self._message(t, "out", self._name(user), str(mail["Message-ID"]), subject, text)
        await self.store.run(self.store.add_message, t.id, msg, [])
        t.messages.append(msg)
        self.publish("email.message", {"id": t.id, "message": msg}, t.agent)
        return msg

    def transfer(self, user: str, tid: str, *, agent: str = "", queue: str = "", supervise: bool = False) -> Thread:
        """Hand the thread to a colleague or another queue; it waits for them with its messages."""
        t = self.get(tid)
        self._mine(t, user, supervise)
        if bool(agent) == bool(queue):
            raise Invalid("Transfer to an agent or to a queue.")
        if agent:
            a = self.engine.agents.get(agent)
            if a is None:
                raise NotFound("There is no such agent.")
            if a.state is AgentState.LOGGED_OUT or agent == t.agent:
                raise Conflict(f"{a.name or agent} cannot take the e-mail now.")
            t.target = agent
        else:
            if queue not in self.engine.cfg.queues:
                raise NotFound("There is no such queue.")
            t.queue, t.target = queue, None
        if t.ring:
            t.ring.cancel()
            t.ring = None
        old = t.agent
        t.state, t.agent, t.sticky = "queued", None, None
        if old:
            self.publish("email.update", t.public(), old)  # their console drops it
        self._changed(t)
        return t

    def close(self, user: str, tid: str, category: str = "", *, supervise: bool = False) -> Thread:
        t = self.get(tid)
        self._mine(t, user, supervise)
        if self.s.categories and category and category not in self.s.categories:
            raise Invalid(f"Pick a category: {', '.join(self.s.categories)}.")
        if t.ring:
            t.ring.cancel()
            t.ring = None
        audience = t.agent
        t.state, t.category, t.closed = "closed", category, self.clock()
        t.outcome = "handled" if any(x["direction"] == "out" for x in t.messages) else "closed"
        t.agent = t.agents[-1] if t.agents else None
        self._save(t)
        self.publish("email.update", t.public(), frozenset(filter(None, [audience])))
        del self.live[t.id]
        self.want_route()
        return t

    # -- attachments --------------------------------------------------------------------------------------
    async def attachment(self, aid: str, user: str, supervise: bool) -> dict[str, Any]:
        row = await self.store.run(self.store.attachment, aid)
        if row is None:
            raise NotFound("There is no such attachment.")
        live = self.live.get(row["thread"])
        agents = set(row["agents"]) | ({live.agent} if live and live.agent else set())
        if not supervise and user not in agents:
            raise NotFound("There is no such attachment.")  # not: "it exists, but not yours"
        return row

    def _save_row(self, row: dict[str, Any]) -> Awaitable[Any]:
        return self.store.run(self.store.save_thread, row)
