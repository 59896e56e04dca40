"""The dialer: progressive and predictive campaigns on Asterisk.

Progressive: for each free agent of a running campaign's queue, one contact's call, placed as an
agent's own outbound call (the agent's device first, then the contact, both in one bridge), so the
agent hears the contact from the first ring and a person who answers is never left waiting.

Predictive: the pacer (pacing.py) says how many calls to place ahead of the free agents, from the
answer rate, the handling time and the abandonment it measures. Each is the engine's ``dial_ahead``:
the contact is called first; answered, it waits in the campaign's queue for a free agent, who is
connected at once; none within the connect limit (2 s), the contact hears the abandon message and
is hung up, and the attempt counts as abandoned.

The hang-up cause of an attempt that was not answered (the ``call_not_reached`` hook) says busy, no
answer or failed; the service applies the campaign's retry rules.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from cc_console.errors import DomainError
from cc_console.models import AgentState, CallState
from cc_console.server.capability import CallHooks, Context
from cc_console.server.waits import woken

from .campaigns import Campaign, DialMode
from .pacing import Pacer, PacerSettings
from .retries import Outcome
from .service import OutboundService

log = logging.getLogger(__name__)

BUSY_CAUSES = frozenset({17})  # user busy
# Occupancy: an agent is staffed for a running campaign of their queue in these states, and busy with
# it on (and in the wrap-up of) one of its calls.
STAFFED = frozenset({AgentState.READY, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP})
BUSY = frozenset({AgentState.ON_CALL, AgentState.WRAP_UP})
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


def _media(text: str) -> list[str]:
    return [m for m in text.split(",") if m]


class Dialer(CallHooks):
    def __init__(self, ctx: Context, service: OutboundService, *, tick: float, dial_template: str,
                 connect_limit: float = 2.0, abandon_media: list[str] | None = None,
                 pacing: PacerSettings | None = None, handling_time: float = 120.0,
                 amd_dial_template: str = "") -> None:
        self.ctx = ctx
        self.service = service
        self.tick = tick
        self.dial_template = dial_template
        self.connect_limit = connect_limit
        self.abandon_media = list(abandon_media or [])
        self.pacing = pacing or PacerSettings()
        self.handling_time = handling_time  # the first guess, until calls are measured
        self.amd_dial_template = amd_dial_template
        self.calls: dict[str, int] = {}  # call id -> contact being called
        self.ahead: dict[str, str] = {}  # call id -> campaign, for the calls dialled ahead (predictive)
        self.pacers: dict[str, Pacer] = {}
        self.aht: dict[str, float] = {}  # campaign -> measured handling time (talk + wrap-up)
        self.call_campaign: dict[str, str] = {}  # every campaign call -> its campaign (occupancy)
        self._running: dict[str, str] = {}  # running campaign -> its queue, as of the last round
        self._since: dict[str, tuple[AgentState, float, str]] = {}  # agent -> (state, since, call id)
        self._occupancy: dict[tuple[str, str], list[float]] = {}  # (campaign, agent) -> [staffed, busy] unsaved
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
        try:
            await self.save_occupancy()  # what was counted since the last round
        except Exception:
            log.exception("agent occupancy not saved at stop")

    async def _run(self) -> None:
        while True:
            try:
                await self.place_calls()
                await self.save_occupancy()
            except Exception:
                log.exception("outbound dialer round failed")
            self._wake.clear()
            await woken(self._wake, self.tick)

    def _free_agents(self, queue: str) -> list[Any]:
        return [a for a in self.ctx.engine.agents.values()
                if a.state is AgentState.READY and not a.call_id and a.device and queue in a.queues]

    async def place_calls(self) -> None:
        """One round: every running campaign (highest priority first) gets its free agents' calls."""
        running = await asyncio.to_thread(self.service.running)
        self._running = {c.id: c.queue for c in running}
        for c in running:
            if c.mode is DialMode.PREVIEW:
                continue  # the agent dials from the preview
            if c.mode is DialMode.PREDICTIVE or c.amd or c.announcement:
                # With answering-machine detection or an announcement a progressive campaign too calls
                # the contact first (one per free agent): the agent joins once the contact is ready.
                await self._pace(c)
                continue
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
        self.call_campaign[call.id] = c.id
        await asyncio.to_thread(self.service.dialing, contact["id"], call.id, call.agent or "")

    async def _pacer(self, c: Campaign) -> Pacer:
        pacer = self.pacers.get(c.id)
        if pacer is None:
            pacer = self.pacers[c.id] = Pacer(self.pacing)
            # The abandonment cap holds over the regulation window, across restarts of the server.
            since = self.ctx.engine.clock() - self.pacing.window
            for a in await asyncio.to_thread(self.service.recent_attempts, c.id, since):
                pacer.placed_outcome(a["outcome"] in (Outcome.ANSWERED, Outcome.ABANDONED))
                if a["outcome"] in (Outcome.ANSWERED, Outcome.ABANDONED):
                    pacer.answered(a["ts"], a["outcome"] == Outcome.ABANDONED)
        return pacer

    async def _pace(self, c: Campaign) -> None:
        """A predictive campaign's round: as many calls ahead as the pacer says."""
        engine = self.ctx.engine
        pacer = await self._pacer(c)
        now = engine.clock()
        aht = self.aht.get(c.id, self.handling_time)
        free = self._free_agents(c.queue)
        busy: list[float] = []
        for a in engine.agents.values():
            if c.queue not in a.queues:
                continue
            if a.state is AgentState.ON_CALL and a.call_id in engine.calls:
                answered = engine.calls[a.call_id].answered or now
                busy.append(aht - (now - answered))
            elif a.state is AgentState.WRAP_UP:
                busy.append(max(0.0, a.wrapup_until - now))
        in_flight = sum(1 for cid, camp in self.ahead.items() if camp == c.id and cid in engine.calls
                        and engine.calls[cid].state is not CallState.CONNECTED)
        n = pacer.to_dial(mode=str(c.mode), free=len(free), busy_remaining=busy, in_flight=in_flight, now=now,
                          aht=aht)
        if n <= 0:
            return
        contacts = await asyncio.to_thread(self.service.next_contacts, c.id, n, frozenset(a.id for a in free))
        for contact in contacts:
            number = contact["number"]
            template = self.amd_dial_template if c.amd and self.amd_dial_template else self.dial_template
            target = template.format(number=number) if template else number
            try:
                call = engine.dial_ahead(  # type: ignore[attr-defined]
                    target, queue=c.queue, caller_id=c.caller_id, record=c.record, patience=self.connect_limit,
                    abandon_media=self.abandon_media, agent=contact["owner"] or None,
                    amd=c.amd and bool(self.amd_dial_template), machine_media=_media(c.machine_message),
                    announcement=_media(c.announcement))
            except DomainError as exc:
                log.warning("campaign %s cannot dial %s: %s", c.id, contact["id"], exc.message)
                await asyncio.to_thread(self.service.release, contact["id"])
                continue
            self.calls[call.id] = contact["id"]
            self.ahead[call.id] = c.id
            self.call_campaign[call.id] = c.id
            await asyncio.to_thread(self.service.dialing, contact["id"], call.id, "")

    def dial_for(self, c: Campaign, contact: dict[str, Any], agent_id: str) -> Any:
        """Call a previewed contact for its agent (a DomainError when the agent cannot call now)."""
        number = contact["number"]
        target = self.dial_template.format(number=number) if self.dial_template else number
        call = self.ctx.engine.dial_out(  # type: ignore[attr-defined]
            agent_id, target, caller_id=c.caller_id, queue=c.queue, record=c.record)
        self.calls[call.id] = contact["id"]
        self.call_campaign[call.id] = c.id
        return call

    # -- occupancy -----------------------------------------------------------------------------------
    def _account(self, agent: Any, now: float) -> None:
        """Add the time since the agent's last account to the running campaigns of their queues:
        staffed, and busy when it went to one of that campaign's calls."""
        prev = self._since.get(agent.id)
        self._since[agent.id] = (agent.state, now, agent.call_id or agent.last_call_id or "")
        if prev is None:
            return
        state, since, call_id = prev
        if state not in STAFFED or now <= since:
            return
        busy_with = self.call_campaign.get(call_id) if state in BUSY else None
        for cid, queue in self._running.items():
            if queue in agent.queues:
                acc = self._occupancy.setdefault((cid, agent.id), [0.0, 0.0])
                acc[0] += now - since
                if busy_with == cid:
                    acc[1] += now - since

    async def save_occupancy(self) -> None:
        now = self.ctx.engine.clock()
        for agent in list(self.ctx.engine.agents.values()):
            self._account(agent, now)
        if self._occupancy:
            rows = [(cid, agent, s, b) for (cid, agent), (s, b) in self._occupancy.items()]
            self._occupancy = {}
            await asyncio.to_thread(self.service.store.add_occupancy, rows)

    # -- following the calls -------------------------------------------------------------------------
    def agent_state(self, agent: Any, previous: str) -> None:
        self._account(agent, self.ctx.engine.clock())
        if agent.state in (AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT):
            # the wrap-up is over: its call no longer counts for occupancy
            self.call_campaign.pop(agent.last_call_id or "", None)
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
        if kind != "call.completed":
            self.call_campaign.pop(call.id, None)  # no agent's time went to it after the end
        campaign = self.ahead.pop(call.id, None)
        if campaign is not None:
            outcome = self._measure(campaign, call, kind, outcome)
        self.ctx.spawn(self._settle(seq, outcome, call.id, call.agent or ""), f"outcome of {call.id}")

    def _measure(self, campaign: str, call: Any, kind: str, outcome: Outcome | None) -> Outcome | None:
        """A call dialled ahead ended: its outcome (a person answered and got no agent: abandoned),
        fed to the campaign's pacer with the handling time of a connected call."""
        human = call.answered is not None and call.stage != "machine"
        if call.stage == "machine":
            outcome = Outcome.MACHINE
        elif human and kind != "call.completed":
            outcome = Outcome.ABANDONED  # the message heard, or hung up waiting: no agent in time
        pacer = self.pacers.get(campaign)
        if pacer is not None:
            pacer.placed_outcome(human)
            if human:
                pacer.answered(self.ctx.engine.clock(), outcome is Outcome.ABANDONED)
        if kind == "call.completed" and call.answered and call.ended:
            q = self.ctx.engine.cfg.queues.get(call.queue)
            took = call.ended - call.answered + (q.wrapup if q else 0.0)
            self.aht[campaign] = 0.8 * self.aht.get(campaign, took) + 0.2 * took
        return outcome

    async def _settle(self, seq: int, outcome: Outcome | None, call_id: str, agent: str) -> None:
        await self.save_occupancy()  # the call's time counted before its campaign may finish
        if outcome is None:
            await asyncio.to_thread(self.service.release, seq)
        else:
            contact = await asyncio.to_thread(self.service.record_outcome, seq, outcome, call_id, agent)
            campaign = await asyncio.to_thread(self.service.finish_if_settled, contact["campaign"])
            if campaign is None:
                campaign = await asyncio.to_thread(self.service.get, contact["campaign"])
            # after every attempt: the supervisors' campaign screen shows progress live
            self.ctx.publish("campaign.update", campaign.to_dict(), frozenset())
        self._wake.set()
