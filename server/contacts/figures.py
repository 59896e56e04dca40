"""Pure functions over the main store's events: an agent's own figures, the history with a caller,
missed calls. No I/O: the service feeds them ``store.events(...)``; tests feed synthetic events.

Events are anything with ``ts``, ``kind``, ``call_id``, ``agent_id``, ``queue`` and ``data``
(server.store.StoredEvent); ``data["call"]`` is the call as it was at that event.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from cc_console import service_level

WINDOWS: dict[str, float] = {"24h": 86400.0, "7d": 7 * 86400.0, "14d": 14 * 86400.0, "30d": 30 * 86400.0}

# The kinds each function reads (so the service asks the store for just these).
FIGURE_KINDS = ("call.connected", "call.completed", "call.ringnoanswer", "call.abandoned", "call.ended")
HISTORY_KINDS = ("call.entered", "call.outbound", "call.connected", "call.completed", "call.abandoned",
                 "call.ended", "call.voicemail", "call.callback", "call.transferred", "call.category")


def _call(ev: Any) -> dict[str, Any]:
    return (ev.data or {}).get("call") or {}


def agent_figures(events: Iterable[Any], agent_id: str, now: float, *, queues: Iterable[str] = (),
                  sl_threshold: dict[str, float] | None = None,
                  windows: dict[str, float] | None = None, recent: int = 10) -> dict[str, Any]:
    """Handled and lost calls and service level for the agent, per window, overall and per queue.

    * handled: inbound calls connected to the agent (``call.connected`` with ``agent``);
    * lost: calls offered to the agent and not taken: ring-no-answer at the agent, or the caller
      hanging up while it rang at the agent (``call.abandoned`` with stage ``ringing``);
    * service level: handled within the queue's threshold (``wait`` ≤ service_level seconds) divided
      by handled + lost; None without calls;
    * outbound: calls the agent placed that were reached.
    ``recent``: the agent's last calls, newest first.
    """
    windows = windows or WINDOWS
    sl_threshold = sl_threshold or {}
    queues = list(queues)
    longest = max(windows.values())
    rows: list[tuple[float, str, str, bool]] = []  # (ts, queue, kind handled|lost|outbound, within SL)
    recent_rows: list[dict[str, Any]] = []
    for ev in events:
        if ev.ts < now - longest or ev.ts > now:
            continue
        d = ev.data or {}
        call = _call(ev)
        queue = ev.queue or call.get("queue") or ""
        if ev.kind == "call.connected" and d.get("agent") == agent_id:
            if d.get("outbound") or call.get("direction") == "outbound":
                rows.append((ev.ts, queue, "outbound", False))
            else:
                wait = float(d.get("wait") or 0.0)
                rows.append((ev.ts, queue, "handled",
                             service_level.within(wait, service_level.threshold(queue, sl_threshold))))
        elif ev.kind == "call.ringnoanswer" and d.get("agent") == agent_id:
            rows.append((ev.ts, queue, "lost", False))
            recent_rows.append({"call_id": ev.call_id, "ts": ev.ts, "caller": call.get("caller", ""), "queue": queue,
                                "direction": "inbound", "outcome": "not answered", "talk": 0.0})
        elif (ev.kind == "call.abandoned" and d.get("stage") == "ringing"
              and (call.get("agent") or ev.agent_id) == agent_id):
            rows.append((ev.ts, queue, "lost", False))
            recent_rows.append({"call_id": ev.call_id, "ts": ev.ts, "caller": call.get("caller", ""), "queue": queue,
                                "direction": "inbound", "outcome": "caller hung up", "talk": 0.0})
        elif ev.kind == "call.completed" and (call.get("agent") or ev.agent_id) == agent_id:
            recent_rows.append({"call_id": ev.call_id, "ts": call.get("answered") or ev.ts,
                                "caller": call.get("caller", ""), "queue": queue,
                                "direction": call.get("direction", "inbound"), "outcome": "handled",
                                "talk": float(d.get("talk") or 0.0)})
        elif ev.kind == "call.ended" and call.get("direction") == "outbound" and \
                (call.get("agent") or ev.agent_id) == agent_id:
            recent_rows.append({"call_id": ev.call_id, "ts": ev.ts, "caller": call.get("caller", ""), "queue": queue,
                                "direction": "outbound", "outcome": (d.get("outcome") or "ended").replace("_", " "),
                                "talk": 0.0})

    def figures(selected: list[tuple[float, str, str, bool]]) -> dict[str, Any]:
        handled = sum(1 for r in selected if r[2] == "handled")
        lost = sum(1 for r in selected if r[2] == "lost")
        within = sum(1 for r in selected if r[2] == "handled" and r[3])
        return {"handled": handled, "lost": lost, "outbound": sum(1 for r in selected if r[2] == "outbound"),
                "service_level": service_level.ratio(within, handled + lost)}

    out: dict[str, Any] = {"agent": agent_id, "now": now, "windows": {}}
    for name, span in windows.items():
        inside = [r for r in rows if r[0] >= now - span]
        out["windows"][name] = {"all": figures(inside),
                                "queues": {q: figures([r for r in inside if r[1] == q]) for q in queues}}
    recent_rows.sort(key=lambda r: r["ts"], reverse=True)
    out["recent"] = recent_rows[:recent]
    return out


def caller_history(events: Iterable[Any], number: str, key: Callable[[str], str], *,
                   metas: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None,
                   notes: Callable[[list[str]], dict[str, dict[str, Any]]] | None = None,
                   exclude: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Earlier calls with this number, in and out, newest first: ``ts``, ``direction``, ``queue``,
    ``agent``, ``outcome``, ``talk``, and (joined from the contacts database) ``category``,
    ``contact_id`` and the latest ``note`` with its author and version."""
    want = key(number)
    if not want:
        return []
    calls: dict[str, dict[str, Any]] = {}
    for ev in events:
        cid = ev.call_id
        if not cid:
            continue
        call = _call(ev)
        d = ev.data or {}
        if ev.kind in ("call.entered", "call.outbound"):
            other = d.get("number") if ev.kind == "call.outbound" else call.get("caller")
            if key(str(other or call.get("caller") or "")) != want:
                continue
            calls[cid] = {"call_id": cid, "ts": ev.ts,
                          "direction": "outbound" if ev.kind == "call.outbound" else "inbound",
                          "number": other or call.get("caller", ""), "queue": call.get("queue", ""),
                          "agent": d.get("agent") or call.get("agent") or "", "outcome": "in progress",
                          "talk": 0.0, "category": ""}
            continue
        row = calls.get(cid)
        if row is None:
            continue
        if ev.kind == "call.connected":
            row["agent"] = d.get("agent") or row["agent"]
            row["outcome"] = "answered"
        elif ev.kind == "call.completed":
            row["outcome"] = "answered"
            row["talk"] = float(d.get("talk") or 0.0)
            row["agent"] = call.get("agent") or row["agent"]
        elif ev.kind == "call.abandoned":
            row["outcome"] = f"abandoned ({d.get('stage', '')})".replace(" ()", "")
        elif ev.kind == "call.ended":
            row["outcome"] = (d.get("outcome") or "ended").replace("_", " ")
        elif ev.kind == "call.voicemail":
            row["outcome"] = "voicemail"
        elif ev.kind == "call.callback":
            row["outcome"] = "callback requested"
        elif ev.kind == "call.transferred":
            row["outcome"] = "transferred"
        elif ev.kind == "call.category":
            row["category"] = d.get("category", "")
    if exclude:
        calls.pop(exclude, None)
    rows = sorted(calls.values(), key=lambda r: r["ts"], reverse=True)[:limit]
    ids = [r["call_id"] for r in rows]
    m = metas(ids) if metas else {}
    n = notes(ids) if notes else {}
    for r in rows:
        meta = m.get(r["call_id"]) or {}
        r["category"] = meta.get("category") or r["category"]
        r["contact_id"] = meta.get("contact_id")
        note = n.get(r["call_id"])
        r["note"] = note["text"] if note else ""
        r["note_author"] = note["author"] if note else ""
        r["note_version"] = note["version"] if note else 0
    return rows


