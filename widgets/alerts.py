"""Supervisor alerts: thresholds from ``<config_dir>/supervisor.toml`` and the rules that check them.

    [alerts]
    wait_max = 60      # a caller waiting longer than this (seconds)
    call_max = 600     # an agent on one call longer than this
    pause_max = 900    # an agent paused longer than this
    wrapup_max = 120   # an agent in wrap-up longer than this
    sl_min = 0.80      # a queue's service level today below this (0..1)

Pure functions (no Textual): ``evaluate(agents, queues, now, cfg, server)`` returns the active alerts
(``server``: the server's status, which says when call records cannot be saved);
``AlertTracker`` tells which of them are new (an onset), so the bell rings once per onset.
"""
from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from .fmt import duration, long_duration, longest_wait, percent


@dataclass(frozen=True)
class AlertConfig:
    wait_max: float = 60.0
    call_max: float = 600.0
    pause_max: float = 900.0
    wrapup_max: float = 120.0
    sl_min: float = 0.80


def supervisor_config_path() -> Path:
    from cc_console.config import config_dir

    return config_dir() / "supervisor.toml"


def load_alert_config(path: Path | None = None) -> AlertConfig:
    """The ``[alerts]`` table of supervisor.toml over the defaults; a missing file means defaults.

    Raises ValueError on a malformed file or value (the screen shows it and uses the defaults).
    """
    path = path or supervisor_config_path()
    if not path.exists():
        return AlertConfig()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    table = data.get("alerts", {})
    if not isinstance(table, dict):
        raise ValueError(f"{path}: [alerts] must be a table")
    known = {f.name for f in fields(AlertConfig)}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ValueError(f"{path}: unknown [alerts] key(s): {', '.join(unknown)}")
    values: dict[str, float] = {}
    for key, value in table.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"{path}: [alerts] {key} must be a number >= 0")
        values[key] = float(value)
    if values.get("sl_min", 0.0) > 1.0:
        raise ValueError(f"{path}: [alerts] sl_min is a fraction from 0 to 1 (0.8 for 80%)")
    return replace(AlertConfig(), **values)


@dataclass(frozen=True)
class Alert:
    kind: str  # "wait", "call", "pause", "wrapup", "sl", "store"
    target: str  # a queue name (wait, sl), an agent id, or "server" (store)
    text: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.target)


AGENT_RULES = {"on_call": ("call", "call_max", "on a call"), "paused": ("pause", "pause_max", "paused"),
               "wrap_up": ("wrapup", "wrapup_max", "in wrap-up")}


def evaluate(agents: Iterable[dict[str, Any]], queues: Iterable[dict[str, Any]], now: float,
             cfg: AlertConfig, server: dict[str, Any] | None = None) -> list[Alert]:
    out: list[Alert] = []
    if server and server.get("store") == "fault":
        why = server.get("store_problem") or "the database cannot be written"
        out.append(Alert("store", "server", f"call records not saved ({why}); kept until it works again"))
    for q in queues:
        name = q.get("name", "")
        wait = longest_wait(q, now)
        if cfg.wait_max and int(q.get("waiting") or 0) > 0 and wait > cfg.wait_max:
            out.append(Alert("wait", name, f"{name}: caller waiting {duration(wait)}"))
        sl = q.get("service_level")
        if sl is not None and float(sl) < cfg.sl_min:
            out.append(Alert("sl", name, f"{name}: SL {percent(sl)}% < {percent(cfg.sl_min)}%"))
    for a in agents:
        rule = AGENT_RULES.get(a.get("state", ""))
        since = a.get("state_since") or 0.0
        if not rule or not since:
            continue
        kind, attr, words = rule
        limit = getattr(cfg, attr)
        if limit and now - since > limit:
            out.append(Alert(kind, a.get("id", ""), f"{a.get('id', '')} {words} {long_duration(now - since)}"))
    return out


def next_agent_onset(agents: Iterable[dict[str, Any]], now: float, cfg: AlertConfig) -> float:
    """When the first of these agents that is not alerting yet starts to (inf: none will, as
    things stand): each rule's limit after the agent's state began."""
    first = float("inf")
    for a in agents:
        rule = AGENT_RULES.get(a.get("state", ""))
        since = a.get("state_since") or 0.0
        if not rule or not since:
            continue
        limit = getattr(cfg, rule[1])
        if limit and now - since <= limit:
            first = min(first, since + limit)
    return first


class AgentAlerts:
    """The agents' alerts kept between refreshes: every agent is evaluated at most once a second
    (the alert texts count seconds), when an alert is due to start, or when the agents or the
    thresholds were replaced; between those passes only the agents whose events came since.
    At 2,000 agents the pass over all of them was about 2 ms of each of a console's 12 refreshes a
    second. `touch(id)` says an agent's record changed; `alerts(agents, now, cfg)` gives them in
    the agents' order after a full pass (a touched agent's alert goes last until the next)."""

    def __init__(self) -> None:
        self.full_passes = 0
        self._key: tuple[int, AlertConfig] | None = None
        self._second = -1
        self._next_onset = float("inf")
        self._by_agent: dict[str, list[Alert]] = {}
        self._touched: set[str] = set()

    def touch(self, agent_id: str) -> None:
        self._touched.add(agent_id)

    def alerts(self, agents: dict[str, dict[str, Any]], now: float, cfg: AlertConfig) -> list[Alert]:
        touched, self._touched = self._touched, set()
        key = (id(agents), cfg)
        if key != self._key or int(now) != self._second or now >= self._next_onset:
            self.full_passes += 1
            self._key, self._second = key, int(now)
            by_agent: dict[str, list[Alert]] = {}
            for alert in evaluate(agents.values(), (), now, cfg):
                by_agent.setdefault(alert.target, []).append(alert)
            self._by_agent = by_agent
            self._next_onset = next_agent_onset(agents.values(), now, cfg)
        else:
            for agent_id in touched:
                self._by_agent.pop(agent_id, None)
                agent = agents.get(agent_id)
                if agent is None:
                    continue
                if found := evaluate((agent,), (), now, cfg):
                    self._by_agent[agent_id] = found
                self._next_onset = min(self._next_onset, next_agent_onset((agent,), now, cfg))
        return [a for found in self._by_agent.values() for a in found]


class AlertTracker:
    """Remembers the active alerts; ``update`` returns the ones that just started (onsets)."""

    def __init__(self) -> None:
        self.active: dict[tuple[str, str], Alert] = {}
        self.by_target: dict[str, set[str]] = {}
        self.onsets = 0

    def update(self, alerts: list[Alert]) -> list[Alert]:
        new = [a for a in alerts if a.key not in self.active]
        self.active = {a.key: a for a in alerts}
        self.by_target = {}
        for a in alerts:
            self.by_target.setdefault(a.target, set()).add(a.kind)
        self.onsets += len(new)
        return new

    def kinds(self, target: str) -> set[str]:
        return self.by_target.get(target, set())


__all__ = ["Alert", "AgentAlerts", "AlertConfig", "AlertTracker", "evaluate", "load_alert_config",
           "next_agent_onset", "supervisor_config_path"]
