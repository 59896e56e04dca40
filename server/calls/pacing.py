"""How often a queue's figures go to the consoles: its first change at once, then at most one push
per interval (leading and trailing edge).

The figures change with almost every call and agent event, and each push costs every console a
frame, so a burst must cost one push per interval, not one per change. Holding the first change
for the whole interval (trailing edge only, as before) added up to the interval to every change
a wallboard showed: after a quiet spell nothing is gained by waiting. The push is made at the end
of the loop's tick (a zero delay), so the changes of one handler still go out as one."""
from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol


class _Handle(Protocol):
    def cancel(self) -> None: ...


Later = Callable[[float, Callable[[str], None], str], _Handle]


class LeadingEdgePacer:
    """`changed(key)` asks for `send(key)`: at the end of this tick when `key` was last sent an
    interval ago or more, else when the interval since then is over; changes while one is due ride
    on it. `send` reads the state when it runs, so the last value always goes out."""

    def __init__(self, interval: float, send: Callable[[str], None], *,
                 now: Callable[[], float] | None = None, later: Later | None = None) -> None:
        self.interval = interval
        self._send = send
        self._now = now  # None: the running loop's clock (what call_later counts in)
        self._later = later
        self._last: dict[str, float] = {}  # key -> when it was last sent
        self._due: dict[str, _Handle] = {}  # key -> its scheduled send

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
        wait = self._last.get(key, float("-inf")) + self.interval - now()
        self._due[key] = later(max(0.0, wait), self._fire, key)

    def _fire(self, key: str) -> None:
        self._due.pop(key, None)
        clock = self._clock()
        self._last[key] = clock[0]() if clock else 0.0
        self._send(key)

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
