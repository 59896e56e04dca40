"""Service level: the share of calls answered within a queue's threshold, defined once.

The live queue figures (the call engine), an agent's own figures (contacts) and the reports all
count a call as within when :func:`within` says so, take a queue's threshold from
:func:`threshold`, and divide with :func:`ratio`; only the denominator is theirs to choose (calls
answered, calls offered, or an agent's handled plus missed calls). The reports' read model
applies the same rule in SQL (``sec <= threshold`` over whole seconds, server/reports/cache.py).
"""
from __future__ import annotations

from collections.abc import Mapping

# Seconds: the industry's usual 80/20 target, for a queue that sets no threshold of its own.
DEFAULT_THRESHOLD = 20.0


def threshold(queue: str | None, thresholds: Mapping[str, float], override: float | None = None) -> float:
    """The queue's threshold in seconds: ``override`` (a report's own), else the queue's, else the default."""
    if override is not None:
        return float(override)
    return float(thresholds.get(queue or "", DEFAULT_THRESHOLD))


def within(wait: float, limit: float) -> bool:
    """A call answered after ``wait`` seconds is within a ``limit``-second service level (inclusive)."""
    return wait <= limit


def ratio(within_count: int, total: int) -> float | None:
    """The service level as a fraction; None when there is nothing to count (not 0 %, not 100 %)."""
    return within_count / total if total > 0 else None


def percent(within_count: int, total: int) -> float | None:
    """The same as a percentage rounded to 0.01, as reports show it."""
    r = ratio(within_count, total)
    return None if r is None else round(100.0 * r, 2)
