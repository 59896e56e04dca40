"""Waiting for a wake-up with a time limit, without ever losing a cancellation.

On Python 3.11, ``asyncio.wait_for(event.wait(), t)`` returns normally when the task is cancelled
in the same turn as the event is set (the cancellation is swallowed, gh-86296): a background loop
written that way does not stop, and whatever awaits it at shutdown waits for ever. That hung the
server's stop whenever an agent became ready as it stopped. ``asyncio.timeout`` has no such race.
"""
from __future__ import annotations

import asyncio


async def woken(event: asyncio.Event, timeout: float) -> bool:
    """Wait until ``event`` is set or ``timeout`` seconds pass; True if it was set."""
    try:
        async with asyncio.timeout(timeout):
            await event.wait()
    except TimeoutError:
        return False
    return True
