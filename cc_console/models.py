"""Shared domain types: roles, agent and call states, and the dict shapes the protocol carries."""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

from cc_console.protocol import P_ADMIN, P_AGENT, P_SESSION, P_SUPERVISE, P_WALLBOARD


def _plain(obj: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The record as the dict the protocol and the store carry, what dataclasses.asdict gives.

    asdict recurses and deep-copies every value; on the publish path it was most of the engine's
    fixed cost per call (about 0.3 ms of CPU for each call's three steps). The records hold only
    scalars and one level of lists or dicts of scalars (Call.consult, Agent.penalties), so a
    shallow copy of those containers is the same dict and the caller may keep it."""
    d = {n: getattr(obj, n) for n in names}
    for n, v in d.items():
        if type(v) is list:
            d[n] = list(v)
        elif type(v) is dict:
            d[n] = dict(v)
    return d


class Role(StrEnum):
    ADMIN = "admin"
    SUPERVISOR = "supervisor"
    AGENT = "agent"
    WALLBOARD = "wallboard"


ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.AGENT: frozenset({P_SESSION, P_AGENT}),
    Role.SUPERVISOR: frozenset({P_SESSION, P_AGENT, P_SUPERVISE, P_WALLBOARD}),
    Role.WALLBOARD: frozenset({P_SESSION, P_WALLBOARD}),
    Role.ADMIN: frozenset({P_SESSION, P_AGENT, P_SUPERVISE, P_WALLBOARD, P_ADMIN}),
}


class AgentState(StrEnum):
    LOGGED_OUT = "logged_out"
    READY = "ready"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class CallState(StrEnum):
    ENTERING = "entering"  # answered, hearing the greeting/recording notice; not in a queue yet
    QUEUED = "queued"  # waiting in the call's bridge with music on hold
    RINGING = "ringing"  # offered to an agent
    CONNECTED = "connected"  # caller and agent (or an overflow number) bridged
    VOICEMAIL = "voicemail"  # leaving a message
    ENDED = "ended"


class AnswerMode(StrEnum):
    # The console rings; the agent answers with a key and only then does the server call the
    # device, asking it to auto-answer (intercom style). Keyboard-first, and RONA is decided by us.
    CONSOLE = "console"
    # The device rings at once and the agent picks it up there (a desk phone, a mobile).
    PHONE = "phone"


@dataclass
class Agent:
    id: str  # the user name
    name: str
    device: str = ""  # e.g. PJSIP/1001
    answer_mode: AnswerMode = AnswerMode.CONSOLE
    state: AgentState = AgentState.LOGGED_OUT
    reason: str = ""
    state_since: float = 0.0
    queues: list[str] = field(default_factory=list)  # the queues the agent is logged into now
    call_id: str | None = None
    last_call_end: float = 0.0
    # The call that ended last: a console (re)started during wrap-up registers it by this id.
    last_call_id: str = ""
    penalties: dict[str, int] = field(default_factory=dict)  # queues the agent may work -> penalty
    skills: dict[str, int] = field(default_factory=dict)  # skill -> level
    self_login: bool = True  # may log in and out of queues themselves
    wrapup_until: float = 0.0
    logged_in_since: float = 0.0
    # A pause asked for during a call (its reason code): it starts when the call and its wrap-up end.
    pending_pause: str = ""
    # Where the agent belongs, for supervisors' grouping (the routing file's agent profile).
    team: str = ""
    site: str = ""

    def to_dict(self) -> dict[str, Any]:
        return _plain(self, _FIELDS_OF[type(self)])


@dataclass
class Call:
    id: str
    caller: str
    did: str
    queue: str
    channel: str  # caller's channel id
    bridge: str
    state: CallState = CallState.QUEUED
    created: float = 0.0
    enqueued: float = 0.0
    priority: int = 0  # the caller's (VIP list); the queue's own priority is applied by the router
    skills: list[str] = field(default_factory=list)
    target_agent: str | None = None  # only this agent may take it (overflow to an agent)
    sticky_agent: str | None = None  # offered to this agent first if ready (the caller's last agent)
    position: int = 0  # position on entering the queue
    stage: str = "queue"  # where the call is now: announcement, queue, ringing, talk, voicemail, callback
    agent: str | None = None
    agent_channel: str | None = None
    offers: int = 0
    ring_start: float = 0.0
    held: bool = False
    hold_start: float = 0.0
    hold_total: float = 0.0
    muted: bool = False
    # An attended transfer in progress: {"target", "agent" (target agent id or None), "leg",
    # "bridge", "state": ringing|talking|conference, "with": caller|target (whom the agent talks to)}
    consult: dict[str, Any] | None = None
    # queue_log has closed this call's queue stay (a transfer writes BLINDTRANSFER/ATTENDEDTRANSFER
    # instead of COMPLETE*, as app_queue does); a new ENTERQUEUE opens another.
    qlog_closed: bool = False
    direction: str = "inbound"  # inbound | outbound
    caller_id: str = ""  # outbound: the number shown to the called party
    record: bool = True  # outbound: record this call (the recording capability reads it)
    # What the caller chose in the IVR (e.g. {"problem": "claims"}): shown to the agent, stored with the call.
    tags: dict[str, str] = field(default_factory=dict)
    answered: float | None = None
    ended: float | None = None
    end_reason: str = ""
    # Who the caller proved to be before the call (server/verified): {"kind": "yivi"|"light",
    # "attributes": {label: value}, "at": epoch, "source": ...}; None: not verified, never a badge.
    verified: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self, _FIELDS_OF[type(self)])


def call_agents(call: dict[str, Any]) -> frozenset[str]:
    """The agents a call concerns: the one who has it and an agent consulted on it.

    One rule for the server (whom a call's events go to, what a snapshot holds) and the consoles
    (which calls they keep): a call that stops concerning an agent leaves that agent's console."""
    consult = call.get("consult") or {}
    return frozenset(a for a in (call.get("agent"), consult.get("agent")) if a)


@dataclass(frozen=True)
class QueueStats:
    """A queue's live figures at one moment, as the engine counts them (queue.stats events, the
    snapshot, the queue.problem command's answer)."""

    name: str
    tenant: str
    open: bool
    problem: bool  # the general-problem announcement is on
    waiting: int
    oldest_enqueued: float | None
    longest_wait: float
    agents_logged_in: int
    agents_ready: int
    agents_busy: int
    agents_wrapup: int
    agents_paused: int
    offered: int
    answered: int
    abandoned: int
    overflowed: int
    callbacks: int
    voicemails: int
    service_level: float | None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self, _FIELDS_OF[type(self)])


_FIELDS_OF: dict[type, tuple[str, ...]] = {cls: tuple(f.name for f in fields(cls)) for cls in (Agent, Call, QueueStats)}
