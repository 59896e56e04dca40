"""Fixed data for the agent console's extras (customer records, history, callbacks, figures,
transfer targets), in the style of screens/demo.py: for snapshot tests, screenshots and demos.

``agent_demo_client()`` is a real ConsoleClient that never connects; its ``call`` answers the
agent console's look-ups from this data (and records what was sent in ``sent``).
"""
from __future__ import annotations

import copy
from typing import Any

from cc_console.client import ConsoleClient

from .demo import DEMO_NOW, demo_snapshot

CONTACTS = [
    {"id": "k1", "first_name": "Ann", "last_name": "Archer", "phone": "+44 20 7946 0001", "mobile": "",
     "email": "ann@example.org", "city": "London", "customer_number": "C-1001", "status": "active",
     "crm_id": "A-77", "crm_link": "https://crm.example/customer/A-77"},
    {"id": "k2", "first_name": "Andrew", "last_name": "Archer", "phone": "", "mobile": "020 7946 0001",
     "email": "", "city": "London", "customer_number": "C-1002", "status": "prospect", "crm_id": "",
     "crm_link": None},
]

HISTORY = [
    {"call_id": "h1", "ts": DEMO_NOW - 86400 * 2, "direction": "inbound", "number": "+442079460001",
     "queue": "support", "agent": "agent2", "outcome": "answered", "talk": 312.0, "category": "Complaint",
     "contact_id": "k1", "note": "router keeps rebooting; engineer booked", "note_author": "agent2", "note_version": 2},
    {"id": "chat7", "channel": "chat", "ts": DEMO_NOW - 86400 * 5, "direction": "inbound",
     "number": "anna@example.org", "queue": "support", "agent": "agent3", "outcome": "handled", "talk": 420.0,
     "category": "Billing", "note": ""},
    {"call_id": "h2", "ts": DEMO_NOW - 86400 * 9, "direction": "outbound", "number": "+442079460001",
     "queue": "", "agent": "agent1", "outcome": "answered", "talk": 95.0, "category": "Order",
     "contact_id": "k1", "note": "", "note_author": "", "note_version": 0},
]

# The caller's calls a recording of which the agent may hear (h1: see HISTORY).
RECORDINGS = [{"id": "rec-h1", "call_id": "h1", "caller": "+442079460001", "agent_id": "agent2",
               "started": DEMO_NOW - 86400 * 2, "duration": 312.0, "status": "stored"}]

WORKLIST = [
    {"id": "cb1", "kind": "callback", "caller": "+442079460009", "queue": "sales", "tenant": "default",
     "call_id": "c9", "requested": DEMO_NOW - 300, "enqueued": DEMO_NOW - 400, "preferred": None, "state": "open",
     "agent": None, "history": HISTORY[:1]},
    {"id": "m-c7", "kind": "missed", "caller": "+442079460007", "queue": "support", "tenant": "default",
     "call_id": "c7", "requested": DEMO_NOW - 120, "enqueued": DEMO_NOW - 150, "preferred": None, "state": "open",
     "agent": None, "history": []},
]

FIGURES: dict[str, Any] = {
    "agent": "agent1", "now": DEMO_NOW, "queues": ["support", "sales"], "waiting": {"support": 1, "sales": 1},
    "windows": {name: {"all": {"handled": h, "lost": lost, "outbound": o, "service_level": sl},
                       "queues": {"support": {"handled": h - 2, "lost": lost, "outbound": 0, "service_level": sl},
                                  "sales": {"handled": 2, "lost": 0, "outbound": 0, "service_level": 1.0}}}
                for name, h, lost, o, sl in (("24h", 14, 1, 2, 0.8), ("7d", 71, 4, 9, 0.85),
                                             ("14d", 140, 6, 15, 0.86), ("30d", 301, 11, 30, 0.88))},
    "recent": [{"call_id": "r1", "ts": DEMO_NOW - 900, "caller": "+442079460005", "queue": "support",
                "direction": "inbound", "outcome": "handled", "talk": 184.0},
               {"id": "chat9", "channel": "chat", "ts": DEMO_NOW - 1500, "caller": "Vera Visitor", "queue": "support",
                "direction": "inbound", "outcome": "handled", "talk": 610.0}],
}
# my chats beside the calls (agent.figures' channels)
for _name, _n in (("24h", 6), ("7d", 25), ("14d", 51), ("30d", 110)):
    FIGURES["windows"][_name]["channels"] = {"chat": {"all": {"handled": _n, "service_level": 0.9},
                                                      "queues": {"support": {"handled": _n, "service_level": 0.9}}}}

TARGETS = [
    {"key": "agent:agent2", "kind": "agent", "name": "Bob Baker", "id": "agent2", "number": "PJSIP/1002",
     "group": "Agents", "state": "busy", "target": "agent:agent2"},
    {"key": "agent:agent3", "kind": "agent", "name": "Carol Chen", "id": "agent3", "number": "PJSIP/1003",
     "group": "Agents", "state": "free", "target": "agent:agent3"},
    {"key": "agent:agent4", "kind": "agent", "name": "Dan Dorsey", "id": "agent4", "number": "PJSIP/1004",
     "group": "Agents", "state": "paused", "target": "agent:agent4"},
    {"key": "agent:sup1", "kind": "supervisor", "name": "Sue Super", "id": "sup1", "number": "PJSIP/1008",
     "group": "Supervisors", "state": "free", "target": "agent:sup1"},
    {"key": "line:1010", "kind": "line", "name": "Reception", "id": "1010", "number": "1010", "group": "Internal",
     "state": "free", "target": "1010"},
    {"key": "line:+442079460100", "kind": "line", "name": "Facility desk", "id": "+442079460100",
     "number": "+442079460100", "group": "External", "state": "free", "target": "+442079460100"},
]

CONFIG = {"crm_url": "https://crm.example/customer/{crm_id}",
          "categories": ["Order", "Complaint", "Information", "Technical problem", "Billing", "Other"],
          "lines": [], "fields": None}


def responses() -> dict[str, Any]:
    """Command -> result (a dict, or a callable(args) -> dict) for the agent console's requests."""
    return {
        "contacts.config": {k: v for k, v in CONFIG.items() if v is not None},
        "contacts.call": lambda a: {"call_id": a["call_id"], "caller": "+442079460001",
                                    "matches": copy.deepcopy(CONTACTS),
                                    "contact": None, "category": "", "notes": []},
        "contacts.history": {"history": copy.deepcopy(HISTORY)},
        "callbacks.worklist": {"items": copy.deepcopy(WORKLIST)},
        "agent.figures": {"figures": copy.deepcopy(FIGURES)},
        "transfer.targets": {"targets": copy.deepcopy(TARGETS)},
        "transfer.watch": lambda a: {"targets": copy.deepcopy(TARGETS) if a.get("on") else []},
        "recordings.search": {"recordings": copy.deepcopy(RECORDINGS), "more": False},
    }


class AgentDemoClient(ConsoleClient):
    lookups = True

    def __init__(self, snapshot: dict[str, Any] | None = None, *, url: str = "ws://demo.invalid") -> None:
        super().__init__(url, reconnect=False)
        self.state.load(copy.deepcopy(snapshot) if snapshot is not None else demo_snapshot())
        self.stale = False
        self.connected.set()
        self.responses = responses()
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def call(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        args = dict(args or {})
        self.sent.append((cmd, args))
        r = self.responses.get(cmd, {})
        return copy.deepcopy(r(args) if callable(r) else r)


def agent_demo_client(snapshot: dict[str, Any] | None = None) -> AgentDemoClient:
    return AgentDemoClient(snapshot)
