"""A node of a high-availability pair: a standby until it holds the lease, then the active server.

The standby serves the web pages and the REST API's reads that do not need the call engine, forwards
every write (and what needs the engine) to the active node (forward.py), and answers the consoles'
websocket with 503 and the active node's address (gate.py).
Winning the lease is a restart of the server in this process: the standby's server is stopped, a
new one is built and started, which loads agents and calls from the store's projections and resyncs
with Asterisk over ARI (docs/ARCHITECTURE.md, "Restarts"), exactly as after a restart of one server.
A leader that loses its lease stops (exit status 1): a service manager starts it again, as a standby.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .lease import Lease, LeaseLost, lock_key

log = logging.getLogger(__name__)


@dataclass
class HaSettings:
    """[ha] in config.toml; no lease_url: one server alone, as before."""
    lease_url: str = ""  # postgresql://user@host:port/db (the lock's database; any PostgreSQL)
    node: str = ""  # this node's name in logs, /healthz and hints; empty: the host name
    url: str = ""  # this node's console websocket URL as consoles reach it; empty: the server's own
    # this node's HTTP base URL as the other nodes reach it (where they forward to); empty: the server's own
    internal_url: str = ""
    secret: str = field(default="", repr=False)  # shared by the nodes of a pair; forwarding needs it (never logged)
    forward_connect_timeout: float = 2.0  # seconds a standby waits to reach the active node
    forward_timeout: float = 30.0  # seconds it waits for the active node's next bytes
    ca_file: str = ""  # the CA of an https internal_url's certificate; empty: the system's
    key: str = ""  # what the lock is named for (one leader per Asterisk); empty: the ARI URL and app
    poll: float = 0.5  # seconds between a standby's tries for the lock
    check_interval: float = 1.0  # seconds between the leader's checks that it still holds the lock
    check_timeout: float = 3.0  # a check (or try) that takes longer counts as a lost session
    keepalive_idle: int = 5  # TCP keepalives on the lock's connection, both ends (seconds, count)
    keepalive_interval: int = 2
    keepalive_count: int = 2


class Node(Protocol):
    """What the node needs of a server (server/app.py's Server)."""
    standby: bool
    ha_status: Callable[[], dict[str, Any]] | None
    ha_target: Callable[[], str] | None

    @property
    def url(self) -> str: ...

    @property
    def http_url(self) -> str: ...

    def fence(self) -> None: ...
    async def serve_http(self) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...


class HaNode:
    def __init__(self, settings: HaSettings, build: Callable[[], Node], *, default_key: str) -> None:
        if not settings.lease_url:
            raise ValueError("[ha] lease_url is required: the PostgreSQL database the lease is held on")
        # A leader cut off from PostgreSQL must have stopped before PostgreSQL sees its session gone and
        # grants the lock to another node: its own check must fail sooner than the server's keepalives.
        seen_gone = settings.keepalive_idle + settings.keepalive_interval * settings.keepalive_count
        if settings.check_interval + settings.check_timeout >= seen_gone:
            raise ValueError(f"[ha] check_interval + check_timeout ({settings.check_interval + settings.check_timeout}"
                             f" s) must be below keepalive_idle + keepalive_interval x keepalive_count "
                             f"({seen_gone} s)")
        self.s = settings
        self.build = build
        self.name = settings.node or socket.gethostname()
        self.role = "starting"
        self.took_over_in: float | None = None  # seconds from winning the lock to the server started
        self.server: Node | None = None
        self.lease: Lease | None = None
        self._key = lock_key(settings.key or default_key)

    def __repr__(self) -> str:
        return f"HaNode({self.name!r}, {self.role})"  # not the settings: they hold the secret

    def active_internal(self) -> str:
        """The active node's internal URL, as last read from PostgreSQL ("" when unknown or this one)."""
        leader = self.lease.leader if self.lease else None
        return leader.internal if leader and self.role != "active" and leader.node != self.name else ""

    def status(self) -> dict[str, Any]:
        leader = self.lease.leader if self.lease else None
        active = {"node": leader.node, "url": leader.url} if leader and self.role != "active" else None
        return {"node": self.name, "role": self.role, "active": active, "took_over_in": self.took_over_in}

    async def run(self, stop: asyncio.Event) -> int:
        """Serve until stop is set (0) or the lease is lost (1)."""
        standby = self.build()
        standby.standby, standby.ha_status, standby.ha_target = True, self.status, self.active_internal
        self.server = standby
        await standby.serve_http()
        self.lease = Lease(self.s.lease_url, key=self._key, node=self.name, advertise=self.s.url or standby.url,
                           internal=self.s.internal_url or standby.http_url,
                           poll=self.s.poll, check_interval=self.s.check_interval,
                           check_timeout=self.s.check_timeout, keepalive_idle=self.s.keepalive_idle,
                           keepalive_interval=self.s.keepalive_interval, keepalive_count=self.s.keepalive_count)
        self.role = "standby"
        log.info("high availability: node %s is a standby, waiting for the lease", self.name)
        if not await _first(self.lease.acquire(), stop):
            await standby.stop()
            await self.lease.release()
            return 0
        won = time.monotonic()
        await standby.stop()  # its port is taken over by the active server just below
        active = self.build()
        active.ha_status = self.status
        self.server = active
        await active.start()
        self.role = "active"
        self.took_over_in = round(time.monotonic() - won, 3)
        log.warning("high availability: node %s holds the lease and is active (started in %.2f s)",
                    self.name, self.took_over_in)
        try:
            if not await _first(self.lease.watch(), stop):
                return 0
        except LeaseLost as exc:
            # Another node may win the lock now: this one must stop driving Asterisk at once.
            log.critical("high availability: node %s lost the lease (%s); stopping", self.name, exc)
            self.role = "lost"
            active.fence()
            return 1
        finally:
            await active.stop()
            await self.lease.release()
        return 0


async def _first(work: Any, stop: asyncio.Event) -> bool:
    """Run work until it returns (True) or stop is set first (False); its exception is raised."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        task.result()
        return True
    task.cancel()
    try:
        await task
    except (asyncio.CancelledError, Exception):
        pass
    return False
