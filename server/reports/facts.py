"""Events -> facts: one pure fold over the event store's events, no I/O.

A *segment* is one presentation of a call to one queue: the call's arrival (call.entered) opens
the first; an overflow to a queue (or to an agent, which re-enters the same queue) closes it and
opens the next. Each segment has exactly one outcome, the first that happens in it:

  answered | abandoned | overflow | callback | voicemail | closed | ended | in_progress

so that, per segment, offered = answered + abandoned + overflow + callback + voicemail + ended
+ in_progress (closed segments are counted apart: outside opening hours).

A transfer by the agent (call.transferred) ends the agent's part of the segment: it counts as
transferred out; a blind transfer to a queue or to an agent opens the next segment (entry
"transfer", like an overflow). An attended transfer or one to a number opens none (the call
leaves the queues' figures there). An outbound call is a segment of its own with outcome
"outbound": counted apart, never in received/offered.

Agent *spans* are the time between two agent.state events of one agent (the last one open).
*Misses* are ring-no-answer events (an agent was offered the call and did not take it).

Events that may arrive after a call has ended (call.category from the agent's console,
callback.saved when the callback is worked) change the call's segments; the read model folds such
a call again (cache.LATE_KINDS).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

OUTCOMES = ("answered", "abandoned", "overflow", "callback", "voicemail", "closed", "ended", "in_progress",
            "outbound")
# before_ivr and ivr: the caller hung up in an IVR tree's welcome or in its menus (docs/ivr.md).
STAGES = ("announcement", "queue", "ringing", "before_ivr", "ivr")
FINAL_KINDS = ("call.completed", "call.abandoned", "call.voicemail", "call.ended", "call.rejected")


@dataclass(slots=True)
class Segment:
    call_id: str
    seg: int  # 0 for the arrival, 1.. for each overflow into a queue
    queue: str
    offered_ts: float  # when the call reached this queue: the interval it counts in
    entry: str = "new"  # new | overflow | transfer | outbound
    caller: str = ""
    category: str = ""
    queued_ts: float | None = None  # entered the waiting line (queue_log ENTERQUEUE)
    outcome: str = "in_progress"
    outcome_ts: float | None = None
    stage: str = ""  # abandoned: announcement | queue | ringing | before_ivr | ivr
    overflow_when: str = ""  # overflow: closed | no_agents | max_wait | max_length
    overflow_to: str = ""
    wait: float = 0.0  # seconds waited in the queue up to the outcome (greeting time for an announcement abandon)
    agent: str = ""  # answered by
    answered_ts: float | None = None
    talk: float = 0.0
    hold: float = 0.0  # seconds on hold (call.hold/unhold), from the completed call
    missed: int = 0  # ring-no-answers in this segment
    callback: bool = False  # a callback was requested (saved) from this segment
    voicemail: bool = False  # a voicemail was left in this segment
    ended_reason: str = ""  # outcome "ended": the engine's outcome
    transferred_out: bool = False  # answered, then transferred by the agent (talk and hold up to then)
    callback_done: bool = False  # the callback requested here was worked (marked done)
    ring: float = 0.0  # answered: seconds the answering agent was offered the call before it connected

    def as_row(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in SEGMENT_FIELDS)


SEGMENT_FIELDS = tuple(Segment.__dataclass_fields__)


@dataclass(slots=True)
class Span:
    agent: str
    state: str  # logged_out | ready | ringing | on_call | wrap_up | paused
    start: float
    end: float | None = None  # None: still in this state
    reason: str = ""  # pause reason
    kind: str = ""  # pause kind (work | private)
    call_id: str = ""  # ringing / on_call / wrap_up: the call

    def as_row(self) -> tuple[Any, ...]:
        return (self.agent, self.state, self.start, self.end, self.reason, self.kind, self.call_id)


@dataclass(slots=True)
class Miss:
    ts: float
    agent: str
    call_id: str
    queue: str
    why: str


@dataclass
class Facts:
    segments: list[Segment] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    misses: list[Miss] = field(default_factory=list)
    calls_open: set[str] = field(default_factory=set)  # call ids not ended yet
    agents_open: dict[str, Span] = field(default_factory=dict)  # agent -> its open span
    # (call id, agent) -> wrap-up in microseconds, when a loader has summed them already (else from spans)
    wrapups: dict[tuple[str, str], int] | None = None


def _norm_stage(stage: str, seg: Segment) -> str:
    if stage in STAGES:
        return stage
    # e.g. "callback" (caller keyed for a callback, then hung up before it was saved) or an
    # overflow in progress: in the queue if the segment reached it, else before it.
    return "queue" if seg.queued_ts is not None else "announcement"


@dataclass
class _CallState:
    segs: list[Segment]
    cur: Segment | None
    category: str = ""
    ended: bool = False
    hold_base: float = 0.0  # the call's hold total when the current segment's agent took it over
    talk_base: float = 0.0  # the call's talk (from its answer) when the current segment's agent took it over
    offer_ts: float | None = None  # the last call.offered


def fold(events: Iterable[Any], agents_open: dict[str, Span] | None = None) -> Facts:
    """Fold events (objects with ts, kind, call_id, agent_id, queue, data; in store order) into facts.

    `agents_open` carries each agent's open span from an earlier fold (incremental use)."""
    facts = Facts()
    calls: dict[str, _CallState] = {}
    open_spans: dict[str, Span] = dict(agents_open or {})
    for ev in events:
        kind = ev.kind
        data = ev.data
        if kind == "agent.state":
            a = data.get("agent") or {}
            aid = ev.agent_id or a.get("id")
            if not aid:
                continue
            prev = open_spans.get(aid)
            if prev is not None:
                prev.end = ev.ts
                facts.spans.append(prev)
            state = str(a.get("state", ""))
            open_spans[aid] = Span(aid, state, ev.ts, None, str(a.get("reason") or "") if state == "paused" else "",
                                   str(data.get("kind") or "") if state == "paused" else "",
                                   str(data.get("call") or a.get("call_id") or "") if state in
                                   ("ringing", "on_call", "wrap_up") else "")
            continue
        if kind == "callback.saved" and ev.call_id in calls:
            item = data.get("item") or {}
            if item.get("state") == "done":
                done = [s for s in calls[ev.call_id].segs if s.callback]
                if done:
                    done[-1].callback_done = True
            continue
        if not kind.startswith("call.") or not ev.call_id:
            continue
        call = data.get("call") or {}
        cid = ev.call_id
        st = calls.get(cid)
        if kind == "call.entered":
            seg = Segment(cid, 0, call.get("queue") or ev.queue or "", ev.ts, "new", call.get("caller", ""))
            st = calls[cid] = _CallState([seg], seg)
        elif kind == "call.outbound":
            seg = Segment(cid, 0, call.get("queue") or ev.queue or "", ev.ts, "outbound", call.get("caller", ""),
                          outcome="outbound", outcome_ts=ev.ts, agent=str(data.get("agent") or ""))
            st = calls[cid] = _CallState([seg], seg)
        elif st is None:
            continue  # a call whose arrival is not in this batch (or a rejected DID): not ours to count
        cat = call.get("category")
        if cat:
            st.category = str(cat)
        cur = st.cur
        if kind == "call.category":  # set in the agent's console; may come after the call ended
            st.category = str(data.get("category") or "")
        if (kind in ("call.closed", "call.queued") and cur is not None and cur.entry == "new"
                and cur.queued_ts is None and call.get("queue") and call["queue"] != cur.queue):
            # The IVR chose the queue: the call counts there, not in its tree's home queue.
            cur.queue = str(call["queue"])
        if kind == "call.closed":
            if cur is not None:
                cur.outcome = "closed"
                cur.outcome_ts = ev.ts
        elif kind == "call.queued":
            if cur is not None and cur.queued_ts is None:
                cur.queued_ts = ev.ts
        elif kind == "call.ringnoanswer":
            agent = data.get("agent") or ""
            facts.misses.append(Miss(ev.ts, agent, cid, call.get("queue") or ev.queue or "", data.get("why", "")))
            if cur is not None:
                cur.missed += 1
        elif kind == "call.offered":
            st.offer_ts = ev.ts
        elif kind == "call.connected":
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "answered"
                cur.outcome_ts = cur.answered_ts = ev.ts
                cur.wait = float(data.get("wait", 0.0))
                cur.agent = data.get("agent") or call.get("agent") or ""
                if st.offer_ts is not None and st.offer_ts >= cur.offered_ts:
                    cur.ring = max(0.0, ev.ts - st.offer_ts)
                st.talk_base = 0.0  # the engine's talk runs from this answer
        elif kind == "call.completed":
            if cur is not None and cur.outcome == "answered" and not cur.transferred_out:
                # The engine's talk runs from answer to hang-up, hold included; report them apart.
                cur.hold = max(0.0, float(data.get("hold", 0.0) or 0.0) - st.hold_base)
                cur.talk = max(0.0, float(data.get("talk", 0.0)) - st.talk_base - cur.hold)
            st.ended = True
        elif kind == "call.transferred":
            if cur is not None and cur.outcome == "answered" and not cur.transferred_out:
                cur.transferred_out = True
                hold_total = float(data.get("hold", 0.0) or 0.0)
                talk_total = float(data.get("talk", 0.0) or 0.0)
                cur.hold = max(0.0, hold_total - st.hold_base)
                cur.talk = max(0.0, talk_total - st.talk_base - cur.hold)
                st.hold_base = hold_total
                st.talk_base = talk_total  # an attended transfer keeps the call's answer time
            to = str(data.get("to", ""))
            target = ""
            if data.get("mode") != "attended":
                if to.startswith("queue:"):
                    target = to[6:]
                elif to.startswith("agent:"):
                    target = call.get("queue") or ev.queue or ""  # the engine queues it for the agent there
            if target:
                seg = Segment(cid, len(st.segs), target, ev.ts, "transfer", call.get("caller", ""))
                st.segs.append(seg)
                st.cur = seg
        elif kind == "call.abandoned":
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "abandoned"
                cur.outcome_ts = ev.ts
                cur.stage = _norm_stage(str(data.get("stage", "")), cur)
                cur.wait = float(data.get("wait", 0.0))
            st.ended = True
        elif kind == "call.overflow":
            when = str(data.get("when", ""))
            to = str(data.get("to", ""))
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "overflow"
                cur.outcome_ts = ev.ts
                cur.overflow_when = when
                cur.overflow_to = to
                cur.wait = float(data.get("wait", 0.0))
            elif cur is not None and cur.outcome == "closed":
                cur.overflow_when = when
                cur.overflow_to = to
            target = ""
            if to.startswith("queue:") and call.get("stage") != "overflowed-twice":
                target = to[6:]
            elif to.startswith("agent:"):
                target = call.get("queue") or ev.queue or ""
            if target:
                seg = Segment(cid, len(st.segs), target, ev.ts, "overflow", call.get("caller", ""))
                st.segs.append(seg)
                st.cur = seg
        elif kind == "call.callback":
            if cur is not None:
                cur.callback = True
                if cur.outcome == "in_progress":
                    cur.outcome = "callback"
                    cur.outcome_ts = ev.ts
                    cur.wait = (ev.ts - cur.queued_ts) if cur.queued_ts is not None else 0.0
        elif kind == "call.voicemail_started":
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "voicemail"
                cur.outcome_ts = ev.ts
                cur.wait = (ev.ts - cur.queued_ts) if cur.queued_ts is not None else 0.0
        elif kind == "call.voicemail":
            if cur is not None:
                cur.voicemail = True
            st.ended = True
        elif kind == "call.ended":
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "ended"
                cur.outcome_ts = ev.ts
                cur.ended_reason = str(data.get("outcome", ""))
            st.ended = True
    for cid, st in calls.items():
        for s in st.segs:
            s.category = st.category
        facts.segments.extend(st.segs)
        if not st.ended:
            facts.calls_open.add(cid)
    facts.agents_open = open_spans
    return facts
