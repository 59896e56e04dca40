"""The read model's aggregate rows computed the old way, in Python from a pure fold of the events: the
reference the SQL that builds them (server/reports/rollup.py) is checked against.

This is the code the read model ran before its aggregates moved into SQL (QueueAcc and figures.add_raw per
15-minute slot, dicts of histogram classes, agent time cut at UTC midnights), applied to all the facts at
once instead of a refresh's touched slots, with the days, blocks and cumulative histograms summed here too.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any

from cc_console.server.reports.cache import QAGG_SUMS
from cc_console.server.reports.facts import Facts
from cc_console.server.reports.figures import (
    AGENT_TIMES,
    RAW_COUNTS,
    QueueAcc,
    aband_class,
    add_raw,
    ans_class,
    span_times,
    us,
)
from cc_console.server.reports.levels import BLOCK_DAYS, TOP, cumulate, pack

SLOT, DAY, DAY_S, DAY_US = 900, 96, 86400, 86_400_000_000


def _wraps(facts: Facts) -> dict[tuple[str, str], int]:
    """Each call's closed wrap-up by agent, in microseconds (each span rounded on its own)."""
    out: dict[tuple[str, str], int] = defaultdict(int)
    for sp in facts.spans:
        if sp.state == "wrap_up" and sp.call_id and sp.end is not None:
            out[(sp.call_id, sp.agent)] += int((sp.end - sp.start) * 1e6 + 0.5)
    return out


def _up(rows: dict[tuple, list], lvl_from: int, keylen: int, sums: int, maxes: int, fan: int) -> dict[tuple, list]:
    """Rows (lvl, t, *keys) -> the level above: t // fan, counts summed, the last `maxes` columns maxed."""
    out: dict[tuple, list] = {}
    for k, v in rows.items():
        if k[0] != lvl_from:
            continue
        up = (lvl_from + 1, k[1] // fan) + k[2:2 + keylen]
        acc = out.get(up)
        if acc is None:
            out[up] = list(v)
        else:
            for i in range(sums):
                acc[i] += v[i]
            for i in range(sums, sums + maxes):
                acc[i] = max(acc[i], v[i])
    return out


def _levels(rows: dict[tuple, list], first: int, keylen: int, sums: int, maxes: int = 0) -> dict[tuple, list]:
    """Add the day rows (from slots, if first == 0) and the blocks of 4, 16, 64, 256 days."""
    out = dict(rows)
    lvl = first
    if first == 0:
        out.update(_up(out, 0, keylen, sums, maxes, DAY))
        lvl = 1
    while lvl < TOP:
        out.update(_up(out, lvl, keylen, sums, maxes, BLOCK_DAYS[lvl + 1] // BLOCK_DAYS[lvl]))
        lvl += 1
    return out


def _cum(hist: dict[tuple, int], h: int) -> list[tuple]:
    """hcum rows from histogram rows at the day (lvl 1, t, k1, k2, kind, sec) -> n, and the blocks above."""
    per: dict[tuple, dict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    for (lvl, t, k1, k2, kind, sec), n in hist.items():
        if lvl != 1:
            continue
        for up in range(1, TOP + 1):
            per[(up, t // BLOCK_DAYS[up], k1, k2)][kind].setdefault(sec, 0)
            per[(up, t // BLOCK_DAYS[up], k1, k2)][kind][sec] += n
    return sorted((h, lvl, t, k1, k2, pack([cumulate(sorted(kinds.get(k, {}).items())) for k in range(3)]))
                  for (lvl, t, k1, k2), kinds in per.items())


def aggregates(facts: Facts) -> dict[str, list[tuple[Any, ...]]]:
    """Every aggregate table's rows (sorted by their key), from these facts."""
    wraps = _wraps(facts)
    # queues per slot: QueueAcc and add_raw, as cache._agg_queue summed them in Python
    accs: dict[tuple, QueueAcc] = {}
    qhist: dict[tuple, int] = defaultdict(int)
    for sg in facts.segments:
        k = (0, int(sg.offered_ts // SLOT), sg.queue, sg.category)
        acc = accs.get(k)
        if acc is None:
            acc = accs[k] = QueueAcc(0, calls=False)
        add_raw(acc, sg, wraps.get((sg.call_id, sg.agent), 0) if sg.outcome == "answered" else 0)
        if sg.outcome == "answered":
            qhist[k + (0, ans_class(sg.wait))] += 1
            qhist[k + (2, ans_class(sg.ring))] += 1
        elif sg.outcome == "abandoned":
            qhist[k + (1, aband_class(sg.wait))] += 1
    qagg = {k: [a.n[c] for c in RAW_COUNTS] + [a.new_calls, a.answered_wait, a.abandon_wait, a.talk, a.hold,
                                               a.wrapup, a.talk_min, a.longest] for k, a in accs.items()}
    qagg = _levels(qagg, 0, 2, len(QAGG_SUMS), 1)
    qhist_days = _up({k: [n] for k, n in qhist.items()}, 0, 4, 1, 0, DAY)
    qhist.update({k: v[0] for k, v in qhist_days.items()})
    # handled calls per agent per UTC day, where answered
    acalls: dict[tuple, list] = {}
    ahist: dict[tuple, int] = defaultdict(int)
    for sg in facts.segments:
        if sg.outcome != "answered" or not sg.agent or sg.answered_ts is None:
            continue
        k = (1, int(sg.answered_ts // DAY_S), sg.agent, sg.queue)
        v = acalls.setdefault(k, [0, 0, 0, 0])
        v[0] += 1
        v[1] += us(sg.talk) + us(sg.hold) + wraps.get((sg.call_id, sg.agent), 0)
        v[2] += us(sg.hold)
        v[3] += 1 if sg.transferred_out else 0
        ahist[k + (0, ans_class(sg.wait))] += 1
        ahist[k + (2, ans_class(sg.ring))] += 1
    amiss: dict[tuple, list] = {}
    for m in facts.misses:
        if m.agent:
            v = amiss.setdefault((1, int(m.ts // DAY_S), m.agent, m.queue), [0, 0])
            v[0] += 1
            v[1] += m.why == "declined"
    atime: dict[tuple, list] = {}
    idx = {c: i for i, c in enumerate(AGENT_TIMES)}
    for sp in facts.spans:
        if sp.state == "logged_out" or sp.end is None:
            continue
        cols = [idx[c] for c, _ in span_times(sp.state, sp.kind, 0)]
        a, b = us(sp.start), us(sp.end)
        for day in range(a // DAY_US, (b - 1) // DAY_US + 1) if b > a else ():
            d = min(b, (day + 1) * DAY_US) - max(a, day * DAY_US)
            v = atime.setdefault((1, day, sp.agent), [0] * len(AGENT_TIMES))
            for i in cols:
                v[i] += d

    def rows(t: dict[tuple, Any]) -> list[tuple[Any, ...]]:
        return sorted(k + (tuple(v) if isinstance(v, list) else (v,)) for k, v in t.items())
    return {
        "qagg": rows(qagg),
        "qhist": rows(qhist),
        "acalls": rows(_levels(acalls, 1, 2, 4)),
        "ahist": rows(ahist),
        "amiss": rows(_levels(amiss, 1, 2, 2)),
        "atime": rows(_levels(atime, 1, 1, len(AGENT_TIMES))),
        "hcum": _cum(qhist, 0) + _cum(ahist, 1),
    }

