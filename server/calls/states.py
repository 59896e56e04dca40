"""The call, agent and consultation states as explicit state machines: which moves are allowed.

A table per machine (state -> the states it may move to) is the one account of the flows; the
engine checks every move against it (:func:`check_call`, :func:`check_agent`). A move the table
does not allow is logged as an error and counted, never refused: a call in progress must not be
dropped because the table missed a path that Asterisk took; the fast tests
(tests/test_call_states.py) walk every flow the real-Asterisk tests cover and assert that none is
off the table.

The attended transfer's consultation is a machine of its own (:class:`ConsultState`), kept on the
call (``call.consult["state"]``, persisted with it and shown to consoles as the same strings); its
transitions are events (:class:`ConsultEvent`) that :func:`consult_next` turns into the next state
or refuses with a sentence the agent reads.
"""
from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

from cc_console.models import AgentState, AnswerMode, CallState
from cc_console.server.acd.queue_log import clock_seconds

from .effects import AgentRecord, Ari, Op, Originate, QueueLogWrite, Record
from .names import AGENT_LEG

log = logging.getLogger(__name__)

C, A = CallState, AgentState

# A call's life: entering (greeting, checks) -> queued -> ringing an agent (or a number) -> connected -> ended;
# any state but voicemail may end; a transfer or an overflow sends a call back to entering.
CALL_TRANSITIONS: dict[CallState, frozenset[CallState]] = {
    C.ENTERING: frozenset({C.QUEUED, C.RINGING, C.CONNECTED, C.VOICEMAIL, C.ENDED}),
    # out of the queue: a callback request or an overflow re-enters; an overflow may ring a number
    C.QUEUED: frozenset({C.ENTERING, C.RINGING, C.VOICEMAIL, C.ENDED}),
    # not answered (RONA) -> back to the queue; a transferred-to number that rings
    C.RINGING: frozenset({C.CONNECTED, C.QUEUED, C.ENTERING, C.VOICEMAIL, C.ENDED}),
    # a blind transfer: to a queue or an agent (entering again), to a number (ringing)
    C.CONNECTED: frozenset({C.ENTERING, C.RINGING, C.ENDED}),
    C.VOICEMAIL: frozenset({C.ENDED}),
    C.ENDED: frozenset(),
}

# An agent's: logged out <-> ready/paused; ready -> ringing -> on a call -> wrap-up -> ready (or the
# pause asked for during the call). A supervisor may set ready, paused or logged out from anywhere; an
# outbound call may start from any state but ringing or on a call.
_ANYWHERE = frozenset({A.READY, A.PAUSED, A.LOGGED_OUT})
AGENT_TRANSITIONS: dict[AgentState, frozenset[AgentState]] = {
    A.LOGGED_OUT: _ANYWHERE | {A.ON_CALL},
    A.READY: _ANYWHERE | {A.RINGING, A.ON_CALL},
    A.RINGING: _ANYWHERE | {A.ON_CALL},
    A.ON_CALL: _ANYWHERE | {A.WRAP_UP},
    A.WRAP_UP: _ANYWHERE | {A.ON_CALL},
    A.PAUSED: _ANYWHERE | {A.ON_CALL},
}


class TransitionCounter:
    """Moves off the table, as the engine met them (tests read it; the log has each one)."""

    def __init__(self) -> None:
        self.off_table: list[tuple[str, str, str, str]] = []  # (machine, id, from, to)

    def _off(self, machine: str, ident: str, old: str, new: str) -> None:
        self.off_table.append((machine, ident, old, new))
        if len(self.off_table) > 1000:  # a long-running server keeps the latest, not all
            del self.off_table[:500]
        log.error("%s %s moved from %s to %s, which the %s state table does not allow",
                  machine, ident, old, new, machine)

    def check_call(self, call_id: str, old: CallState, new: CallState) -> bool:
        if old is new or new in CALL_TRANSITIONS[old]:
            return True
        self._off("call", call_id, old, new)
        return False

    def check_agent(self, agent_id: str, old: AgentState, new: AgentState) -> bool:
        if old is new or new in AGENT_TRANSITIONS[old]:
            return True
        self._off("agent", agent_id, old, new)
        return False


