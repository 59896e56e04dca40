"""The outbound capability's own database (``ctx.db_path("outbound")``, or with `[store] url` the
schema ``outbound`` of the main store's PostgreSQL: server/store/portable.py): campaigns, their
contacts with attempts and outcomes, and the do-not-call list. The SQL is plain for both (upserts by
ON CONFLICT, not INSERT OR REPLACE).

Every method blocks: the service calls them through asyncio.to_thread, one at a time (the lock).
"""
from __future__ import annotations

import json
import sqlite3
from typing import Any

from cc_console.server.store.portable import SerialDb, upsert

from .campaigns import Campaign, CampaignState, DialMode

MIGRATIONS: list[str] = [
    """
    CREATE TABLE campaigns (
        id       TEXT PRIMARY KEY,
        name     TEXT NOT NULL,
        queue    TEXT NOT NULL,
        mode     TEXT NOT NULL,
        priority INTEGER NOT NULL DEFAULT 0,
        state    TEXT NOT NULL,
        caller_id TEXT NOT NULL DEFAULT '',
        timezone TEXT NOT NULL DEFAULT 'UTC',
        "window" TEXT NOT NULL DEFAULT '{}',
        retries  TEXT NOT NULL DEFAULT '{}',
        mapping  TEXT NOT NULL DEFAULT '{}',
        script   TEXT NOT NULL DEFAULT '',
        created  REAL NOT NULL,
        updated  REAL NOT NULL
    );
    CREATE TABLE contacts (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        campaign TEXT NOT NULL,
        number   TEXT NOT NULL,
        name     TEXT NOT NULL DEFAULT '',
        timezone TEXT NOT NULL DEFAULT '',
        extra    TEXT NOT NULL DEFAULT '{}',
        state    TEXT NOT NULL DEFAULT 'pending',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_at  REAL NOT NULL DEFAULT 0,
        outcome  TEXT NOT NULL DEFAULT '',
        agent    TEXT NOT NULL DEFAULT '',
        call_id  TEXT NOT NULL DEFAULT '',
        updated  REAL NOT NULL DEFAULT 0,
        UNIQUE (campaign, number)
    );
    CREATE INDEX contacts_due ON contacts(campaign, state, next_at);
    CREATE TABLE attempts (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        contact  INTEGER NOT NULL,
        campaign TEXT NOT NULL,
        ts       REAL NOT NULL,
        outcome  TEXT NOT NULL,
        call_id  TEXT NOT NULL DEFAULT '',
        agent    TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE dnc (
        number TEXT PRIMARY KEY,
        reason TEXT NOT NULL DEFAULT '',
        added  REAL NOT NULL,
        by     TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE answers (
        call_id  TEXT NOT NULL,
        campaign TEXT NOT NULL,
        contact  INTEGER NOT NULL,
        question TEXT NOT NULL,
        answer   TEXT NOT NULL,
        agent    TEXT NOT NULL DEFAULT '',
        ts       REAL NOT NULL,
        PRIMARY KEY (call_id, question)
    );
    """,
    "ALTER TABLE campaigns ADD COLUMN record INTEGER NOT NULL DEFAULT 1",
    # an agent who rescheduled a contact for themselves: only they call it back
    "ALTER TABLE contacts ADD COLUMN owner TEXT NOT NULL DEFAULT ''",
    # set while the call on which an agent rescheduled the contact goes on: its end keeps that time
    "ALTER TABLE contacts ADD COLUMN rescheduled INTEGER NOT NULL DEFAULT 0",
    """
    ALTER TABLE campaigns ADD COLUMN amd INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE campaigns ADD COLUMN machine_message TEXT NOT NULL DEFAULT '';
    ALTER TABLE campaigns ADD COLUMN announcement TEXT NOT NULL DEFAULT '';
    """,
    # agent occupancy per campaign: seconds staffed for it while it ran, and busy with its calls
    """
    CREATE TABLE occupancy (
        campaign TEXT NOT NULL,
        agent    TEXT NOT NULL,
        staffed  REAL NOT NULL DEFAULT 0,
        busy     REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (campaign, agent)
    );
    """,
]


