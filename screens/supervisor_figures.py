"""The supervisor's per-agent figures (handled, missed) for a chosen period, from the server's
agent report (`report.run` kind ``agent``: the same numbers as the reports screen), and the agents'
grouping (queue, team, site). Pure helpers and a small holder; the screen fetches.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

# (key, label) cycled by `P`: the period whose figures the Hnd and Mis columns show.
PERIODS = [("today", "today"), ("yesterday", "yesterday"), ("7d", "last 7 days"), ("30d", "last 30 days")]
# (key, label) cycled by `g`: no grouping, then by first queue, team, site.
GROUPINGS = [("", ""), ("queue", "queue"), ("team", "team"), ("site", "site")]
# Events after which the figures are asked for again (a call ended; an offer was not taken).
MISS_REASONS = frozenset({"no answer", "device unreachable", "declined"})


def period_args(period: str, now: float) -> dict[str, Any]:
    """report.run's from/to for a period; days are the server's (its time zone reads 'today' and
    naive dates), so only the day count is computed here."""
    if period == "today":
        return {"from": "today"}
    if period == "yesterday":
        return {"from": "yesterday", "to": "today"}
    days = int(period.rstrip("d"))
    start = datetime.fromtimestamp(now).date() - timedelta(days=days - 1)
    return {"from": start.isoformat()}


def per_agent(report: dict[str, Any]) -> tuple[dict[str, int], dict[str, int]]:
    """(handled, missed) per agent from an agent report's columns and rows."""
    cols = list(report.get("columns") or [])
    try:
        ia, ih, im = cols.index("agent"), cols.index("handled"), cols.index("missed")
    except ValueError:
        return {}, {}
    handled: dict[str, int] = {}
    missed: dict[str, int] = {}
    for row in report.get("rows") or []:
        handled[str(row[ia])] = int(row[ih] or 0)
        missed[str(row[ia])] = int(row[im] or 0)
    return handled, missed


def group_of(agent: dict[str, Any], by: str) -> str:
    if by == "team":
        return str(agent.get("team") or "(no team)")
    if by == "site":
        return str(agent.get("site") or "(no site)")
    queues = agent.get("queues") or sorted(agent.get("penalties") or {})
    return queues[0] if queues else "(no queue)"


class AgentFigures:
    """Handled and missed per agent in the chosen period, as the server last said."""

    def __init__(self) -> None:
        self.period = 0
        self.handled: dict[str, int] = {}
        self.missed: dict[str, int] = {}
        self.loaded = False
        self._last: dict[str, tuple[str, str]] = {}

    @property
    def key(self) -> str:
        return PERIODS[self.period][0]

    @property
    def label(self) -> str:
        return PERIODS[self.period][1]

    def cycle(self) -> None:
        self.period = (self.period + 1) % len(PERIODS)
        self.loaded = False

    def show(self, report: dict[str, Any]) -> None:
        self.handled, self.missed = per_agent(report)
        self.loaded = True

    def seed(self, agents: dict[str, dict[str, Any]]) -> None:
        for a in agents.values():
            self._last[a["id"]] = (a.get("state", ""), a.get("reason", "") or "")

    def changes(self, kind: str, data: dict[str, Any]) -> bool:
        """Does this event change what the server would say (so ask it again)?"""
        if kind == "call.ended":
            return bool(data.get("agent"))
        if kind == "agent.state":
            aid = data.get("id", "")
            now = (data.get("state", ""), data.get("reason", "") or "")
            before, self._last[aid] = self._last.get(aid), now
            return now[0] == "paused" and now[1] in MISS_REASONS and before != now
        return False
