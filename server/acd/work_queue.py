"""The part of a written channel's service that every channel shares (e-mail, SMS): its live
conversations queued, offered to an agent with a ring time, taken back when the offer is not
accepted in time (that agent gets none of this channel for a while), all decided by one
decide_work over the channel's queued items and every agent's load. The channel's own service
keeps what differs: how a conversation starts, is answered and closed, and its store."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .routing_work import Capacity, WorkItem, decide_work

log = logging.getLogger(__name__)


class WorkQueue:
    """A base of the written channels' services; ``channel`` names the channel ("email", "sms") in
    the work items, the agents' loads and the events pushed (``<channel>.offer``, ``.update``)."""

    channel: str
    s: Any  # the channel's settings: ring_timeout
    engine: Any
    capacity: Capacity
    clock: Callable[[], float]
    publish: Callable[[str, dict[str, Any], Any], None]

    def _work_queue(self) -> None:
        self.live: dict[str, Any] = {}
        self.paused: dict[str, float] = {}  # agent -> none of this channel offered until (an offer not accepted)
        self._route_soon = False
        self._tasks: set[asyncio.Future[Any]] = set()

    def _save_row(self, row: dict[str, Any]) -> Awaitable[Any]:
        """Save one conversation's row in the channel's store (in the store's thread)."""
        raise NotImplementedError

    # -- routing ------------------------------------------------------------------------------------------
    def want_route(self) -> None:
        if not self._route_soon:
            self._route_soon = True
            asyncio.get_running_loop().call_soon(self.route)

    def route(self) -> None:
        self._route_soon = False
        cfg = self.engine.cfg
        ch = self.channel
        items = [WorkItem(c.id, ch, c.queue, list(cfg.queues[c.queue].skills), 0, c.enqueued or c.created,
                          c.target, c.sticky)
                 for c in self.live.values() if c.state == "queued" and c.queue in cfg.queues]
        if not items:
            return
        now = self.clock()
        loads: dict[str, dict[str, int]] = {}
        for c in self.live.values():
            if c.state in ("offered", "active") and c.agent:
                loads.setdefault(c.agent, {ch: 0})[ch] += 1
        paused = {a: frozenset({ch}) for a, until in self.paused.items() if until > now}
        qp = {name: q.priority for name, q in cfg.queues.items()}
        for cid, aid in decide_work(items, self.engine.agents.values(), loads, self.capacity, qp, paused):
            self._offer(self.live[cid], aid)

    def _offer(self, c: Any, aid: str) -> None:
        c.state, c.agent, c.target = "offered", aid, None
        c.ring = asyncio.get_running_loop().call_later(self.s.ring_timeout, self._no_answer, c.id, aid)
        self.publish(f"{self.channel}.offer", c.full(), aid)
        self._changed(c)

    def _no_answer(self, cid: str, aid: str) -> None:
        c = self.live.get(cid)
        if c is None or c.state != "offered" or c.agent != aid:
            return
        log.info("%s %s: %s did not accept in time; back to the queue", self.channel, cid, aid)
        c.ring = None
        self.paused[aid] = self.clock() + self.s.ring_timeout
        asyncio.get_running_loop().call_later(self.s.ring_timeout, self.want_route)
        self.publish(f"{self.channel}.update", {**c.public(), "state": "queued", "agent": None, "missed": True}, aid)
        c.state, c.agent = "queued", None
        if c.sticky == aid:
            c.sticky = None
        self._changed(c)

    # -- plumbing -----------------------------------------------------------------------------------------
    def _name(self, user: str) -> str:
        a = self.engine.agents.get(user)
        return str(a.name) if a is not None and a.name else user

    def _changed(self, c: Any) -> None:
        self._save(c)
        self.publish(f"{self.channel}.update", c.public(), frozenset(filter(None, [c.agent])))
        if c.state == "queued":
            self.want_route()

    def _save(self, c: Any) -> None:
        task = asyncio.ensure_future(self._save_row(c.row()))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Future[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s store write failed: %s", self.channel, task.exception())
