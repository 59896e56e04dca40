"""Users, passwords (argon2id), TOTP second factor, sessions and login rate limiting."""
from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cc_console.models import ROLE_PERMISSIONS, Role
from cc_console.protocol import P_SESSION, ErrorCode, ProtocolError
from cc_console.server.store import Store

from .hashing import HashPool
from .ldap import DirectoryDown, DirectoryRefused, DirectoryUser, LdapDirectory
from .limiter import Attempt, RateLimiter
from .policy import AccessPolicy, PasswordRefused
from .roles import FINE

__all__ = ["Auth", "Principal", "RateLimiter", "HashPool", "hash_password", "verify_password", "needs_rehash"]

log = logging.getLogger(__name__)

# argon2id at OWASP's minimum profile (19 MiB, 2 passes, 1 lane): memory-hard, and cheap enough
# that a shift of 500 agents signs in within seconds on two cores. Hashes made with other
# parameters (the earlier 64 MiB, t=3, p=4) still verify and are rehashed at the next sign-in.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A hash to verify against when the user does not exist, so a missing user costs the same time.
_DUMMY_HASH = _hasher.hash("not a password")
# Longer is not a password anyone types; argon2 would still hash it, at the server's expense.
MAX_PASSWORD = 1024
MAX_USERNAME = 128


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return False


def _check(stored_hash: str, password: str) -> tuple[bool, str | None]:
    """Runs on a hashing thread: whether the password matches, and a new hash when the stored one
    has parameters other than ours."""
    ok = verify_password(stored_hash, password)
    return ok, (_hasher.hash(password) if ok and needs_rehash(stored_hash) else None)


def token_hash(token: str) -> str:
    # Session tokens are 256-bit random; a plain SHA-256 is enough to keep them out of the database.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Principal:
    username: str
    name: str
    role: Role  # a custom role's base (server/auth/roles.py): what the consoles and engine go by
    permissions: frozenset[str]
    token: str
    role_name: str = ""  # a custom role's own name; empty for a built-in role
    queues: frozenset[str] | None = None  # a custom role limited to these queues; None: all

    @property
    def custom(self) -> bool:
        return bool(self.role_name)

    def public(self) -> dict[str, Any]:
        return {"user": self.username, "name": self.name, "role": str(self.role),
                "role_name": self.role_name or str(self.role), "permissions": sorted(self.permissions),
                **({"queues": sorted(self.queues)} if self.queues is not None else {})}


# Sessions already read off the loop for the request being handled (Auth.resolved): its synchronous
# resume() calls find them here instead of reading the database on the event loop.
_resolved: ContextVar[dict[str, Principal | ProtocolError] | None] = ContextVar("cc_console_sessions",
                                                                                default=None)
_DB_DOWN = "The server cannot read its database just now; try again in a moment"


@dataclass
class _Outcome:
    failed: bool = False
    signed_in: bool = False


