"""Token buckets: a rate limit per key (an API client, an address), shared by every front door
(the REST API, the CRM's routes, the public web pages)."""
from __future__ import annotations

import time
from collections.abc import Callable


class TokenBuckets:
    """Per-principal rate limit: ``rate`` requests a second on average, bursts of ``burst``."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate, self.burst, self.clock = rate, burst, clock
        self._b: dict[str, tuple[float, float]] = {}

    def take(self, key: str) -> float:
        """0 when allowed; else the seconds until the next request would be."""
        now = self.clock()
        tokens, last = self._b.get(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        if tokens < 1.0:
            self._b[key] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._b[key] = (tokens - 1.0, now)
        if len(self._b) > 10000:  # forget idle keys (full buckets) so addresses cannot grow it forever
            self._b = {k: v for k, v in self._b.items() if v[0] < self.burst - 1}
        return 0.0
