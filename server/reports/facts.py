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

from .decode import EMPTY_AGENT, EMPTY_CALL, AgentData, CallData, EventData, decode, from_dict

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


@dataclass(slots=True)
class _CallState:
    segs: list[Segment]
    cur: Segment | None
    category: str = ""
    ended: bool = False
    hold_base: float = 0.0  # the call's hold total when the current segment's agent took it over
    talk_base: float = 0.0  # the call's talk (from its answer) when the current segment's agent took it over
    offer_ts: float | None = None  # the last call.offered


def _id(v: Any) -> str:
    """An agent (or call) named by an event: an id, or a record with one."""
    if isinstance(v, str):
        return v
    return (v.id or "") if isinstance(v, AgentData) else ""


def fold(events: Iterable[Any], agents_open: dict[str, Span] | None = None) -> Facts:
    """Fold events (objects with seq, ts, kind, call_id, agent_id, queue, data; in store order) into facts.

    `agents_open` carries each agent's open span from an earlier fold (incremental use)."""
    return fold_rows(((e.seq, e.ts, e.kind, e.call_id, e.agent_id, e.queue, e.data) for e in events), agents_open)


def fold_rows(rows: Iterable[tuple[Any, ...]], agents_open: dict[str, Span] | None = None,
              unknown: set[str] | None = None) -> Facts:
    """fold() over rows (seq, ts, kind, call_id, agent_id, queue, data) as the events table holds them.

    `data` may be the stored JSON text (decoded here, one row at a time: a batch of events is never
    held decoded all at once), a dict, or a decode.EventData. `unknown`, if given, collects the ids of
    calls whose events were passed over because their arrival was not among the rows (a split build's
    part learns so which calls began in another part: split_build.py)."""
    facts = Facts()
    calls: dict[str, _CallState] = {}
    open_spans: dict[str, Span] = dict(agents_open or {})
    misses = facts.misses
    spans = facts.spans
    for _seq, ts, kind, call_id, agent_id, queue, d in rows:
        if type(d) is not EventData:
            d = decode(d) if isinstance(d, (str, bytes)) else from_dict(d)
        if kind == "agent.state":
            a = d.agent if isinstance(d.agent, AgentData) else EMPTY_AGENT
            aid = agent_id or a.id
            if not aid:
                continue
            prev = open_spans.get(aid)
            if prev is not None:
                prev.end = ts
                spans.append(prev)
            state = a.state or ""
            if state == "paused":
                sp = Span(aid, state, ts, None, a.reason or "", d.kind or "")
            elif state in ("ringing", "on_call", "wrap_up"):
                sp = Span(aid, state, ts, None, "", "", (d.call if isinstance(d.call, str) else "") or a.call_id
                          or "")
            else:
                sp = Span(aid, state, ts)
            open_spans[aid] = sp
            continue
        if kind == "callback.saved":
            if call_id not in calls:
                if unknown is not None and call_id:
                    unknown.add(call_id)
                continue
            if d.item is not None and d.item.state == "done":
                done = [s for s in calls[call_id].segs if s.callback]
                if done:
                    done[-1].callback_done = True
            continue
        if not kind.startswith("call.") or not call_id:
            continue
        call = d.call if isinstance(d.call, CallData) else EMPTY_CALL
        cid = call_id
        st = calls.get(cid)
        if kind == "call.entered":
            seg = Segment(cid, 0, call.queue or queue or "", ts, "new", call.caller or "")
            st = calls[cid] = _CallState([seg], seg)
        elif kind == "call.outbound":
            seg = Segment(cid, 0, call.queue or queue or "", ts, "outbound", call.caller or "",
                          outcome="outbound", outcome_ts=ts, agent=_id(d.agent))
            st = calls[cid] = _CallState([seg], seg)
        elif st is None:  # a call whose arrival is not in this batch (or a rejected DID): not ours to count
            if unknown is not None:
                unknown.add(cid)
            continue
        if call.category:
            st.category = call.category
        cur = st.cur
        if (kind in ("call.closed", "call.queued") and cur is not None and cur.entry == "new"
                and cur.queued_ts is None and call.queue and call.queue != cur.queue):
            # The IVR chose the queue: the call counts there, not in its tree's home queue.
            cur.queue = call.queue
        if kind == "call.queued":
            if cur is not None and cur.queued_ts is None:
                cur.queued_ts = ts
        elif kind == "call.offered":
            st.offer_ts = ts
        elif kind == "call.connected":
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "answered"
                cur.outcome_ts = cur.answered_ts = ts
                cur.wait = d.wait or 0.0
                cur.agent = _id(d.agent) or call.agent or ""
                if st.offer_ts is not None and st.offer_ts >= cur.offered_ts:
                    cur.ring = max(0.0, ts - st.offer_ts)
                st.talk_base = 0.0  # the engine's talk runs from this answer
        elif kind == "call.completed":
            if cur is not None and cur.outcome == "answered" and not cur.transferred_out:
                # The engine's talk runs from answer to hang-up, hold included; report them apart.
                cur.hold = max(0.0, (d.hold or 0.0) - st.hold_base)
                cur.talk = max(0.0, (d.talk or 0.0) - st.talk_base - cur.hold)
            st.ended = True
        elif kind == "call.category":  # set in the agent's console; may come after the call ended
            st.category = d.category or ""
        elif kind == "call.closed":
            if cur is not None:
                cur.outcome = "closed"
                cur.outcome_ts = ts
        elif kind == "call.ringnoanswer":
            misses.append(Miss(ts, _id(d.agent), cid, call.queue or queue or "", d.why or ""))
            if cur is not None:
                cur.missed += 1
        elif kind == "call.transferred":
            if cur is not None and cur.outcome == "answered" and not cur.transferred_out:
                cur.transferred_out = True
                hold_total = d.hold or 0.0
                talk_total = d.talk or 0.0
                cur.hold = max(0.0, hold_total - st.hold_base)
                cur.talk = max(0.0, talk_total - st.talk_base - cur.hold)
                st.hold_base = hold_total
                st.talk_base = talk_total  # an attended transfer keeps the call's answer time
            to = d.to or ""
            target = ""
            if d.mode != "attended":
                if to.startswith("queue:"):
                    target = to[6:]
                elif to.startswith("agent:"):
                    target = call.queue or queue or ""  # the engine queues it for the agent there
            if target:
                seg = Segment(cid, len(st.segs), target, ts, "transfer", call.caller or "")
                st.segs.append(seg)
                st.cur = seg
        elif kind == "call.abandoned":
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "abandoned"
                cur.outcome_ts = ts
                cur.stage = _norm_stage(d.stage or "", cur)
                cur.wait = d.wait or 0.0
            st.ended = True
        elif kind == "call.overflow":
            when = d.when or ""
            to = d.to or ""
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "overflow"
                cur.outcome_ts = ts
                cur.overflow_when = when
                cur.overflow_to = to
                cur.wait = d.wait or 0.0
            elif cur is not None and cur.outcome == "closed":
                cur.overflow_when = when
                cur.overflow_to = to
            target = ""
            if to.startswith("queue:") and call.stage != "overflowed-twice":
                target = to[6:]
            elif to.startswith("agent:"):
                target = call.queue or queue or ""
            if target:
                seg = Segment(cid, len(st.segs), target, ts, "overflow", call.caller or "")
                st.segs.append(seg)
                st.cur = seg
        elif kind == "call.callback":
            if cur is not None:
                cur.callback = True
                if cur.outcome == "in_progress":
                    cur.outcome = "callback"
                    cur.outcome_ts = ts
                    cur.wait = (ts - cur.queued_ts) if cur.queued_ts is not None else 0.0
        elif kind == "call.voicemail_started":
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "voicemail"
                cur.outcome_ts = ts
                cur.wait = (ts - cur.queued_ts) if cur.queued_ts is not None else 0.0
        elif kind == "call.voicemail":
            if cur is not None:
                cur.voicemail = True
            st.ended = True
        elif kind == "call.ended":
            if cur is not None and cur.outcome == "in_progress":
                cur.outcome = "ended"
                cur.outcome_ts = ts
                cur.ended_reason = d.outcome or ""
            st.ended = True
    for cid, st in calls.items():
        for s in st.segs:
            s.category = st.category
        facts.segments.extend(st.segs)
        if not st.ended:
            facts.calls_open.add(cid)
    facts.agents_open = open_spans
    return facts
