"""Users, passwords (argon2id), TOTP second factor, sessions and login rate limiting."""
from __future__ import annotations

import hashlib
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any, Callable

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cc_console.models import ROLE_PERMISSIONS, Role
from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.store import Store

# argon2id with RFC 9106's second recommended profile (64 MiB, 3 passes): memory-hard.
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=4)
# A hash to verify against when the user does not exist, so a missing user costs the same time.
_DUMMY_HASH = _hasher.hash("not a password")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a password needs at least 8 characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def token_hash(token: str) -> str:
    # Session tokens are 256-bit random; a plain SHA-256 is enough to keep them out of the database.
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class Principal:
    username: str
    name: str
    role: Role
    permissions: frozenset[str]
    token: str

    def public(self) -> dict[str, Any]:
        return {"user": self.username, "name": self.name, "role": str(self.role),
                "permissions": sorted(self.permissions)}


class RateLimiter:
    """Failed logins per key (user name, and remote address) in a sliding window."""

    def __init__(self, max_failures: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window = window
        self.clock = clock
        self._fails: dict[str, deque[float]] = defaultdict(deque)

    def _trim(self, key: str) -> deque[float]:
        q = self._fails[key]
        cutoff = self.clock() - self.window
        while q and q[0] < cutoff:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        for key in keys:
            q = self._trim(key)
            if len(q) >= self.max_failures:
                retry = max(1, int(q[0] + self.window - self.clock()) + 1)
                raise ProtocolError(ErrorCode.RATE_LIMITED,
                                    f"too many failed logins; try again in {retry} s", retry_after=retry)

    def fail(self, *keys: str) -> None:
        now = self.clock()
        for key in keys:
            self._fails[key].append(now)

    def reset(self, key: str) -> None:
        self._fails.pop(key, None)


class Auth:
    def __init__(self, store: Store, *, session_ttl: float = 12 * 3600, max_failures: int = 5,
                 window: float = 300.0, totp_window: int = 1, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.session_ttl = session_ttl
        self.totp_window = totp_window
        self.clock = clock
        self.limiter = RateLimiter(max_failures, window)

    # -- administration (CLI) ---------------------------------------------------------------------
    def add_user(self, username: str, password: str, role: Role | str, *, name: str = "",
                 device: str = "", answer_mode: str = "console", queues: list[str] | None = None) -> None:
        role = Role(role)
        if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
            raise ValueError("a user name is letters, digits, '.', '-' or '_'")
        self.store.add_user({"username": username, "name": name or username, "role": str(role),
                             "password_hash": hash_password(password), "device": device,
                             "answer_mode": answer_mode, "queues": queues or [], "created": self.clock()})

    def set_password(self, username: str, password: str) -> None:
        self.store.update_user(username, password_hash=hash_password(password))

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
        keys = (f"user:{username.lower()}", f"addr:{remote}") if remote else (f"user:{username.lower()}",)
        self.limiter.check(*keys)
        user = self.store.get_user(username)
        ok = verify_password(user["password_hash"] if user else _DUMMY_HASH, password)
        if not user or not ok or user["disabled"]:
            self.limiter.fail(*keys)
            raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong user name or password")
        if user["totp_secret"]:
            if not totp:
                # Not a failure: the client asks for the code and tries again.
                raise ProtocolError(ErrorCode.TOTP_REQUIRED, "this account needs a TOTP code")
            step = self._totp_step(user["totp_secret"], totp)
            if step is None:
                self.limiter.fail(*keys)
                raise ProtocolError(ErrorCode.AUTH_FAILED, "wrong TOTP code")
            if step <= user["totp_last_step"]:
                self.limiter.fail(*keys)
                raise ProtocolError(ErrorCode.TOTP_REPLAYED, "this TOTP code was already used; wait for the next one")
            self.store.update_user(username, totp_last_step=step)
        self.limiter.reset(keys[0])
        return self._new_session(user)

    def _totp_step(self, secret: str, code: str) -> int | None:
        """The time step the code belongs to, within +-totp_window steps of now; None if none."""
        totp = pyotp.TOTP(secret)
        now = self.clock()
        for offset in range(-self.totp_window, self.totp_window + 1):
            at = now + offset * totp.interval
            if secrets.compare_digest(totp.at(at), code.strip()):
                return totp.timecode(_dt(at))
        return None

    def _new_session(self, user: dict[str, Any]) -> Principal:
        token = secrets.token_urlsafe(32)
        self.store.save_session(token_hash(token), user["username"], self.clock() + self.session_ttl)
        return self._principal(user, token)

    def _principal(self, user: dict[str, Any], token: str) -> Principal:
        role = Role(user["role"])
        return Principal(user["username"], user["name"], role, ROLE_PERMISSIONS[role], token)

    def resume(self, token: str) -> Principal:
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
    from datetime import datetime, timezone
    return datetime.fromtimestamp(ts, tz=timezone.utc)
