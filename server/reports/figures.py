"""Facts -> figures: queue, interval, agent, tenant, category and staffing reports. Pure, no I/O.

Every report is a `Report`: a title, the parameters it was run with, columns and rows (plain
values), and notes (what a figure means, what does not exist yet). Exports and screens only
format it.
"""
from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cc_console import service_level

from . import erlang
from .facts import Facts, Segment, Span

INTERVALS = ("15", "30", "60", "hour", "day", "week", "month", "total")
SL_FORMULAS = ("answered", "offered", "offered_minus_short")
KINDS = ("queue", "interval", "agent", "tenant", "category", "busiest", "erlang")


@dataclass
class Params:
    kind: str = "queue"
    start: float = 0.0  # epoch seconds, inclusive
    end: float = 0.0  # epoch seconds, exclusive
    queues: list[str] = field(default_factory=list)  # empty: all (within the user's scope)
    agents: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    interval: str = "total"  # 15 | 30 | 60 | hour | day | week | month | total
    tz: str = "UTC"
    sl_threshold: float | None = None  # seconds; None: each queue's own service_level
    sl_formula: str = "answered"
    short_abandon: float = 5.0  # seconds: abandons quicker than this are "short"
    buckets: list[float] = field(default_factory=lambda: [10, 20, 30, 60, 120])
    # ring-to-answer bands, seconds: how long the answering agent was offered the call
    ring_buckets: list[float] = field(default_factory=lambda: [5, 10, 15, 20, 30])
    now: float | None = None  # open spans end here (default: end)
    top: int = 10  # busiest: how many
    # erlang: explicit traffic (else taken from the store per interval)
    calls: float | None = None
    aht: float | None = None
    target_sl: float = 0.8
    interval_s: float | None = None

    def header(self) -> dict[str, str]:
        tz = ZoneInfo(self.tz)
        f = lambda t: datetime.fromtimestamp(t, tz).strftime("%Y-%m-%d %H:%M")  # noqa: E731
        h = {"report": self.kind, "from": f(self.start), "to": f(self.end), "time zone": self.tz,
             "interval": self.interval,
             "queues": ", ".join(self.queues) or "all", "tenants": ", ".join(self.tenants) or "all",
             "agents": ", ".join(self.agents) or "all",
             "service level": f"{'per queue' if self.sl_threshold is None else f'{self.sl_threshold:g} s'}, "
                              f"formula {self.sl_formula}",
             "short abandon": f"< {self.short_abandon:g} s",
             "wait bands": ", ".join(f"{b:g}" for b in self.buckets) + " s",
             "ring bands": ", ".join(f"{b:g}" for b in self.ring_buckets) + " s"}
        return h


@dataclass
class Report:
    title: str
    params: dict[str, str]
    columns: list[str]
    rows: list[list[Any]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, r)) for r in self.rows]


