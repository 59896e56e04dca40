"""Reports and statistics, exact to the call: figures computed from the event store.

facts.py   events -> call segments, agent spans, misses (a pure fold)
figures.py facts -> reports (pure)
erlang.py  Erlang C staffing (pure)
cache.py   the read model in <db>.reports (the event store is only read), with per-15-minute aggregates
split_build.py its first build over a long event log, split into parts (the first built by the caller, the
           others by worker processes), the first part's file adopted as the read model, the others merged in
aggregate.py reports summed from those aggregates (exactly the per-call figures)
export.py  CSV, Excel, PDF
schedule.py e-mailed reports on a timetable
scope.py   who may see what
"""
from __future__ import annotations

from typing import Any

from .facts import Facts, fold
from .figures import KINDS, Params, Report, compute, last_complete_interval_end, parse_time

__all__ = ["Facts", "fold", "Params", "Report", "compute", "KINDS", "run", "config_maps",
           "last_complete_interval_end", "parse_time", "params_from"]


def config_maps(cfg: Any) -> tuple[dict[str, float], dict[str, str]]:
    """(queue -> service-level seconds, queue -> tenant) from a RoutingConfig."""
    if cfg is None:
        return {}, {}
    return ({n: float(q.service_level) for n, q in cfg.queues.items()},
            {n: q.tenant for n, q in cfg.queues.items()})


def default_tz(cfg: Any) -> str:
    for q in (cfg.queues.values() if cfg is not None else []):
        return q.schedule.tz
    return "UTC"


def params_from(kind: str, start: Any, end: Any, *, tz: str = "UTC", intraday: bool = False,
                now: float | None = None, **kw: Any) -> Params:
    """Params from loose input (ISO times, 'today', epoch). intraday: end at the last complete interval."""
    import time as _t
    p = Params(kind=kind, tz=tz, **{k: v for k, v in kw.items() if v is not None})
    p.start = parse_time(start, tz)
    now = _t.time() if now is None else now
    p.end = parse_time(end, tz) if end not in (None, "") else now
    if intraday:
        iv = p.interval if p.interval in ("15", "30", "60", "hour") else "15"
        p.end = min(p.end, last_complete_interval_end(now, iv, tz))
    p.now = min(now, p.end)
    if p.end <= p.start and kind != "erlang":
        raise ValueError("the range is empty: 'to' must be after 'from'")
    return p


def run(cache: Any, cfg: Any, p: Params, refresh: bool = True, path: str = "auto") -> Report:
    """Refresh the read model, compute the report.

    path: "auto" sums the read model's per-15-minute aggregates when they answer the parameters exactly
    (see aggregate.py), else reads the per-call rows; "calls" always reads the per-call rows (the
    reference); "aggregates" refuses (NotAggregable) what the aggregates cannot answer."""
    from .aggregate import NotAggregable
    from .aggregate import compute as compute_agg
    sl_of, tenant_of = config_maps(cfg)
    if p.kind == "erlang" and p.calls is not None:
        return compute(None, p, sl_of, tenant_of)
    if refresh:
        cache.refresh()
    if path != "calls":
        try:
            return compute_agg(cache, p, sl_of, tenant_of)
        except NotAggregable:
            if path == "aggregates":
                raise
    queues = list(p.queues)
    if p.tenants and not queues:
        queues = [q for q, t in tenant_of.items() if t in p.tenants]
        if not queues:
            queues = ["\x00none"]
    facts = cache.facts(p.start, p.end, queues=queues or None, agents=p.kind == "agent", now=p.now)
    return compute(facts, p, sl_of, tenant_of)
