"""Reports from the read model's per-15-minute aggregates (see cache.py), exactly as call by call.

A range is cut into whole 15-minute slots (summed from the aggregates: whole UTC days from the day rows,
the other slots from the slot rows) and at most two partial slots at its ends (computed call by call from
the per-call rows). Interval starts are whole slots (every real zone's offset is a multiple of 15
minutes), so intervals add up exactly. Figures that depend on a report's parameters come from wait
histograms kept per slot (answered waits by whole second up to 600 s, abandon waits likewise): a
service-level threshold, a short-abandon limit and wait buckets are answered exactly when they are
whole seconds from 0 to 600. Anything else (and a time zone with an offset that is not a multiple of 15
minutes) raises NotAggregable: the caller then computes the report call by call.

What still reads per-call rows: the partial slots at a range's ends; calls overflowed into a queue (a
tenant's distinct calls); wrap-ups and agent states still open (they end at `now`); each pause of the
agent report (it lists them); the agents' state at the range's edges.
"""
from __future__ import annotations

from typing import Any

from cc_console import service_level
from cc_console.service_level import DEFAULT_THRESHOLD

from .cache import DAY, DAY_S, DAY_US, QAGG_SUMS, SLOT, ReportCache
from .figures import (
    AGENT_TIMES,
    BUILDERS,
    HIST_MAX,
    RAW_COUNTS,
    AgentRows,
    Bucketer,
    Params,
    QueueAcc,
    Report,
    _add,
    agent_bands,
    check,
    erlang_report,
    us,
)
from .levels import day_pieces


class NotAggregable(Exception):
    """The report needs the per-call rows (a parameter the aggregates cannot answer exactly)."""


def _whole(x: float | None) -> bool:
    return x is not None and float(x).is_integer() and 0 <= x <= HIST_MAX


def aggregable(p: Params, sl_of: dict[str, float]) -> str | None:
    """None if the aggregates answer these parameters exactly, else why not."""
    thresholds = [p.sl_threshold] if p.sl_threshold is not None else list(sl_of.values()) + [DEFAULT_THRESHOLD]
    if not all(_whole(t) for t in thresholds):
        return f"a service-level threshold that is not a whole number of seconds from 0 to {HIST_MAX}"
    if not _whole(p.short_abandon):
        return f"a short-abandon limit that is not a whole number of seconds from 0 to {HIST_MAX}"
    if not all(_whole(b) for b in p.buckets):
        return f"a wait bucket that is not a whole number of seconds from 0 to {HIST_MAX}"
    if not all(_whole(b) for b in p.ring_buckets):
        return f"a ring band that is not a whole number of seconds from 0 to {HIST_MAX}"
    return None


