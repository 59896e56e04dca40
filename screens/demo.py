"""A fixed, offline picture of a contact centre: for snapshot tests, screenshots and demos.

``demo_client()`` returns a real ConsoleClient that never connects, its state loaded from
``demo_snapshot()``, marked live (connected, not stale). Timers read ``DEMO_NOW``.
"""
from __future__ import annotations

import copy
from typing import Any

from cc_console.client import ConsoleClient

DEMO_NOW = 1_700_000_000.0


def _agent(id: str, name: str, state: str, since: float, queues: list[str], device: str,
           reason: str = "", call_id: str | None = None, member: list[str] | None = None,
           team: str = "", site: str = "") -> dict[str, Any]:
    return {"id": id, "name": name, "device": device, "answer_mode": "console", "state": state,
            "reason": reason, "state_since": DEMO_NOW - since, "queues": queues, "call_id": call_id,
            "last_call_end": 0.0, "penalties": dict.fromkeys(member or queues, 0), "skills": {},
            "self_login": True, "wrapup_until": 0.0, "team": team, "site": site}


def _queue(name: str, waiting: int, longest: float, ready: int, busy: int, paused: int, logged_in: int,
           offered: int, answered: int, abandoned: int, sl: float | None, wrapup: int = 0,
           callbacks: int = 0) -> dict[str, Any]:
    return {"name": name, "tenant": "default", "open": True, "problem": False, "waiting": waiting,
            "oldest_enqueued": DEMO_NOW - longest if waiting else None, "longest_wait": longest,
            "agents_ready": ready, "agents_busy": busy, "agents_wrapup": wrapup, "agents_paused": paused,
            "agents_logged_in": logged_in, "offered": offered, "answered": answered, "abandoned": abandoned,
            "overflowed": 0, "callbacks": callbacks, "voicemails": 0, "service_level": sl}


def _call(id: str, caller: str, did: str, queue: str, state: str, waited: float, agent: str | None = None,
          talked: float | None = None) -> dict[str, Any]:
    answered = DEMO_NOW - talked if talked is not None else None
    return {"id": id, "caller": caller, "did": did, "queue": queue, "channel": f"chan-{id}",
            "bridge": f"bridge-{id}", "state": state, "created": DEMO_NOW - waited - 2,
            "enqueued": DEMO_NOW - waited, "priority": 0, "agent": agent,
            "agent_channel": None, "offers": 1 if agent else 0, "answered": answered, "ended": None,
            "end_reason": ""}


_SNAPSHOT: dict[str, Any] = {
    "me": {"user": "agent1", "role": "agent", "name": "Alice Archer"},
    "agents": [
        _agent("agent1", "Alice Archer", "ringing", 5, ["support", "sales"], "PJSIP/1001", call_id="c1",
               team="Blue", site="London"),
        _agent("agent2", "Bob Baker", "on_call", 142, ["support"], "PJSIP/1002", call_id="c2",
               team="Blue", site="Leeds"),
        _agent("agent3", "Carol Chen", "ready", 61, ["support", "sales"], "PJSIP/1003", team="Green", site="London"),
        _agent("agent4", "Dan Dorsey", "paused", 630, ["sales"], "PJSIP/1004", reason="Lunch",
               team="Green", site="Leeds"),
        _agent("agent5", "Erin Evans", "logged_out", 7200, [], "PJSIP/1005", member=["support"],
               team="Blue", site="London"),
        _agent("agent6", "Frank Ford", "ready", 12, ["billing"], "PJSIP/1006", site="London"),
    ],
    "calls": [
        _call("c1", "+442079460001", "5000", "support", "ringing", 42, agent="agent1"),
        _call("c2", "+442079460002", "5000", "support", "connected", 200, agent="agent2", talked=142),
        _call("c3", "+442079460003", "5001", "sales", "queued", 75),
        _call("c4", "+442079460004", "5000", "support", "queued", 18),
    ],
    "queues": [
        _queue("support", 1, 18, 1, 2, 0, 3, 58, 51, 4, 0.86),
        _queue("sales", 1, 75, 1, 1, 1, 3, 23, 17, 3, 0.65),
        _queue("billing", 0, 0, 1, 0, 0, 1, 0, 0, 0, None),
    ],
    "pause_reasons": [{"code": "break", "label": "Break", "kind": "private"},
                      {"code": "lunch", "label": "Lunch", "kind": "private"},
                      {"code": "admin", "label": "Admin work", "kind": "work"},
                      {"code": "training", "label": "Training", "kind": "work"},
                      {"code": "meeting", "label": "Meeting", "kind": "work"}],
    "monitors": [],
    "callbacks": [{"id": "cb1", "kind": "callback", "caller": "+442079460009", "queue": "sales",
                   "tenant": "default", "call_id": "c9", "requested": DEMO_NOW - 300,
                   "enqueued": DEMO_NOW - 400, "preferred": None, "state": "open", "agent": None}],
    "server": {"ari": "up", "time": DEMO_NOW},
}


def demo_snapshot(user: str = "agent1", role: str = "agent") -> dict[str, Any]:
    snap = copy.deepcopy(_SNAPSHOT)
    agent = next((a for a in snap["agents"] if a["id"] == user), None)
    snap["me"] = {"user": user, "role": role, "name": agent["name"] if agent else user}
    return snap


# Today's agent report as the server gives it (report.run kind agent), for the supervisor's
# handled and missed columns; only the columns the screen reads.
AGENT_REPORT = {"title": "Agents", "params": {}, "columns": ["agent", "handled", "missed"],
                "rows": [["agent1", 14, 1], ["agent2", 11, 0], ["agent3", 9, 2], ["agent4", 6, 0],
                         ["agent6", 3, 0]], "notes": []}


class DemoClient(ConsoleClient):
    """A ConsoleClient that never connects; the few commands the screens send by themselves that the
    demo answers (``responses``) are answered from fixed data, the rest fail as unconnected."""

    def __init__(self, url: str) -> None:
        super().__init__(url, reconnect=False)
        self.responses: dict[str, Any] = {"report.run": {"report": AGENT_REPORT}}

    async def call(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        if cmd == "report.run" and (args or {}).get("kind") == "agent":
            return copy.deepcopy(self.responses[cmd])
        if cmd != "report.run" and cmd in self.responses:
            return copy.deepcopy(self.responses[cmd])
        return await super().call(cmd, args, timeout)


def demo_client(snapshot: dict[str, Any] | None = None, *, url: str = "ws://demo.invalid",
                live: bool = True) -> ConsoleClient:
    client = DemoClient(url)
    client.state.load(copy.deepcopy(snapshot) if snapshot is not None else demo_snapshot())
    if live:
        client.stale = False
        client.connected.set()
    return client


def demo_now() -> float:
    return DEMO_NOW
