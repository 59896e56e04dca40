"""The channel report: calls and written work items (chats; e-mails and SMS to come) side by side,
one row per channel and queue, and a total per channel (queue "all"). Pure: calls come from the queue report
(the same figures, so the two reports never disagree), written items from their owners through
server.written (docs/reports.md, "Channels").
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cc_console import service_level
from cc_console.server.written import WrittenItem

from .figures import Params, Report

COLUMNS = ["channel", "queue", "offered", "handled", "handled_within", "abandoned", "overflowed", "in_progress",
           "service_level_pct", "asa_s", "longest_wait_s"]

NOTES = [
    "calls: the queue report's figures (handled = answered); written items count where they were queued "
    "(offered), whatever time they were accepted or closed, as calls do",
    "a chat is abandoned when the visitor left before an agent accepted it; handled_within: accepted within "
    "the channel's own service level (chat: [chat] service_level)",
]


def _call_rows(queue_report: Report) -> list[list[Any]]:
    rows = []
    for r in queue_report.records():  # with its "all" row: the calls' exact totals
        rows.append(["call", r["queue"], r["offered"], r["answered"], r["answered_within"], r["abandoned"],
                     r["overflowed"], r["in_progress"], r["service_level_pct"], r["asa_s"], r["longest_wait_s"]])
    return rows


def _empty() -> dict[str, Any]:
    return {"offered": 0, "handled": 0, "within": 0, "abandoned": 0, "short": 0, "overflowed": 0, "open": 0,
            "waits": [], "longest": 0.0}


def _add(a: dict[str, Any], it: WrittenItem, p: Params) -> None:
    a["offered"] += 1
    wait = it.wait
    if it.accepted is not None and wait is not None:
        a["waits"].append(wait)
    if wait is not None:
        a["longest"] = max(a["longest"], wait)
    if not it.outcome:
        a["open"] += 1
    elif it.outcome == "handled":
        a["handled"] += 1
        a["within"] += it.within_sl
    elif it.outcome == "abandoned":
        a["abandoned"] += 1
        a["short"] += wait is not None and wait < p.short_abandon
    elif it.outcome == "overflow":
        a["overflowed"] += 1


def _written_rows(items: Iterable[WrittenItem], p: Params) -> list[list[Any]]:
    acc: dict[tuple[str, str], dict[str, Any]] = {}
    for it in items:
        if it.enqueued is None or not (p.start <= it.enqueued < p.end):
            continue
        if p.queues and it.queue not in p.queues:
            continue
        for key in ((it.channel, it.queue), (it.channel, "all")):  # "all": the channel's exact totals
            _add(acc.setdefault(key, _empty()), it, p)
    rows = []
    for (channel, queue), a in sorted(acc.items()):
        den = {"answered": a["handled"], "offered": a["offered"]}.get(p.sl_formula, a["offered"] - a["short"])
        waits = a["waits"]
        rows.append([channel, queue, a["offered"], a["handled"], a["within"], a["abandoned"], a["overflowed"],
                     a["open"], service_level.percent(a["within"], den),
                     round(sum(waits) / len(waits), 2) if waits else None, round(a["longest"], 2)])
    return rows


def channel_report(queue_report: Report, items: Iterable[WrittenItem], p: Params) -> Report:
    rows = _call_rows(queue_report) + _written_rows(items, p)
    rows.sort(key=lambda r: (r[0] != "call", r[0], r[1] == "all", r[1]))
    return Report(title="Channels", params={**p.header(), "report": "channel"}, columns=list(COLUMNS),
                  rows=rows, notes=list(NOTES))
