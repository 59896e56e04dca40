"""The storage interface. SQLiteStore and PostgresStore implement it (docs/storage.md).

The event log is append-only and is the truth; the projections (current calls, agents, users,
sessions) are kept in the same transaction as the event that changed them, so a crash can never
leave a projection ahead of or behind the log.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    ts: float
    kind: str
    call_id: str | None
    agent_id: str | None
    queue: str | None
    data: dict[str, Any]


class EventReader(Protocol):
    """The event log read in order from a worker thread (a read model's refresh), never writing."""

    def rows_after(self, seq: int, limit: int) -> list[tuple[Any, ...]]:
        """(seq, ts, kind, call_id, agent_id, queue, data JSON) of the next events after ``seq``."""

    def rows_of_call(self, call_id: str, upto: int) -> list[tuple[Any, ...]]:
        """The same rows for one call's events up to ``upto``."""

    def close(self) -> None: ...


class Store(Protocol):
    # event log + projections ------------------------------------------------------------------
    def record(self, kind: str, *, ts: float, call: dict[str, Any] | None = None,
               agent: dict[str, Any] | None = None, queue: str | None = None,
               data: dict[str, Any] | None = None, call_id: str | None = None,
               agent_id: str | None = None) -> int:
        """Append one event and upsert the call/agent projection it changed, atomically."""

    def events(self, since: int = 0, kinds: tuple[str, ...] | None = None,
               call_id: str | None = None) -> Iterator[StoredEvent]: ...

    def active_calls(self) -> list[dict[str, Any]]: ...
    def agents(self) -> list[dict[str, Any]]: ...
    def call(self, call_id: str) -> dict[str, Any] | None: ...

    def save_callback(self, item: dict[str, Any]) -> None:
        """Insert or update a callback request or voicemail (and log it as an event)."""

    def callbacks(self, state: str | None = "open") -> list[dict[str, Any]]: ...

    # users and sessions -------------------------------------------------------------------------
    def add_user(self, user: dict[str, Any]) -> None: ...
    def update_user(self, username: str, **fields: Any) -> None: ...
    def get_user(self, username: str) -> dict[str, Any] | None: ...
    def list_users(self) -> list[dict[str, Any]]: ...
    def delete_user(self, username: str) -> None: ...
    def roles(self) -> list[dict[str, Any]]: ...
    def get_role(self, name: str) -> dict[str, Any] | None: ...
    def save_role(self, role: dict[str, Any]) -> None: ...
    def delete_role(self, name: str) -> None: ...
    def save_session(self, token_hash: str, username: str, expires: float) -> None: ...
    def get_session(self, token_hash: str) -> dict[str, Any] | None: ...
    def delete_session(self, token_hash: str) -> None: ...

    # read models ----------------------------------------------------------------------------------
    def event_reader(self) -> EventReader:
        """A reader of the event log for another thread (its own read-only connection)."""

    def beside(self, suffix: str) -> str:
        """Where a read model derived from this store keeps its own file (``<db><suffix>``)."""

    def close(self) -> None: ...
