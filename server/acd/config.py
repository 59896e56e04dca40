"""The routing configuration: queues, agents' routing profiles, pause reasons, priority callers.

It lives in one TOML file the admin edits and keeps under version control (`routing.toml`, see
docs/routing.md); the server reloads it on SIGHUP or the `admin.reload` command without
dropping calls: a bad file is refused whole with a clear message and the old one stays in force.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cc_console.config import QueueSettings
from cc_console.service_level import DEFAULT_THRESHOLD

from .hours import Schedule

OVERFLOW_KINDS = ("queue", "agent", "number", "voicemail", "hangup")
OVERFLOW_WHEN = ("closed", "no_agents", "max_wait", "max_length")


@dataclass(frozen=True)
class Overflow:
    kind: str  # queue | agent | number | voicemail | hangup
    target: str = ""

    @classmethod
    def parse(cls, text: str) -> Overflow:
        kind, _, target = text.partition(":")
        kind = kind.strip()
        if kind not in OVERFLOW_KINDS:
            raise ValueError(f"overflow {text!r}: start with one of {', '.join(OVERFLOW_KINDS)}")
        if kind in ("queue", "agent", "number") and not target.strip():
            raise ValueError(f"overflow {text!r}: say which {kind} after the colon")
        return cls(kind, target.strip())

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass
class Announcements:
    # ARI media URIs (sound:..., recording:...). Empty: none.
    greeting: str = ""  # played before the caller enters the queue (e.g. the recording notice)
    closed: str = "sound:ss-noservice"
    no_agents: str = "sound:queue-thankyou"
    general_problem: str = ""  # the supervisor's message; played when switched on
    position_every: float = 0.0  # seconds between position/expected-wait announcements; 0: never
    callback_offer: str = ""  # e.g. "press 1 to be called back"
    callback_thanks: str = "sound:auth-thankyou"
    voicemail_prompt: str = "sound:vm-intro"


@dataclass
class Queue:
    name: str
    tenant: str = "default"
    dids: list[str] = field(default_factory=list)
    skills: list[str] = field(default_factory=list)  # an agent needs all of these (level > 0)
    priority: int = 0  # higher: its calls are offered first to agents in several queues
    ring_timeout: float | None = None  # None: the server's
    wrapup: float = 0.0  # seconds of wrap-up after each call
    service_level: float = DEFAULT_THRESHOLD
    max_wait: float = 0.0  # 0: no limit
    max_length: int = 0  # waiting calls; 0: no limit
    schedule: Schedule = field(default_factory=Schedule)
    overflow: dict[str, Overflow] = field(default_factory=dict)  # when -> action
    announcements: Announcements = field(default_factory=Announcements)
    callback_key: str = ""  # DTMF the caller presses for a callback instead of waiting
    voicemail_key: str = ""  # DTMF for voicemail instead of waiting
    record: bool = True


@dataclass
class AgentProfile:
    penalties: dict[str, int] = field(default_factory=dict)  # queue -> penalty (lower is offered first)
    skills: dict[str, int] = field(default_factory=dict)  # skill -> level (higher is better)
    self_login: bool = True  # may the agent log in and out of queues themselves
    team: str = ""  # for supervisors' grouping; routing ignores both
    site: str = ""


@dataclass
class PauseReason:
    code: str
    label: str
    kind: str = "private"  # work | private


class _Thresholds(Mapping[str, float]):
    def __init__(self, queues: dict[str, Queue]) -> None:
        self._queues = queues

    def __getitem__(self, name: str) -> float:
        return self._queues[name].service_level

    def __iter__(self) -> Iterator[str]:
        return iter(self._queues)

    def __len__(self) -> int:
        return len(self._queues)


@dataclass
class RoutingConfig:
    queues: dict[str, Queue] = field(default_factory=dict)
    agents: dict[str, AgentProfile] = field(default_factory=dict)
    pause_reasons: dict[str, PauseReason] = field(default_factory=dict)
    vip: dict[str, int] = field(default_factory=dict)  # caller number -> priority
    sticky_seconds: float = 0.0  # a caller who calls again within this goes to their last agent if ready
    source: str = ""

    @property
    def thresholds(self) -> Mapping[str, float]:
        """Queue -> its service-level threshold in seconds (a view: no copy per call)."""
        return _Thresholds(self.queues)

    def did_map(self) -> dict[str, str]:
        return {did: q.name for q in self.queues.values() for did in q.dids}


DEFAULT_PAUSE_REASONS = [PauseReason("break", "Break"), PauseReason("lunch", "Lunch"),
                         PauseReason("admin", "Admin work", "work"), PauseReason("training", "Training", "work"),
                         PauseReason("meeting", "Meeting", "work")]


def _queue(name: str, d: dict[str, Any]) -> Queue:
    known = set(Queue.__dataclass_fields__) - {"name", "schedule", "overflow", "announcements"} | {
        "timezone", "hours", "holidays", "exceptions", "overflow", "announcements"}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}")
    sched = Schedule.from_config(d.get("timezone", "UTC"), d.get("hours"), d.get("holidays"), d.get("exceptions"))
    overflow = {}
    for when, action in (d.get("overflow") or {}).items():
        if when not in OVERFLOW_WHEN:
            raise ValueError(f"overflow.{when}: use one of {', '.join(OVERFLOW_WHEN)}")
        overflow[when] = Overflow.parse(action)
    ann_d = d.get("announcements") or {}
    bad = set(ann_d) - set(Announcements.__dataclass_fields__)
    if bad:
        raise ValueError(f"announcements: unknown key(s) {sorted(bad)}")
    q = Queue(name=name, schedule=sched, overflow=overflow, announcements=Announcements(**ann_d),
              **{k: v for k, v in d.items() if k in Queue.__dataclass_fields__
                 and k not in ("schedule", "overflow", "announcements")})
    if q.callback_key and q.callback_key == q.voicemail_key:
        raise ValueError("callback_key and voicemail_key must differ")
    return q


def parse_routing(data: dict[str, Any], source: str = "") -> RoutingConfig:
    cfg = RoutingConfig(source=source)
    for name, d in (data.get("queues") or {}).items():
        try:
            cfg.queues[name] = _queue(name, d)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{source}: queue {name!r}: {exc}") from None
    seen: dict[str, str] = {}
    for q in cfg.queues.values():
        for did in q.dids:
            if did in seen:
                raise ValueError(f"{source}: DID {did} is in both {seen[did]!r} and {q.name!r}")
            seen[did] = q.name
        for when, ov in q.overflow.items():
            if ov.kind == "queue" and ov.target not in cfg.queues:
                raise ValueError(f"{source}: queue {q.name!r}: overflow.{when} names unknown queue {ov.target!r}")
    for agent, d in (data.get("agents") or {}).items():
        bad = set(d) - {"queues", "skills", "self_login", "team", "site"}
        if bad:
            raise ValueError(f"{source}: agent {agent!r}: unknown key(s) {sorted(bad)}")
        queues = d.get("queues") or {}
        if isinstance(queues, list):
            queues = dict.fromkeys(queues, 0)
        for qn in queues:
            if qn not in cfg.queues:
                raise ValueError(f"{source}: agent {agent!r}: unknown queue {qn!r}")
        cfg.agents[agent] = AgentProfile({k: int(v) for k, v in queues.items()},
                                         {k: int(v) for k, v in (d.get("skills") or {}).items()},
                                         bool(d.get("self_login", True)), str(d.get("team") or ""),
                                         str(d.get("site") or ""))
    reasons = data.get("pause_reasons")
    if reasons is None:
        cfg.pause_reasons = {r.code: r for r in DEFAULT_PAUSE_REASONS}
    else:
        for r in reasons:
            if r.get("kind", "private") not in ("work", "private"):
                raise ValueError(f"{source}: pause reason {r.get('code')!r}: kind is work or private")
            cfg.pause_reasons[r["code"]] = PauseReason(r["code"], r.get("label", r["code"]), r.get("kind", "private"))
    cfg.vip = {str(k): int(v) for k, v in (data.get("vip") or {}).items()}
    cfg.sticky_seconds = float(data.get("sticky_seconds", 0))
    return cfg


def load_routing(path: Path) -> RoutingConfig:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: not valid TOML: {exc}") from None
    return parse_routing(data, str(path))


def from_queue_settings(queues: list[QueueSettings]) -> RoutingConfig:
    """The simple [[queues]] of the main config, for setups without a routing file."""
    cfg = RoutingConfig(source="config.toml")
    for qs in queues:
        cfg.queues[qs.name] = Queue(name=qs.name, tenant=qs.tenant, dids=list(qs.dids),
                                    ring_timeout=qs.ring_timeout, service_level=qs.service_level)
    cfg.pause_reasons = {r.code: r for r in DEFAULT_PAUSE_REASONS}
    return cfg
