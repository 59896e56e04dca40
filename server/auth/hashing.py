"""Password hashing off the event loop: a small, bounded pool with fair admission.

Each argon2 check takes tens of milliseconds of CPU and its memory cost in RAM. Run on asyncio's
default executor, a flood of logins ran as many at once as it had threads (each with its own
argon2 memory) and queued the rest without bound, first come first served: a flooding address
delayed everyone else's sign-in by as much as its backlog.

Here at most `workers` checks run at once; waiting checks queue per remote address and are taken
round-robin, so one address's backlog delays another address by at most one check per busy
address. Addresses with fewer recent failed sign-ins go first (`penalty`): once a flood has
failed a few times, an office signing in correctly is served ahead of it. The queue is bounded:
an address may hold its fair share of it (and always a few), and beyond that an attempt is
refused at once with a time to try again rather than held in memory.
"""
from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from cc_console.protocol import ErrorCode, ProtocolError


class _Job:
    __slots__ = ("fn", "args", "fut")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], fut: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.args = args
        self.fut = fut


class HashPool:
    def __init__(self, workers: int = 2, max_queue: int = 1000, min_share: int = 4,
                 penalty: Callable[[str], int] = lambda remote: 0) -> None:
        self.workers = max(1, workers)
        self.penalty = penalty
        self.max_queue = max_queue
        self.min_share = min_share
        self._executor: ThreadPoolExecutor | None = None
        self._queues: OrderedDict[str, deque[_Job]] = OrderedDict()  # round-robin order of addresses
        self._queued = 0
        self._running = 0
        self._seconds = 0.05  # moving average of one check, for the "try again in" estimate
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def queued(self) -> int:
        return self._queued

    def retry_after(self) -> int:
        return max(1, math.ceil((self._queued + self._running) * self._seconds / self.workers))

    async def run(self, remote: str, fn: Callable[..., Any], *args: Any) -> Any:
        """fn(*args) on a pool thread, after the checks queued before it in round-robin order."""
        self._loop = asyncio.get_running_loop()
        q = self._queues.get(remote)
        mine = len(q) if q else 0
        active = len(self._queues) + (0 if q else 1)
        if mine >= self.min_share and (self._queued >= self.max_queue or mine >= self.max_queue // active):
            retry = self.retry_after()
            raise ProtocolError(ErrorCode.RATE_LIMITED,
                                f"Too many sign-in attempts right now. Try again in {retry} s.", retry_after=retry)
        fut: asyncio.Future[Any] = self._loop.create_future()
        if q is None:
            q = self._queues[remote] = deque()
        q.append(_Job(fn, args, fut))
        self._queued += 1
        self._dispatch()
        return await fut  # cancelled while queued: _dispatch skips it

    def _dispatch(self) -> None:
        while self._running < self.workers and self._queues:
            # The least-failing address; among equals the first in round-robin order.
            remote = min(self._queues, key=self.penalty) if len(self._queues) > 1 else next(iter(self._queues))
            q = self._queues[remote]
            job = q.popleft()
            self._queued -= 1
            if q:
                self._queues.move_to_end(remote)
            else:
                del self._queues[remote]
            if job.fut.done():
                continue
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="cc-hash")
            self._running += 1
            cf = self._executor.submit(_timed, job.fn, *job.args)
            loop = self._loop
            assert loop is not None
            cf.add_done_callback(functools.partial(self._hand_back, loop, job))

    def _hand_back(self, loop: asyncio.AbstractEventLoop, job: _Job, cf: Future[Any]) -> None:
        """On the hashing thread: the result goes to the loop, unless the server already stopped."""
        if not loop.is_closed():
            try:
                loop.call_soon_threadsafe(self._done, job, cf)
            except RuntimeError:  # closed in between
                pass

    def _done(self, job: _Job, cf: Future[Any]) -> None:
        self._running -= 1
        try:
            seconds, result = cf.result()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting login
            if not job.fut.done():
                job.fut.set_exception(exc)
        else:
            self._seconds = 0.8 * self._seconds + 0.2 * seconds
            if not job.fut.done():
                job.fut.set_result(result)
        self._dispatch()

    def shutdown(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _timed(fn: Callable[..., Any], *args: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - t0, result
