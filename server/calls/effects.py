"""The effect runner: the side effects of the engine's state changes (ARI requests, a recording's
storage), run as tasks so a slow HTTP round trip never holds up the event stream.

A transition may return its ARI requests as data (:class:`Ari`, :class:`Originate`; see
server/calls/states.py for hold, blind transfer, the consultation's and an offer's);
:meth:`EffectRunner.perform` runs them in order. Older code still hands the runner a coroutine
(:meth:`EffectRunner.run`); both go through the same per-call ordering.

A transition may also return what it writes down, as data: the call's event for the store and the
consoles (:class:`Record`), the agent's (:class:`AgentRecord`) and a queue_log line
(:class:`QueueLogWrite`). :meth:`EffectRunner.apply`
performs those at once, in the order given, before it hands the ARI requests on: the store and
queue_log must keep the order of the moves, and a record costs no round trip (the store's writer
thread takes it from a queue). Hold, the transfers, the consultation's moves, entering, the offer,
an overflow, joining and leaving the queue, the answer, a ring with no answer, a call's end and every
agent move return theirs; announcements and outbound calls' own records still write inline.

Effects with the same key (a call id) run one at a time, in the order they were asked for: the
bridge must exist before the agent's leg is added to it. Effects with different keys (or none) run
side by side. A failing effect is logged and does not stop the next one of its call. Retrying is
the ARI client's (stamina's jittered backoff for idempotent requests, server/ari/breaker.py), not
the runner's: a request that is not safe to repeat must not be repeated here either.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from cc_console.server.ari import AriClient, AriError

log = logging.getLogger(__name__)


class Op(StrEnum):
    HANGUP = "hangup"
    CREATE_BRIDGE = "create_bridge"
    DESTROY_BRIDGE = "destroy_bridge"
    ADD_CHANNEL = "add_channel"
    REMOVE_CHANNEL = "remove_channel"
    START_MOH = "start_moh"
    STOP_MOH = "stop_moh"


@dataclass(frozen=True)
class Ari:
    """One ARI request a transition asks for, as data: a test can read what a transition would do
    without an Asterisk, and the runner performs it. ``target`` is the bridge (or the channel, for
    hangup); ``arg`` the channel to add or remove, or the music-on-hold class."""

    op: Op
    target: str
    arg: str = ""

    async def perform(self, ari: AriClient) -> None:
        match self.op:
            case Op.HANGUP:
                await ari.hangup(self.target)
            case Op.CREATE_BRIDGE:
                await ari.create_bridge(self.target)
            case Op.DESTROY_BRIDGE:
                await ari.destroy_bridge(self.target)
            case Op.ADD_CHANNEL:
                await ari.add_channel(self.target, self.arg)
            case Op.REMOVE_CHANNEL:
                await ari.request("POST", f"/bridges/{self.target}/removeChannel", params={"channel": self.arg})
            case Op.START_MOH:
                await ari.start_moh(self.target, self.arg or "default")
            case Op.STOP_MOH:
                await ari.stop_moh(self.target)


@dataclass(frozen=True)
class Originate:
    """Call an endpoint into our Stasis application under a channel id we chose (so its StasisStart,
    which may beat the HTTP reply, is known); as data like :class:`Ari`. ``variables`` are channel
    variables, as (name, value) pairs."""

    endpoint: str
    channel_id: str
    app_args: str
    caller_id: str
    timeout: int
    variables: tuple[tuple[str, str], ...] = ()

    async def perform(self, ari: AriClient) -> None:
        await ari.originate(self.endpoint, self.channel_id, app_args=self.app_args, caller_id=self.caller_id,
                            timeout=self.timeout, variables=dict(self.variables))


@dataclass(frozen=True)
class Record:
    """Record the call's event ``kind`` (the store, the queue's counters, the consoles), as the
    engine's _record_call does, with the call as it is once the transition is made. ``at``: the
    moment the transition used for its figures; ``data``: the event's details, as (name, value)."""

    kind: str
    at: float | None = None
    data: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class QueueLogWrite:
    """One queue_log line: ``verb`` is the QueueLog writer (``blindtransfer``, ``attendedtransfer``),
    ``args`` its arguments in order (server/acd/queue_log.py)."""

    verb: str
    args: tuple[Any, ...]

    def write(self, qlog: Any) -> None:
        getattr(qlog, self.verb)(*self.args)


@dataclass(frozen=True)
class AgentRecord:
    """Record the agent's move (``agent.state``, with the agent as it is once moved) in the store;
    ``data``: the event's details, as (name, value)."""

    kind: str
    at: float
    data: tuple[tuple[str, Any], ...] = ()


Local = Record | AgentRecord | QueueLogWrite
Effect = Ari | Originate


async def perform_all(ari: AriClient, effects: Sequence[Effect]) -> None:
    """In order; a request that fails stops the ones after it (they depended on it), as one go() did."""
    for effect in effects:
        await effect.perform(ari)


class EffectRunner:
    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.chains: dict[str, asyncio.Task[None]] = {}  # key -> its last effect (the next one waits for it)

    def run(self, coro: Coroutine[Any, Any, Any], what: str, key: str | None = None) -> None:
        """Run ``coro`` after the effects already asked for with ``key``; ``what`` names it in the log."""
        prev = self.chains.get(key) if key else None

        async def guarded() -> None:
            if prev is not None:
                await asyncio.wait([prev])
            try:
                await coro
            except AriError as exc:
                log.warning("%s: %s", what, exc)
            except Exception:
                log.exception("%s failed", what)
        task = asyncio.get_running_loop().create_task(guarded(), name=what)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        if key:
            chains = self.chains
            chains[key] = task
            task.add_done_callback(lambda t: chains.pop(key, None) if chains.get(key) is t else None)

    def perform(self, ari: AriClient, effects: Sequence[Effect], what: str, key: str | None = None) -> None:
        """Perform a transition's ARI requests, in order, after the call's earlier effects."""
        if effects:
            self.run(perform_all(ari, list(effects)), what, key)

    def apply(self, ari: AriClient, effects: Sequence[Effect | Local], what: str, key: str | None = None, *,
              local: Callable[[Local], None], each: bool = False) -> None:
        """Perform a transition's effects: what it writes down (``local``) at once and in order, then
        its ARI requests after the call's earlier effects; ``each``: every request on its own (one
        failing does not hold back the others: they do not depend on each other)."""
        remote: list[Effect] = []
        for effect in effects:
            if isinstance(effect, (Record, AgentRecord, QueueLogWrite)):
                local(effect)
            else:
                remote.append(effect)
        if each:
            for effect in remote:
                self.perform(ari, [effect], f"{what}: {getattr(effect, 'op', 'originate')}", key)
        else:
            self.perform(ari, remote, what, key)

    async def idle(self) -> None:
        """Wait until no effect is running (tests and shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
