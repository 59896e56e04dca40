"""The IVR report, from the `ivr.*` events the runner writes and the calls' own events.

The insurer's lost-call split needs "before the IVR" (hung up during the tree's welcome, before the
first menu) and "in the IVR" (at which node); its waits are measured from IVR entry to the answer,
in 10/20/30+ second bands per queue and per agent. Runs in a worker thread (blocking reads).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

from cc_console.errors import Invalid

KINDS = ("ivr.entered", "ivr.choice", "ivr.timeout", "ivr.invalid", "ivr.left", "call.connected")
BANDS = ((10.0, "0-10"), (20.0, "10-20"), (30.0, "20-30"))


def band(seconds: float) -> str:
    for limit, name in BANDS:
        if seconds <= limit:
            return name
    return "30+"


def ivr_report(store: Any, frm: float, to: float) -> dict[str, Any]:
    """Calls that entered an IVR in [frm, to), and what became of them."""
    if to <= frm:
        raise Invalid("the report's end must come after its start")
    entered: dict[str, float] = {}
    events = list(store.events(kinds=KINDS))
    for ev in events:
        if ev.kind == "ivr.entered" and ev.call_id and frm <= ev.ts < to:
            entered.setdefault(ev.call_id, ev.ts)
    before = 0
    in_ivr: Counter[str] = Counter()
    paths: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    choices: dict[str, Counter[str]] = defaultdict(Counter)
    waits_q: dict[str, Counter[str]] = defaultdict(Counter)
    waits_a: dict[str, Counter[str]] = defaultdict(Counter)
    answered: set[str] = set()
    for ev in events:
        cid = ev.call_id or ""
        if cid not in entered:
            continue
        d = ev.data or {}
        where = f"{d.get('tree', '')}/{d.get('node', '')}"
        if ev.kind == "ivr.choice":
            choices[where][str(d.get("key"))] += 1
        elif ev.kind == "ivr.timeout":
            choices[where]["timeout"] += 1
        elif ev.kind == "ivr.invalid":
            choices[where]["invalid"] += 1
        elif ev.kind == "ivr.left":
            outcome = str(d.get("outcome", ""))
            if outcome == "abandoned":
                if d.get("stage") == "before_ivr":
                    before += 1
                else:
                    in_ivr[where] += 1
            paths[(str(d.get("tree", "")), str(d.get("path", "")), outcome)].append(float(d.get("seconds", 0.0)))
        elif ev.kind == "call.connected" and cid not in answered:
            answered.add(cid)  # the first answer counts: a transfer is not a second wait
            w = ev.ts - entered[cid]
            waits_q[ev.queue or ""][band(w)] += 1
            waits_a[ev.agent_id or str(d.get("agent", ""))][band(w)] += 1
    return {
        "from": frm, "to": to,
        "entered": len(entered),
        "abandoned_before_ivr": before,
        "abandoned_in_ivr": sum(in_ivr.values()),
        "abandoned_in_ivr_by_node": dict(sorted(in_ivr.items())),
        "paths": [{"tree": t, "path": p, "outcome": o, "calls": len(s), "seconds_total": round(sum(s), 3),
                   "seconds_avg": round(sum(s) / len(s), 3)} for (t, p, o), s in sorted(paths.items())],
        "choices": {k: dict(sorted(v.items())) for k, v in sorted(choices.items())},
        "answered": len(answered),
        "wait_from_ivr_entry": {
            "bands": [b for _, b in BANDS] + ["30+"],
            "per_queue": {k: dict(v) for k, v in sorted(waits_q.items())},
            "per_agent": {k: dict(v) for k, v in sorted(waits_a.items())},
        },
    }
