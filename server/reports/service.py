"""The `report.run` protocol command: permissions, parameters, a report computed off the event loop."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cc_console.errors import Forbidden, Invalid, NotFound, Unavailable
from cc_console.server.store import Store
from cc_console.server.written import WrittenItem

from . import default_tz, params_from, run
from .cache import ReportCache
from .channels import channel_report
from .scope import ScopeError, apply_scope, scope_for

log = logging.getLogger(__name__)

_caches: dict[str, ReportCache] = {}
_lock = threading.Lock()

# value: the JSON type(s) an option takes
OPTION_KEYS: dict[str, type | tuple[type, ...]] = {
               "tz": str, "sl": (int, float), "sl_formula": str, "short_abandon": (int, float),
               "buckets": list, "ring_buckets": list, "intraday": bool, "calls": (int, float), "aht": (int, float),
               "target_sl": (int, float), "top": int}


def cache_for(store: Store) -> ReportCache:
    """The read model beside this store (one per store: its refreshes are serialised by its lock)."""
    key = store.beside(".reports")
    with _lock:
        c = _caches.get(key)
        if c is None:
            c = _caches[key] = ReportCache(store)
        return c


def run_for_user(store: Any, cfg: Any, username: str, args: dict[str, Any], now: float | None = None,
                 written: Callable[[float, float], list[WrittenItem]] | None = None) -> dict[str, Any]:
    """Compute a report for a user within their scope. Raises a DomainError (cc_console/errors.py).

    written: the written work items queued in [start, end) (kind channel; server/written.py)."""
    queue_tenants = {n: q.tenant for n, q in cfg.queues.items()}
    user = store.get_user(username)
    role = store.get_role(user["role"]) if user and hasattr(store, "get_role") else None
    role_queues = frozenset(role["queues"]) if role and role.get("queues") is not None else None
    scope = scope_for(user, queue_tenants, role_queues)
    for key in ("queues", "agents", "tenants"):
        if not all(isinstance(v, str) for v in args.get(key) or []):
            raise Invalid(f"report.run: {key} is a list of names")
    opts = dict(args.get("options") or {})
    for k, v in opts.items():
        t = OPTION_KEYS.get(k)
        if t is None:
            raise Invalid(f"report.run: unknown option {k!r}")
        if not isinstance(v, t) or (isinstance(v, bool) and t is not bool):
            raise Invalid(f"report.run: option {k!r} has the wrong type")
    agent_queues = {a: list(p.penalties) for a, p in cfg.agents.items()}
    try:
        queues = apply_scope(scope, list(args.get("queues") or []), list(args.get("tenants") or []), queue_tenants,
                             list(args.get("agents") or []), agent_queues)
    except ScopeError as exc:
        raise Forbidden(str(exc)) from None
    unknown = [q for q in args.get("queues") or [] if q not in cfg.queues]
    if unknown:
        raise NotFound(f"unknown queue(s): {unknown}")
    tz = opts.get("tz") or default_tz(cfg)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file name
        raise Invalid(f"report.run: unknown time zone {tz[:60]!r}") from None
    kind = args.get("kind", "queue")
    if kind == "channel":
        return _channel_report(store, cfg, args, opts, queues, now, written)
    extra: dict[str, Any] = {}
    if kind == "erlang":
        secs = {"15": 900.0, "30": 1800.0, "60": 3600.0, "hour": 3600.0}.get(args.get("interval", "30"), 1800.0)
        extra = {"calls": opts.get("calls"), "aht": opts.get("aht"), "interval_s": secs,
                 "target_sl": opts.get("target_sl", 0.8)}
    try:
        p = params_from(kind, args.get("from", "today"), args.get("to"), tz=opts.get("tz") or default_tz(cfg),
                        intraday=bool(opts.get("intraday")), now=now, queues=queues,
                        agents=list(args.get("agents") or []), tenants=list(args.get("tenants") or []),
                        interval=args.get("interval") or ("30" if kind in ("interval", "erlang") else "total"),
                        sl_threshold=opts.get("sl"), sl_formula=opts.get("sl_formula", "answered"),
                        short_abandon=opts.get("short_abandon", 5.0), buckets=opts.get("buckets"),
                        ring_buckets=opts.get("ring_buckets"),
                        top=opts.get("top", 10), **extra)
        if p.kind == "agent" and scope.queues is not None and not p.agents:
            p.agents = sorted(a for a, qs in agent_queues.items() if set(qs) & scope.queues)
        cache = None if kind == "erlang" and p.calls is not None else cache_for(store)
        report = run(cache, cfg, p)
    except (ValueError, KeyError) as exc:
        raise Invalid(f"report.run: {exc}") from None
    return {"report": report.to_dict()}



def _channel_report(store: Any, cfg: Any, args: dict[str, Any], opts: dict[str, Any], queues: list[str],
                    now: float | None, written: Callable[[float, float], list[WrittenItem]] | None
                    ) -> dict[str, Any]:
    """Calls (the queue report over the whole range) beside the written items, per channel and queue."""
    try:
        p = params_from("queue", args.get("from", "today"), args.get("to"), tz=opts.get("tz") or default_tz(cfg),
                        intraday=bool(opts.get("intraday")), now=now, queues=queues,
                        tenants=list(args.get("tenants") or []), interval="total", sl_threshold=opts.get("sl"),
                        sl_formula=opts.get("sl_formula", "answered"), short_abandon=opts.get("short_abandon", 5.0))
        calls = run(cache_for(store), cfg, p)
    except (ValueError, KeyError) as exc:
        raise Invalid(f"report.run: {exc}") from None
    try:
        items = written(p.start, p.end) if written is not None else []
    except Exception:
        log.exception("written work items not read for the channel report")
        raise Unavailable("The chat figures cannot be read right now; try again shortly.") \
            from None
    if p.tenants:  # the queue report narrows calls to these tenants' queues; the same for written items
        tenant_of = {n: q.tenant for n, q in cfg.queues.items()}
        items = [it for it in items if tenant_of.get(it.queue) in p.tenants]
    return {"report": channel_report(calls, items, p).to_dict()}