def missed_calls(events: Iterable[Any], key: Callable[[str], str], *, since: float = 0.0) -> list[dict[str, Any]]:
    """Inbound calls the caller gave up on (``call.abandoned``) since ``since``, oldest first, unless
    a later call with the same number was answered (in or out): those need no call back."""
    missed: dict[str, dict[str, Any]] = {}
    answered_at: dict[str, float] = {}
    numbers: dict[str, str] = {}
    for ev in events:
        call = _call(ev)
        if ev.kind in ("call.entered", "call.outbound") and ev.call_id:
            numbers[ev.call_id] = str((ev.data or {}).get("number") or call.get("caller") or "")
        elif ev.kind == "call.connected":
            k = key(numbers.get(ev.call_id or "", call.get("caller", "")))
            if k:
                answered_at[k] = max(answered_at.get(k, 0.0), ev.ts)
        elif ev.kind == "call.abandoned" and ev.ts >= since and call.get("direction", "inbound") == "inbound":
            d = ev.data or {}
            missed[f"m-{ev.call_id}"] = {
                "id": f"m-{ev.call_id}", "kind": "missed", "caller": call.get("caller", ""),
                "queue": call.get("queue", ""), "tenant": "", "call_id": ev.call_id, "requested": ev.ts,
                "enqueued": call.get("enqueued") or ev.ts, "preferred": None, "state": "open", "agent": None,
                "stage": d.get("stage", ""), "wait": d.get("wait")}
    out = [m for m in missed.values() if answered_at.get(key(m["caller"]), 0.0) < m["requested"]]
    out.sort(key=lambda m: m["requested"])
    return out
