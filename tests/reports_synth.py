"""A scripted day of store events with known figures (shared by the reports tests)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from cc_console.server.acd.config import Queue, RoutingConfig


def T(hms: str) -> float:
    h, m, s = hms.split(":")
    return datetime(2024, 3, 4, int(h), int(m), tzinfo=timezone.utc).timestamp() + float(s)


class Script:
    def __init__(self, store: Any) -> None:
        self.store = store

    def call(self, cid: str, queue: str, **extra: Any) -> dict[str, Any]:
        return {"id": cid, "queue": queue, "caller": "06" + cid, "state": "entering", "stage": "announcement",
                "agent": None, **extra}

    def ev(self, kind: str, ts: str, call: dict[str, Any], **data: Any) -> None:
        self.store.record(kind, ts=T(ts), call=dict(call), data=data or None, agent_id=call.get("agent"))

    def agent(self, aid: str, ts: str, state: str, reason: str = "", prev: str = "", **data: Any) -> None:
        self.store.record("agent.state", ts=T(ts), agent={"id": aid, "state": state, "reason": reason},
                          data={"from": prev, **data})


def routing() -> RoutingConfig:
    return RoutingConfig(queues={"q1": Queue("q1", tenant="acme", service_level=20.0),
                                 "q2": Queue("q2", tenant="globex", service_level=20.0)})


def write_day(store: Any) -> None:
    s = Script(store)
    s.agent("ag1", "07:50:00", "ready", prev="logged_out")
    s.agent("ag2", "08:00:00", "ready", prev="logged_out")
    # F: before the range
    f = s.call("F", "q1")
    s.ev("call.entered", "07:59:59", f, did="1")
    s.ev("call.abandoned", "08:00:01", f, by="caller", stage="announcement", wait=2.0)
    # A: offered 08:14:50, answered 08:15:05 (15 s), talk 300, wrap-up 30 by ag1
    a = s.call("A", "q1")
    s.ev("call.entered", "08:14:50", a, did="1")
    s.ev("call.queued", "08:14:50", a, stage="queue", position=1)
    s.ev("call.offered", "08:15:05", {**a, "agent": "ag1"}, agent="ag1")
    s.agent("ag1", "08:15:05", "on_call", prev="ready", call="A")
    s.ev("call.connected", "08:15:05", {**a, "agent": "ag1"}, agent="ag1", wait=15.0)
    s.ev("call.completed", "08:20:05", {**a, "agent": "ag1"}, by="caller", talk=300.0)
    s.agent("ag1", "08:20:05", "wrap_up", prev="on_call", call="A")
    s.agent("ag1", "08:20:35", "ready", prev="wrap_up")
    # B: 08:15:00 sharp, rings ag1 who misses it, abandoned in the queue after 3 s (short)
    b = s.call("B", "q1")
    s.ev("call.entered", "08:15:00", b, did="1")
    s.ev("call.queued", "08:15:00", b, stage="queue", position=1)
    s.ev("call.ringnoanswer", "08:15:01", b, agent="ag1", why="no answer")
    s.ev("call.abandoned", "08:15:03", b, by="caller", stage="queue", wait=3.0)
    # C: 08:29:59.9, abandoned while ringing at 08:30:40 (40.1 s)
    c = s.call("C", "q1")
    s.ev("call.entered", "08:29:59.9", c, did="1")
    s.ev("call.queued", "08:29:59.9", c, stage="queue", position=1)
    s.ev("call.offered", "08:30:30", {**c, "agent": "ag2"}, agent="ag2")
    s.ev("call.abandoned", "08:30:40", c, by="caller", stage="ringing", wait=40.1)
    # K: category billing, answered by ag2 after 5 s, talk 60
    k = s.call("K", "q1", category="billing")
    s.ev("call.entered", "08:16:00", k, did="1")
    s.ev("call.queued", "08:16:00", k, stage="queue", position=1)
    s.ev("call.connected", "08:16:05", {**k, "agent": "ag2"}, agent="ag2", wait=5.0)
    s.ev("call.completed", "08:17:05", {**k, "agent": "ag2"}, by="agent", talk=60.0)
    # D: 08:30:00 gone during the greeting after 2 s
    d = s.call("D", "q1")
    s.ev("call.entered", "08:30:00", d, did="1")
    s.ev("call.abandoned", "08:30:02", d, by="caller", stage="announcement", wait=2.0)
    # ag1 pauses for lunch 08:40-09:00
    s.agent("ag1", "08:40:00", "paused", reason="lunch", prev="ready", kind="private")
    s.agent("ag1", "09:00:00", "ready", prev="paused")
    # E: q1 08:44, max wait 120 s -> q2 at 08:46, answered there after 30 s, talk 210
    e = s.call("E", "q1")
    s.ev("call.entered", "08:44:00", e, did="1")
    s.ev("call.queued", "08:44:00", e, stage="queue", position=1)
    s.ev("call.overflow", "08:46:00", {**e, "stage": "queue"}, when="max_wait", to="queue:q2", wait=120.0)
    e2 = {**e, "queue": "q2", "stage": "overflowed"}
    s.ev("call.queued", "08:46:00", e2, stage="queue", position=1)
    s.ev("call.connected", "08:46:30", {**e2, "agent": "ag2"}, agent="ag2", wait=30.0)
    s.ev("call.completed", "08:50:00", {**e2, "agent": "ag2"}, by="caller", talk=210.0)
    # G: 08:50 outside opening hours, hung up after the closed message
    g = s.call("G", "q1")
    s.ev("call.entered", "08:50:00", g, did="1")
    s.ev("call.closed", "08:50:00", g)
    s.ev("call.overflow", "08:50:00", g, when="closed", to="hangup", wait=0.0)
    s.ev("call.ended", "08:50:05", g, by="system", outcome="closed")
    # H: callback by key at 09:00:20
    h = s.call("H", "q1")
    s.ev("call.entered", "09:00:10", h, did="1")
    s.ev("call.queued", "09:00:10", h, stage="queue", position=1)
    s.ev("call.callback_key", "09:00:15", {**h, "stage": "callback"}, key="1")
    s.ev("call.callback", "09:00:20", {**h, "stage": "callback"}, callback="cb1", preferred=None)
    s.ev("call.ended", "09:00:25", h, by="system", outcome="callback")
    # I: voicemail by key
    i = s.call("I", "q1")
    s.ev("call.entered", "09:05:00", i, did="1")
    s.ev("call.queued", "09:05:00", i, stage="queue", position=1)
    s.ev("call.voicemail_started", "09:05:30", {**i, "stage": "voicemail"})
    s.ev("call.voicemail", "09:06:00", i, by="caller", callback="vm1")
    # J: still waiting
    j = s.call("J", "q1")
    s.ev("call.entered", "09:10:00", j, did="1")
    s.ev("call.queued", "09:10:00", j, stage="queue", position=1)
    s.agent("ag1", "09:12:00", "logged_out", prev="ready")