class Auth:
    def __init__(self, store: Store, *, session_ttl: float = 12 * 3600, max_failures: int = 5,
                 window: float = 300.0, totp_window: int = 1, clock: Callable[[], float] = time.time,
                 hash_workers: int = 2, hash_queue: int = 1000) -> None:
        self.store = store
        self.session_ttl = session_ttl
        self.totp_window = totp_window
        self.clock = clock
        self.limiter = RateLimiter(max_failures, window)
        self.pool = HashPool(hash_workers, hash_queue, penalty=self.limiter.address_failures)
        self.policy = AccessPolicy()  # office networks and password rules ([access]; server/identity)
        self.directory: LdapDirectory | None = None  # Active Directory / LDAP sign-in ([ldap])

    # -- administration (CLI) ---------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: Role | str, *, name: str = "",
                 device: str = "", answer_mode: str = "console", queues: list[str] | None = None) -> None:
        role = self.role_name(str(role))
        if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("a user name is letters, digits, '.', '-' or '_'")
        self.policy.check_password(password, username)
        self.store.add_user({"username": username, "name": name or username, "role": role,
                             "password_hash": hash_password(password), "device": device,
                             "answer_mode": answer_mode, "queues": queues or [], "created": self.clock(),
                             "password_changed": self.clock()})

    def set_password(self, username: str, password: str) -> None:
        """A new local password, checked against the policy and the account's last passwords."""
        user = self.store.get_user(username)
        if user is None:
            raise KeyError(username)
        if user.get("source", "local") != "local":
            raise PasswordRefused("This account's password is kept in the sign-in directory; change it there.")
        self.policy.check_password(password, username)
        keep = self.policy.settings.password_history
        old = [user["password_hash"], *user.get("password_history", [])][:keep]
        if keep and any(verify_password(h, password) for h in old):
            raise PasswordRefused(f"A new password may not be one of the last {keep} passwords.")
        self.store.update_user(username, password_hash=hash_password(password), password_history=old[:keep],
                               password_changed=self.clock())

    def role_name(self, role: str) -> str:
        """A built-in role, or a custom role that exists; ValueError otherwise."""
        if role in {str(r) for r in Role} or self.store.get_role(role) is not None:
            return role
        raise ValueError(f"no role {role!r}: admin, supervisor, agent, wallboard or a role made with role.set")

    def delete_user(self, username: str) -> None:
        self.store.delete_user(username)

    def enable_totp(self, username: str) -> str:
        """Give the user a new TOTP secret; returns the provisioning URI for an authenticator app."""
        if self.store.get_user(username) is None:
            raise KeyError(username)
        secret = pyotp.random_base32()
        self.store.update_user(username, totp_secret=secret, totp_last_step=0)
        return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name="cc-console")

    def disable_totp(self, username: str) -> None:
        self.store.update_user(username, totp_secret=None, totp_last_step=0)

    # -- login ------------------------------------------------------------------------------------
    def login(self, username: str, password: str, totp: str | None, remote: str = "") -> Principal:
        """Sign in, synchronously (CLI and tests); the server uses login_async."""
        attempt, user = self._begin(username, password, remote)
        with self._counted(attempt) as outcome:
            if self._by_directory(user):
                ok, new_hash = self._directory_result(username, user, self._ask_directory(username, password)), None
                user = self.store.get_user(username) if ok else None
            else:
                ok, new_hash = _check(user["password_hash"] if user else _DUMMY_HASH, password)
            return self._checked(outcome, user, ok, new_hash, totp, remote)

    async def login_async(self, username: str, password: str, totp: str | None, remote: str = "") -> Principal:
        """Sign in from the event loop: the attempt is counted before any await, the password is
        checked in the bounded hashing pool, fairly among remote addresses; the account is read and
        updated in a worker thread (a slow database stalls this sign-in, not the loop)."""
        attempt = self._attempt(username, password, remote)
        with self._counted(attempt) as outcome:
            user = await self._off_loop(self.store.get_user, username)
            if attempt.delay:
                await asyncio.sleep(attempt.delay)
            if self._by_directory(user):
                # The directory is asked over the network: in the same bounded, fair pool as hashes.
                found = await self.pool.run(remote, self._ask_directory, username, password)
                ok, new_hash = await self._off_loop(self._directory_result, username, user, found), None
                user = await self._off_loop(self.store.get_user, username) if ok else None
            else:
                ok, new_hash = await self.pool.run(remote, _check, user["password_hash"] if user else _DUMMY_HASH,
                                                   password)
            outcome.failed = True
            principal = await self._off_loop(self._verified, user, ok, new_hash, totp, remote)
            self._keep_session(principal)  # on the loop: the store's writer queue keeps its order
            outcome.failed, outcome.signed_in = False, True
            return principal

    @staticmethod
    async def _off_loop(fn: Callable[..., Any], *args: Any) -> Any:
        """A store read or write in a worker thread; a database that fails says so in words."""
        try:
            return await asyncio.to_thread(fn, *args)
        except (ProtocolError, KeyError, ValueError):
            raise
        except Exception as exc:
            log.warning("auth: the database failed in %s: %s", getattr(fn, "__name__", "?"), type(exc).__name__)
            raise ProtocolError(ErrorCode.UNAVAILABLE, _DB_DOWN) from None

    # -- sign-in against a directory (Active Directory, LDAP) ------------------------------------------
    def _by_directory(self, user: dict[str, Any] | None) -> bool:
        """A directory is configured and the account is not a local one (unknown users are tried there)."""
        return self.directory is not None and (user is None or user.get("source", "local") != "local")

    def _ask_directory(self, username: str, password: str) -> DirectoryUser | None:
        """Runs in the pool: the user as the directory knows them, None when it says no."""
        assert self.directory is not None
        try:
            return self.directory.authenticate(username, password)
        except DirectoryRefused as exc:
            log.info("directory refused %s: %s", username, exc)
            return None
        except DirectoryDown as exc:
            log.warning("the sign-in directory cannot be reached: %s", exc)
            raise ProtocolError(ErrorCode.UNAVAILABLE,
                                "The sign-in directory cannot be reached just now; try again in a moment") from None

    def _directory_result(self, username: str, user: dict[str, Any] | None, found: DirectoryUser | None) -> bool:
        """Keep the local copy of a directory account as the directory says (name, role, tenant/site/team)."""
        if found is None:
            return False
        fields = {"name": found.name, "role": found.role, "attrs": {**found.attrs, "dn": found.dn}}
        if user is None:
            self.store.add_user({"username": username, "password_hash": "!directory", "source": "ldap",
                                 "device": "", "answer_mode": "console", "queues": [], "created": self.clock(),
                                 **fields})
            log.info("account %s created from the directory as %s", username, found.role)
        elif any(user.get(k) != v for k, v in fields.items()):
            self.store.update_user(username, **fields)
        return True

    @contextmanager
    def _counted(self, attempt: Attempt) -> Iterator[_Outcome]:
        """Tell the limiter how an attempt ended. Refused before the password check (pool full,
        connection gone) or waiting for its second factor: neither failed nor signed in."""
        outcome = _Outcome()
        try:
            yield outcome
        except ProtocolError as exc:
            if exc.code == ErrorCode.TOTP_REQUIRED:
                outcome.failed = False
            raise
        finally:
            self.limiter.end(attempt, failed=outcome.failed, signed_in=outcome.signed_in)

    def _checked(self, outcome: _Outcome, user: dict[str, Any] | None, ok: bool, new_hash: str | None,
                 totp: str | None, remote: str = "") -> Principal:
        outcome.failed = True
        principal = self._finish(user, ok, new_hash, totp, remote)
        outcome.failed, outcome.signed_in = False, True
        return principal

    def _attempt(self, username: str, password: str, remote: str) -> Attempt:
        if len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong user name or password")
        return self.limiter.begin(username, remote)

    def _begin(self, username: str, password: str, remote: str) -> tuple[Attempt, dict[str, Any] | None]:
        attempt = self._attempt(username, password, remote)
        try:
            return attempt, self.store.get_user(username)
        except BaseException:
            self.limiter.end(attempt, failed=False)
            raise

    def _finish(self, user: dict[str, Any] | None, ok: bool, new_hash: str | None, totp: str | None,
                remote: str = "") -> Principal:
        principal = self._verified(user, ok, new_hash, totp, remote)
        self._keep_session(principal)
        return principal

    def _verified(self, user: dict[str, Any] | None, ok: bool, new_hash: str | None, totp: str | None,
                  remote: str = "") -> Principal:
        """The checks after the password's, and the new session's principal (not yet kept)."""
        if not user or not ok or user["disabled"]:
            raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong user name or password")
        username = user["username"]
        if new_hash:
            self.store.update_user(username, password_hash=new_hash)
            log.info("password hash of %s renewed with the current parameters", username)
        outside = self.policy.needs_second_factor(remote)
        if outside and not user["totp_secret"]:
            raise ProtocolError(ErrorCode.FORBIDDEN, "Signing in from outside the office needs a second factor, "
                                                     "and this account has none yet: ask an administrator")
        if user["totp_secret"] and outside is not False:
            if not totp:
                # Not a failure: the client asks for the code and tries again.
                raise ProtocolError(ErrorCode.TOTP_REQUIRED, "this account needs a TOTP code")
            step = self._totp_step(user["totp_secret"], totp)
            if step is None:
                raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong TOTP code")
            if step <= user["totp_last_step"]:
                raise ProtocolError(ErrorCode.TOTP_REPLAYED, "this TOTP code was already used; wait for the next one")
            self.store.update_user(username, totp_last_step=step)
        return self._principal(user, secrets.token_urlsafe(32))

    def _totp_step(self, secret: str, code: str) -> int | None:
        """The time step the code belongs to, within +-totp_window steps of now; None if none."""
        totp = pyotp.TOTP(secret)
        now = self.clock()
        for offset in range(-self.totp_window, self.totp_window + 1):
            at = now + offset * totp.interval
            if secrets.compare_digest(totp.at(at), code.strip()):
                return totp.timecode(_dt(at))
        return None

    def _keep_session(self, principal: Principal) -> None:
        self.store.save_session(token_hash(principal.token), principal.username, self.clock() + self.session_ttl)

    def _principal(self, user: dict[str, Any], token: str) -> Principal:
        try:
            role = Role(user["role"])
        except ValueError:
            return self._custom_principal(user, token)
        return Principal(user["username"], user["name"], role, ROLE_PERMISSIONS[role], token)

    def _custom_principal(self, user: dict[str, Any], token: str) -> Principal:
        r = self.store.get_role(user["role"])
        if r is None:  # the role was deleted or mistyped: the least a session can be
            log.warning("user %s has the unknown role %r; signed in with no permissions",
                        user["username"], user["role"])
            return Principal(user["username"], user["name"], Role.WALLBOARD, frozenset({P_SESSION}), token,
                             role_name=user["role"], queues=frozenset())
        base = Role(r["base"])
        perms = frozenset(r["permissions"]) & (ROLE_PERMISSIONS[base] | FINE)
        return Principal(user["username"], user["name"], base, perms | {P_SESSION}, token, role_name=r["name"],
                         queues=frozenset(r["queues"]) if r["queues"] is not None else None)

    def resume(self, token: str) -> Principal:
        """The session's principal. Synchronous (it reads the store) unless the token was read off
        the loop for this request already (resolved)."""
        known = _resolved.get()
        if known is not None and token in known:
            found = known[token]
            if isinstance(found, ProtocolError):
                raise ProtocolError(found.code, found.message)
            return found
        return self._resume(token)

    async def resume_async(self, token: str) -> Principal:
        """resume() from the event loop: the session and account are read in a worker thread."""
        return await self._off_loop(self.resume, token)

    def lookup(self, tokens: Iterable[str]) -> dict[str, Principal | ProtocolError]:
        """Runs in a worker thread: each token's principal, or why it has none."""
        found: dict[str, Principal | ProtocolError] = {}
        for token in tokens:
            try:
                found[token] = self._resume(token)
            except ProtocolError as exc:
                found[token] = exc
            except Exception as exc:
                log.warning("session lookup: the database failed: %s", type(exc).__name__)
                found[token] = ProtocolError(ErrorCode.UNAVAILABLE, _DB_DOWN)
        return found

    @contextmanager
    def resolved(self, found: dict[str, Principal | ProtocolError]) -> Iterator[None]:
        """For the current task (one HTTP request): resume() answers these tokens from memory."""
        mark = _resolved.set(found)
        try:
            yield
        finally:
            _resolved.reset(mark)

    @staticmethod
    def unknown_session() -> bool:
        """Whether the request being handled named a session this server's store does not know."""
        known = _resolved.get() or {}
        return any(isinstance(v, ProtocolError) and v.code == ErrorCode.UNAUTHENTICATED for v in known.values())

    def _resume(self, token: str) -> Principal:
        sess = self.store.get_session(token_hash(token))
        if not sess or sess["expires"] < self.clock():
            raise ProtocolError(ErrorCode.UNAUTHENTICATED, "session expired or unknown; log in again")
        user = self.store.get_user(sess["username"])
        if not user or user["disabled"]:
            raise ProtocolError(ErrorCode.UNAUTHENTICATED, "account no longer active")
        return self._principal(user, token)

    def logout(self, token: str) -> None:
        self.store.delete_session(token_hash(token))


def _dt(ts: float):
    from datetime import datetime
    return datetime.fromtimestamp(ts, tz=UTC)