# -- the consultation (attended transfer) ------------------------------------------------------------


class ConsultState(StrEnum):
    RINGING = "ringing"  # the target is being called; the caller waits with music on hold
    TALKING = "talking"  # the agent talks with the target (or, swapped, with the caller)
    CONFERENCE = "conference"  # caller, target and agent in the call's bridge
    OVER = "over"  # cancelled, completed, or a party left: no consultation any more (call.consult is None)


class ConsultEvent(StrEnum):
    ANSWERED = "answered"  # the target's leg came up
    SWAP = "swap"  # the agent switches between caller and target
    CONFERENCE = "conference"  # the agent joins all three
    COMPLETE = "complete"  # the target takes the caller; the agent leaves
    CANCEL = "cancel"  # the agent goes back to the caller
    TARGET_GONE = "target_gone"  # the target did not answer, hung up, or its originate failed
    CALLER_GONE = "caller_gone"  # the caller hung up


S, E = ConsultState, ConsultEvent
_ENDS = {E.CANCEL: S.OVER, E.TARGET_GONE: S.OVER, E.CALLER_GONE: S.OVER}
CONSULT_TRANSITIONS: dict[ConsultState, dict[ConsultEvent, ConsultState]] = {
    S.RINGING: {E.ANSWERED: S.TALKING, **_ENDS},
    S.TALKING: {E.SWAP: S.TALKING, E.CONFERENCE: S.CONFERENCE, E.COMPLETE: S.OVER, **_ENDS},
    S.CONFERENCE: {E.CONFERENCE: S.CONFERENCE, E.COMPLETE: S.OVER, **_ENDS},
    S.OVER: {},
}

# What the agent reads when a command comes at the wrong moment (the protocol's conflict message).
_REFUSED = {
    (S.RINGING, E.SWAP): "the consultation is ringing; swap once the target answered",
    (S.CONFERENCE, E.SWAP): "the consultation is a conference; swap once the target answered",
    (S.RINGING, E.COMPLETE): "the target has not answered yet; wait or cancel",
    (S.RINGING, E.CONFERENCE): "the target has not answered yet; wait or cancel",
}


class ConsultRefused(Exception):
    """A consultation event not allowed in its current state; ``message`` is for the agent."""

    def __init__(self, state: ConsultState, event: ConsultEvent) -> None:
        self.state, self.event = state, event
        self.message = _REFUSED.get((state, event), f"the consultation is {state}; cannot {event} now")
        super().__init__(self.message)


def consult_next(state: ConsultState | str, event: ConsultEvent) -> ConsultState:
    """The consultation's next state after ``event``, or ConsultRefused."""
    cur = ConsultState(state)
    nxt = CONSULT_TRANSITIONS[cur].get(event)
    if nxt is None:
        raise ConsultRefused(cur, event)
    return nxt


def hold_effects(call_bridge: str, agent_leg: str, on: bool, moh_class: str, at: float,
                 held_for: float = 0.0) -> list[Ari | Record]:
    """Hold: call.hold is recorded, the agent's leg leaves the call's bridge and the caller, alone
    in it, hears music on hold; taking the call back records call.unhold (with how long it was held,
    for the handle-time figures) and undoes both."""
    if on:
        return [Record("call.hold", at), Ari(Op.REMOVE_CHANNEL, call_bridge, agent_leg),
                Ari(Op.START_MOH, call_bridge, moh_class)]
    return [Record("call.unhold", at, (("held", held_for),)), Ari(Op.STOP_MOH, call_bridge),
            Ari(Op.ADD_CHANNEL, call_bridge, agent_leg)]


