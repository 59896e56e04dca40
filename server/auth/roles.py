"""Roles as sets of permissions.

The four built-in roles (admin, supervisor, agent, wallboard) keep their fixed permissions. An
administrator defines further roles, each on a built-in one (its *base*: what the consoles show and
what the engine lets it do at all) with a chosen set of the fine permissions below, and optionally
the queues it is limited to. A user with such a role gets the base role's coarse permissions that the
role lists, and exactly the fine permissions it lists: "a team leader who may listen to recordings
but not download them, and handles callbacks of the queues sales and sales-vip".
"""
from __future__ import annotations

from dataclasses import dataclass

from cc_console.models import ROLE_PERMISSIONS, Role

# The fine permissions and which command needs which live in the core (cc_console.protocol), where
# the one command dispatch reads them.
from cc_console.protocol import (  # noqa: E402
    COMMAND_FINE,
    FINE,
    P_CALLBACKS,
    P_REC_DOWNLOAD,
    P_REC_EVALUATE,
    P_REC_HOLD,
    P_REC_LISTEN,
    P_REC_PURGE,
    P_REPORTS,
    P_SESSION,
)

__all__ = ["COMMAND_FINE", "FINE", "P_CALLBACKS", "P_REC_DOWNLOAD", "P_REC_EVALUATE", "P_REC_HOLD", "P_REC_LISTEN",
           "P_REC_PURGE", "P_REPORTS", "RoleDef", "builtin_fine", "check_role"]


@dataclass(frozen=True)
class RoleDef:
    name: str
    base: Role
    permissions: frozenset[str]
    queues: frozenset[str] | None = None  # None: every queue

    def public(self) -> dict[str, object]:
        return {"name": self.name, "base": str(self.base), "permissions": sorted(self.permissions),
                "queues": sorted(self.queues) if self.queues is not None else None}


def check_role(name: str, base: str, permissions: list[str], queues: list[str] | None) -> RoleDef:
    """A custom role as an administrator wrote it; ValueError with a sentence when it cannot be."""
    if name in {str(r) for r in Role}:
        raise ValueError(f"{name} is a built-in role; give the new role another name")
    if not name or not name.replace("-", "").replace("_", "").isalnum():
        raise ValueError("a role's name is letters, digits, '-' or '_'")
    try:
        b = Role(base)
    except ValueError:
        raise ValueError(f"no built-in role {base!r} to base it on: admin, supervisor, agent or wallboard") from None
    allowed = ROLE_PERMISSIONS[b] | FINE
    unknown = set(permissions) - allowed
    if unknown:
        raise ValueError(f"a role based on {b} cannot have: {', '.join(sorted(unknown))}")
    return RoleDef(name, b, frozenset(permissions) | {P_SESSION},
                   frozenset(queues) if queues is not None else None)


def builtin_fine(role: Role) -> frozenset[str]:
    """The fine permissions a built-in role holds (as its recording rights and commands allow)."""
    return {
        Role.ADMIN: FINE,
        Role.SUPERVISOR: FINE - {P_REC_PURGE},
        Role.AGENT: frozenset({P_CALLBACKS}),
        Role.WALLBOARD: frozenset(),
    }[role]
