"""The live sizes of a running Server's in-memory state, for the soak bench's "memory flat" check.

RSS alone cannot tell a server that leaks ended calls from a process whose allocator keeps freed
pages: the sizes of the structures that hold calls can. `sizes(server)` walks a fixed list of the
server's objects and measures every dict/set/list/deque attribute they hold (so a per-call map
added later is measured without touching this file), plus a few figures that are not attributes:
the consoles' send backlogs, the ARI client's HTTP requests waiting for a connection, the asyncio
tasks alive. Only len() calls: cheap enough to run beside the load every few seconds.
"""
from __future__ import annotations

import asyncio
import gc
from collections import deque
from typing import Any

_COLLECTIONS = (dict, set, frozenset, list, deque)


def _roots(server: Any) -> dict[str, Any]:
    eng = server.engine
    store = server.store
    roots = {"engine": eng, "router": eng.router, "monitors": eng.monitors, "gateway": server.gateway,
             "store": store, "store_writer": getattr(store, "_writer", None), "ari": server.ari,
             "ari_breaker": getattr(server.ari, "breaker", None), "auth": server.auth,
             "recordings": getattr(server, "recordings", None), "rest": getattr(server, "rest", None)}
    return {k: v for k, v in roots.items() if v is not None}


def sizes(server: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for prefix, obj in _roots(server).items():
        for name, value in vars(obj).items():
            if isinstance(value, _COLLECTIONS):
                out[f"{prefix}.{name}"] = len(value)
    out["gateway.backlog_total"] = sum(len(s.backlog) for s in server.gateway.sessions)
    try:
        pool = server.ari.http._transport._pool
        out["ari.http_requests"] = len(pool._requests)
        out["ari.http_connections"] = len(pool._connections)
    except AttributeError:  # another httpx: the figure is missing, not the run
        pass
    out["asyncio.tasks"] = len(asyncio.all_tasks())
    return out


def objects() -> int:
    """Objects the garbage collector tracks (after a collection). Walks the whole heap: only at the
    quiet points (before the steady phase, once it has drained), never under load."""
    gc.collect()
    return len(gc.get_objects())


# Structures whose size follows the configuration or the consoles connected, not the calls: they
# may differ between the two quiet points without being a leak (gateway._unflushed: the consoles
# with frames waiting for this tick's write, at most one entry per session).
NOT_PER_CALL = ("asyncio.tasks", "ari.http_connections", "gateway.handlers", "engine.hooks", "gateway._unflushed")


def leaks(before: dict[str, int], after: dict[str, int], calls: int) -> dict[str, tuple[int, int]]:
    """What grew between two quiet points (no call active) by more than a trace of the `calls`
    handled in between: state an ended call left behind. The allowance (2, or 1 % of the calls)
    covers a structure that keeps a bounded few, such as the last waits of a queue."""
    allowance = max(2, calls // 100)
    return {k: (before.get(k, 0), v) for k, v in after.items()
            if k not in NOT_PER_CALL and v - before.get(k, 0) > allowance}
