"""Sign-in against Active Directory or any LDAP server.

Two ways, as directories are run: a direct bind with the user's DN made from a template
(``uid={username},ou=people,...``), or a search with a service account for the user's entry (by
``sAMAccountName`` in AD, ``uid`` elsewhere) and then a bind as that entry with the password given.
The user's groups (the entry's ``memberOf``, or a search for groups that list the user as a member)
map to a role, the first that matches in the order admin, supervisor, agent, wallboard; tenant, site
and team come from attributes. A user in none of the mapped groups may not sign in.

Over LDAPS or StartTLS with the server's certificate checked against a CA file; a plain ldap:// URL
without StartTLS is refused unless `require_tls` is turned off (tests of a lab directory only).
Everything here blocks on the network: the caller runs it in a worker thread.
"""
from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

ROLE_ORDER = ("admin", "supervisor", "agent", "wallboard")


@dataclass
class LdapSettings:
    url: str = ""  # ldaps://dc1.example.org:636 or ldap://...:389 with start_tls; empty: no LDAP sign-in
    start_tls: bool = False
    require_tls: bool = True
    ca_file: str = ""  # the CA that signed the directory's certificate (empty: the system's)
    timeout: float = 5.0
    # Direct bind: the user's DN from a template. Or search then bind: a service account finds the entry.
    user_dn_template: str = ""  # "uid={username},ou=people,dc=example,dc=org"
    bind_dn: str = ""
    bind_password: str = ""
    base_dn: str = ""
    user_filter: str = "(uid={username})"  # Active Directory: (sAMAccountName={username})
    # Groups: read from the entry's group_attribute (AD: memberOf), or searched under group_base.
    group_attribute: str = "memberOf"
    group_base: str = ""
    group_filter: str = "(member={dn})"
    # group DN (or its first RDN value, e.g. "cc-agents") -> role
    roles: dict[str, str] = field(default_factory=dict)
    name_attribute: str = "cn"
    attributes: dict[str, str] = field(default_factory=dict)  # ours -> the directory's: {"team": "department"}


@dataclass(frozen=True)
class DirectoryUser:
    username: str
    name: str
    role: str
    dn: str
    groups: tuple[str, ...]
    attrs: dict[str, str]


class DirectoryRefused(Exception):
    """The directory said no, or gave no role: the sign-in fails like a wrong password."""


class DirectoryDown(Exception):
    """The directory could not be asked (down, TLS failed, timeout)."""


def _escape(value: str) -> str:
    from ldap3.utils.conv import escape_filter_chars
    escaped: str = escape_filter_chars(value)
    return escaped


def _escape_dn(value: str) -> str:
    from ldap3.utils.dn import escape_rdn
    escaped: str = escape_rdn(value)
    return escaped


