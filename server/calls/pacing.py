"""How often a queue's figures go to the consoles: its first change at once, then at most one push
per interval (leading and trailing edge), the interval short while pushes are cheap.

The figures change with almost every call and agent event, and each push costs every console a
frame, so a burst must cost one push per interval, not one per change. Holding the first change
for the whole interval (trailing edge only, as before) added up to the interval to every change
a wallboard showed: after a quiet spell nothing is gained by waiting. The push is made at the end
of the loop's tick (a zero delay), so the changes of one handler still go out as one.

A fixed interval of 0.25 s still held a change on a busy queue (one that changes more often than
the interval) for up to 0.25 s, most of a wallboard's 250 ms. With a `floor`, the interval is as
short as the floor while the pushes are cheap: each push's cost is measured (the thread's CPU
time; a push's cost is the median of the last nine), and the interval is
what keeps the pushes of all the queues that are changing within `budget` (a share of one core),
never longer than `interval` (the fixed interval's bound: a change is never held longer) nor
shorter than `floor`. So the pushes cost at most `budget` more than they did with the fixed
interval; with many consoles (a costly fan-out) or many busy queues the interval goes back up."""
from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class _Handle(Protocol):
    def cancel(self) -> None: ...


Later = Callable[[float, Callable[[str], None], str], _Handle]


class LeadingEdgePacer:
    """`changed(key)` asks for `send(key)`: at the end of this tick when `key` was last sent an
    interval ago or more, else when the interval since then is over; changes while one is due ride
    on it. `send` reads the state when it runs, so the last value always goes out.

    Without `floor` the interval is `interval`; with it, `current_interval()` (see the module's
    docstring). `cost` is the clock a send's cost is measured on (a test's fake)."""

    # A send's cost is the median of the last few: a garbage collection inside one send would
    # otherwise hold every queue at the longest interval for the next seconds.
    COSTS_KEPT = 9

    def __init__(self, interval: float, send: Callable[[str], None], *, floor: float | None = None,
                 budget: float = 0.02, now: Callable[[], float] | None = None, later: Later | None = None,
                 cost: Callable[[], float] = time.thread_time) -> None:
        self.interval = interval
        self.floor = floor
        self.budget = budget
        self._send = send
        self._now = now  # None: the running loop's clock (what call_later counts in)
        self._later = later
        self._cost_clock = cost  # CPU time of this thread: time waiting for a core is not a cost
        self._costs: deque[float] = deque(maxlen=self.COSTS_KEPT)
        self.send_cost = 0.0  # one send's cost, in seconds: the median of the last ones (0 until the first)
        self._last: dict[str, float] = {}  # key -> when it was last sent
        self._due: dict[str, _Handle] = {}  # key -> its scheduled send

    def current_interval(self, now: float | None = None) -> float:
        """The interval in force: `interval`, or with a floor what the measured cost allows."""
        if self.floor is None or self.floor >= self.interval:
            return self.interval
        if now is None:
            clock = self._clock()
            now = clock[0]() if clock else 0.0
        # The queues pushed within the last (longest) interval are the ones that share the budget.
        busy = max(1, sum(1 for t in self._last.values() if now - t < self.interval))
        return min(self.interval, max(self.floor, busy * self.send_cost / self.budget))

    def _clock(self) -> tuple[Callable[[], float], Later] | None:
        if self._now is not None and self._later is not None:
            return self._now, self._later
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        return self._now or loop.time, self._later or loop.call_later

    def changed(self, key: str) -> None:
        due = self._due.get(key)
        if due is not None and not isinstance(due, _Unscheduled):
            return
        clock = self._clock()
        if clock is None:  # no loop (a synchronous caller): sent at the next flush() or change in one
            self._due[key] = _Unscheduled()
            return
        now, later = clock
        t = now()
        last = self._last.get(key)
        wait = 0.0 if last is None else last + self.current_interval(t) - t
        self._due[key] = later(max(0.0, wait), self._fire, key)

    def _fire(self, key: str) -> None:
        self._due.pop(key, None)
        clock = self._clock()
        self._last[key] = clock[0]() if clock else 0.0
        if self.floor is None:
            self._send(key)
            return
        t0 = self._cost_clock()
        try:
            self._send(key)
        finally:
            self._costs.append(self._cost_clock() - t0)
            self.send_cost = statistics.median(self._costs)

    def pending(self) -> list[str]:
        return sorted(self._due)

    def flush(self) -> None:
        """Send every key that is due now (a bench's last figures; a test)."""
        for key in self.pending():
            self._due[key].cancel()
            self._fire(key)

    def cancel(self) -> None:
        for handle in self._due.values():
            handle.cancel()
        self._due.clear()


class _Unscheduled:
    def cancel(self) -> None:
        pass


__all__ = ["LeadingEdgePacer"]