# -- time keys ------------------------------------------------------------------------------------
class Bucketer:
    """ts -> the start (epoch) of its interval, in a time zone. Exact across DST: every real zone's
    offset is a multiple of 15 minutes, so a 15-minute block maps to one local label; memoised."""

    def __init__(self, interval: str, tz: str, start: float = 0.0, end: float = 0.0) -> None:
        if interval not in INTERVALS:
            raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")
        self.interval = interval
        self.tz = ZoneInfo(tz)
        self.start, self.end = start, end
        self._memo: dict[int, float] = {}

    def _compute(self, ts: float) -> float:
        i = self.interval
        if i == "total":
            return self.start
        d = datetime.fromtimestamp(ts, self.tz)
        if i in ("15", "30", "60", "hour"):
            m = 60 if i == "hour" else int(i)
            d = d.replace(minute=d.minute - d.minute % m, second=0, microsecond=0)
        elif i == "day":
            d = d.replace(hour=0, minute=0, second=0, microsecond=0)
        elif i == "week":  # ISO week: from Monday
            d = (d - timedelta(days=d.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
        elif i == "month":
            d = d.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        # Re-localise (a day that starts in another DST offset than ts has).
        return datetime(d.year, d.month, d.day, d.hour, d.minute, tzinfo=self.tz).timestamp()

    def key(self, ts: float) -> float:
        b = int(ts // 900)
        k = self._memo.get(b)
        if k is None:
            k = self._memo[b] = self._compute(b * 900.0)
        return k

    def label(self, key: float) -> str:
        d = datetime.fromtimestamp(key, self.tz)
        i = self.interval
        if i == "total":
            return "total"
        if i == "day":
            return d.strftime("%Y-%m-%d")
        if i == "week":
            y, w, _ = d.isocalendar()
            return f"{y}-W{w:02d}"
        if i == "month":
            return d.strftime("%Y-%m")
        return d.strftime("%Y-%m-%d %H:%M")

    def _calendar_next(self, t: float) -> float | None:
        """The next day, week or month start after the interval starting at t, by the calendar (the
        15-minute walk costs a few hundred datetime conversions a month: most of a year-by-month report)."""
        if self.interval not in ("day", "week", "month"):
            return None
        d = datetime.fromtimestamp(t, self.tz).date()
        if self.interval == "month":
            d = d.replace(year=d.year + d.month // 12, month=d.month % 12 + 1, day=1)
        else:
            d += timedelta(days=7 if self.interval == "week" else 1)
        nxt = datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp()
        return nxt if nxt > t and self.key(nxt) == nxt else None

    def all_keys(self) -> list[float]:
        """Every interval start in [start, end): empty intervals show as zero rows."""
        if self.interval == "total":
            return [self.start]
        out: list[float] = []
        t = self.key(self.start)
        while t < self.end:
            out.append(t)
            # step: the next interval's start (walk in 15-minute blocks until the key changes)
            # (from a little less than the interval's shortest length: a DST day is 23 h, a month 28 days)
            step = {"15": 900, "30": 1800, "60": 3600, "hour": 3600, "day": 22 * 3600, "week": 7 * 86400 - 7200,
                    "month": 28 * 86400 - 7200}[self.interval]
            cal = self._calendar_next(t)
            if cal is None:
                probe = t + step
                while self.key(probe) == t:
                    probe += 900
                cal = self.key(probe)
            nxt = cal
            if nxt <= t:
                break
            t = nxt
        return out


def last_complete_interval_end(now: float, interval: str, tz: str) -> float:
    """Intraday: the end of the last completed interval (at 12:40 with 30 minutes: 12:30)."""
    return Bucketer(interval, tz).key(now)


# -- queue figures ----------------------------------------------------------------------------------
QUEUE_COLUMNS = [
    "received", "closed", "offered", "overflow_in", "queued", "answered", "answered_within",
    "abandoned", "abandoned_announcement", "abandoned_queue", "abandoned_ringing", "abandoned_before_ivr",
    "abandoned_ivr", "short_abandons",
    "overflowed", "overflowed_no_agents", "overflowed_max_length", "overflowed_max_wait",
    "callbacks_requested", "callbacks_completed", "voicemails", "ended_other", "in_progress",
    "transferred_in", "transferred_out", "outbound", "missed",
    "service_level_pct", "asa_s", "longest_wait_s", "avg_abandon_wait_s",
    "talk_s", "hold_s", "wrapup_s", "aht_s",
]
COUNT_COLUMNS = QUEUE_COLUMNS[:QUEUE_COLUMNS.index("service_level_pct")]
# The counts that do not depend on a report's parameters (threshold, short abandon, buckets): the read
# model keeps these per queue per 15 minutes; answered_within / short_abandons / the wait buckets come from
# its wait histograms.
RAW_COUNTS = [c for c in COUNT_COLUMNS if c not in ("answered_within", "short_abandons")]

# Durations are summed in whole microseconds (integers): sums are then exact and independent of the
# order of addition, so a figure summed from per-interval aggregates equals the one summed call by call.
US = 1_000_000


def us(x: float) -> int:
    """Seconds -> whole microseconds (rounded; the same rule everywhere)."""
    return int(x * 1e6 + 0.5)


def secs(x_us: int) -> float:
    return round(x_us / 1e6, 2)


# Wait histograms (read model): answered waits by class ceil(w) (0: w <= 0, 1..600, 601: over 600 s) answer
# "w <= T" exactly for any whole T in 0..600; abandon waits by floor(w) (-1: w < 0, 0..599, 600: 600 s or
# more) answer "w < S" exactly for any whole S in 0..600.
HIST_MAX = 600


def ans_class(w: float) -> int:
    return 0 if w <= 0 else (math.ceil(w) if w <= HIST_MAX else HIST_MAX + 1)


def aband_class(w: float) -> int:
    return -1 if w < 0 else (math.floor(w) if w < HIST_MAX else HIST_MAX)


class QueueAcc:
    __slots__ = ("n", "answered_wait", "abandon_wait", "longest", "talk", "hold", "wrapup", "bucket_counts",
                 "ring_counts", "calls", "new_calls", "talk_min")

    def __init__(self, nb: int, calls: bool = True, nr: int = 0) -> None:
        self.n: dict[str, int] = dict.fromkeys(COUNT_COLUMNS, 0)
        self.answered_wait = 0  # microseconds
        self.abandon_wait = 0
        self.longest = 0.0
        self.talk = self.hold = self.wrapup = 0  # microseconds
        self.bucket_counts = [0] * (nb + 1)
        self.ring_counts = [0] * (nr + 1)  # answered calls by ring-to-answer band
        self.calls: set[str] | None = set() if calls else None  # distinct call ids (per-call path)
        self.new_calls = 0  # segments that are a call's arrival (aggregate path: distinct calls, with overflows apart)
        self.talk_min = 0  # talk rounded up per call to whole minutes

    def merge(self, o: QueueAcc) -> None:
        n = self.n
        for k, v in o.n.items():
            n[k] += v
        self.answered_wait += o.answered_wait
        self.abandon_wait += o.abandon_wait
        if o.longest > self.longest:
            self.longest = o.longest
        self.talk += o.talk
        self.hold += o.hold
        self.wrapup += o.wrapup
        self.bucket_counts = [x + y for x, y in zip(self.bucket_counts, o.bucket_counts)]
        self.ring_counts = [x + y for x, y in zip(self.ring_counts, o.ring_counts)]
        if self.calls is not None and o.calls is not None:
            self.calls |= o.calls
        self.new_calls += o.new_calls
        self.talk_min += o.talk_min


def add_raw(acc: QueueAcc, s: Segment, wrap: int) -> None:
    """The parameter-independent part of one segment's figures (`wrap`: the call's wrap-up, microseconds)."""
    n = acc.n
    o = s.outcome
    if o == "outbound":  # made by an agent: counted apart, never received or offered
        n["outbound"] += 1
        return
    if acc.calls is not None:
        acc.calls.add(s.call_id)
    if s.seg == 0:
        acc.new_calls += 1
    n["received"] += 1
    if o == "closed":
        n["closed"] += 1
        if s.voicemail:
            n["voicemails"] += 1
        return
    n["offered"] += 1
    if s.entry == "overflow":
        n["overflow_in"] += 1
    elif s.entry == "transfer":
        n["transferred_in"] += 1
    if s.queued_ts is not None:
        n["queued"] += 1
    n["missed"] += s.missed
    w = s.wait
    if o == "answered":
        n["answered"] += 1
        acc.answered_wait += us(w)
        if w > acc.longest:
            acc.longest = w
        acc.talk += us(s.talk)
        acc.hold += us(s.hold)
        acc.wrapup += wrap
        acc.talk_min += math.ceil(s.talk / 60)
        if s.transferred_out:
            n["transferred_out"] += 1
    elif o == "abandoned":
        n["abandoned"] += 1
        n["abandoned_" + s.stage] += 1
        acc.abandon_wait += us(w)
        if s.stage in ("queue", "ringing") and w > acc.longest:
            acc.longest = w
    elif o == "overflow":
        n["overflowed"] += 1
        if s.overflow_when in ("no_agents", "max_length", "max_wait"):
            n["overflowed_" + s.overflow_when] += 1
        if s.queued_ts is not None and w > acc.longest:
            acc.longest = w
    elif o == "callback":
        pass
    elif o == "voicemail":
        pass
    elif o == "ended":
        n["ended_other"] += 1
    else:
        n["in_progress"] += 1
    if s.callback:
        n["callbacks_requested"] += 1
        if s.callback_done:
            n["callbacks_completed"] += 1
    if s.voicemail:
        n["voicemails"] += 1


def band(x: float, bounds: list[float]) -> int:
    """The band of x: the first bound it is at most, else the last band (over them all)."""
    i = 0
    for b in bounds:
        if x <= b:
            break
        i += 1
    return i


def _add(acc: QueueAcc, s: Segment, sl: float, short: float, buckets: list[float], wrap: int,
         ring_buckets: list[float] | None = None) -> None:
    add_raw(acc, s, wrap)
    o = s.outcome
    w = s.wait
    if o == "answered":
        if service_level.within(w, sl):
            acc.n["answered_within"] += 1
        acc.bucket_counts[band(w, buckets)] += 1
        if ring_buckets is not None:
            acc.ring_counts[band(s.ring, ring_buckets)] += 1
    elif o == "abandoned":
        if w < short:
            acc.n["short_abandons"] += 1


def _finish(acc: QueueAcc, formula: str) -> dict[str, Any]:
    n: dict[str, Any] = dict(acc.n)
    ans = n["answered"]
    within = n["answered_within"]
    if formula == "answered":
        den = ans
    elif formula == "offered":
        den = n["offered"]
    else:
        den = n["offered"] - n["short_abandons"]
    n["service_level_pct"] = service_level.percent(within, den)
    n["asa_s"] = round(acc.answered_wait / US / ans, 2) if ans else None
    n["longest_wait_s"] = round(acc.longest, 2)
    n["avg_abandon_wait_s"] = round(acc.abandon_wait / US / n["abandoned"], 2) if n["abandoned"] else None
    n["talk_s"] = secs(acc.talk)
    n["hold_s"] = secs(acc.hold)
    n["wrapup_s"] = secs(acc.wrapup)
    n["aht_s"] = round((acc.talk + acc.hold + acc.wrapup) / US / ans, 2) if ans else None
    return n


def bucket_labels(buckets: list[float], what: str = "wait") -> list[str]:
    out, lo = [], 0.0
    for b in buckets:
        out.append(f"{what}_{lo:g}-{b:g}s")
        lo = b
    out.append(f"{what}_over_{lo:g}s")
    return out


def wrapups(spans: Iterable[Span], now: float) -> dict[tuple[str, str], int]:
    """(call id, agent) -> microseconds of that agent's wrap-up after the call (an open wrap-up counts up
    to `now`); each span is rounded to whole microseconds on its own (as the read model does). Per agent:
    a transferred call has a wrap-up for each agent who answered it."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for sp in spans:
        if sp.state == "wrap_up" and sp.call_id:
            out[(sp.call_id, sp.agent)] += us((sp.end if sp.end is not None else max(now, sp.start)) - sp.start)
    return out


def _wraps(facts: Facts, now: float) -> dict[tuple[str, str], int]:
    if facts.wrapups is not None:
        return facts.wrapups
    return wrapups(list(facts.spans) + list(facts.agents_open.values()), now)


def _select(facts: Facts, p: Params, tenant_of: dict[str, str]) -> list[Segment]:
    qs = set(p.queues) if p.queues else None
    ts = set(p.tenants) if p.tenants else None
    a, b = p.start, p.end
    return [s for s in facts.segments if a <= s.offered_ts < b
            and (qs is None or s.queue in qs) and (ts is None or tenant_of.get(s.queue, "") in ts)]


def _queue_rows(segs: list[Segment], p: Params, sl_of: dict[str, float], wraps: dict[tuple[str, str], int],
                group: Any, accs: dict[Any, QueueAcc] | None = None) -> dict[Any, QueueAcc]:
    accs = {} if accs is None else accs
    nb = len(p.buckets)
    short = p.short_abandon
    for s in segs:
        k = group(s)
        acc = accs.get(k)
        if acc is None:
            acc = accs[k] = QueueAcc(nb, nr=len(p.ring_buckets))
        sl = service_level.threshold(s.queue, sl_of, p.sl_threshold)
        _add(acc, s, sl, short, p.buckets, wraps.get((s.call_id, s.agent), 0) if s.outcome == "answered" else 0,
             p.ring_buckets)
    return accs


class CallSource:
    """Queue figures grouped one way or another, computed call by call from the facts (the reference)."""

    def __init__(self, facts: Facts, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> None:
        self.p, self.sl_of, self.tenant_of = p, sl_of, tenant_of
        self.segs = _select(facts, p, tenant_of)
        self.wraps = _wraps(facts, p.now if p.now is not None else p.end)

    def accs(self, by: str, bk: Bucketer | None = None) -> dict[Any, QueueAcc]:
        tenant_of = self.tenant_of
        group: Any = {"queue": lambda s: s.queue, "all": lambda s: "",
                      "category": lambda s: s.category or "(none)",
                      "tenant": lambda s: tenant_of.get(s.queue, "")}.get(by)
        if by == "interval":
            assert bk is not None
            group = lambda s: bk.key(s.offered_ts)  # noqa: E731
        return _queue_rows(self.segs, self.p, self.sl_of, self.wraps, group)

    def distinct_calls(self, acc: QueueAcc) -> int:
        return len(acc.calls or ())


NOT_YET = ["callbacks_completed: callbacks requested from the queue and since marked done",
           "transferred_in: presentations by an agent's blind transfer (to the queue or one of its agents); "
           "transferred_out: answered calls the agent transferred (talk and hold up to the transfer)",
           "outbound: calls made by agents (with the queue's caller id), counted where made; not in received"]


def _queue_like(rows_by: dict[Any, QueueAcc], keys: list[Any], labels: list[str], first_col: str,
                p: Params, title: str, extra_notes: list[str] | None = None) -> Report:
    blabels = bucket_labels(p.buckets) + bucket_labels(p.ring_buckets, "ring")
    cols = [first_col] + QUEUE_COLUMNS + blabels
    rows = []
    for k, label in zip(keys, labels):
        acc = rows_by.get(k) or QueueAcc(len(p.buckets), nr=len(p.ring_buckets))
        f = _finish(acc, p.sl_formula)
        rows.append([label] + [f[c] for c in QUEUE_COLUMNS] + list(acc.bucket_counts) + list(acc.ring_counts))
    notes = ["a call counts in the interval in which it was offered to the queue (its arrival, or its "
             "overflow into the queue), whatever time it was answered or ended",
             "offered = received - closed; offered = answered + abandoned + overflowed + callbacks + "
             "voicemails (by key) + ended_other + in_progress",
             "wait distribution: answered calls by seconds waited in the queue; ring distribution: answered "
             "calls by seconds the answering agent was offered the call"] + NOT_YET + (extra_notes or [])
    return Report(title, p.header(), cols, rows, notes)


def queue_report(src: Any, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    accs = src.accs("queue")
    queues = sorted(set(p.queues) if p.queues else set(accs) | {q for q in sl_of if
                                                                  not p.tenants or tenant_of.get(q) in p.tenants})
    all_acc = QueueAcc(len(p.buckets), nr=len(p.ring_buckets))  # every queue's figures summed
    for acc in accs.values():
        all_acc.merge(acc)
    r = _queue_like({**accs, "*": all_acc}, queues + ["*"], [q or "(no queue)" for q in queues] + ["all"], "queue",
                    p, "Queues")
    return r


def interval_report(src: Any, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    bk = Bucketer(p.interval, p.tz, p.start, p.end)
    accs = src.accs("interval", bk)
    keys = bk.all_keys()
    return _queue_like(accs, keys, [bk.label(k) for k in keys], "interval", p, f"Intervals ({p.interval})")


BUSIEST_INTERVALS = ("15", "30", "60", "hour", "day")


def busiest_report(src: Any, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    """The top N periods by calls offered, periods of the report's interval (15 or 30 minutes, an hour, a
    day); any other interval (the default `total`) ranks hours."""
    iv = p.interval if p.interval in BUSIEST_INTERVALS else "hour"
    bk = Bucketer(iv, p.tz, p.start, p.end)
    accs = src.accs("interval", bk)
    accs = {k: v for k, v in accs.items() if v.n["received"]}
    keys = sorted(accs, key=lambda k: (-accs[k].n["offered"], k))[: p.top]
    name = {"15": "15 minutes", "30": "30 minutes", "day": "days"}.get(iv, "hours")
    return _queue_like(accs, keys, [bk.label(k) for k in keys], "hour" if iv in ("60", "hour") else "period", p,
                       f"Busiest {name} (top {p.top})", ["ranked by calls offered; ties: the earlier period first"])


def category_report(src: Any, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    accs = src.accs("category")
    accs = {k: v for k, v in accs.items() if v.n["received"]}
    keys = sorted(accs)
    return _queue_like(accs, keys, keys, "category", p, "Categories",
                       ["category: the call's `category` field (set on the call dict, e.g. by an agent or an "
                        "IVR; the last value seen wins); calls without one are '(none)'"])


TENANT_COLUMNS = ["calls", "received", "closed", "offered", "answered", "abandoned", "short_abandons",
                  "overflowed", "callbacks_requested", "voicemails", "service_level_pct", "asa_s",
                  "talk_s", "talk_min_billable", "aht_s"]


def tenant_report(src: Any, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    accs = src.accs("tenant")
    tenants = sorted(set(p.tenants) if p.tenants else set(accs) | {tenant_of[q] for q in sl_of if q in tenant_of
                                                                    and (not p.queues or q in p.queues)})
    rows = []
    for t in tenants:
        acc = accs.get(t) or QueueAcc(len(p.buckets))
        f = _finish(acc, p.sl_formula)
        f["calls"] = src.distinct_calls(acc)
        f["talk_min_billable"] = acc.talk_min
        rows.append([t] + [f[c] for c in TENANT_COLUMNS])
    notes = ["calls: distinct calls that reached the tenant's queues; received/offered count presentations "
             "(a call overflowed between two of the tenant's queues counts once in calls, twice in received)",
             "closed: calls that arrived outside opening hours (call.closed)",
             "talk_min_billable: each answered call's talk rounded up to the whole minute, summed"] + NOT_YET
    return Report("Tenants", p.header(), ["tenant"] + TENANT_COLUMNS, rows, notes)


AGENT_COLUMNS = ["logged_in_s", "ready_s", "ringing_s", "talk_s", "hold_s", "wrapup_s", "paused_s",
                 "pause_work_s", "pause_private_s", "handled", "answered_within", "service_level_pct", "missed",
                 "declined", "aht_s", "occupancy_pct", "transfers", "pauses"]
# agent time per state, in microseconds (a row of the read model's per-agent per-15-minute table)
AGENT_TIMES = ["logged_in", "ready", "ringing", "talk", "wrapup", "paused", "pause_work", "pause_private"]
_STATE_COL = {"ready": "ready", "ringing": "ringing", "on_call": "talk", "wrap_up": "wrapup", "paused": "paused"}


def span_times(state: str, kind: str, d: int) -> list[tuple[str, int]]:
    """The agent-time columns a span of `d` microseconds in `state` adds to (logged_out adds none)."""
    if state == "logged_out":
        return []
    out = [("logged_in", d)]
    c = _STATE_COL.get(state)
    if c:
        out.append((c, d))
        if c == "paused":
            out.append(("pause_work" if kind == "work" else "pause_private", d))
    return out


class AgentRows:
    """Agent report rows being summed (times in microseconds)."""

    def __init__(self, agents: set[str] | None, nb: int = 0, nr: int = 0) -> None:
        self.agents = agents
        self.nb, self.nr = nb, nr
        self.t: dict[str, dict[str, Any]] = {}

    def row(self, ag: str) -> dict[str, Any]:
        r = self.t.get(ag)
        if r is None:
            r = self.t[ag] = dict.fromkeys(AGENT_TIMES, 0)
            r.update(handled=0, missed=0, declined=0, aht=0, hold=0, transfers=0, pauses=[], within=0,
                     waitb=[0] * (self.nb + 1), ringb=[0] * (self.nr + 1))
        return r

    def span(self, sp: Span, a_us: int, b_us: int, now_us: int, pauses: bool = True) -> None:
        """One span clipped to [a_us, b_us) (an open one ends at now_us)."""
        if self.agents is not None and sp.agent not in self.agents:
            return
        lo = max(us(sp.start), a_us)
        hi = min(us(sp.end) if sp.end is not None else now_us, b_us)
        if hi <= lo:
            return
        d = hi - lo
        r = self.row(sp.agent)
        for c, v in span_times(sp.state, sp.kind, d):
            r[c] += v
        if sp.state == "paused" and pauses:
            self.pause(sp, d)

    def pause(self, sp: Span, d: int) -> None:
        self.row(sp.agent)["pauses"].append({"start": sp.start, "end": sp.end, "reason": sp.reason, "kind": sp.kind,
                                             "seconds": secs(d)})

    def handled(self, agent: str, n: int, aht: int, hold: int = 0, transfers: int = 0) -> None:
        if self.agents is None or agent in self.agents:
            r = self.row(agent)
            r["handled"] += n
            r["aht"] += aht
            r["hold"] += hold
            r["transfers"] += transfers

    def bands(self, agent: str, within: int, waitb: list[int], ringb: list[int]) -> None:
        """Calls handled within the service level, and by wait band and ring band."""
        if self.agents is None or agent in self.agents:
            r = self.row(agent)
            r["within"] += within
            r["waitb"] = [x + y for x, y in zip(r["waitb"], waitb)]
            r["ringb"] = [x + y for x, y in zip(r["ringb"], ringb)]

    def missed(self, agent: str, n: int, declined: int) -> None:
        if self.agents is None or agent in self.agents:
            r = self.row(agent)
            r["missed"] += n
            r["declined"] += declined

    def report(self, p: Params) -> Report:
        rows = []
        for ag in sorted(self.t):
            r = self.t[ag]
            f: dict[str, Any] = {c + "_s": secs(r[c]) for c in AGENT_TIMES}
            f["hold_s"] = secs(r["hold"])
            f.update(handled=r["handled"], missed=r["missed"], declined=r["declined"], transfers=r["transfers"],
                     answered_within=r["within"])
            f["service_level_pct"] = service_level.percent(r["within"], r["handled"])
            f["aht_s"] = round(r["aht"] / US / r["handled"], 2) if r["handled"] else None
            avail = r["logged_in"] - r["paused"]
            f["occupancy_pct"] = round(100.0 * (r["talk"] + r["wrapup"]) / avail, 2) if avail > 0 else None
            f["pauses"] = "; ".join(f"{x['reason'] or '-'} {x['seconds']:g}s" for x in
                                    sorted(r["pauses"], key=lambda x: x["start"]))
            rows.append([ag] + [f[c] for c in AGENT_COLUMNS] + r["waitb"] + r["ringb"])
        notes = ["times are the agent's states clipped to the range (logged in = every state but logged_out)",
                 "handled: calls answered in the range; missed: ring-no-answer (incl. declined) in the range",
                 "AHT = (talk + hold + wrap-up) of the calls handled / handled; "
                 "occupancy = (talk + wrap-up) / (logged in - paused), talk being time on a call (hold included)",
                 "hold: the callers' hold time in the calls handled (as in the queue report); "
                 "transfers: calls handled that the agent transferred",
                 "service level: calls handled within the queue's threshold (or --sl) / handled; wait and ring "
                 "bands: the calls handled by seconds waited in the queue and seconds offered to the agent"]
        return Report("Agents", p.header(), ["agent"] + AGENT_COLUMNS + bucket_labels(p.buckets) +
                      bucket_labels(p.ring_buckets, "ring"), rows, notes)


def agent_report(facts: Facts, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    a, b = p.start, p.end
    now = min(p.now if p.now is not None else b, b)
    agents = set(p.agents) if p.agents else None
    qs = set(p.queues) if p.queues else None
    rows = AgentRows(agents, len(p.buckets), len(p.ring_buckets))
    a_us, b_us, now_us = us(a), us(b), us(now)
    for sp in list(facts.spans) + list(facts.agents_open.values()):
        rows.span(sp, a_us, b_us, now_us)
    wraps = _wraps(facts, now)
    for s in facts.segments:
        if s.outcome == "answered" and s.answered_ts is not None and a <= s.answered_ts < b and s.agent \
                and (qs is None or s.queue in qs):
            rows.handled(s.agent, 1, us(s.talk) + us(s.hold) + wraps.get((s.call_id, s.agent), 0), us(s.hold),
                         int(s.transferred_out))
            agent_bands(rows, p, sl_of, s.agent, s.queue, s.wait, s.ring)
    for m in facts.misses:
        if a <= m.ts < b and m.agent and (qs is None or m.queue in qs):
            rows.missed(m.agent, 1, 1 if m.why == "declined" else 0)
    return rows.report(p)


def agent_bands(rows: AgentRows, p: Params, sl_of: dict[str, float], agent: str, queue: str, wait: float,
                ring: float) -> None:
    """One handled call's service level, wait band and ring band in the agent's row."""
    sl = service_level.threshold(queue, sl_of, p.sl_threshold)
    waitb = [0] * (len(p.buckets) + 1)
    waitb[band(wait, p.buckets)] = 1
    ringb = [0] * (len(p.ring_buckets) + 1)
    ringb[band(ring, p.ring_buckets)] = 1
    rows.bands(agent, 1 if service_level.within(wait, sl) else 0, waitb, ringb)


ERLANG_COLUMNS = ["interval", "calls", "aht_s", "traffic_erl", "agents_needed", "p_wait", "service_level_pct",
                  "asa_s", "occupancy_pct"]


def erlang_report(facts: Any, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    target_s = service_level.threshold(None, {}, p.sl_threshold)
    rows = []
    if p.calls is not None:
        interval_s = p.interval_s or 1800.0
        aht = p.aht or 180.0
        best = erlang.agents_needed(p.calls, interval_s, aht, target_s, p.target_sl)
        for n in range(max(1, best.agents - 2), best.agents + 3):
            r = erlang.evaluate(n, p.calls, interval_s, aht, target_s)
            rows.append([f"{n} agents" + (" *" if n == best.agents else ""), p.calls, aht, round(r.traffic, 4), n,
                         round(r.p_wait, 4), round(100 * r.service_level, 2),
                         round(r.asa, 2) if math.isfinite(r.asa) else None, round(100 * r.occupancy, 2)])
    else:
        assert facts is not None
        iv = p.interval if p.interval in ("15", "30", "60", "hour") else "30"
        secs = {"15": 900, "30": 1800, "60": 3600, "hour": 3600}[iv]
        bk = Bucketer(iv, p.tz, p.start, p.end)
        accs = facts.accs("interval", bk)
        for k in bk.all_keys():
            acc = accs.get(k)
            calls = acc.n["offered"] if acc else 0
            ans = acc.n["answered"] if acc else 0
            aht = p.aht or ((acc.talk + acc.hold + acc.wrapup) / US / ans if acc and ans else 0.0)
            need = erlang.agents_needed(calls, secs, aht, target_s, p.target_sl) if calls and aht else None
            rows.append([bk.label(k), calls, round(aht, 2), round(need.traffic, 4) if need else 0.0,
                         need.agents if need else 0,
                         round(need.p_wait, 4) if need else 0.0, round(100 * need.service_level, 2) if need else None,
                         round(need.asa, 2) if need else None, round(100 * need.occupancy, 2) if need else None])
    notes = [f"Erlang C; target {100 * p.target_sl:g}% answered within {target_s:g} s",
             "traffic (erlangs) = calls x AHT / interval length"]
    return Report("Staffing (Erlang C)", p.header(), ERLANG_COLUMNS, rows, notes)


# The first argument is the facts, or a read model that answers the same questions (AggSource).
BUILDERS: dict[str, Callable[[Any, Params, dict[str, float], dict[str, str]], Report]] = {
    "queue": queue_report, "interval": interval_report, "agent": agent_report, "tenant": tenant_report,
    "category": category_report, "busiest": busiest_report, "erlang": erlang_report}


def check(p: Params) -> None:
    if p.kind not in BUILDERS:
        raise ValueError(f"report kind must be one of {', '.join(KINDS)}")
    if p.sl_formula not in SL_FORMULAS:
        raise ValueError(f"service level formula must be one of {', '.join(SL_FORMULAS)}")
    if p.interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}")


def compute(facts: Facts | None, p: Params, sl_of: dict[str, float], tenant_of: dict[str, str]) -> Report:
    """A report computed call by call from the facts (the reference; the read model's aggregates must agree)."""
    check(p)
    if p.kind == "agent":
        assert facts is not None
        return agent_report(facts, p, sl_of, tenant_of)
    if p.kind == "erlang" and p.calls is not None:
        return erlang_report(None, p, sl_of, tenant_of)
    assert facts is not None
    return BUILDERS[p.kind](CallSource(facts, p, sl_of, tenant_of), p, sl_of, tenant_of)


def parse_time(text: str | float | int, tz: str) -> float:
    """ISO date/time (local to tz if naive), epoch seconds, 'today', 'yesterday'."""
    if isinstance(text, (int, float)):
        return float(text)
    z = ZoneInfo(tz)
    s = text.strip()
    if s in ("today", "yesterday"):
        d = datetime.now(z).replace(hour=0, minute=0, second=0, microsecond=0)
        if s == "yesterday":
            d -= timedelta(days=1)
        return datetime(d.year, d.month, d.day, tzinfo=z).timestamp()
    if s == "now":
        return datetime.now(UTC).timestamp()
    try:
        return float(s)
    except ValueError:
        pass
    d = datetime.fromisoformat(s)
    if d.tzinfo is None:
        d = d.replace(tzinfo=z)
    return d.timestamp()