def transferred_effects(line: QueueLogWrite, at: float, agent: str, to: str, mode: str, talk: float,
                        hold: float) -> list[QueueLogWrite | Record]:
    """A transfer, blind or attended: queue_log closes the caller's stay in the queue with ``line``
    (BLINDTRANSFER or ATTENDEDTRANSFER, as app_queue writes them), then call.transferred is
    recorded, with the transferring agent's talk and hold seconds."""
    return [line, Record("call.transferred", at, (("agent", agent), ("to", to), ("mode", mode), ("talk", talk),
                                                    ("hold", hold)))]


# What the consultation's transitions ask of Asterisk, as data the effect runner performs. The call's
# own bridge holds the caller; the consultation's bridge (``consult["bridge"]``) the target's leg.


def consult_over_effects(call_bridge: str, consult: dict[str, Any], agent_leg: str | None,
                         why: str) -> list[Ari | Record]:
    """Cancelled, or the target gone (``why``, recorded with call.consult_ended): drop the target's
    leg and the consult bridge, the caller's music stops and the agent's leg goes back into the
    call's bridge."""
    out: list[Ari | Record] = [Record("call.consult_ended", None, (("why", why),)), Ari(Op.HANGUP, consult["leg"]),
                               Ari(Op.DESTROY_BRIDGE, consult["bridge"]), Ari(Op.STOP_MOH, call_bridge)]
    if agent_leg:
        out.append(Ari(Op.ADD_CHANNEL, call_bridge, agent_leg))
    return out


def consult_swap_effects(call_bridge: str, consult: dict[str, Any], agent_leg: str,
                         moh_class: str) -> list[Ari | Record]:
    """The agent moves to the party named by ``consult["with"]`` (after the swap; recorded with
    call.consult_swap); the one left hears music on hold."""
    to_caller = consult["with"] == "caller"
    src, dst = (consult["bridge"], call_bridge) if to_caller else (call_bridge, consult["bridge"])
    return [Record("call.consult_swap", None, (("talking_with", consult["with"]),)),
            Ari(Op.REMOVE_CHANNEL, src, agent_leg), Ari(Op.STOP_MOH, dst), Ari(Op.START_MOH, src, moh_class),
            Ari(Op.ADD_CHANNEL, dst, agent_leg)]


def conference_effects(call_bridge: str, consult: dict[str, Any], agent_leg: str, agent: str) -> list[Ari | Record]:
    """Everyone into the call's bridge (recorded with call.conference, by ``agent``): the music
    stops, the target's and the agent's legs move over, the consult bridge goes."""
    out: list[Ari | Record] = [Record("call.conference", None, (("agent", agent), ("to", consult["target"]))),
                               Ari(Op.STOP_MOH, call_bridge)]
    for leg in (consult["leg"], agent_leg):
        out += [Ari(Op.REMOVE_CHANNEL, consult["bridge"], leg), Ari(Op.ADD_CHANNEL, call_bridge, leg)]
    out.append(Ari(Op.DESTROY_BRIDGE, consult["bridge"]))
    return out


def consult_complete_effects(call_bridge: str, consult: dict[str, Any], agent_leg: str,
                             was_conference: bool) -> list[Ari]:
    """The attended transfer completed: the target's leg moves from the consult bridge into the
    call's (the caller's music stops first), the consult bridge goes, and the agent's leg is hung
    up. From a conference the target is in the call's bridge already: only the agent leaves."""
    out: list[Ari] = []
    if not was_conference:
        out += [Ari(Op.STOP_MOH, call_bridge), Ari(Op.REMOVE_CHANNEL, consult["bridge"], consult["leg"]),
                Ari(Op.ADD_CHANNEL, call_bridge, consult["leg"]), Ari(Op.DESTROY_BRIDGE, consult["bridge"])]
    return out + [Ari(Op.HANGUP, agent_leg)]