def _ceil_slot(x: float) -> int:
    return int(x // SLOT) + (1 if x % SLOT else 0)


def split(x: float, y: float) -> tuple[list[tuple[int, int, int]], list[tuple[float, float]]]:
    """[x, y) -> (pieces (lvl, lo, hi) of whole slots / whole days, partial windows [lo, hi) in seconds)."""
    sx, sy = _ceil_slot(x), int(y // SLOT)
    if sx >= sy:
        return [], ([(x, y)] if y > x else [])
    edges = ([(x, sx * float(SLOT))] if x < sx * SLOT else []) + ([(sy * float(SLOT), y)] if sy * SLOT < y else [])
    return pieces(sx, sy), edges


def pieces(sx: int, sy: int) -> list[tuple[int, int, int]]:
    """Slots [sx, sy) as whole days and blocks of days (levels 1..) plus the slots around them (lvl 0)."""
    dx, dy = -(-sx // DAY), sy // DAY
    if dx >= dy:
        return [(0, sx, sy)]
    out = day_pieces(dx, dy)
    if sx < dx * DAY:
        out.append((0, sx, dx * DAY))
    if dy * DAY < sy:
        out.append((0, dy * DAY, sy))
    return out


class AggSource:
    """Queue figures grouped one way or another, summed from the aggregates (plus the partial slots)."""

    def __init__(self, cache: ReportCache, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> None:
        why = aggregable(p, sl_of)
        if why:
            raise NotAggregable(why)
        self.cache, self.p, self.sl_of, self.tenant_of = cache, p, sl_of, tenant_of
        self.now = p.now if p.now is not None else p.end
        qs = set(p.queues) if p.queues else None
        ts = set(p.tenants) if p.tenants else None
        self.sel = lambda q: (qs is None or q in qs) and (ts is None or tenant_of.get(q, "") in ts)  # noqa: E731
        self.extra_calls: dict[Any, int] = {}

    def _ranges(self, by: str, bk: Bucketer | None) -> tuple[list[Any], list[tuple[float, float]]]:
        p = self.p
        if by != "interval":
            return [None], [(p.start, p.end)]
        assert bk is not None
        keys = bk.all_keys()
        if any(k % SLOT for k in keys[1:]):
            raise NotAggregable("interval boundaries that are not whole 15-minute slots in this time zone")
        bounds = [p.start] + keys[1:] + [p.end]
        return keys, [(bounds[i], bounds[i + 1]) for i in range(len(keys))]

    def accs(self, by: str, bk: Bucketer | None = None) -> dict[Any, QueueAcc]:
        p, cache, tenant_of = self.p, self.cache, self.tenant_of
        keys, ranges = self._ranges(by, bk)
        if by == "interval":
            gkey: Any = lambda i, q, c: keys[i]  # noqa: E731
        elif by == "queue":
            gkey = lambda i, q, c: q  # noqa: E731
        elif by == "all":
            gkey = lambda i, q, c: ""  # noqa: E731
        elif by == "tenant":
            gkey = lambda i, q, c: tenant_of.get(q, "")  # noqa: E731
        elif by == "category":
            gkey = lambda i, q, c: c or "(none)"  # noqa: E731
        else:
            raise ValueError(by)
        nb, nr = len(p.buckets), len(p.ring_buckets)
        accs: dict[Any, QueueAcc] = {}

        def acc_for(k: Any) -> QueueAcc:
            a = accs.get(k)
            if a is None:
                a = accs[k] = QueueAcc(nb, calls=False, nr=nr)
            return a
        ivs: list[tuple[int, int, int, int]] = []
        edges: list[tuple[int, float, float]] = []
        whole: list[tuple[int, float, float]] = []  # (idx, lo, hi) seconds summed from aggregates
        for i, (x, y) in enumerate(ranges):
            pcs, eds = split(x, y)
            ivs += [(lvl, lo, hi, i) for lvl, lo, hi in pcs]
            edges += [(i, lo, hi) for lo, hi in eds]
            if pcs:
                whole.append((i, float(_ceil_slot(x) * SLOT), float(int(y // SLOT) * SLOT)))
        cat = by == "category"
        queues = list(p.queues)
        rows, hrows = cache.queue_aggregates(ivs, queues, cat, p, self.sl_of)
        nq = len(QAGG_SUMS)
        ri = {c: i for i, c in enumerate(QAGG_SUMS)}
        for r in rows:
            i, q, c = r[0], r[1], r[2]
            if not self.sel(q):
                continue
            a = acc_for(gkey(i, q, c))
            n = a.n
            v = r[3:]
            for col in RAW_COUNTS:
                n[col] += v[ri[col]]
            a.new_calls += v[ri["new_calls"]]
            a.answered_wait += v[ri["answered_wait"]]
            a.abandon_wait += v[ri["abandon_wait"]]
            a.talk += v[ri["talk"]]
            a.hold += v[ri["hold"]]
            a.wrapup += v[ri["wrapup"]]
            a.talk_min += v[ri["talk_min"]]
            if v[nq] > a.longest:
                a.longest = v[nq]
        for r in hrows:
            i, q, c = r[0], r[1], r[2]
            if not self.sel(q):
                continue
            a = acc_for(gkey(i, q, c))
            a.n["answered_within"] += r[3]
            a.n["short_abandons"] += r[4]
            bc = a.bucket_counts
            for j in range(nb + 1):
                bc[j] += r[5 + j]
            rc = a.ring_counts
            for j in range(nr + 1):
                rc[j] += r[6 + nb + j]
        # open wrap-ups (they end at `now`) of calls answered in the whole slots
        for sp in cache.open_spans():
            if sp.state != "wrap_up" or not sp.call_id:
                continue
            w = us(max(0.0, self.now - sp.start))
            for sg in cache.segments_of(sp.call_id):
                if sg.outcome != "answered" or sg.agent != sp.agent or not self.sel(sg.queue):
                    continue
                for i, lo, hi in whole:
                    if lo <= sg.offered_ts < hi:
                        acc_for(gkey(i, sg.queue, sg.category)).wrapup += w
        # the partial slots at the ends, call by call
        for i, lo, hi in edges:
            f = cache.facts(lo, hi, queues=queues or None, now=self.now)
            wraps = f.wrapups or {}
            for sg in f.segments:
                if not self.sel(sg.queue):
                    continue
                sl = service_level.threshold(sg.queue, self.sl_of, p.sl_threshold)
                _add(acc_for(gkey(i, sg.queue, sg.category)), sg, sl, p.short_abandon, p.buckets,
                     wraps.get((sg.call_id, sg.agent), 0) if sg.outcome == "answered" else 0, p.ring_buckets)
        if by == "tenant":
            # distinct calls: each arrival, plus a call overflowed into a tenant's queue whose arrival is not
            # already counted there (in the range, passing the same selection)
            seen: set[tuple[str, str]] = set()
            for cid, q, q0, t0 in cache.overflow_segments(p.start, p.end):
                if not self.sel(q):
                    continue
                t = tenant_of.get(q, "")
                if q0 is not None and p.start <= t0 < p.end and self.sel(q0) and tenant_of.get(q0, "") == t:
                    continue
                if (cid, t) not in seen:
                    seen.add((cid, t))
                    acc_for(t).new_calls += 1
        return accs

    def distinct_calls(self, acc: QueueAcc) -> int:
        return acc.new_calls


def agent_report(cache: ReportCache, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    a, b = p.start, p.end
    now = min(p.now if p.now is not None else b, b)
    wrap_now = p.now if p.now is not None else p.end
    agents = set(p.agents) if p.agents else None
    qs = set(p.queues) if p.queues else None
    rows = AgentRows(agents, len(p.buckets), len(p.ring_buckets))
    a_us, b_us, now_us = us(a), us(b), us(now)
    # states: whole UTC days from the aggregates (closed spans); the partial days at the ends and the open
    # spans from the spans themselves
    dx, dy = -(-a_us // DAY_US), b_us // DAY_US
    if dx < dy:
        tdays = day_pieces(dx, dy)
        windows = ([(a_us, dx * DAY_US)] if a_us < dx * DAY_US else []) + \
            ([(dy * DAY_US, b_us)] if dy * DAY_US < b_us else [])
    else:
        tdays, windows = [], [(a_us, b_us)]
    for r in cache.agent_times(tdays):
        ag = r[0]
        if agents is not None and ag not in agents:
            continue
        row = rows.row(ag)
        for c, v in zip(AGENT_TIMES, r[1:]):
            row[c] += v
    known = [ag for ag in cache.agent_names() if agents is None or ag in agents]
    lo: float  # microseconds here, seconds in the handled-calls windows below
    hi: float
    for lo, hi in windows:
        for sp in cache.spans_around(known, lo / 1e6, hi / 1e6):
            rows.span(sp, lo, hi, now_us, pauses=False)
    for sp in cache.open_spans():
        rows.span(sp, a_us, b_us, now_us)  # with its pause, clipped to the whole range
    # each pause (closed), clipped to the whole range
    for sp in cache.pauses_around(known, a, b):
        if (agents is not None and sp.agent not in agents) or sp.end is None:  # closed ones only
            continue
        d = min(us(sp.end), b_us) - max(us(sp.start), a_us)
        if d > 0:
            rows.pause(sp, d)
    # an agent whose only state in the range is logged_out is listed too (with zeros)
    for ag in known:
        if ag not in rows.t and cache.agent_present(ag, a, b, a_us, b_us):
            rows.row(ag)
    # handled calls (where answered) and misses (where they rang out): whole days, then the partial ones
    fx, fy = int(a // DAY_S) + (1 if a % DAY_S else 0), int(b // DAY_S)
    if fx < fy:
        hdays = day_pieces(fx, fy)
        hwin = (([(a, fx * float(DAY_S))] if a < fx * DAY_S else [])
                + ([(fy * float(DAY_S), b)] if fy * DAY_S < b else []))
    else:
        hdays, hwin = [], [(a, b)]
    for ag, q, n, aht, hold, tr in cache.handled(hdays):
        if qs is None or q in qs:
            rows.handled(ag, n, aht, hold, tr)
    nb = len(p.buckets)
    for r in cache.agent_hists(hdays, p, sl_of):
        if qs is None or r[1] in qs:
            rows.bands(r[0], r[2], list(r[3:4 + nb]), list(r[4 + nb:]))
    for ag, q, n, dec in cache.missed(hdays):
        if qs is None or q in qs:
            rows.missed(ag, n, dec)
    if hdays:
        lo, hi = fx * float(DAY_S), fy * float(DAY_S)
        for sp in cache.open_spans():
            if sp.state != "wrap_up" or not sp.call_id:
                continue
            w = us(max(0.0, wrap_now - sp.start))
            for sg in cache.segments_of(sp.call_id):
                if sg.outcome == "answered" and sg.agent == sp.agent and sg.answered_ts is not None \
                        and lo <= sg.answered_ts < hi and (qs is None or sg.queue in qs):
                    rows.handled(sg.agent, 0, w)
    for lo, hi in hwin:
        for ag, q, aht, hold, tr, wait, ring in cache.answered_in(lo, hi, wrap_now):
            if qs is None or q in qs:
                rows.handled(ag, 1, aht, hold, tr)
                agent_bands(rows, p, sl_of, ag, q, wait, ring)
        for ag, q, why in cache.misses_in(lo, hi):
            if qs is None or q in qs:
                rows.missed(ag, 1, 1 if why == "declined" else 0)
    return rows.report(p)


def compute(cache: ReportCache, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    """A report from the aggregates; raises NotAggregable when it needs the per-call rows."""
    check(p)
    if p.kind == "agent":
        why = aggregable(p, sl_of)
        if why:
            raise NotAggregable(why)
        return agent_report(cache, p, sl_of, tenant_of)
    src = AggSource(cache, p, sl_of, tenant_of)
    if p.kind == "erlang":
        return erlang_report(src, p, sl_of, tenant_of)
    return BUILDERS[p.kind](src, p, sl_of, tenant_of)


__all__ = ["NotAggregable", "aggregable", "compute", "split", "AggSource"]
