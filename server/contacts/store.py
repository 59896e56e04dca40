"""The contacts capability's own database: customer records, call notes (versioned), each call's
category and picked contact, supervisors' category list, missed calls worked from the console.

SQLite in WAL mode beside the main database (``<db_path>.contacts.sqlite3``), migrations in
``PRAGMA user_version``, the same pattern as server/directory/store.py; with `[store] url` in
PostgreSQL instead, in the schema ``contacts`` of the main store's database (server/store/portable.py,
docs/storage.md). Phone numbers are kept
normalised (digits only) in ``contact_phones`` with a matching key (their last N digits), so that
``+44 20 7946 0001``, ``0044 20 79460001`` and ``020 7946 0001`` find the same customer.
"""
from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

from cc_console.server.store.portable import SerialDb

MIGRATIONS: list[str] = [
    """
    CREATE TABLE contacts (
        id         TEXT PRIMARY KEY,
        data       TEXT NOT NULL,
        search     TEXT NOT NULL DEFAULT '',
        created    REAL NOT NULL,
        updated    REAL NOT NULL,
        updated_by TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE contact_phones (
        contact_id TEXT NOT NULL,
        digits     TEXT NOT NULL,
        key        TEXT NOT NULL
    );
    CREATE INDEX contact_phones_key ON contact_phones(key);
    CREATE INDEX contact_phones_contact ON contact_phones(contact_id);
    CREATE TABLE notes (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        call_id    TEXT NOT NULL,
        version    INTEGER NOT NULL,
        text       TEXT NOT NULL,
        author     TEXT NOT NULL,
        ts         REAL NOT NULL,
        contact_id TEXT,
        UNIQUE (call_id, version)
    );
    CREATE TABLE call_meta (
        call_id     TEXT PRIMARY KEY,
        caller      TEXT NOT NULL DEFAULT '',
        category    TEXT NOT NULL DEFAULT '',
        category_by TEXT NOT NULL DEFAULT '',
        category_ts REAL,
        contact_id  TEXT,
        contact_by  TEXT NOT NULL DEFAULT '',
        updated     REAL NOT NULL
    );
    CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE missed (
        id        TEXT PRIMARY KEY,
        call_id   TEXT NOT NULL,
        state     TEXT NOT NULL,
        agent     TEXT,
        preferred REAL,
        updated   REAL NOT NULL
    );
    """,
]

_NOT_DIGIT = re.compile(r"\D+")


def default_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.contacts.sqlite3")


def phone_digits(number: str) -> str:
    """Digits only; a leading ``+`` or ``00`` (international prefix) is dropped."""
    d = _NOT_DIGIT.sub("", number or "")
    if (number or "").strip().startswith("+"):
        return d
    return d[2:] if d.startswith("00") else d


def phone_key(number: str, match_digits: int = 9) -> str:
    """The matching key: the last ``match_digits`` digits (national prefixes differ, the rest not)."""
    d = phone_digits(number)
    return d[-match_digits:] if match_digits > 0 else d


