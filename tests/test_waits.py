"""A background loop that waits for a wake-up stops when cancelled, even when the cancel and the
wake-up come in the same turn (Python 3.11's wait_for lost such a cancel: the server's stop hung
whenever an agent became ready as it stopped)."""
from __future__ import annotations

import asyncio
import contextlib

from cc_console.server.waits import woken


async def test_a_cancel_that_meets_a_wake_up_is_never_lost():
    async def loop(ev: asyncio.Event) -> None:
        while True:
            ev.clear()
            await woken(ev, 10)

    lost = 0
    for i in range(200):
        ev = asyncio.Event()
        task = asyncio.create_task(loop(ev))
        for _ in range(i % 4):  # every phase of the wait
            await asyncio.sleep(0)
        ev.set()
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=1)
        if not done:
            lost += 1
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert lost == 0


async def test_woken_says_whether_the_event_came():
    ev = asyncio.Event()
    assert await woken(ev, 0.01) is False
    asyncio.get_running_loop().call_soon(ev.set)
    assert await woken(ev, 5) is True
