"""Today's chat figures per channel and queue, and per agent: what chat.stats, the chat.stats event
and the wallboard's chat tiles show. Pure bookkeeping on the event loop; rebuilt from the store's
closed conversations after a restart."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass
class _Day:
    offered: int = 0
    handled: int = 0
    abandoned: int = 0
    overflowed: int = 0
    in_sl: int = 0  # handled and accepted within the service level


class DayFigures:
    def __init__(self, service_level: float) -> None:
        self.service_level = service_level  # seconds of waiting
        self.day: dict[tuple[str, str], _Day] = {}
        self.mine: dict[str, int] = {}  # agent -> chats handled today

    def reset(self) -> None:
        """A new day."""
        self.day.clear()
        self.mine.clear()

    def _of(self, channel: str, queue: str) -> _Day:
        return self.day.setdefault((channel, queue), _Day())

    def offered(self, channel: str, queue: str) -> None:
        self._of(channel, queue).offered += 1

    def overflowed(self, channel: str, queue: str) -> None:
        """Moved on to another queue (an overflow that ends the chat counts by its outcome)."""
        self._of(channel, queue).overflowed += 1

    def closed(self, channel: str, queue: str, agent: str | None, enqueued: float | None,
               accepted: float | None, outcome: str) -> None:
        d = self._of(channel, queue)
        if outcome == "handled":
            d.handled += 1
            if agent:
                self.mine[agent] = self.mine.get(agent, 0) + 1
            if enqueued is not None and accepted is not None and accepted - enqueued <= self.service_level:
                d.in_sl += 1
        elif outcome == "abandoned":
            d.abandoned += 1
        elif outcome == "overflow":
            d.overflowed += 1

    def stats(self, waiting: dict[tuple[str, str], list[float]], active: Iterable[str]) -> dict[str, Any]:
        """Per channel and queue: waiting (their waits now), longest wait, offered, handled,
        abandoned, overflowed, service level (percent of today's handled and abandoned chats
        accepted within service_level); per agent: chats now (`active`: one agent id per chat) and
        handled today."""
        out = []
        for key in sorted(set(self.day) | set(waiting)):
            d = self.day.get(key, _Day())
            w = waiting.get(key, [])
            done = d.handled + d.abandoned
            out.append({"channel": key[0], "queue": key[1], "waiting": len(w),
                        "longest_wait": round(max(w), 1) if w else 0.0, "offered": d.offered,
                        "handled": d.handled, "abandoned": d.abandoned, "overflowed": d.overflowed,
                        "service_level": round(100.0 * d.in_sl / done, 1) if done else None})
        now: dict[str, int] = {}
        for a in active:
            now[a] = now.get(a, 0) + 1
        return {"queues": out, "agents": {a: {"chats": now.get(a, 0), "handled": self.mine.get(a, 0)}
                                          for a in sorted(set(now) | set(self.mine))}}
