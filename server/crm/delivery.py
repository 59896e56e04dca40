"""Delivering the outbox: in order per stream (an agent's CTI feed, one webhook subscription, the
records hand-off), retried with a growing, jittered pause while the receiver is down, a dead letter
once an item is older than ``dead_after``.

At least once: an item is marked delivered after the receiver's answer, so a crash between the
two sends it again with the same ``X-CC-Event-Id`` (receivers drop an id they have seen).
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from cc_console.server.waits import woken

from .settings import CrmSettings
from .store import CrmStore, OutboxItem

log = logging.getLogger(__name__)

Db = Callable[..., Awaitable[Any]]  # run a blocking store method on the writer thread
Sign = Callable[[OutboxItem, bytes], dict[str, str] | None]  # extra headers; None: no longer deliverable


def backoff(attempts: int, lo: float, hi: float) -> float:
    """The pause before the next try after ``attempts`` failures: doubling from lo up to hi, with
    jitter so that receivers coming back are not hit by every stream at once."""
    return min(hi, lo * 2 ** max(0, attempts - 1)) * random.uniform(0.5, 1.0)


class Deliverer:
    def __init__(self, store: CrmStore, settings: CrmSettings, db: Db, sign: Sign,
                 clock: Callable[[], float] = time.time,
                 refresh: Callable[[], Awaitable[None]] | None = None) -> None:
        self.store, self.s, self.db, self.sign, self.clock = store, settings, db, sign, clock
        self.refresh = refresh  # every poll: what admins changed beside the server (subscriptions)
        self._refreshed = 0.0
        self.changed = asyncio.Condition()  # notified after every attempt and refresh (waiters: tests, tools)
        self._wake = asyncio.Event()
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._http: aiohttp.ClientSession | None = None

    def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.s.timeout))
        self._task = asyncio.get_running_loop().create_task(self._run(), name="crm-delivery")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()  # nothing new starts
            await asyncio.gather(self._task, return_exceptions=True)
        # A delivery under way is let finish (up to one request's timeout) so that a planned restart
        # does not send it twice; one cut off stays pending and is sent again with its id.
        busy = list(self._busy.values())
        if busy:
            _, late = await asyncio.wait(busy, timeout=self.s.timeout)
            for t in late:
                t.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            if self.refresh is not None and time.monotonic() - self._refreshed >= self.s.poll:
                self._refreshed = time.monotonic()
                try:
                    await self.refresh()
                except Exception:
                    log.exception("CRM subscriptions not reloaded")
                await self.notify()
            try:
                heads = await self.db(self.store.heads, set(self._busy), 0)
            except Exception:
                log.exception("outbox not readable; trying again")
                heads = []
            now = self.clock()
            wait = self.s.poll
            for item in heads:
                if len(self._busy) >= max(1, self.s.parallel):
                    break
                if item.next_at <= now:
                    self._busy[item.stream] = asyncio.create_task(self._deliver(item))
                else:
                    wait = min(wait, item.next_at - now)
            await woken(self._wake, max(0.01, wait))

    async def _deliver(self, item: OutboxItem) -> None:
        ok, status, error = False, None, ""
        t0 = time.monotonic()
        try:
            body = item.body.encode()
            extra = self.sign(item, body)
            if extra is None:
                error = "no longer deliverable (its subscription was removed)"
            else:
                assert self._http is not None
                headers = {"X-CC-Event-Id": item.id, "X-CC-Event": item.event, **item.headers, **extra}
                async with self._http.request(item.method, item.url, data=body if item.method != "GET" else None,
                                              headers=headers, allow_redirects=False) as resp:
                    await resp.read()
                    status = resp.status
                    ok = status < 400  # a CRM asked for redirect=true may answer 302 to its page
                    if not ok:
                        error = f"HTTP {status}"
            now = self.clock()
            dead = not ok and (extra is None or now - item.created >= self.s.dead_after)
            nxt = now + backoff(item.attempts + 1, self.s.retry_min, self.s.retry_max)
            await self.db(self.store.attempted, item, ok=ok, status=status, error=error,
                          ms=(time.monotonic() - t0) * 1000, now=now, next_at=nxt, dead=dead)
            if dead:
                log.warning("delivery %s (%s to %s) is a dead letter: %s", item.id, item.event,
                            _host(item.url), error)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            now = self.clock()
            dead = now - item.created >= self.s.dead_after
            await self.db(self.store.attempted, item, ok=False, status=None, error=error[:500],
                          ms=(time.monotonic() - t0) * 1000, now=now,
                          next_at=now + backoff(item.attempts + 1, self.s.retry_min, self.s.retry_max), dead=dead)
        except Exception:
            log.exception("delivery %s failed unexpectedly; tried again later", item.id)
            try:  # still counted and pushed back, so one bad item cannot spin the loop
                now = self.clock()
                await self.db(self.store.attempted, item, ok=False, status=None, error="internal error (logged)",
                              ms=0.0, now=now, next_at=now + backoff(item.attempts + 1, self.s.retry_min,
                                                                     self.s.retry_max), dead=False)
            except Exception:
                log.exception("delivery %s: attempt not recorded", item.id)
        finally:
            self._busy.pop(item.stream, None)
            self._wake.set()
            await self.notify()

    async def notify(self) -> None:
        async with self.changed:
            self.changed.notify_all()


def _host(url: str) -> str:
    """Logs name the receiver's host, never the URL (a query may carry a token)."""
    from urllib.parse import urlsplit
    return urlsplit(url).netloc
