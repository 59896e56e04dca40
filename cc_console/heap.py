"""The collector's view of a long-running event loop's heap: what start-up built is set aside.

A console at 2,000 agents or a server holds hundreds of thousands of objects built at start-up
(the snapshot's records, the screen's widgets and caches, the routing and the capabilities) that
live as long as the process, and CPython's full collections walked all of them: at 2,000 agents
and 1,000 events a second a full collection stopped the supervisor app's loop for 130-545 ms and
the server's for 200-290 ms, the largest part of the event-to-screen tail (bench/e2e_screens.py,
docs/fanout.md). ``settle()`` collects once and then freezes what is alive (gc.freeze): later
collections look only at what was made since; frozen objects are still freed by reference counting
when they go. Only a process that owns its whole heap calls it (the server's and the console's
entry points), never a library user or a test process that runs many servers and apps in turn.
"""
from __future__ import annotations

import gc
import logging
import time

log = logging.getLogger(__name__)


def settle() -> int:
    """Collect, then keep every object alive now out of later collections; the number frozen.

    What an earlier settle froze is thawed and collected first: a console settles after each
    snapshot, and a screen frozen at the last one and closed since (a log-out) would otherwise never
    be collected, its widgets being cycles."""
    t = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    frozen = gc.get_freeze_count()
    log.info("heap settled: %d objects frozen in %.0f ms", frozen, (time.perf_counter() - t) * 1000)
    return frozen


__all__ = ["settle"]