def _campaign(r: sqlite3.Row) -> Campaign:
    return Campaign(id=r["id"], name=r["name"], queue=r["queue"], mode=DialMode(r["mode"]),
                    priority=r["priority"], state=CampaignState(r["state"]), caller_id=r["caller_id"],
                    record=bool(r["record"]), amd=bool(r["amd"]), machine_message=r["machine_message"],
                    announcement=r["announcement"],
                    timezone=r["timezone"], window=json.loads(r["window"]), retries=json.loads(r["retries"]),
                    mapping=json.loads(r["mapping"]), script=r["script"], created=r["created"],
                    updated=r["updated"])


def _contact(r: sqlite3.Row) -> dict[str, Any]:
    d = dict(r)
    d["extra"] = json.loads(d["extra"])
    d["id"] = d.pop("seq")
    return d


# "window" is quoted: a reserved word in PostgreSQL.
_CAMPAIGN = ("id", "name", "queue", "mode", "priority", "state", "caller_id", "record", "amd", "machine_message",
             "announcement", "timezone", '"window"', "retries", "mapping", "script", "created", "updated")


class OutboundStore(SerialDb):
    def __init__(self, path: str) -> None:
        super().__init__(path, MIGRATIONS, schema="outbound")

    # -- campaigns -----------------------------------------------------------------------------------
    def save_campaign(self, c: Campaign) -> None:
        with self.tx() as db:
            db.execute(
                upsert("campaigns", _CAMPAIGN, ("id",)),
                (c.id, c.name, c.queue, str(c.mode), c.priority, str(c.state), c.caller_id, int(c.record), int(c.amd),
                 c.machine_message, c.announcement, c.timezone,
                 json.dumps(c.window), json.dumps(c.retries), json.dumps(c.mapping), c.script,
                 c.created, c.updated))

    def campaign(self, cid: str) -> Campaign | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM campaigns WHERE id = ?", (cid,)).fetchone()
        return _campaign(r) if r else None

    def campaigns(self) -> list[Campaign]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM campaigns ORDER BY priority DESC, created").fetchall()
        return [_campaign(r) for r in rows]

    # -- contacts ------------------------------------------------------------------------------------
    def add_contacts(self, cid: str, rows: list[tuple[str, str, str, dict[str, str]]], now: float) -> int:
        """Add (number, name, timezone, extra); a number already in the campaign is updated, not doubled."""
        with self.tx() as db:
            for number, name, tz, extra in rows:
                db.execute(
                    "INSERT INTO contacts (campaign, number, name, timezone, extra, next_at, updated)"
                    " VALUES (?,?,?,?,?,?,?) ON CONFLICT (campaign, number) DO UPDATE SET"
                    " name = excluded.name, timezone = excluded.timezone, extra = excluded.extra,"
                    " updated = excluded.updated",
                    (cid, number, name, tz, json.dumps(extra), now, now))
        return len(rows)

    def contacts(self, cid: str) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM contacts WHERE campaign = ? ORDER BY seq", (cid,)).fetchall()
        return [_contact(r) for r in rows]

    def contact(self, seq: int) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM contacts WHERE seq = ?", (seq,)).fetchone()
        return _contact(r) if r else None

    def contact_by_call(self, call_id: str) -> dict[str, Any] | None:
        with self._lock:
            r = self._db.execute("SELECT * FROM contacts WHERE call_id = ?", (call_id,)).fetchone()
        return _contact(r) if r else None

    def remove_contact(self, cid: str, seq: int) -> bool:
        with self.tx() as db:
            # one being dialled stays: its outcome has to land somewhere
            n = db.execute("DELETE FROM contacts WHERE campaign = ? AND seq = ? AND state != 'dialing'",
                           (cid, seq)).rowcount
        return bool(n)

    def due(self, cid: str, now: float, limit: int = 50) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM contacts WHERE campaign = ? AND state = 'pending' AND next_at <= ?"
                " ORDER BY next_at, seq LIMIT ?", (cid, now, limit)).fetchall()
        return [_contact(r) for r in rows]

    def update_contact(self, seq: int, now: float, **values: Any) -> None:
        cols = ", ".join(f"{k} = ?" for k in values)
        with self.tx() as db:
            db.execute(f"UPDATE contacts SET {cols}, updated = ? WHERE seq = ?", (*values.values(), now, seq))

    def reserved_by(self, agent: str) -> list[int]:
        with self._lock:
            return [r[0] for r in self._db.execute(
                "SELECT seq FROM contacts WHERE state = 'dialing' AND agent = ?", (agent,)).fetchall()]

    def release_dialing(self) -> int:
        """Contacts left ``dialing`` by a server that stopped: waiting again (the attempt is not counted)."""
        with self.tx() as db:
            return db.execute("UPDATE contacts SET state = 'pending' WHERE state = 'dialing'").rowcount

    def add_attempt(self, seq: int, cid: str, ts: float, outcome: str, call_id: str, agent: str) -> None:
        with self.tx() as db:
            db.execute("INSERT INTO attempts (contact, campaign, ts, outcome, call_id, agent) VALUES (?,?,?,?,?,?)",
                       (seq, cid, ts, outcome, call_id, agent))

    def attempts(self, cid: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute(
                "SELECT * FROM attempts WHERE campaign = ? ORDER BY seq", (cid,)).fetchall()]

    # -- occupancy -----------------------------------------------------------------------------------
    def add_occupancy(self, rows: list[tuple[str, str, float, float]]) -> None:
        with self.tx() as db:
            db.executemany(
                "INSERT INTO occupancy (campaign, agent, staffed, busy) VALUES (?,?,?,?) ON CONFLICT"
                " (campaign, agent) DO UPDATE SET staffed = occupancy.staffed + excluded.staffed,"
                " busy = occupancy.busy + excluded.busy",
                rows)

    def occupancy(self, cid: str) -> dict[str, tuple[float, float]]:
        with self._lock:
            return {r["agent"]: (r["staffed"], r["busy"]) for r in self._db.execute(
                "SELECT * FROM occupancy WHERE campaign = ?", (cid,)).fetchall()}

    # -- do-not-call ---------------------------------------------------------------------------------
    def dnc_add(self, number: str, reason: str, by: str, now: float) -> None:
        with self.tx() as db:
            db.execute(upsert("dnc", ("number", "reason", "added", "by"), ("number",)), (number, reason, now, by))

    def dnc_remove(self, number: str) -> bool:
        with self.tx() as db:
            return bool(db.execute("DELETE FROM dnc WHERE number = ?", (number,)).rowcount)

    def dnc_has(self, number: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM dnc WHERE number = ?", (number,)).fetchone() is not None

    def dnc_list(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self._db.execute("SELECT * FROM dnc ORDER BY number").fetchall()]

    # -- script answers ------------------------------------------------------------------------------
    def save_answer(self, call_id: str, cid: str, contact: int, question: str, answer: str, agent: str,
                    ts: float) -> None:
        with self.tx() as db:
            db.execute(upsert("answers", ("call_id", "campaign", "contact", "question", "answer", "agent", "ts"),
                              ("call_id", "question")), (call_id, cid, contact, question, answer, agent, ts))

    def answers(self, cid: str, call_id: str = "") -> list[dict[str, Any]]:
        with self._lock:
            if call_id:
                rows = self._db.execute("SELECT * FROM answers WHERE call_id = ? ORDER BY ts", (call_id,))
            else:
                rows = self._db.execute("SELECT * FROM answers WHERE campaign = ? ORDER BY ts", (cid,))
            return [dict(r) for r in rows.fetchall()]
