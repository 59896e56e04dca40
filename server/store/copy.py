"""Copying an SQLite installation's store into PostgreSQL (`cc-console admin migrate-store`).

Every table of the main store goes over row for row, events with their own sequence numbers (a
read model's position and every "since" stays valid). Each table is streamed with COPY into a
temporary table and inserted from there with ON CONFLICT DO NOTHING on its key, so a second run,
or a run after one that stopped half-way, copies only what is missing and counts the rest as
already there. Run it with the server stopped: events written meanwhile are copied by the next run.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from .portable import Step, open_db
from .postgres import PostgresStore
from .postgres import connect as pg_connect
from .sqlite import SQLiteStore

# (table, its key) in an order where nothing refers to a row not yet copied.
TABLES: tuple[tuple[str, str], ...] = (
    ("roles", "name"), ("users", "username"), ("sessions", "token_hash"), ("events", "seq"),
    ("calls", "id"), ("agents", "id"), ("callbacks", "id"),
)
CHUNK = 20_000


@dataclass(frozen=True)
class Copied:
    table: str
    source: int  # rows in the SQLite store
    copied: int  # rows this run added to PostgreSQL
    already: int  # rows PostgreSQL had already (an earlier run)
    differ: int = 0  # events whose seq PostgreSQL holds with another event (written there since): kept as they are


@dataclass(frozen=True)
class Part:
    """A capability's own database to copy too: its SQLite file, the PostgreSQL schema it goes to
    (server/store/portable.py), its migrations, its tables with their keys (in order)."""
    label: str
    sqlite_path: Path
    schema: str
    migrations: Sequence[Step]
    tables: tuple[tuple[str, str], ...]
    # Tables without a key, whose rows belong to one of another table's (a contact's phones): a run
    # replaces, for each owner it copies, the rows PostgreSQL has (table -> the owner's column).
    keyless: tuple[tuple[str, str], ...] = ()
    # Tables whose reads order rows written at the same time as they were written (SQLite's rowid;
    # PostgreSQL numbers them as they arrive): copied in that order rather than by key.
    written_order: tuple[str, ...] = ()


def copy_store(sqlite_path: str | Path, url: str, progress: Callable[[Copied], None] = lambda c: None,
               parts: Sequence[Part] = ()) -> list[Copied]:
    """Copy the SQLite store at ``sqlite_path`` into the PostgreSQL database at ``url`` (migrated
    first to the same schema step), then each part whose SQLite file exists; the counts per table."""
    if not Path(sqlite_path).exists():
        raise FileNotFoundError(f"no SQLite store at {sqlite_path}")
    SQLiteStore(sqlite_path).close()  # brought to the newest step, as the target will be
    PostgresStore(url).close()
    out = _copy(Path(sqlite_path), url, TABLES, "", progress)
    for part in parts:
        if not part.sqlite_path.exists():
            continue
        open_db(part.sqlite_path, schema=part.schema, migrations=part.migrations).close()
        open_db(url, schema=part.schema, migrations=part.migrations).close()
        out += _copy(part.sqlite_path, url, part.tables, part.schema, progress, dict(part.keyless),
                     part.written_order)
    return out


def _copy(sqlite_path: Path, url: str, tables: Sequence[tuple[str, str]], schema: str,
          progress: Callable[[Copied], None], keyless: dict[str, str] | None = None,
          written_order: Sequence[str] = ()) -> list[Copied]:
    keyless = keyless or {}
    src = sqlite3.connect(f"file:{sqlite_path.resolve()}?mode=ro", uri=True)
    out: list[Copied] = []
    try:
        with pg_connect(url) as dst:
            if schema:
                dst.execute(f"SET search_path TO {schema}")
            for table, key in tables:
                cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
                col_list = ", ".join(f'"{c}"' for c in cols)  # quoted: a column may be a reserved word ("window")
                total = src.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                order = "rowid" if table in written_order else key
                with dst.transaction():
                    # SQLite's columns with PostgreSQL's types (a column only PostgreSQL has, such as
                    # its own row numbers, is filled in by the insert); copy_order: the rows go into
                    # the table in the order they were read from SQLite.
                    dst.execute(f"CREATE TEMP TABLE incoming ON COMMIT DROP AS SELECT {col_list} FROM {table} "
                                "WITH NO DATA")
                    dst.execute("ALTER TABLE incoming ADD COLUMN copy_order BIGINT GENERATED ALWAYS AS IDENTITY")
                    cur = src.execute(f"SELECT {col_list} FROM {table} ORDER BY {order}")
                    with dst.cursor().copy(f"COPY incoming ({col_list}) FROM STDIN") as cp:
                        while rows := cur.fetchmany(CHUNK):
                            for row in rows:
                                cp.write_row(row)
                    replaced = 0
                    if table in keyless:
                        owner = keyless[table]
                        replaced = dst.execute(f"DELETE FROM {table} WHERE {owner} IN "
                                               f"(SELECT {owner} FROM incoming)").rowcount
                    # OVERRIDING SYSTEM VALUE: identity columns (event numbers, ids) keep their values.
                    added = dst.execute(
                        f"INSERT INTO {table} ({col_list}) OVERRIDING SYSTEM VALUE "
                        f"SELECT {col_list} FROM incoming ORDER BY copy_order ON CONFLICT DO NOTHING").rowcount
                    differ = 0
                    if table == "events" and not schema:
                        row = dst.execute(
                            "SELECT COUNT(*) FROM incoming i JOIN events e USING (seq) WHERE "
                            "(e.ts, e.kind, e.data) IS DISTINCT FROM (i.ts, i.kind, i.data)").fetchone()
                        differ = int(row[0]) if row else 0
                    qualified = f"{schema}.{table}" if schema else table
                    seq = None if "," in key else dst.execute(
                        "SELECT pg_get_serial_sequence(%s, %s)", (qualified, key)).fetchone()
                    if seq and seq[0]:
                        # New rows go on after the copied ones.
                        dst.execute(f"SELECT setval(%s, GREATEST((SELECT MAX({key}) FROM {table}), 1), "
                                    f"(SELECT COUNT(*) > 0 FROM {table}))", (seq[0],))
                added -= min(added, replaced)  # rows put back as they were are not new
                c = Copied(f"{schema}.{table}" if schema else table, total, added, total - added, differ)
                out.append(c)
                progress(c)
    finally:
        src.close()
    return out
