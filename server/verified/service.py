"""Identity-verified calling and light identification: the state behind the start page and the calls.

A citizen proves attributes in the Yivi app on our start page; we verify the signed result and give
them a number from a pool (and a one-time code) valid for a few minutes. A call to that number within
that time is marked verified with those attributes; the code can also be given by phone (DTMF in the
IVR, or read to the agent). Light identification: an operator issues an id and password once; on a
later call the citizen gives them and the agent checks them (rate-limited).
Everything is kept only as long as configured, then deleted.
"""
from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any

from cc_console.server.store.portable import open_db

MIGRATIONS = [
    """
    CREATE TABLE verifications (
        id          TEXT PRIMARY KEY,
        yivi_token  TEXT NOT NULL UNIQUE,
        code        TEXT NOT NULL,
        number      TEXT NOT NULL,
        attributes  TEXT NOT NULL,
        verified_at REAL NOT NULL,
        valid_until REAL NOT NULL,
        call_id     TEXT,
        used_at     REAL
    );
    CREATE INDEX verifications_number ON verifications(number, valid_until);
    CREATE TABLE idents (
        id           TEXT PRIMARY KEY,
        secret_hash  TEXT NOT NULL,
        name         TEXT NOT NULL,
        note         TEXT NOT NULL,
        issued_by    TEXT NOT NULL,
        issued_at    REAL NOT NULL,
        failures     INTEGER NOT NULL DEFAULT 0,
        locked_until REAL NOT NULL DEFAULT 0
    )
    """,
]


@dataclass
class VerifiedSettings:
    yivi_url: str = ""  # empty: no verified calling
    requestor_token: str = ""
    public_key_file: str = ""  # the Yivi server's result-signing key (pinned; never fetched blindly)
    issuer: str = "irmaserver"  # the `iss` of its results (its jwt_issuer setting)
    # attribute id -> the label the agent sees
    attributes: dict[str, str] = field(default_factory=lambda: {
        "pbdf.gemeente.personalData.fullname": "Name",
        "pbdf.gemeente.bsn.bsn": "Citizen service number",
        "pbdf.gemeente.personalData.dateofbirth": "Date of birth"})
    numbers: list[str] = field(default_factory=list)  # the pool of personal numbers (DIDs)
    line: str = ""  # the number to call with the code (when the pool is empty or not used)
    code_digits: int = 6
    valid_seconds: float = 300.0  # how long the number and code may be used
    max_result_age: float = 120.0  # a signed result older than this is refused
    keep_seconds: float = 3600.0  # the attributes kept after the call (or after expiry), then deleted
    ident_max_failures: int = 5  # light identification: wrong passwords before the id is locked
    ident_lock_seconds: float = 900.0
    page_title: str = "Call us verified"


@dataclass(frozen=True)
class Verification:
    id: str
    code: str
    number: str
    attributes: dict[str, str]  # label -> value
    verified_at: float
    valid_until: float


class VerifiedStore:
    def __init__(self, path: str) -> None:
        # An SQLite file, or with `[store] url` the schema "verified" of the main store's PostgreSQL.
        self._db = open_db(path, schema="verified", migrations=MIGRATIONS)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:  # never under a statement still running in a worker thread
            self._db.close()

    def token_used(self, yivi_token: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM verifications WHERE yivi_token=?", (yivi_token,)).fetchone() \
                is not None

    def add(self, yivi_token: str, numbers: list[str], line: str, digits: int, attributes: dict[str, str],
            valid_seconds: float, now: float) -> Verification:
        """A new verification with a free pooled number (else the line) and a fresh code; refuses a
        Yivi session seen before (replay), atomically."""
        with self._lock:
            busy = {r[0] for r in self._db.execute(
                "SELECT number FROM verifications WHERE valid_until >= ? AND call_id IS NULL", (now,))}
            number = next((n for n in numbers if n not in busy), line)
            code = "".join(secrets.choice("0123456789") for _ in range(digits))
            v = Verification(secrets.token_hex(8), code, number, attributes, now, now + valid_seconds)
            added = self._db.execute("INSERT INTO verifications(id,yivi_token,code,number,attributes,verified_at,"
                                     "valid_until) VALUES (?,?,?,?,?,?,?) ON CONFLICT (yivi_token) DO NOTHING",
                                     (v.id, yivi_token, code, number, json.dumps(attributes, ensure_ascii=False), now,
                                      v.valid_until)).rowcount
            if not added:
                raise ValueError("this Yivi session was used before")
            return v

    def claim(self, *, number: str | None = None, code: str | None = None, call_id: str, now: float,
              pooled: bool = True) -> Verification | None:
        """The unused, unexpired verification for a pooled number or a code, now used by this call."""
        with self._lock:
            if number is not None and pooled:
                row = self._db.execute("SELECT * FROM verifications WHERE number=? AND valid_until>=? AND call_id IS "
                                       "NULL ORDER BY verified_at DESC LIMIT 1", (number, now)).fetchone()
            elif code is not None:
                row = self._db.execute("SELECT * FROM verifications WHERE code=? AND valid_until>=? AND call_id IS "
                                       "NULL ORDER BY verified_at DESC LIMIT 1", (code, now)).fetchone()
            else:
                return None
            if row is None:
                return None
            self._db.execute("UPDATE verifications SET call_id=?, used_at=? WHERE id=?", (call_id, now, row["id"]))
            return Verification(row["id"], row["code"], row["number"], json.loads(row["attributes"]),
                                row["verified_at"], row["valid_until"])

    def purge(self, now: float, keep: float) -> int:
        """Attributes kept only as long as configured: used ones `keep` after use, unused ones after expiry."""
        with self._lock:
            return self._db.execute("DELETE FROM verifications WHERE (used_at IS NOT NULL AND used_at < ?) OR "
                                    "(used_at IS NULL AND valid_until < ?)", (now - keep, now - keep)).rowcount

    # -- light identification ------------------------------------------------------------------------
    def add_ident(self, ident_id: str, secret_hash: str, name: str, note: str, by: str, now: float) -> None:
        with self._lock:
            self._db.execute("INSERT INTO idents(id,secret_hash,name,note,issued_by,issued_at) VALUES (?,?,?,?,?,?)",
                             (ident_id, secret_hash, name, note, by, now))

    def ident(self, ident_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM idents WHERE id=?", (ident_id,)).fetchone()
        return dict(row) if row else None

    def ident_result(self, ident_id: str, ok: bool, now: float, max_failures: int, lock: float) -> None:
        with self._lock:
            if ok:
                self._db.execute("UPDATE idents SET failures=0 WHERE id=?", (ident_id,))
                return
            self._db.execute("UPDATE idents SET failures=failures+1, locked_until=CASE WHEN failures+1>=? THEN ? "
                             "ELSE locked_until END WHERE id=?", (max_failures, now + lock, ident_id))

