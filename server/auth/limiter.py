"""Login rate limiting: per user, per (user, address), and a gentle per-address slowdown.

An attempt is counted when it *starts*, in one step with the check (`begin`, no await and under
a lock), so a burst of concurrent attempts cannot all pass the check before the first failure is
recorded. Attempts still in flight count like failures until they end.

* (user, address): `max_failures` in `window`, then locked. The usual case: one person, or one
  attacker at one address, guessing one account.
* user, from anywhere: `user_max` (several times more), then locked: guessing spread over many
  addresses.
* address, over all users: never locked, since a whole office may sit behind one NAT address;
  past `addr_soft` failures each further attempt from it waits a little longer (up to
  `addr_delay_max` seconds) before its password is checked.

Keys are counted whether or not the user exists, and the refusal reads the same, so a lockout
never tells whether an account exists.
"""
from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cc_console.protocol import ErrorCode, ProtocolError


@dataclass
class _Count:
    fails: deque[float] = field(default_factory=deque)
    pending: int = 0


@dataclass
class Attempt:
    keys: tuple[str, ...]
    delay: float  # seconds to wait before checking the password (address slowdown)
    open: bool = True


class RateLimiter:
    def __init__(self, max_failures: int, window: float, *, user_max: int | None = None,
                 addr_soft: int | None = None, addr_delay_step: float = 0.25, addr_delay_max: float = 5.0,
                 max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.user_max = user_max if user_max is not None else 4 * max_failures
        self.addr_soft = addr_soft if addr_soft is not None else 10 * max_failures
        self.addr_delay_step = addr_delay_step
        self.addr_delay_max = addr_delay_max
        self.max_keys = max_keys
        self.clock = clock
        self._counts: dict[str, _Count] = {}
        self._lock = threading.Lock()  # the synchronous login (CLI, tests) may run on other threads

    @staticmethod
    def keys(username: str, remote: str) -> tuple[str, str, str]:
        user = username.lower()
        return f"ua:{user}\0{remote}", f"u:{user}", f"a:{remote}"

    def _count(self, key: str, now: float) -> _Count:
        c = self._counts.get(key)
        if c is None:
            if len(self._counts) >= self.max_keys:
                self._sweep(now)
            c = self._counts[key] = _Count()
        cutoff = now - self.window
        while c.fails and c.fails[0] < cutoff:
            c.fails.popleft()
        return c

    def _sweep(self, now: float) -> None:
        """Forget expired keys; if a spray of names still fills the table, the oldest go first."""
        cutoff = now - self.window
        for key in [k for k, c in self._counts.items() if not c.pending and (not c.fails or c.fails[-1] < cutoff)]:
            del self._counts[key]
        if len(self._counts) >= self.max_keys:
            idle = [k for k, c in self._counts.items() if not c.pending]
            for key in idle[:len(self._counts) - self.max_keys + 1]:
                del self._counts[key]

    def begin(self, username: str, remote: str = "") -> Attempt:
        """Check and count one attempt atomically; raises RATE_LIMITED when it may not start."""
        ua, u, a = self.keys(username, remote)
        with self._lock:
            now = self.clock()
            counts = {k: self._count(k, now) for k in (ua, u, a)}
            for key, limit in ((ua, self.max_failures), (u, self.user_max)):
                c = counts[key]
                need = len(c.fails) + c.pending - limit + 1  # failures that must leave the window
                if need > 0:
                    # Failures leave the window oldest first; attempts in flight end within seconds.
                    expires = c.fails[need - 1] + self.window if need <= len(c.fails) else now
                    raise _limited(max(1, math.ceil(expires - now)))
            c = counts[a]
            over = len(c.fails) + c.pending + 1 - self.addr_soft  # this attempt's place beyond the soft limit
            delay = min(self.addr_delay_max, over * self.addr_delay_step) if over > 0 else 0.0
            for k in (ua, u, a):
                counts[k].pending += 1
            return Attempt((ua, u, a), delay)

    def address_failures(self, remote: str) -> int:
        """Failed sign-ins from this address within the window (for the hashing queue's order)."""
        with self._lock:
            c = self._counts.get(f"a:{remote}")
            if c is None:
                return 0
            cutoff = self.clock() - self.window
            while c.fails and c.fails[0] < cutoff:
                c.fails.popleft()
            return len(c.fails)

    def end(self, attempt: Attempt, *, failed: bool, signed_in: bool = False) -> None:
        """The attempt is over: a failure stays counted for `window`; a sign-in clears its
        (user, address) count; anything else (never checked, TOTP asked for) just ends."""
        with self._lock:
            if not attempt.open:
                return
            attempt.open = False
            now = self.clock()
            for key in attempt.keys:
                c = self._counts.get(key)
                if c is None:
                    continue
                c.pending = max(0, c.pending - 1)
                if failed:
                    c.fails.append(now)
            if signed_in and attempt.keys[0] in self._counts:
                self._counts[attempt.keys[0]].fails.clear()

    # -- the simple interface, kept for callers that count failures by key -----------------------------
    def check(self, *keys: str) -> None:
        with self._lock:
            now = self.clock()
            for key in keys:
                c = self._count(key, now)
                if len(c.fails) >= self.max_failures:
                    raise _limited(max(1, math.ceil(c.fails[0] + self.window - now)))

    def fail(self, *keys: str) -> None:
        with self._lock:
            now = self.clock()
            for key in keys:
                self._count(key, now).fails.append(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


def _limited(retry: int) -> ProtocolError:
    return ProtocolError(ErrorCode.RATE_LIMITED, f"Too many failed sign-in attempts. Try again in {retry} s.",
                         retry_after=retry)
