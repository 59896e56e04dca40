"""Written work items (chats; server/written.py) beside calls: in an agent's own figures and in the
history with a customer. Pure: the service fetches the items from their owners."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from cc_console import service_level
from cc_console.server.written import WrittenItem

from .figures import WINDOWS


def _figures(items: list[WrittenItem]) -> dict[str, Any]:
    within = sum(1 for it in items if it.within_sl)
    # no ring-no-answer is kept per chat: the service level is over the handled ones
    return {"handled": len(items), "service_level": service_level.ratio(within, len(items))}


def add_written_figures(out: dict[str, Any], items: Iterable[WrittenItem], agent_id: str, now: float, *,
                        recent: int = 10) -> dict[str, Any]:
    """agent.figures' answer (contacts.figures.agent_figures) with the agent's handled written items:
    per window ``channels`` {channel: {all, queues}} (counted where accepted, as calls where
    answered); their recent ones in ``recent``, every row with its ``channel``."""
    handled = [it for it in items if it.agent == agent_id and it.outcome == "handled" and it.accepted is not None
               and it.accepted <= now]
    for name, window in (out.get("windows") or {}).items():
        inside = [it for it in handled if it.accepted is not None and it.accepted >= now - WINDOWS.get(name, 0.0)]
        channels: dict[str, Any] = {}
        for channel in sorted({it.channel for it in inside}):
            mine = [it for it in inside if it.channel == channel]
            channels[channel] = {"all": _figures(mine),
                                 "queues": {q: _figures([it for it in mine if it.queue == q])
                                            for q in sorted({it.queue for it in mine})}}
        window["channels"] = channels
    rows = [{**r, "channel": r.get("channel", "call")} for r in out.get("recent") or []]
    rows += [{"id": it.id, "channel": it.channel, "ts": it.accepted, "caller": it.name or it.contact,
              "queue": it.queue, "direction": "inbound", "outcome": it.outcome,
              "talk": max(0.0, (it.closed or it.accepted or 0.0) - (it.accepted or 0.0))} for it in handled]
    rows.sort(key=lambda r: r["ts"] or 0.0, reverse=True)
    out["recent"] = rows[:recent]
    return out


def history_rows(calls: list[dict[str, Any]], items: Iterable[WrittenItem], limit: int = 50) -> list[dict[str, Any]]:
    """contacts.history: the earlier calls and the customer's written items, newest first, every
    row with its ``channel``."""
    rows = [{**r, "channel": r.get("channel", "call")} for r in calls]
    rows += [{"id": it.id, "channel": it.channel, "ts": it.created, "direction": "inbound", "number": it.contact,
              "queue": it.queue, "agent": it.agent, "outcome": it.outcome or "open",
              "talk": max(0.0, it.closed - it.accepted) if it.closed is not None and it.accepted is not None
              else 0.0, "category": it.category, "note": ""} for it in items]
    rows.sort(key=lambda r: r["ts"] or 0.0, reverse=True)
    return rows[:limit]
