"""The lease: a PostgreSQL session-level advisory lock, held on one dedicated connection.

An advisory lock rather than a lease row with an expiry: the lock dies with its session, so a
leader that is killed loses it the moment PostgreSQL sees the session gone (at once when the
process dies on a live host: the kernel closes its socket), without clocks or renewals to tune, and
PostgreSQL alone decides who holds it (no home-made consensus). The session asks PostgreSQL for TCP
keepalives (tcp_keepalives_*), so a leader whose host vanishes (power, network) is seen gone within
idle + interval x count seconds; the client asks libpq for the same, so a leader that can no longer
reach PostgreSQL learns it too, and steps down (the process stops: see node.py).

A small table (cc_console_ha_leader) names the holder, its console URL and its internal HTTP URL,
written by the leader after it wins, read by standbys: for the "go there" hint and for where a
standby forwards what needs the active node (forward.py). It is informative only: the lock decides.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import psycopg

log = logging.getLogger(__name__)

_TABLE = """CREATE TABLE IF NOT EXISTS cc_console_ha_leader (
    lock_key bigint PRIMARY KEY, node text NOT NULL, url text NOT NULL, since timestamptz NOT NULL,
    internal text NOT NULL DEFAULT '')"""
# A table made before nodes forwarded to each other lacks the column (ALTER only then: it locks the table).
_HAS_INTERNAL = ("SELECT 1 FROM information_schema.columns WHERE table_name = 'cc_console_ha_leader' "
                 "AND column_name = 'internal'")
_ADD_INTERNAL = "ALTER TABLE cc_console_ha_leader ADD COLUMN IF NOT EXISTS internal text NOT NULL DEFAULT ''"


class LeaseLost(Exception):
    """The lock's session is gone or no longer answers: this node must not act as the leader."""


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for a name (one per Asterisk)."""
    return int.from_bytes(hashlib.blake2b(f"cc-console:{name}".encode(), digest_size=8).digest(), "big",
                          signed=True)


@dataclass
class Leader:
    node: str
    url: str  # its console websocket URL (the hint consoles and people get)
    since: str
    internal: str = ""  # its HTTP base URL for the other nodes (where a standby forwards)


class Lease:
    def __init__(self, url: str, *, key: int, node: str, advertise: str, internal: str = "", poll: float = 0.5,
                 check_interval: float = 1.0, check_timeout: float = 3.0, keepalive_idle: int = 5,
                 keepalive_interval: int = 2, keepalive_count: int = 2, connect_timeout: int = 3) -> None:
        self.url, self.key, self.node, self.advertise, self.internal = url, key, node, advertise, internal
        self.poll, self.check_interval, self.check_timeout = poll, check_interval, check_timeout
        self.keepalive = (keepalive_idle, keepalive_interval, keepalive_count)
        self.connect_timeout = connect_timeout
        self.leader: Leader | None = None  # who holds it, as last read (a standby's hint)
        self.held = False
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        idle, interval, count = self.keepalive
        conn = await psycopg.AsyncConnection.connect(
            self.url, autocommit=True, connect_timeout=self.connect_timeout,
            application_name=f"cc-console {self.node}"[:63],
            keepalives=1, keepalives_idle=idle, keepalives_interval=interval, keepalives_count=count)
        # The server side's keepalives: how soon PostgreSQL sees a vanished leader's session gone.
        await conn.execute(f"SET tcp_keepalives_idle = {int(idle)}")
        await conn.execute(f"SET tcp_keepalives_interval = {int(interval)}")
        await conn.execute(f"SET tcp_keepalives_count = {int(count)}")
        try:
            await conn.execute(_TABLE)
        except psycopg.errors.UniqueViolation:
            pass  # another node created it at the same moment
        if await (await conn.execute(_HAS_INTERNAL)).fetchone() is None:
            await conn.execute(_ADD_INTERNAL)
        return conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # already broken: nothing to close cleanly
                pass

    async def acquire(self) -> None:
        """Return once this node holds the lock; until then read who does, every poll seconds."""
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = await self._connect()
                async with asyncio.timeout(self.check_timeout):
                    cur = await self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,))
                    row = await cur.fetchone()
                    if row and row[0]:
                        await self._conn.execute(
                            "INSERT INTO cc_console_ha_leader (lock_key, node, url, since, internal) "
                            "VALUES (%s, %s, %s, now(), %s) ON CONFLICT (lock_key) DO UPDATE SET node = excluded.node, "
                            "url = excluded.url, since = excluded.since, internal = excluded.internal",
                            (self.key, self.node, self.advertise, self.internal))
                        self.held = True
                        self.leader = Leader(self.node, self.advertise, "now", self.internal)
                        return
                    cur = await self._conn.execute("SELECT node, url, since::text, internal FROM cc_console_ha_leader "
                                                   "WHERE lock_key = %s", (self.key,))
                    found = await cur.fetchone()
                    self.leader = Leader(*found) if found else None
            except (OSError, TimeoutError, psycopg.Error) as exc:
                log.warning("high availability: PostgreSQL not reachable for the lease (%s); trying again", exc)
                await self._drop()
            await asyncio.sleep(self.poll)

    async def watch(self) -> None:
        """While the lock is held: raise LeaseLost as soon as its session fails or stops answering."""
        while True:
            await asyncio.sleep(self.check_interval)
            try:
                assert self._conn is not None
                async with asyncio.timeout(self.check_timeout):
                    cur = await self._conn.execute(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                        "AND pid = pg_backend_pid() AND objsubid = 1 AND classid = %s::bigint::oid "
                        "AND objid = %s::bigint::oid", ((self.key >> 32) & 0xFFFFFFFF, self.key & 0xFFFFFFFF))
                    row = await cur.fetchone()
            except (OSError, TimeoutError, AssertionError, psycopg.Error) as exc:
                self.held = False
                await self._drop()
                raise LeaseLost(f"the lease's database session failed: {exc}") from exc
            if not row or not row[0]:
                self.held = False
                await self._drop()
                raise LeaseLost("the lease's lock is no longer held by this session")

    async def release(self) -> None:
        """Give the lock up (a clean stop): the session's end releases it."""
        self.held = False
        await self._drop()