class ContactsStore(SerialDb):
    def __init__(self, path: str | Path, *, match_digits: int = 9) -> None:
        self.match_digits = match_digits
        super().__init__(path, MIGRATIONS, schema="contacts")

    # -- contacts -----------------------------------------------------------------------------------
    def save_contact(self, data: dict[str, Any], *, phone_fields: list[str], by: str, ts: float) -> dict[str, Any]:
        data = dict(data.items())
        cid = str(data.get("id") or "") or uuid.uuid4().hex[:10]
        data["id"] = cid
        search = " ".join(str(v) for k, v in data.items() if v and k != "notes").lower()
        with self.tx() as db:
            old = db.execute("SELECT data, created FROM contacts WHERE id=?", (cid,)).fetchone()
            if old is not None:
                merged = json.loads(old["data"])
                merged.update(data)
                data = merged
                search = " ".join(str(v) for k, v in data.items() if v and k != "notes").lower()
            db.execute("INSERT INTO contacts(id, data, search, created, updated, updated_by) VALUES (?,?,?,?,?,?) "
                       "ON CONFLICT(id) DO UPDATE SET data=excluded.data, search=excluded.search, "
                       "updated=excluded.updated, updated_by=excluded.updated_by",
                       (cid, json.dumps(data), search, old["created"] if old else ts, ts, by))
            db.execute("DELETE FROM contact_phones WHERE contact_id=?", (cid,))
            for name in phone_fields:
                digits = phone_digits(str(data.get(name) or ""))
                if digits:
                    db.execute("INSERT INTO contact_phones(contact_id, digits, key) VALUES (?,?,?)",
                               (cid, digits, phone_key(digits, self.match_digits)))
        return self.contact(cid) or data

    def bulk_upsert(self, rows: list[dict[str, Any]], *, phone_fields: list[str], by: str, ts: float) -> int:
        """Insert or replace many records by id in one transaction (a synchronisation from another
        system: its record is the whole truth, so fields it no longer sends are dropped). Idempotent."""
        recs, phones = [], []
        for data in rows:
            cid = str(data["id"])
            recs.append((cid, json.dumps(data), " ".join(str(v) for k, v in data.items() if v and k != "notes").lower(),
                         ts, ts, by))
            for name in phone_fields:
                digits = phone_digits(str(data.get(name) or ""))
                if digits:
                    phones.append((cid, digits, phone_key(digits, self.match_digits)))
        with self.tx() as db:
            db.executemany("INSERT INTO contacts(id, data, search, created, updated, updated_by) VALUES (?,?,?,?,?,?) "
                           "ON CONFLICT(id) DO UPDATE SET data=excluded.data, search=excluded.search, "
                           "updated=excluded.updated, updated_by=excluded.updated_by", recs)
            db.executemany("DELETE FROM contact_phones WHERE contact_id=?", [(r[0],) for r in recs])
            db.executemany("INSERT INTO contact_phones(contact_id, digits, key) VALUES (?,?,?)", phones)
        return len(recs)

    def delete_many(self, ids: list[str]) -> int:
        """Delete records by id (a synchronisation's deletions); ids not here are no error. Idempotent."""
        with self.tx() as db:
            n = 0
            for cid in ids:
                n += db.execute("DELETE FROM contacts WHERE id=?", (cid,)).rowcount
                db.execute("DELETE FROM contact_phones WHERE contact_id=?", (cid,))
        return n

    def contact(self, cid: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT data, updated, updated_by FROM contacts WHERE id=?", (cid,)).fetchone()
        if row is None:
            return None
        return {**json.loads(row["data"]), "_updated": row["updated"], "_updated_by": row["updated_by"]}

    def by_number(self, number: str) -> list[dict[str, Any]]:
        key = phone_key(number, self.match_digits)
        if not key:
            return []
        with self._lock:
            ids = [r[0] for r in self._db.execute(
                "SELECT DISTINCT contact_id FROM contact_phones WHERE key=? ORDER BY contact_id", (key,))]
        return [c for c in (self.contact(i) for i in ids) if c]

    def search(self, q: str, limit: int = 50) -> list[dict[str, Any]]:
        words = [w for w in q.lower().split() if w]
        if not words:
            return []
        sql = "SELECT id FROM contacts WHERE " + " AND ".join("search LIKE ?" for _ in words) + " ORDER BY id LIMIT ?"
        with self._lock:
            ids = [r[0] for r in self._db.execute(sql, [f"%{w}%" for w in words] + [limit])]
        digits = phone_digits(q)
        if len(digits) >= 4 and len(digits) == len(q.replace(" ", "").lstrip("+")):
            ids += [c["id"] for c in self.by_number(q) if c["id"] not in ids]
        return [c for c in (self.contact(i) for i in ids) if c]

    # -- notes ----------------------------------------------------------------------------------------
    def add_note(self, call_id: str, text: str, author: str, ts: float, contact_id: str | None) -> dict[str, Any]:
        with self.tx() as db:
            v = db.execute("SELECT COALESCE(MAX(version), 0) FROM notes WHERE call_id=?", (call_id,)).fetchone()[0]
            db.execute("INSERT INTO notes(call_id, version, text, author, ts, contact_id) VALUES (?,?,?,?,?,?)",
                       (call_id, v + 1, text, author, ts, contact_id))
        return {"call_id": call_id, "version": v + 1, "text": text, "author": author, "ts": ts,
                "contact_id": contact_id}

    def notes(self, call_id: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT call_id, version, text, author, ts, contact_id FROM notes "
                                    "WHERE call_id=? ORDER BY version", (call_id,)).fetchall()
        return [dict(r) for r in rows]

    def latest_notes(self, call_ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for cid in call_ids:
            n = self.notes(cid)
            if n:
                out[cid] = n[-1]
        return out

    # -- per-call meta: category and contact ----------------------------------------------------------
    def meta(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM call_meta WHERE call_id=?", (call_id,)).fetchone()
        return dict(row) if row else None

    def metas(self, call_ids: list[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for cid in call_ids:
            m = self.meta(cid)
            if m:
                out[cid] = m
        return out

    def set_meta(self, call_id: str, ts: float, **fields: Any) -> dict[str, Any]:
        with self.tx() as db:
            db.execute("INSERT INTO call_meta(call_id, updated) VALUES (?,?) ON CONFLICT(call_id) DO NOTHING",
                       (call_id, ts))
            sets = ", ".join(f"{k}=?" for k in fields) + ", updated=?"
            db.execute(f"UPDATE call_meta SET {sets} WHERE call_id=?", (*fields.values(), ts, call_id))
        return self.meta(call_id) or {}

    def calls_of_contact(self, contact_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT call_id FROM call_meta WHERE contact_id=? UNION "
                                    "SELECT DISTINCT call_id FROM notes WHERE contact_id=?",
                                    (contact_id, contact_id)).fetchall()
        return [r[0] for r in rows]

    # -- settings --------------------------------------------------------------------------------------
    def setting(self, key: str) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def set_setting(self, key: str, value: Any) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO settings(key, value) VALUES (?,?) "
                       "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                       (key, json.dumps(value)))

    # -- missed calls worked from the console ----------------------------------------------------------
    def missed_states(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM missed").fetchall()
        return {r["id"]: dict(r) for r in rows}

    def set_missed(self, item_id: str, call_id: str, ts: float, **fields: Any) -> dict[str, Any]:
        with self.tx() as db:
            db.execute("INSERT INTO missed(id, call_id, state, updated) VALUES (?,?,?,?) ON CONFLICT(id) DO NOTHING",
                       (item_id, call_id, "open", ts))
            if fields:
                sets = ", ".join(f"{k}=?" for k in fields) + ", updated=?"
                db.execute(f"UPDATE missed SET {sets} WHERE id=?", (*fields.values(), ts, item_id))
            row = db.execute("SELECT * FROM missed WHERE id=?", (item_id,)).fetchone()
        return dict(row)