def blind_transfer_effects(call_bridge: str, agent_leg: str | None, to_number: bool, moh_class: str) -> list[Ari]:
    """A blind transfer: the transferring agent's leg is hung up; a caller sent to a number hears
    music on hold while it rings (to a queue or an agent, the queue's own entry plays it). The
    requests do not depend on each other: perform each on its own (the leg may be gone already)."""
    out = [Ari(Op.HANGUP, agent_leg)] if agent_leg else []
    if to_number:
        out.append(Ari(Op.START_MOH, call_bridge, moh_class))
    return out


# The phone of a console-mode agent, who already said yes on the console, is asked to pick up by itself.
AUTO_ANSWER = (("PJSIP_HEADER(add,Call-Info)", "<sip:127.0.0.1>;answer-after=0"),
               ("PJSIP_HEADER(add,Alert-Info)", "<http://127.0.0.1>;info=alert-autoanswer"))


def offer_effects(call_id: str, queue: str, caller: str, leg: str, device: str, answer_mode: AnswerMode,
                  ring_timeout: float, accepted: bool = False) -> list[Originate]:
    """What offering a call to an agent asks of Asterisk: ring the agent's device under the leg id
    the call expects. A console-mode agent is rung only once it accepted on the console (then with
    auto-answer); a phone-mode agent at once, for the queue's ring time."""
    if answer_mode is AnswerMode.CONSOLE and not accepted:
        return []
    variables: tuple[tuple[str, str], ...] = (("CALLERID(name)", f"{queue}: {caller}"),)
    if answer_mode is AnswerMode.CONSOLE:
        variables += AUTO_ANSWER
    return [Originate(device, leg, f"{AGENT_LEG},{call_id}", f'"{queue}" <{caller}>',
                      max(1, int(round(ring_timeout))), variables)]


def agent_move_effects(agent_id: str, queues: list[str], prev: AgentState, prev_reason: str, state: AgentState,
                       at: float, reason: str = "", data: tuple[tuple[str, Any], ...] = ()
                       ) -> list[QueueLogWrite | AgentRecord]:
    """What an agent's move writes down: queue_log's PAUSE or UNPAUSE in each queue the agent is
    logged into (as app_queue writes them: a pause is per queue; unpausing names the pause's
    reason), then agent.state in the store, with the state it came from."""
    out: list[QueueLogWrite | AgentRecord] = []
    if state is AgentState.PAUSED and prev is not AgentState.PAUSED:
        out += [QueueLogWrite("pause", (at, q, agent_id, reason)) for q in queues]
    elif prev is AgentState.PAUSED and state is not AgentState.PAUSED:
        out += [QueueLogWrite("unpause", (at, q, agent_id, prev_reason)) for q in queues]
    out.append(AgentRecord("agent.state", at, (("from", str(prev)), *data)))
    return out


def connect_effects(at: float, caller_channel: str, queue: str, agent: str | None, holdtime: int, agent_leg: str,
                    ringtime: int, wait: float) -> list[QueueLogWrite | Record]:
    """The call is answered. By an agent: queue_log's CONNECT (holdtime, the agent's leg, ringtime,
    as app_queue writes it), then call.connected with the caller's wait; by an external number
    (an overflow): call.external_connected only (queue_log has no agent to name)."""
    if agent is None:
        return [Record("call.external_connected", None, (("wait", wait),))]
    return [QueueLogWrite("connect", (at, caller_channel, queue, agent, holdtime, agent_leg, ringtime)),
            Record("call.connected", at, (("agent", agent), ("wait", wait)))]


def ring_no_answer_effects(at: float, caller_channel: str, queue: str, agent: str | None, rang_ms: int,
                           why: str) -> list[QueueLogWrite | Record]:
    """The offered agent did not answer (``why``: ring timeout, rejected, the PBX not answering):
    queue_log's RINGNOANSWER with how long it rang, then call.ringnoanswer."""
    out: list[QueueLogWrite | Record] = []
    if agent:
        out.append(QueueLogWrite("ringnoanswer", (at, caller_channel, queue, agent, rang_ms)))
    return out + [Record("call.ringnoanswer", None, (("agent", agent), ("why", why)))]


