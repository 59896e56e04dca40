"""The identity capability: configures sign-in ([ldap], [access]) and serves user administration."""
from __future__ import annotations

import asyncio
from typing import Any

from cc_console.config import Settings
from cc_console.errors import Conflict, Forbidden, Invalid, NotFound
from cc_console.models import ROLE_PERMISSIONS, Role
from cc_console.protocol import P_ADMIN, P_SUPERVISE, Arg, CommandSpec, Request
from cc_console.server.auth import Auth
from cc_console.server.auth.ldap import LdapDirectory, LdapSettings
from cc_console.server.auth.policy import AccessPolicy, AccessSettings, PasswordRefused
from cc_console.server.auth.roles import FINE, builtin_fine, check_role
from cc_console.server.capability import Capability, Context, Handler

COMMANDS = (
    CommandSpec("users.list", P_ADMIN, {}, "Every account: name, role, where it comes from, disabled, second factor."),
    CommandSpec("user.update", P_ADMIN, {"username": Arg(str), "name": Arg(str, False), "role": Arg(str, False),
                                         "disabled": Arg(bool, False), "team": Arg(str, False),
                                         "site": Arg(str, False), "tenant": Arg(str, False),
                                         "queues": Arg(list, False, str), "report_queues": Arg(list, False, str),
                                         "report_tenants": Arg(list, False, str)},
                "Change an account: name, role, disabled, team, site, tenant, queues, report filter."),
    CommandSpec("user.delete", P_ADMIN, {"username": Arg(str)}, "Delete an account and end its sessions."),
    CommandSpec("user.password", P_ADMIN, {"username": Arg(str), "password": Arg(str)},
                "Set a local account's password (the password policy applies)."),
    CommandSpec("roles.list", P_ADMIN, {}, "The built-in roles and the roles made here, with their permissions."),
    CommandSpec("role.set", P_ADMIN, {"name": Arg(str), "base": Arg(str), "permissions": Arg(list, True, str),
                                      "queues": Arg(list, False, str)},
                "Make or change a role: a built-in base role, its permissions, the queues it is limited to."),
    CommandSpec("role.delete", P_ADMIN, {"name": Arg(str)}, "Delete a role that nobody has."),
    CommandSpec("team.members", P_SUPERVISE, {}, "The accounts of my team (admins: everyone), for the team screen."),
    CommandSpec("team.member.update", P_SUPERVISE, {"username": Arg(str), "name": Arg(str, False),
                                                    "site": Arg(str, False), "team": Arg(str, False),
                                                    "disabled": Arg(bool, False)},
                "Change an agent of my team: name, site, team (one I lead), disabled."),
    CommandSpec("team.member.delete", P_SUPERVISE, {"username": Arg(str)}, "Delete an agent account of my team."),
)
EVENTS: tuple[str, ...] = ()

_PUBLIC = ("username", "name", "role", "source", "disabled", "device", "answer_mode", "queues", "created")


def configure(auth: Auth, settings: Settings) -> None:
    """Apply [access] and [ldap] to an Auth (the server's, or the CLI's for admin commands)."""
    auth.policy = AccessPolicy(settings.section("access", AccessSettings))
    ldap = settings.section("ldap", LdapSettings)
    auth.directory = LdapDirectory(ldap) if ldap.url else None


def public_user(u: dict[str, Any]) -> dict[str, Any]:
    attrs = u.get("attrs") or {}
    return {**{k: u.get(k) for k in _PUBLIC}, "disabled": bool(u.get("disabled")),
            "report_scope": u.get("report_scope") or {},
            "second_factor": bool(u.get("totp_secret")), "team": attrs.get("team", ""),
            "site": attrs.get("site", ""), "tenant": attrs.get("tenant", "")}


