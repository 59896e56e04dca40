"""The effect runner: the side effects of the engine's state changes (ARI requests, a recording's
storage), run as tasks so a slow HTTP round trip never holds up the event stream.

Effects with the same key (a call id) run one at a time, in the order they were asked for: the
bridge must exist before the agent's leg is added to it. Effects with different keys (or none) run
side by side. A failing effect is logged and does not stop the next one of its call. Retrying is
the ARI client's (stamina's jittered backoff for idempotent requests, server/ari/breaker.py), not
the runner's: a request that is not safe to repeat must not be repeated here either.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from cc_console.server.ari import AriError

log = logging.getLogger(__name__)


class EffectRunner:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.chains: dict[str, asyncio.Task[None]] = {}  # key -> its last effect (the next one waits for it)

    def run(self, coro: Coroutine[Any, Any, Any], what: str, key: str | None = None) -> None:
        """Run ``coro`` after the effects already asked for with ``key``; ``what`` names it in the log."""
        prev = self.chains.get(key) if key else None

        async def guarded() -> None:
            if prev is not None:
                await asyncio.wait([prev])
            try:
                await coro
            except AriError as exc:
                log.warning("%s: %s", what, exc)
            except Exception:
                log.exception("%s failed", what)
        task = asyncio.get_running_loop().create_task(guarded(), name=what)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if key:
            chains = self.chains
            chains[key] = task
            task.add_done_callback(lambda t: chains.pop(key, None) if chains.get(key) is t else None)

    async def idle(self) -> None:
        """Wait until no effect is running (tests and shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