def enqueue_effects(at: float, caller_channel: str, queue: str, caller: str, position: int, call_bridge: str,
                    moh_class: str | None) -> list[QueueLogWrite | Record | Ari]:
    """The caller joins the queue's waiting list: queue_log's ENTERQUEUE (the caller's number, or
    "unknown" as app_queue writes it, and the position), call.queued, then music on hold (none for
    a campaign's callee dialled ahead, ``moh_class`` None: an agent is about to take them)."""
    out: list[QueueLogWrite | Record | Ari] = [
        QueueLogWrite("enterqueue", (at, caller_channel, queue, caller or "unknown", position)),
        Record("call.queued", at, (("stage", "queue"), ("position", position)))]
    if moh_class is not None:
        out.append(Ari(Op.START_MOH, call_bridge, moh_class))
    return out


def end_queue_log(at: float, prev: CallState, by: str, outcome: str, caller_channel: str, queue: str,
                  agent: str | None, direction: str, qlog_closed: bool, enqueued: float, answered: float | None,
                  ring_start: float, position: int, list_position: int) -> list[QueueLogWrite]:
    """The queue_log lines of a call's end, as app_queue writes them. A connected inbound call whose
    stay is still open: COMPLETEAGENT or COMPLETECALLER (who hung up), with its hold and talk
    seconds. A caller who gave up while queued or rung (no ``outcome`` of ours ended it): RINGCANCELED
    for the agent being rung, then ABANDON with the position left from (``list_position``, else the
    entry's) and the wait."""
    if prev is CallState.CONNECTED:
        if not agent or qlog_closed or direction != "inbound":
            return []
        verb = "completeagent" if by == "agent" else "completecaller"
        return [QueueLogWrite(verb, (at, caller_channel, queue, agent, clock_seconds(enqueued, answered or at),
                                     clock_seconds(answered or at, at), position))]
    if outcome or prev not in (CallState.QUEUED, CallState.RINGING):
        return []
    out: list[QueueLogWrite] = []
    if prev is CallState.RINGING and agent:
        out.append(QueueLogWrite("ringcanceled", (at, caller_channel, queue, agent, int((at - ring_start) * 1000))))
    out.append(QueueLogWrite("abandon", (at, caller_channel, queue, list_position or position, position,
                                          clock_seconds(enqueued, at))))
    return out


# -- a call entering, being offered, overflowing and ending: what each writes down -------------------------


def entered_effects(did: str) -> list[Record]:
    """A caller reached us on ``did``: call.entered, before the entry's checks and greeting."""
    return [Record("call.entered", None, (("did", did),))]


def entry_effects(closed: bool, problem_media: str | None) -> list[Record]:
    """The entry's checks: outside working hours call.closed (its overflow follows); else, when the
    queue has a general-problem message, call.announcement for it before the greeting."""
    if closed:
        return [Record("call.closed")]
    if problem_media:
        return [Record("call.announcement", None, (("what", "problem"), ("media", problem_media)))]
    return []


def offered_effects(agent: str) -> list[Record]:
    """The routing decision paired the call with ``agent`` (who is ringing already): call.offered.
    Ringing the agent's device is :func:`offer_effects`' (at once, or once a console accepts)."""
    return [Record("call.offered", None, (("agent", agent),))]


def dialing_effects(leg: str, agent: str | None = None, number: str | None = None) -> list[Record]:
    """The leg (``leg``, an id of ours) to an agent's device or to an overflow's number is being
    originated: call.dialing, recorded before the originate whose StasisStart may beat its reply."""
    who = (("agent", agent),) if agent is not None else (("number", number),)
    return [Record("call.dialing", None, (*who, ("leg", leg)))]


