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
from cc_console.protocol import P_SESSION

# Fine permissions, held by the built-in roles as their RIGHTS and commands imply, and given or
# withheld one by one to custom roles.
P_REC_LISTEN = "recordings.listen"
P_REC_DOWNLOAD = "recordings.download"
P_REC_EVALUATE = "recordings.evaluate"
P_REC_HOLD = "recordings.hold"
P_REC_PURGE = "recordings.purge"
P_CALLBACKS = "callbacks"
P_REPORTS = "reports"
FINE = frozenset({P_REC_LISTEN, P_REC_DOWNLOAD, P_REC_EVALUATE, P_REC_HOLD, P_REC_PURGE, P_CALLBACKS, P_REPORTS})

# The fine permission a command needs besides its coarse one (checked for custom roles; the
# built-in roles hold what their coarse permission always allowed).
COMMAND_FINE: dict[str, str] = {
    "callbacks.list": P_CALLBACKS, "callbacks.worklist": P_CALLBACKS, "callback.claim": P_CALLBACKS,
    "callback.release": P_CALLBACKS, "callback.dial": P_CALLBACKS, "callback.reschedule": P_CALLBACKS,
    "callback.done": P_CALLBACKS, "report.run": P_REPORTS, "recordings.evaluate": P_REC_EVALUATE,
    "recordings.mark": P_REC_EVALUATE, "recordings.hold": P_REC_HOLD, "recordings.purge": P_REC_PURGE,
}


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
