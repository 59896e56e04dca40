"""Is Asterisk keeping up? A circuit breaker on ARI's HTTP failures, and the retry policy for them.

An overloaded Asterisk answers late or not at all ("HTTP session count exceeded" closes the
connection; a busy one times out). Every request we add then makes it worse, so the engine stops
starting new work (offers, originates) while the breaker is open and lets only the work that ends
or repairs calls through. The breaker closes when, `cooldown` after it opened, a few requests in a
row were answered; the engine's periodic reconcile (GET /channels) is a probe when nothing else is.

Retries of idempotent requests use stamina (exponential backoff with jitter, bounded in attempts
and time) rather than our own loops: many calls retrying in step is what keeps a struggling
Asterisk down, and jitter is what spreads them out.
"""
from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

import stamina

from . import AriError


def transient(exc: Exception) -> bool:
    """A failure worth retrying: no answer from Asterisk (timeout, connection refused or closed by
    its session limit) or "unavailable" from something in between. Any other status is Asterisk's
    real answer (a 500 "Allocation failed" is an unreachable device); retrying cannot help."""
    return isinstance(exc, AriError) and exc.status in (0, 502, 503, 504)


def worth_retrying(exc: Exception) -> bool:
    """Transient, and Asterisk did not get the request or said so. Not after a read timeout: then
    Asterisk has the request and is still working on it, and the session we drop stays open on its
    side until it is done (the soak saw 182 such sessions in CLOSE-WAIT and Asterisk refusing new
    ones, the websocket's reconnect among them, at its limit of 200). A retry would add another."""
    return transient(exc) and not (isinstance(exc, AriError) and exc.message in ("ReadTimeout", "WriteTimeout"))


WAIT_INITIAL, WAIT_MAX, WAIT_JITTER = 0.2, 2.0, 0.3


def retrying(attempts: int = 3, timeout: float = 15.0) -> Any:
    """`async for attempt in retrying(): with attempt: await ...` for one idempotent ARI request."""
    return _Retrying(attempts, timeout)


class _Retrying:
    """retrying()'s loop. The first attempt runs bare: setting up stamina's retry context costs about
    50 us, paid on every ARI request of every call (the fan-out bench's fixed cost per call) though
    nearly all of them succeed at once. A first failure worth retrying waits stamina's first backoff
    and hands the remaining attempts to stamina. No async generator: one left unfinished (the body
    returns on success) costs the loop a task to close it."""

    __slots__ = ("attempts", "timeout", "first", "failed", "rest")

    def __init__(self, attempts: int, timeout: float) -> None:
        self.attempts, self.timeout = attempts, timeout
        self.first = True
        self.failed = False
        self.rest: Any = None

    def __aiter__(self) -> _Retrying:
        return self

    async def __anext__(self) -> Any:
        if self.first:
            self.first = False
            return self
        if self.rest is None:
            if not self.failed:
                raise StopAsyncIteration
            if not stamina.is_testing():
                await asyncio.sleep(WAIT_INITIAL + random.uniform(0, WAIT_JITTER))
            self.rest = stamina.retry_context(on=worth_retrying, attempts=self.attempts - 1, timeout=self.timeout,
                                              wait_initial=WAIT_INITIAL, wait_max=WAIT_MAX,
                                              wait_jitter=WAIT_JITTER).__aiter__()
        return await self.rest.__anext__()

    def __enter__(self) -> _Retrying:
        return self

    def __exit__(self, typ: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, Exception) and self.attempts > 1 and worth_retrying(exc):
            self.failed = True
            return True  # swallowed: the next attempt follows
        return False


class CircuitBreaker:
    """Opens after `threshold` failures in a row; closes once it has been open `cooldown` seconds
    and `close_after` requests in a row were answered. Not "no failure for a while": under a
    partial failure (one request in ten lost) that would never come, and no call would ever be
    offered again, while a few answers in a row show that Asterisk copes again."""

    def __init__(self, threshold: int = 5, cooldown: float = 5.0, close_after: int = 2,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.close_after = close_after
        self.clock = clock
        self.failures = 0  # in a row
        self.successes = 0  # in a row
        self.opened_at = 0.0
        self.is_open = False
        self.opened = 0  # how many times it has opened (figures, tests)
        self.on_change: Callable[[bool], None] | None = None

    def failure(self) -> None:
        self.failures += 1
        self.successes = 0
        if not self.is_open and self.failures >= self.threshold:
            self.is_open = True
            self.opened += 1
            self.opened_at = self.clock()
            if self.on_change:
                self.on_change(True)

    def success(self) -> None:
        self.failures = 0
        self.successes += 1
        if self.is_open and self.successes >= self.close_after and self.clock() - self.opened_at >= self.cooldown:
            self.is_open = False
            if self.on_change:
                self.on_change(False)

    def record(self, exc: Exception | None) -> None:
        if exc is None or (isinstance(exc, AriError) and not transient(exc)):
            self.success()
        else:
            self.failure()