# Why a call overflowing did not join the queue, in app_queue's words; leaving it (EXITWITHTIMEOUT)
# is the queue's own line, written when the caller leaves.
_NOT_JOINED = {"no_agents": "JOINEMPTY", "max_length": "FULL"}


def overflow_effects(at: float, when: str, to: str, wait: float, caller_channel: str, queue: str,
                     caller: str) -> list[QueueLogWrite | Record]:
    """The call overflows (``when``: closed, no_agents, max_length, max_wait) to ``to``: queue_log's
    JOINEMPTY or FULL when it could not join the queue (as app_queue writes them, with the caller's
    number), then call.overflow with where it goes and how long it waited."""
    out: list[QueueLogWrite | Record] = []
    if when in _NOT_JOINED:
        out.append(QueueLogWrite("write", (at, caller_channel, queue, "NONE", _NOT_JOINED[when], "", caller)))
    return out + [Record("call.overflow", None, (("when", when), ("to", to), ("wait", wait)))]


def end_record(at: float, prev: CallState, by: str, cause: int | None, outcome: str, stage: str, enqueued: float,
               answered: float | None, hold: float, consult: str | None = None,
               callback: str | None = None) -> tuple[Record, str]:
    """A call's end as the store and the consoles see it, and the reason kept on the call. Connected:
    call.completed with talk and hold seconds; in voicemail: call.voicemail with the inbox item
    (``callback``); ended by us (``outcome``: not reached, a callback taken, an overflow's hang-up):
    call.ended; else the caller gave up: call.abandoned with the stage left from and the wait. A
    consultation still going (``consult``, its state) is named: its legs go with the call."""
    data: list[tuple[str, Any]] = [("by", by), ("cause", cause)]
    if prev is CallState.CONNECTED:
        kind, reason = "call.completed", f"{by}_hangup"
        data += [("talk", at - (answered or at)), ("hold", hold)]
    elif prev is CallState.VOICEMAIL:
        kind, reason = "call.voicemail", "voicemail"
        data.append(("callback", callback))
    elif outcome:
        kind, reason = "call.ended", outcome
        data.append(("outcome", outcome))
    else:
        kind, reason = "call.abandoned", f"{by}_hangup"
        left = {CallState.ENTERING: stage if stage != "queue" else "announcement",
                CallState.QUEUED: "queue", CallState.RINGING: "ringing"}.get(prev, prev.value)
        data += [("stage", left), ("wait", at - enqueued)]
    if consult is not None:
        data.append(("consult", consult))
    return Record(kind, at, tuple(data)), reason


def consult_dropped_effects(consult: dict[str, Any]) -> list[Ari]:
    """The caller hung up during a consultation: the target's leg and the consult bridge go too
    (each on its own: the target may have hung up as well)."""
    return [Ari(Op.HANGUP, consult["leg"]), Ari(Op.DESTROY_BRIDGE, consult["bridge"])]


def leave_queue_effects(at: float, why: str, caller_channel: str, queue: str, left_from: int, position: int,
                        wait: int, key: str = "") -> list[QueueLogWrite]:
    """The caller leaves the queue without an agent (``why``: EXITWITHTIMEOUT, EXITWITHKEY with the
    ``key`` pressed, EXITEMPTY): its queue_log line as app_queue writes it, with the position left
    from, the position on entry and the wait in seconds. What comes next (an overflow, a callback,
    voicemail) records its own."""
    if why == "EXITWITHKEY":
        return [QueueLogWrite("exitwithkey", (at, caller_channel, queue, key, left_from, position, wait))]
    verb = {"EXITWITHTIMEOUT": "exitwithtimeout", "EXITEMPTY": "exitempty"}[why]
    return [QueueLogWrite(verb, (at, caller_channel, queue, left_from, position, wait))]