class Identity(Capability):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.auth: Auth = ctx.auth
        configure(self.auth, ctx.settings)

    def handlers(self) -> dict[str, Handler]:
        return {"users.list": self._list, "user.update": self._update, "user.delete": self._delete,
                "user.password": self._password, "roles.list": self._roles, "role.set": self._role_set,
                "role.delete": self._role_delete, "team.members": self._team_members,
                "team.member.update": self._team_update, "team.member.delete": self._team_delete}

    # -- a supervisor's own team (the team screen) -------------------------------------------------
    async def _teams_led(self, caller: Any) -> set[str] | None:
        """The teams a supervisor leads (their own team, and any in their `leads` attribute); None: all (admin)."""
        p = caller.principal
        if P_ADMIN in p.permissions:
            return None
        me = await asyncio.to_thread(self.auth.store.get_user, p.username) or {}
        attrs = me.get("attrs") or {}
        teams = {attrs.get("team", "")} | set(attrs.get("leads") or [])
        return {t for t in teams if t}

    async def _member(self, caller: Any, username: str) -> dict[str, Any]:
        u = await self._user(username)
        led = await self._teams_led(caller)
        if led is not None:
            if username == caller.principal.username or (u.get("attrs") or {}).get("team", "") not in led:
                raise Forbidden(f"{username} is not in a team you lead")
            if u["role"] != "agent":
                raise Forbidden(f"{username} is not an agent: ask an administrator")
        return u

    async def _team_members(self, caller: Any, req: Request) -> dict[str, Any]:
        led = await self._teams_led(caller)
        users = await asyncio.to_thread(self.auth.store.list_users)
        mine = [u for u in users if led is None or (
            (u.get("attrs") or {}).get("team", "") in led and u["username"] != caller.principal.username)]
        return {"teams": sorted(led) if led is not None else None, "users": [public_user(u) for u in mine]}

    async def _team_update(self, caller: Any, req: Request) -> dict[str, Any]:
        a = req.args
        u = await self._member(caller, a["username"])
        led = await self._teams_led(caller)
        if "team" in a and led is not None and a["team"] not in led:
            raise Forbidden(f"You do not lead the team {a['team']!r}")
        fields: dict[str, Any] = {}
        if "name" in a:
            fields["name"] = a["name"]
        if "disabled" in a:
            fields["disabled"] = int(a["disabled"])
        attrs = dict(u.get("attrs") or {})
        for k in ("site", "team"):
            if k in a:
                attrs[k] = a[k]
        if attrs != (u.get("attrs") or {}):
            fields["attrs"] = attrs
        if fields:
            await asyncio.to_thread(self.auth.store.update_user, a["username"], **fields)
        if fields.get("disabled"):
            self.ctx.end_sessions(a["username"], "your account was disabled")
        return {"user": public_user(await self._user(a["username"]))}

    async def _team_delete(self, caller: Any, req: Request) -> dict[str, Any]:
        await self._member(caller, req.args["username"])
        await asyncio.to_thread(self.auth.delete_user, req.args["username"])
        self.ctx.end_sessions(req.args["username"], "your account was deleted")
        return {"deleted": req.args["username"]}

    async def _roles(self, caller: Any, req: Request) -> dict[str, Any]:
        builtin = [{"name": str(r), "base": str(r), "builtin": True,
                    "permissions": sorted(ROLE_PERMISSIONS[r] | builtin_fine(r)), "queues": None} for r in Role]
        made = await asyncio.to_thread(self.auth.store.roles)
        return {"roles": builtin + [{**r, "builtin": False} for r in made], "fine_permissions": sorted(FINE)}

    async def _role_set(self, caller: Any, req: Request) -> dict[str, Any]:
        a = req.args
        try:
            role = check_role(a["name"], a["base"], list(a["permissions"]), a.get("queues"))
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        await asyncio.to_thread(self.auth.store.save_role, {"name": role.name, "base": str(role.base),
                                                            "permissions": sorted(role.permissions),
                                                            "queues": role.queues})
        return {"role": role.public()}

    async def _role_delete(self, caller: Any, req: Request) -> dict[str, Any]:
        try:
            await asyncio.to_thread(self.auth.store.delete_role, req.args["name"])
        except KeyError:
            raise NotFound(f"No role {req.args['name']!r}") from None
        except ValueError as exc:
            raise Conflict(str(exc)) from None
        return {"deleted": req.args["name"]}

    async def _user(self, username: str) -> dict[str, Any]:
        # In a worker thread, as every read here: on PostgreSQL a lock elsewhere would stall every console.
        u = await asyncio.to_thread(self.auth.store.get_user, username)
        if u is None:
            raise NotFound(f"No account {username!r}")
        return dict(u)

    async def _list(self, caller: Any, req: Request) -> dict[str, Any]:
        users = await asyncio.to_thread(self.auth.store.list_users)
        return {"users": [public_user(u) for u in users]}

    async def _update(self, caller: Any, req: Request) -> dict[str, Any]:
        a = req.args
        u = await self._user(a["username"])
        fields: dict[str, Any] = {}
        if "name" in a:
            fields["name"] = a["name"]
        if "role" in a:
            try:
                fields["role"] = self.auth.role_name(a["role"])
            except ValueError as exc:
                raise Invalid(str(exc)) from None
            if u.get("source", "local") != "local":
                raise Conflict("This account's role comes from the sign-in directory's groups; change the groups "
                               "there")
        if "disabled" in a:
            fields["disabled"] = int(a["disabled"])
        if "queues" in a:
            fields["queues"] = list(a["queues"])
        if "report_queues" in a or "report_tenants" in a:
            scope = dict(u.get("report_scope") or {})
            for arg, key in (("report_queues", "queues"), ("report_tenants", "tenants")):
                if arg in a:
                    scope[key] = list(a[arg])
            fields["report_scope"] = {k: v for k, v in scope.items() if v}
        attrs = dict(u.get("attrs") or {})
        for k in ("team", "site", "tenant"):
            if k in a:
                attrs[k] = a[k]
        if attrs != (u.get("attrs") or {}):
            fields["attrs"] = attrs
        if a["username"] == caller.principal.username and (fields.get("disabled") or
                                                            fields.get("role", "admin") != "admin"):
            raise Conflict("You cannot disable yourself or take away your own admin role")
        if fields:
            await asyncio.to_thread(self.auth.store.update_user, a["username"], **fields)
        if fields.get("disabled"):
            self.ctx.end_sessions(a["username"], "your account was disabled")
        return {"user": public_user(await self._user(a["username"]))}

    async def _delete(self, caller: Any, req: Request) -> dict[str, Any]:
        username = req.args["username"]
        await self._user(username)
        if username == caller.principal.username:
            raise Conflict("You cannot delete your own account")
        await asyncio.to_thread(self.auth.delete_user, username)
        self.ctx.end_sessions(username, "your account was deleted")
        return {"deleted": username}

    async def _password(self, caller: Any, req: Request) -> dict[str, Any]:
        await self._user(req.args["username"])
        try:
            await asyncio.to_thread(self.auth.set_password, req.args["username"], req.args["password"])
        except PasswordRefused as exc:
            raise Invalid(str(exc)) from None
        return {"username": req.args["username"], "changed": True}


def make(ctx: Context) -> Identity:
    return Identity(ctx)