class LdapDirectory:
    def __init__(self, settings: LdapSettings) -> None:
        s = settings
        if not s.url:
            raise ValueError("[ldap] url is empty")
        if s.require_tls and not (s.url.lower().startswith("ldaps://") or s.start_tls):
            raise ValueError("[ldap] a plain ldap:// URL needs start_tls = true (or require_tls = false for a lab)")
        if not s.roles:
            raise ValueError("[ldap] roles maps no group to a role: nobody could sign in")
        bad = {r for r in s.roles.values() if r not in ROLE_ORDER}
        if bad:
            raise ValueError(f"[ldap] roles: unknown role(s) {', '.join(sorted(bad))}")
        if not s.user_dn_template and not s.base_dn:
            raise ValueError("[ldap] give user_dn_template (direct bind) or base_dn (search then bind)")
        self.settings = s

    def _server(self) -> Any:
        import ldap3
        s = self.settings
        tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, version=None, ca_certs_file=s.ca_file or None)
        return ldap3.Server(s.url, use_ssl=s.url.lower().startswith("ldaps://"), tls=tls,
                            connect_timeout=max(1, int(s.timeout)), get_info=ldap3.NONE)

    def _connect(self, dn: str, password: str) -> Any:
        import ldap3
        from ldap3.core.exceptions import LDAPBindError, LDAPException, LDAPOperationResult
        s = self.settings
        if not password:
            raise DirectoryRefused("empty password")  # an empty password is an anonymous bind in LDAP
        conn = ldap3.Connection(self._server(), user=dn, password=password, receive_timeout=max(1, int(s.timeout)),
                                raise_exceptions=True, auto_bind=ldap3.AUTO_BIND_NONE)
        try:
            conn.open()
            if s.start_tls and not s.url.lower().startswith("ldaps://"):
                conn.start_tls()
            conn.bind()
        except (LDAPBindError, LDAPOperationResult) as exc:
            # Wrong password (49), or an account the directory keeps from signing in (AD: disabled,
            # expired, locked): a refusal, never "down".
            try:
                conn.unbind()
            except Exception:
                pass
            raise DirectoryRefused(f"{type(exc).__name__}: {exc}") from None
        except (LDAPException, OSError, ssl.SSLError) as exc:
            try:
                conn.unbind()
            except Exception:
                pass
            raise DirectoryDown(f"{type(exc).__name__}: {exc}") from None
        return conn

    def authenticate(self, username: str, password: str) -> DirectoryUser:
        """The user as the directory knows them; DirectoryRefused or DirectoryDown otherwise."""
        import ldap3
        from ldap3.core.exceptions import LDAPException
        s = self.settings
        attrs = sorted({s.name_attribute, s.group_attribute, *s.attributes.values()} - {""})
        try:
            if s.user_dn_template:
                dn = s.user_dn_template.format(username=_escape_dn(username))
                conn = self._connect(dn, password)
                conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attrs)
            else:
                svc = self._connect(s.bind_dn, s.bind_password)
                try:
                    svc.search(s.base_dn, s.user_filter.format(username=_escape(username)), ldap3.SUBTREE,
                               attributes=attrs, size_limit=2)
                    found = list(svc.entries)
                finally:
                    svc.unbind()
                if len(found) != 1:
                    raise DirectoryRefused("no such user" if not found else "the user name is not unique")
                dn = found[0].entry_dn
                conn = self._connect(dn, password)
                conn.search(dn, "(objectClass=*)", ldap3.BASE, attributes=attrs)
            try:
                if not conn.entries:
                    raise DirectoryRefused("the user's entry cannot be read")
                entry = conn.entries[0]
                groups = self._groups(conn, dn, entry)
            finally:
                conn.unbind()
        except DirectoryRefused:
            raise
        except DirectoryDown:
            raise
        except (LDAPException, OSError) as exc:
            raise DirectoryDown(f"{type(exc).__name__}: {exc}") from None
        role = self._role(groups)
        if role is None:
            raise DirectoryRefused("in no group that has a role here")
        name = _first(entry, s.name_attribute) or username
        extra = {ours: _first(entry, theirs) for ours, theirs in s.attributes.items()}
        return DirectoryUser(username, name, role, dn, tuple(groups), {k: v for k, v in extra.items() if v})

    def _groups(self, conn: Any, dn: str, entry: Any) -> list[str]:
        import ldap3
        s = self.settings
        if s.group_base:
            conn.search(s.group_base, s.group_filter.format(dn=_escape(dn)), ldap3.SUBTREE, attributes=["cn"])
            return [e.entry_dn for e in conn.entries]
        if s.group_attribute and s.group_attribute in entry.entry_attributes:
            return [str(v) for v in entry[s.group_attribute].values]
        return []

    def _role(self, groups: list[str]) -> str | None:
        mapped: set[str] = set()
        for g in groups:
            rdn_value = g.split(",", 1)[0].split("=", 1)[-1]
            for key in (g, g.lower(), rdn_value, rdn_value.lower()):
                if key in self.settings.roles:
                    mapped.add(self.settings.roles[key])
                    break
            else:
                for k, role in self.settings.roles.items():
                    if k.lower() in (g.lower(), rdn_value.lower()):
                        mapped.add(role)
        return next((r for r in ROLE_ORDER if r in mapped), None)


def _first(entry: Any, attr: str) -> str:
    if not attr or attr not in entry.entry_attributes:
        return ""
    values = entry[attr].values
    return str(values[0]) if values else ""
