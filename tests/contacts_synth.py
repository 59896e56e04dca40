"""Synthetic calls and events for the contacts tests (no Asterisk): what the engine would record."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def call_dict(cid: str, caller: str, *, queue: str = "support", agent: str | None = None, state: str = "ended",
              direction: str = "inbound", enqueued: float = 0.0, answered: float | None = None) -> dict[str, Any]:
    return {"id": cid, "caller": caller, "did": "5000", "queue": queue, "channel": f"ch-{cid}", "bridge": f"b-{cid}",
            "state": state, "created": enqueued, "enqueued": enqueued, "agent": agent, "direction": direction,
            "answered": answered}


def record_answered(store: Any, cid: str, caller: str, agent: str, ts: float, *, wait: float = 5.0,
                    talk: float = 60.0, queue: str = "support") -> None:
    """An inbound call answered by ``agent`` after ``wait`` s, completed after ``talk`` s."""
    c = call_dict(cid, caller, queue=queue, agent=None, state="queued", enqueued=ts)
    store.record("call.entered", ts=ts, call=c, data={"did": "5000"})
    c = dict(c, agent=agent, state="connected", answered=ts + wait)
    store.record("call.connected", ts=ts + wait, call=c, data={"agent": agent, "wait": wait}, agent_id=agent)
    c = dict(c, state="ended")
    store.record("call.completed", ts=ts + wait + talk, call=c, data={"by": "caller", "talk": talk}, agent_id=agent)


def record_abandoned(store: Any, cid: str, caller: str, ts: float, *, queue: str = "support",
                     agent: str | None = None, stage: str = "queue") -> None:
    c = call_dict(cid, caller, queue=queue, state="queued", enqueued=ts)
    store.record("call.entered", ts=ts, call=c, data={"did": "5000"})
    if agent:
        store.record("call.ringnoanswer", ts=ts + 4, call=dict(c, agent=None),
                     data={"agent": agent, "why": "no answer"})
    store.record("call.abandoned", ts=ts + 10, call=dict(c, state="ended", agent=agent if stage == "ringing" else None),
                 data={"by": "caller", "stage": stage, "wait": 10.0}, agent_id=agent if stage == "ringing" else None)


def record_outbound(store: Any, cid: str, number: str, agent: str, ts: float, *, talk: float = 30.0) -> None:
    c = call_dict(cid, number, queue="", agent=agent, state="ringing", direction="outbound", enqueued=ts)
    store.record("call.outbound", ts=ts, call=c, data={"agent": agent, "number": number, "caller_id": ""},
                 agent_id=agent)
    c = dict(c, state="connected", answered=ts + 3)
    store.record("call.connected", ts=ts + 3, call=c, data={"agent": agent, "wait": 3.0, "outbound": True},
                 agent_id=agent)
    store.record("call.completed", ts=ts + 3 + talk, call=dict(c, state="ended"), data={"by": "agent", "talk": talk},
                 agent_id=agent)


@dataclass
class Ev:
    """A StoredEvent look-alike for the pure functions."""
    ts: float
    kind: str
    call_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
