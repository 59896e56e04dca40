"""A campaign's life: draft -> running <-> paused -> finished, with every transition named.

Supervisors move campaigns through these; the dialer only takes contacts from running ones. A
finished campaign is kept for its reports and never runs again (a new campaign is made instead), so
that its figures stay those of one run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from cc_console.errors import Conflict, NotFound


class CampaignState(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"


class DialMode(StrEnum):
    PREVIEW = "preview"
    PROGRESSIVE = "progressive"
    PREDICTIVE = "predictive"


class CampaignError(Conflict):
    """A campaign request that cannot be done as asked (message written for a supervisor)."""


class CampaignNotFound(NotFound, CampaignError):  # NotFound first: its code is the one the front doors use
    pass


# action -> (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[frozenset[CampaignState], CampaignState]] = {
    "start": (frozenset({CampaignState.DRAFT, CampaignState.PAUSED}), CampaignState.RUNNING),
    "pause": (frozenset({CampaignState.RUNNING}), CampaignState.PAUSED),
    "finish": (frozenset({CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED}),
               CampaignState.FINISHED),
}

_REFUSALS = {
    ("start", CampaignState.RUNNING): "The campaign is already running",
    ("start", CampaignState.FINISHED): "A finished campaign cannot be started again",
    ("pause", CampaignState.DRAFT): "The campaign has not been started",
    ("pause", CampaignState.PAUSED): "The campaign is already paused",
    ("pause", CampaignState.FINISHED): "The campaign is finished",
    ("finish", CampaignState.FINISHED): "The campaign is already finished",
}


def transition(state: CampaignState, action: str) -> CampaignState:
    """The state ``action`` leads to from ``state``; CampaignError when it is not allowed."""
    if action not in TRANSITIONS:
        raise CampaignError(f"Unknown campaign action: {action}")
    sources, target = TRANSITIONS[action]
    if state not in sources:
        raise CampaignError(_REFUSALS.get((action, state), f"Cannot {action} a {state} campaign"))
    return target


@dataclass
class Campaign:
    id: str
    name: str
    queue: str
    mode: DialMode = DialMode.PROGRESSIVE
    priority: int = 0  # higher first when several campaigns want the same free agent
    state: CampaignState = CampaignState.DRAFT
    caller_id: str = ""
    record: bool = True  # the campaign's calls are recorded (as the queue's rules allow)
    # Answering-machine detection on the calls dialled ahead (docs/outbound.md); on a machine the
    # machine message (media URIs, comma-separated) is left, or, when empty, the call is hung up.
    amd: bool = False
    machine_message: str = ""
    announcement: str = ""  # media played to the contact before the agent is connected (empty: none)
    timezone: str = "UTC"  # the campaign's own window is read in this zone
    window: dict[str, Any] = field(default_factory=dict)  # calling window, windows.Window.from_dict
    retries: dict[str, Any] = field(default_factory=dict)  # retry rules, retries.RetryRules.from_dict
    mapping: dict[str, str] = field(default_factory=dict)  # contact field -> column heading
    script: str = ""  # the call script's TOML text (scripts.py)
    created: float = 0.0
    updated: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "queue": self.queue, "mode": str(self.mode),
                "priority": self.priority, "state": str(self.state), "caller_id": self.caller_id,
                "record": self.record, "amd": self.amd, "machine_message": self.machine_message,
                "announcement": self.announcement,
                "timezone": self.timezone, "window": self.window, "retries": self.retries,
                "mapping": self.mapping, "has_script": bool(self.script),
                "created": self.created, "updated": self.updated}
