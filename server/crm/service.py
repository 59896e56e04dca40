"""The running CRM capability: one writer thread for its database, the outbox's deliverer, and the
call hooks that feed the CTI interface, the webhooks and the cases.

Hooks run on the event loop and never touch the database themselves: they hand their writes to the
one writer thread, in order, and the deliverer is woken once a write is committed.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from cc_console.server.capability import CallHooks, Context

from .cases import Cases
from .cti import CtiFeed
from .delivery import Deliverer
from .settings import CrmSettings
from .store import CrmStore, NewItem, OutboxItem, Subscription
from .webhooks import WEBHOOK_EVENTS, Webhooks, new_secret

if TYPE_CHECKING:
    from cc_console.models import Agent, Call

log = logging.getLogger(__name__)


class CrmService(CallHooks):
    def __init__(self, ctx: Context, settings: CrmSettings, store: CrmStore,
                 clock: Callable[[], float] = time.time) -> None:
        self.ctx = ctx
        self.engine = ctx.engine
        self.settings = settings
        settings.targets()  # a bad [[crm.cti]] table stops the start with its name
        self.store = store
        self.clock = clock
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="crm-db")
        self._pending: set[asyncio.Future[Any]] = set()
        self._closed = False
        self.cti = CtiFeed(self)
        self.webhooks = Webhooks(self)
        self.cases = Cases(self)
        self.deliverer = Deliverer(store, settings, self.db, self._sign, clock=clock,
                                   refresh=self.reload_subscriptions)
        # Loaded before the engine replays anything, so a contact left open by the last run is stopped.
        self.cti.load(store.cti_open())
        self.webhooks.load(store.subscriptions())

    # -- plumbing ---------------------------------------------------------------------------------------
    @property
    def contacts(self) -> Any:
        """The contacts capability's service (caller match, bulk upsert), where the server has one."""
        cap = self.ctx.capabilities.get("contacts")
        return getattr(cap, "service", None) or getattr(self.ctx, "contacts", None)

    @property
    def recordings(self) -> Any:
        """The recordings service (recording references in the export), where the server has one."""
        cap = self.ctx.capabilities.get("recordings")
        return getattr(cap, "service", None) or getattr(self.ctx, "recordings", None)

    async def db(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args, **kw))

    def write(self, items: list[NewItem], **state: Any) -> None:
        """Queue a write on the writer thread (from a hook: no waiting); deliveries start once committed."""
        if self._closed:
            log.warning("CRM stopped: %d delivery(ies) not written", len(items))
            return
        fut = asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(
            self.store.add, items, self.clock(), **state))
        self._pending.add(fut)
        fut.add_done_callback(self._written)

    async def write_now(self, items: list[NewItem], **state: Any) -> None:
        """The same, awaited: a command answers only once its change is on disk."""
        await self.db(self.store.add, items, self.clock(), **state)
        self.deliverer.wake()

    def _written(self, fut: asyncio.Future[Any]) -> None:
        self._pending.discard(fut)
        if fut.cancelled():
            return
        if fut.exception() is not None:
            log.error("CRM outbox not written: %s", fut.exception())
            return
        self.deliverer.wake()

    async def idle(self) -> None:
        """Every queued write committed (tests and stop)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    async def until(self, pred: Callable[[dict[str, int]], bool], timeout: float = 20.0) -> dict[str, int]:
        """Wait until ``pred(outbox counts by state)`` holds, woken by each delivery attempt (and each
        refresh of the subscriptions), not by polling; the counts it last saw."""
        seen: dict[str, int] = {}

        async def go() -> dict[str, int]:
            while True:
                await self.idle()
                async with self.deliverer.changed:
                    seen.clear()
                    seen.update(await self.db(self.store.counts))
                    if pred(seen):
                        return dict(seen)
                    await self.deliverer.changed.wait()
        try:
            return await asyncio.wait_for(go(), timeout)
        except TimeoutError:
            raise TimeoutError(f"the outbox did not get there in {timeout} s: {seen}") from None

    def publish(self, event: str, data: dict[str, Any], audience: str | None) -> None:
        self.ctx.publish(event, data, audience)

    def spawn(self, aw: Coroutine[Any, Any, Any], what: str) -> None:
        task = asyncio.get_running_loop().create_task(aw, name=what)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _sign(self, item: OutboxItem, body: bytes) -> dict[str, str] | None:
        if item.kind == "webhook":
            return self.webhooks.sign(item, body)
        return {}

    def open_page(self, call: Call, agent: str) -> None:
        """Tell the agent's console which CRM page to open for this contact."""
        if not self.settings.page_url:
            return
        values = {"callerid": call.caller or "", "userid": self.cti.userid(agent), "call_id": call.id}
        try:
            from urllib.parse import quote
            url = self.settings.page_url.format_map({k: quote(v, safe="") for k, v in values.items()})
        except (KeyError, ValueError, IndexError):
            log.error("[crm] page_url has a field other than {callerid}, {userid} or {call_id}")
            return
        self.publish("crm.open", {"call_id": call.id, "url": url}, agent)

    async def start(self) -> None:
        # Calls that went on while we were away keep their case (the engine has reloaded them).
        for case in await self.db(self.store.open_cases):
            if case["call_id"] in self.engine.calls:
                self.cases.by_call[case["call_id"]] = case
        self.deliverer.start()

    async def stop(self) -> None:
        await self.idle()
        self._closed = True
        await self.deliverer.notify()
        await self.deliverer.stop()
        self._pool.shutdown(wait=True)
        self.store.close()

    # -- call hooks ------------------------------------------------------------------------------------
    def call_offered(self, call: Call, agent_id: str) -> None:
        self.cases.call_offered(call, agent_id)
        self.webhooks.emit("call.offered", {"call": call.to_dict(), "agent": agent_id})

    def call_connected(self, call: Call) -> None:
        self.cti.call_connected(call)
        self.cases.call_connected(call)
        self.webhooks.emit("call.connected", {"call": call.to_dict(), "agent": call.agent})

    def call_leg_ended(self, call: Call, agent_id: str) -> None:
        self.cti.call_leg_ended(call, agent_id)

    def call_ended(self, call: Call, kind: str) -> None:
        self.cti.call_ended(call, kind)
        self.cases.call_ended(call, kind)
        self.webhooks.emit("call.ended", {"call": call.to_dict(), "kind": kind})

    def consult_connected(self, call: Call) -> None:
        self.cti.consult_connected(call)

    def consult_ended(self, call: Call) -> None:
        self.cti.consult_ended(call)

    def agent_state(self, agent: Agent, previous: str) -> None:
        self.webhooks.emit("agent.state", {"agent": agent.to_dict(), "from": previous})

    def callback_created(self, item: dict[str, Any]) -> None:
        self.webhooks.emit("callback.created", {"callback": item})

    def callback_done(self, item: dict[str, Any]) -> None:
        self.webhooks.emit("callback.done", {"callback": {k: v for k, v in item.items() if k != "history"}})

    def recording_ready(self, rec: dict[str, Any]) -> None:
        keep = ("id", "call_id", "agent", "caller", "queue", "started", "ended", "duration", "size", "sha256")
        self.webhooks.emit("recording.ready", {"recording": {k: rec.get(k) for k in keep},
                                               "audio": f"/api/recordings/{rec.get('id')}/audio"})

    # -- subscriptions ---------------------------------------------------------------------------------
    async def subscribe(self, url: str, events: list[str], secret: str = "") -> tuple[Subscription, str]:
        unknown = [e for e in events if e not in WEBHOOK_EVENTS and e != "*"]
        if unknown or not events:
            raise ValueError(f"events are {', '.join(WEBHOOK_EVENTS)} or *; not {', '.join(unknown) or 'none'}")
        if not url.startswith(("http://", "https://")):
            raise ValueError("the URL must start with http:// or https://")
        secret = secret or new_secret()
        sub = await self.db(self.store.add_subscription, url, secret, tuple(events))
        self.webhooks.load(await self.db(self.store.subscriptions))
        return sub, secret

    async def unsubscribe(self, sid: str) -> bool:
        gone = await self.db(self.store.remove_subscription, sid)
        self.webhooks.load(await self.db(self.store.subscriptions))
        return bool(gone)

    async def reload_subscriptions(self) -> None:
        """Every [crm] poll: subscriptions an admin changed beside the server; old deliveries forgotten."""
        self.webhooks.load(await self.db(self.store.subscriptions))
        await self.db(self.store.purge_delivered, self.clock() - self.settings.keep_delivered_days * 86400)
