"""Progressive dialing: for each free agent of a running campaign's queue, one contact's call.

The engine places the call as it does an agent's own outbound call (the agent's device first, then
the contact, both in one bridge), so the agent hears the contact from the first ring and a person
who answers is never left waiting for an agent. The hang-up cause of an attempt that was not
answered (the ``call_not_reached`` hook) says busy, no answer or failed; the service applies the
campaign's retry rules. Predictive campaigns dial progressively here until the pacer (pacing.py)
drives the dialer.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from cc_console.errors import DomainError
from cc_console.models import AgentState
from cc_console.server.capability import CallHooks, Context
from cc_console.server.waits import woken

from .campaigns import Campaign, DialMode
from .retries import Outcome
from .service import OutboundService

log = logging.getLogger(__name__)

BUSY_CAUSES = frozenset({17})  # user busy
NO_ANSWER_CAUSES = frozenset({16, 18, 19, 21})  # rang out, no answer, (a phone's) call rejected


def outcome_of(kind: str, cause: int | None, by: str | None) -> Outcome | None:
    """The attempt's outcome from how the engine ended the call; None: not the contact's doing (the
    agent's device failed or the agent dropped the attempt), so it does not count as an attempt."""
    if kind == "call.completed":
        return Outcome.ANSWERED
    if by == "agent":
        return None
    if cause in BUSY_CAUSES:
        return Outcome.BUSY
    if cause in NO_ANSWER_CAUSES:
        return Outcome.NO_ANSWER
    return Outcome.FAILED


class Dialer(CallHooks):
    def __init__(self, ctx: Context, service: OutboundService, *, tick: float, dial_template: str) -> None:
        self.ctx = ctx
        self.service = service
        self.tick = tick
        self.dial_template = dial_template
        self.calls: dict[str, int] = {}  # call id -> contact being called
        self._not_reached: dict[str, tuple[int | None, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- the loop ------------------------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.service.store.release_dialing)  # a restart lost those calls
        self._task = asyncio.create_task(self._run(), name="outbound dialer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.place_calls()
            except Exception:
                log.exception("outbound dialer round failed")
            self._wake.clear()
            await woken(self._wake, self.tick)

    def _free_agents(self, queue: str) -> list[Any]:
        return [a for a in self.ctx.engine.agents.values()
                if a.state is AgentState.READY and not a.call_id and a.device and queue in a.queues]

    async def place_calls(self) -> None:
        """One round: every running campaign (highest priority first) gets its free agents' calls."""
        for c in await asyncio.to_thread(self.service.running):
            if c.mode is DialMode.PREVIEW:
                continue  # the agent dials from the preview
            free = self._free_agents(c.queue)
            if not free:
                continue
            contacts = await asyncio.to_thread(self.service.next_contacts, c.id, len(free),
                                               frozenset(a.id for a in free))
            for contact in contacts:
                await self._dial(c, contact)

    async def _dial(self, c: Campaign, contact: dict[str, Any]) -> None:
        # Agents are looked at again after the thread hop: one may have taken an inbound call meanwhile.
        free = [a for a in self._free_agents(c.queue) if not contact["owner"] or a.id == contact["owner"]]
        number = contact["number"]
        target = self.dial_template.format(number=number) if self.dial_template else number
        call = None
        for agent in free:
            try:
                call = self.ctx.engine.dial_out(  # type: ignore[attr-defined]
                    agent.id, target, caller_id=c.caller_id, queue=c.queue, record=c.record)
                break
            except DomainError as exc:  # the engine refused this agent: try the next
                log.info("campaign %s: agent %s cannot take %s now: %s", c.id, agent.id, contact["id"], exc.message)
        if call is None:
            await asyncio.to_thread(self.service.release, contact["id"])
            return
        self.calls[call.id] = contact["id"]
        await asyncio.to_thread(self.service.dialing, contact["id"], call.id, call.agent or "")

    def dial_for(self, c: Campaign, contact: dict[str, Any], agent_id: str) -> Any:
        """Call a previewed contact for its agent (a DomainError when the agent cannot call now)."""
        number = contact["number"]
        target = self.dial_template.format(number=number) if self.dial_template else number
        call = self.ctx.engine.dial_out(  # type: ignore[attr-defined]
            agent_id, target, caller_id=c.caller_id, queue=c.queue, record=c.record)
        self.calls[call.id] = contact["id"]
        return call

    # -- following the calls -------------------------------------------------------------------------
    def agent_state(self, agent: Any, previous: str) -> None:
        if agent.state is AgentState.READY:
            self._wake.set()
        elif agent.state is AgentState.LOGGED_OUT:
            calling = frozenset(self.calls.values())
            self.ctx.spawn(asyncio.to_thread(self.service.release_previews, agent.id, calling),
                           f"release the previews of {agent.id}")

    def call_not_reached(self, call: Any, cause: int | None, by: str) -> None:
        if call.id in self.calls:
            self._not_reached[call.id] = (cause, by)

    def call_ended(self, call: Any, kind: str) -> None:
        seq = self.calls.pop(call.id, None)
        if seq is None:
            return
        cause, by = self._not_reached.pop(call.id, (None, None))
        if call.end_reason == "agent_unreachable":
            by = "agent"
        outcome = outcome_of(kind, cause, by)
        self.ctx.spawn(self._settle(seq, outcome, call.id, call.agent or ""), f"outcome of {call.id}")

    async def _settle(self, seq: int, outcome: Outcome | None, call_id: str, agent: str) -> None:
        if outcome is None:
            await asyncio.to_thread(self.service.release, seq)
        else:
            contact = await asyncio.to_thread(self.service.record_outcome, seq, outcome, call_id, agent)
            campaign = await asyncio.to_thread(self.service.finish_if_settled, contact["campaign"])
            if campaign is not None:
                self.ctx.publish("campaign.update", campaign.to_dict(), frozenset())
        self._wake.set()
