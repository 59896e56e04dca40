"""The directory's own database: units, persons, absences, import log.

SQLite in WAL mode, migrations recorded in ``PRAGMA user_version`` (the same pattern as the main
store, but its own file: ``<db_path>.directory.sqlite3`` by default); with `[store] url` the schema
``directory`` of the main store's PostgreSQL (server/store/portable.py). The SQL is plain for both
(``INSERT … ON CONFLICT``), JSON columns are text.

What comes from imports lives in ``data``; what only we keep (operator notes, local attributes)
lives in ``local`` and no import ever writes it.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cc_console.server.store.portable import Step, is_postgres, open_db

MIGRATIONS: list[Step] = [
    """
    CREATE TABLE units (
        tenant  TEXT NOT NULL,
        id      TEXT NOT NULL,
        name    TEXT NOT NULL,
        parent  TEXT,
        data    TEXT NOT NULL DEFAULT '{}',
        gone    REAL,
        updated REAL NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE persons (
        tenant  TEXT NOT NULL,
        id      TEXT NOT NULL,
        unit    TEXT,
        data    TEXT NOT NULL,
        local   TEXT NOT NULL DEFAULT '{}',
        gone    REAL,
        updated REAL NOT NULL,
        PRIMARY KEY (tenant, id)
    );
    CREATE TABLE absences (
        id         TEXT PRIMARY KEY,
        tenant     TEXT NOT NULL,
        person     TEXT NOT NULL,
        type       TEXT NOT NULL,
        start      REAL NOT NULL,
        until      REAL NOT NULL,
        message    TEXT NOT NULL DEFAULT '',
        substitute TEXT NOT NULL DEFAULT '',
        source     TEXT NOT NULL DEFAULT 'manual',
        created_by TEXT NOT NULL DEFAULT '',
        created    REAL NOT NULL
    );
    CREATE INDEX absences_person ON absences(tenant, person, start);
    CREATE INDEX absences_until ON absences(until);
    CREATE TABLE imports (
        seq    INTEGER PRIMARY KEY AUTOINCREMENT,
        ts     REAL NOT NULL,
        tenant TEXT NOT NULL,
        kind   TEXT NOT NULL,
        report TEXT NOT NULL
    );
    """,
    # What tells a server that another process (the CLI, another server) changed the directory:
    # SQLite's PRAGMA data_version does; on PostgreSQL every write transaction counts itself here.
    ("SELECT 1", "CREATE TABLE changes (n BIGINT NOT NULL); INSERT INTO changes VALUES (0)"),
]

ABSENCE_FIELDS = ("id", "tenant", "person", "type", "start", "until", "message", "substitute", "source",
                  "created_by", "created")


def default_path(db_path: str | Path) -> Path:
    """The directory database beside the main one: ``<db_path>.directory.sqlite3``."""
    return Path(f"{db_path}.directory.sqlite3")


class DirectoryStore:
    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        self._lock = threading.RLock()
        with self._lock:
            self._db = open_db(self.path, schema="directory", migrations=MIGRATIONS, foreign_keys=True)
        self._pg = is_postgres(self._db)
        self._own = 0  # PostgreSQL: this connection's own counted transactions (data_version leaves them out)

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One atomic unit: everything inside commits together or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                if self._pg:
                    self._db.execute("UPDATE changes SET n = n + 1")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
            if self._pg:
                self._own += 1

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def data_version(self) -> int:
        """Changes when another connection (the CLI, another process) commits to this database;
        this connection's own commits leave it alone (SQLite's PRAGMA data_version)."""
        with self._lock:
            if self._pg:
                return int(self._db.execute("SELECT n FROM changes").fetchone()[0]) - self._own
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    # -- reading ------------------------------------------------------------------------------------
    @staticmethod
    def _person(row: Any) -> dict[str, Any]:
        d = json.loads(row["data"])
        d.update(tenant=row["tenant"], id=row["id"], unit=row["unit"] or "", gone=row["gone"],
                 local=json.loads(row["local"]))
        return d

    @staticmethod
    def _unit(row: Any) -> dict[str, Any]:
        d = json.loads(row["data"])
        d.update(tenant=row["tenant"], id=row["id"], name=row["name"], parent=row["parent"] or "",
                 gone=row["gone"])
        return d

    def persons(self, tenant: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if tenant is None:
                rows = self._db.execute("SELECT * FROM persons").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM persons WHERE tenant=?", (tenant,)).fetchall()
        return [self._person(r) for r in rows]

    def person(self, tenant: str, pid: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM persons WHERE tenant=? AND id=?", (tenant, pid)).fetchone()
        return self._person(row) if row else None

    def units(self, tenant: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            if tenant is None:
                rows = self._db.execute("SELECT * FROM units").fetchall()
            else:
                rows = self._db.execute("SELECT * FROM units WHERE tenant=?", (tenant,)).fetchall()
        return [self._unit(r) for r in rows]

    def tenants(self) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT DISTINCT tenant FROM units UNION SELECT DISTINCT tenant FROM persons")
            return sorted(r[0] for r in rows)

    def absences(self, *, tenant: str | None = None, person: str | None = None,
                 since: float | None = None) -> list[dict[str, Any]]:
        sql, args = "SELECT * FROM absences WHERE 1=1", list[Any]()
        if tenant is not None:
            sql += " AND tenant=?"
            args.append(tenant)
        if person is not None:
            sql += " AND person=?"
            args.append(person)
        if since is not None:
            sql += " AND until>?"
            args.append(since)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY start", args).fetchall()
        return [dict(r) for r in rows]

    def absence(self, aid: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM absences WHERE id=?", (aid,)).fetchone()
        return dict(row) if row else None

    # -- writing (each call is its own transaction unless given one) ----------------------------------
    def upsert_units(self, db: Any, units: Iterable[dict[str, Any]], now: float) -> None:
        db.executemany(
            "INSERT INTO units(tenant,id,name,parent,data,gone,updated) VALUES(?,?,?,?,?,NULL,?) "
            "ON CONFLICT(tenant,id) DO UPDATE SET name=excluded.name, parent=excluded.parent, "
            "data=excluded.data, gone=NULL, updated=excluded.updated",
            [(u["tenant"], u["id"], u["name"], u.get("parent") or None,
              json.dumps({k: v for k, v in u.items() if k not in ("tenant", "id", "name", "parent", "gone", "status")}),
              now) for u in units])

    def mark_units_gone(self, db: Any, tenant: str, ids: Iterable[str], now: float) -> None:
        db.executemany("UPDATE units SET gone=?, updated=? WHERE tenant=? AND id=?",
                       [(now, now, tenant, i) for i in ids])

    def upsert_persons(self, db: Any, persons: Iterable[dict[str, Any]], now: float) -> None:
        # `local` is never in the statement: imports cannot overwrite what only we keep.
        db.executemany(
            "INSERT INTO persons(tenant,id,unit,data,gone,updated) VALUES(?,?,?,?,NULL,?) "
            "ON CONFLICT(tenant,id) DO UPDATE SET unit=excluded.unit, data=excluded.data, gone=NULL, "
            "updated=excluded.updated",
            [(p["tenant"], p["id"], p.get("unit") or None,
              json.dumps({k: v for k, v in p.items() if k not in ("tenant", "id", "unit", "gone", "local", "status")},
                         ensure_ascii=False), now) for p in persons])

    def mark_persons_gone(self, db: Any, tenant: str, ids: Iterable[str], now: float) -> None:
        db.executemany("UPDATE persons SET gone=?, updated=? WHERE tenant=? AND id=?",
                       [(now, now, tenant, i) for i in ids])

    def log_import(self, db: Any, tenant: str, kind: str, report: dict[str, Any], now: float) -> None:
        db.execute("INSERT INTO imports(ts,tenant,kind,report) VALUES(?,?,?,?)",
                   (now, tenant, kind, json.dumps(report, ensure_ascii=False)))

    def set_local(self, tenant: str, pid: str, local: dict[str, Any], now: float) -> None:
        with self.transaction() as db:
            db.execute("UPDATE persons SET local=?, updated=? WHERE tenant=? AND id=?",
                       (json.dumps(local, ensure_ascii=False), now, tenant, pid))

    def insert_absences(self, rows: Iterable[dict[str, Any]], db: Any | None = None) -> None:
        sql = f"INSERT INTO absences({','.join(ABSENCE_FIELDS)}) VALUES({','.join('?' * len(ABSENCE_FIELDS))})"
        values = [tuple(r.get(f, "") if f not in ("start", "until", "created") else r[f] for f in ABSENCE_FIELDS)
                  for r in rows]
        if db is not None:
            db.executemany(sql, values)
        else:
            with self.transaction() as tx:
                tx.executemany(sql, values)

    def update_absence(self, aid: str, changes: dict[str, Any]) -> None:
        cols = [c for c in changes if c in ("type", "start", "until", "message", "substitute")]
        if not cols:
            return
        with self.transaction() as db:
            db.execute(f"UPDATE absences SET {', '.join(c + '=?' for c in cols)} WHERE id=?",
                       [changes[c] for c in cols] + [aid])

    def delete_absence(self, aid: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM absences WHERE id=?", (aid,))

    def replace_source_absences(self, tenant: str, person: str, source: str, rows: list[dict[str, Any]]) -> None:
        """Swap one person's absences from one source (a calendar feed) for a fresh set, atomically."""
        with self.transaction() as db:
            db.execute("DELETE FROM absences WHERE tenant=? AND person=? AND source=?", (tenant, person, source))
            self.insert_absences(rows, db)
