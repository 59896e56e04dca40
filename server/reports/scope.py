"""Who may see which report figures.

The rule (v1): a user needs the `supervise` permission (supervisors and admins) to run reports.
Supervisors and admins see every queue and tenant by default. A user record may carry a
`report_scope` = {"queues": [...], "tenants": [...]} (not stored yet: the users table has no
such column; when it is added nothing here changes). With a scope, a report covers only the
queues listed plus the queues of the tenants listed; asking for anything outside it is refused.
Agent reports are limited to agents who are members of a queue in scope (by routing profile).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class ScopeError(PermissionError):
    pass


@dataclass(frozen=True)
class Scope:
    queues: frozenset[str] | None  # None: all

    def allows_queue(self, q: str) -> bool:
        return self.queues is None or q in self.queues


def scope_for(user: dict[str, Any] | None, queue_tenants: dict[str, str],
              role_queues: frozenset[str] | None = None) -> Scope:
    """The user's own report filter (report_scope), within the queues their role is limited to."""
    rs = (user or {}).get("report_scope")
    if not rs:
        return Scope(role_queues)
    qs = set(rs.get("queues") or [])
    tenants = set(rs.get("tenants") or [])
    qs |= {q for q, t in queue_tenants.items() if t in tenants}
    if role_queues is not None:
        qs &= role_queues
    return Scope(frozenset(qs))


def apply_scope(scope: Scope, queues: list[str], tenants: list[str], queue_tenants: dict[str, str],
                agents: list[str] | None = None, agent_queues: dict[str, list[str]] | None = None) -> list[str]:
    """The queues a report may cover; raises ScopeError for a queue or tenant outside the scope."""
    if scope.queues is None:
        return list(queues)
    bad = [q for q in queues if q not in scope.queues]
    if bad:
        raise ScopeError(f"not in your report scope: queue(s) {', '.join(bad)}")
    bad_t = [t for t in tenants if not any(queue_tenants.get(q) == t for q in scope.queues)]
    if bad_t:
        raise ScopeError(f"not in your report scope: tenant(s) {', '.join(bad_t)}")
    if agents and agent_queues is not None:
        bad_a = [a for a in agents if not set(agent_queues.get(a, [])) & scope.queues]
        if bad_a:
            raise ScopeError(f"not in your report scope: agent(s) {', '.join(bad_a)}")
    return list(queues) if queues else sorted(scope.queues)
