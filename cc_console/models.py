"""Shared domain types: roles, agent and call states, and the dict shapes the protocol carries."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from cc_console.protocol import P_ADMIN, P_AGENT, P_SESSION, P_SUPERVISE, P_WALLBOARD


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
    PAUSED = "paused"


class CallState(StrEnum):
    QUEUED = "queued"  # waiting in the call's bridge with music on hold
    RINGING = "ringing"  # offered to an agent
    CONNECTED = "connected"  # caller and agent bridged
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
    queues: list[str] = field(default_factory=list)
    call_id: str | None = None
    last_call_end: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    priority: int = 0
    agent: str | None = None
    agent_channel: str | None = None
    offers: int = 0
    answered: float | None = None
    ended: float | None = None
    end_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
