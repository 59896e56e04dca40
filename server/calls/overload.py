"""Degrading in order when Asterisk cannot keep up, a mixin of the call engine.

In order, as load grows: (1) a call whose offers keep failing waits `offer_backoff` in the queue
after every `offer_failures_max` failed offers, and an agent whose device failed is left out of
routing as long, so one sick device or a busy PBX does not spin offers; (2) while ARI's circuit
breaker is open no new offer is made at all, calls wait queued with their music; (3) every
`reconcile_interval` the engine compares its calls and agents with GET /channels and repairs what
is stuck (a ringing agent without a live leg, a call whose caller or agent is gone, our channels
nobody owns), so lost events cannot leave anything stuck for long; (4) supervisors are told, with
a `server.status` event carrying `overload` (a sentence; empty when all is well again).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from cc_console.models import AgentState, Call, CallState
from cc_console.protocol import Event
from cc_console.server.ari import AriError

from .names import BRIDGE_PREFIX

log = logging.getLogger(__name__)

# Offers that failed because of the PBX or the device, not because the agent chose not to answer.
DEVICE_FAILURES = ("device unreachable", "pbx not answering")
AGENT_KEY = "agent:"  # holdoff keys: a call id, or this prefix and an agent id


class OverloadGuard:
    # Set up by CallEngine.__init__ through _init_overload; the engine provides the rest.
    calls: dict[str, Call]
    agents: dict[str, Any]

    def _init_overload(self, reconcile_interval: float, offer_failures_max: int, offer_backoff: float) -> None:
        self.reconcile_interval = reconcile_interval
        self.offer_failures_max = max(1, offer_failures_max)
        self.offer_backoff = offer_backoff
        self._failed_offers: dict[str, int] = {}  # call id -> failed offers in a row
        self._holdoff: dict[str, float] = {}  # call id or agent:<id> -> not offered before (clock)
        self._originating: set[str] = set()  # legs whose originate has not been answered yet
        self._missing: set[str] = set()  # our channels that the last reconcile did not find
        self._strays: set[str] = set()  # channels of ours that no call owned at the last reconcile
        self._reconcile_task: asyncio.Task[None] | None = None
        self._overload_flush: asyncio.TimerHandle | None = None
        self.overload = ""  # what supervisors are told; "" when all is well
        self.repaired = 0  # things the reconcile found stuck and repaired (figures, tests)
        self.ari.breaker.on_change = self._breaker_changed  # type: ignore[attr-defined]

    # == routing under load ===========================================================================
    def _routable(self) -> tuple[list[Call], list[Any]]:
        """The calls and agents routing may pair now."""
        if self.ari.breaker.is_open:  # type: ignore[attr-defined]
            return [], []
        now = self.clock()  # type: ignore[attr-defined]
        expired = [k for k, until in self._holdoff.items() if until <= now]
        for k in expired:
            del self._holdoff[k]
        if expired:
            self._update_overload()
        if self._holdoff:
            # Route again when the first holdoff ends (nothing else may come along to trigger it).
            self._arm("holdoff", "", min(self._holdoff.values()) - now, self.route)  # type: ignore[attr-defined]
        calls = [c for c in self.calls.values() if c.id not in self._holdoff]
        agents = [a for a in self.agents.values() if AGENT_KEY + a.id not in self._holdoff]
        return calls, agents

    def _offer_failed(self, call: Call, agent: Any, why: str) -> None:
        """An offer came to nothing: bound the re-offers of this call, rest a failing device."""
        now = self.clock()  # type: ignore[attr-defined]
        n = self._failed_offers.get(call.id, 0) + 1
        self._failed_offers[call.id] = n
        if n % self.offer_failures_max == 0:
            self._holdoff[call.id] = now + self.offer_backoff
            log.warning("call %s: %d offers failed in a row; not offered for %.0f s", call.id, n, self.offer_backoff)
        if agent is not None and why in DEVICE_FAILURES:
            self._holdoff[AGENT_KEY + agent.id] = now + self.offer_backoff
        self._update_overload()

    def _offer_settled(self, call_id: str) -> None:
        """The call was answered or ended: its failure count and holdoff go."""
        self._failed_offers.pop(call_id, None)
        if self._holdoff.pop(call_id, None) is not None:
            self._update_overload()

    def _breaker_changed(self, is_open: bool) -> None:
        if is_open:
            log.warning("ARI is failing (timeouts or errors in a row): no new offers until Asterisk recovers")
        else:
            log.warning("ARI answers again: offering calls again")
        self._update_overload()
        if not is_open:
            self.route()  # type: ignore[attr-defined]

    # == telling supervisors ==========================================================================
    def overload_text(self) -> str:
        parts = []
        if self.ari.breaker.is_open:  # type: ignore[attr-defined]
            parts.append("The phone system is not keeping up: waiting calls stay in the queue until it recovers")
        held = sum(1 for k in self._holdoff if not k.startswith(AGENT_KEY))
        if held:
            parts.append(f"{held} call{'s' if held > 1 else ''} could not be put through to an agent "
                         "and wait a moment before the next try")
        devices = len(self._holdoff) - held
        if devices:
            parts.append(f"{devices} agent phone{'s' if devices > 1 else ''} failed to ring "
                         "and get no calls for a moment")
        return "; ".join(parts)

    def _update_overload(self) -> None:
        """Publish the overload sentence when it changes, at most a few times a second: under load
        the counts move with every offer and each push costs every console a frame."""
        if self._overload_flush is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._flush_overload()
            return
        self._overload_flush = loop.call_later(0.25, self._flush_overload)

    def _flush_overload(self) -> None:
        self._overload_flush = None
        text = self.overload_text()
        if text == self.overload:
            return
        was = bool(self.overload)
        self.overload = text
        if was != bool(text):
            self.store.record("server.overload", ts=self.clock(), data={"on": bool(text), "text": text})  # type: ignore[attr-defined]
        self.publish(Event.SERVER_STATUS, {"overload": text}, None)  # type: ignore[attr-defined]

    # == reconcile with Asterisk ======================================================================
    def _start_reconcile(self) -> None:
        if self.reconcile_interval > 0 and (self._reconcile_task is None or self._reconcile_task.done()):
            self._reconcile_task = asyncio.get_running_loop().create_task(self._reconcile_loop(), name="reconcile")

    def _stop_reconcile(self) -> None:
        if self._reconcile_task is not None:
            self._reconcile_task.cancel()
            self._reconcile_task = None
        if self._overload_flush is not None:
            self._overload_flush.cancel()
            self._overload_flush = None

    async def _reconcile_loop(self) -> None:
        while True:
            await asyncio.sleep(self.reconcile_interval)
            try:
                await self.reconcile()
            except AriError as exc:  # counted by the breaker; the next round tries again
                log.warning("reconcile: %s", exc)
            except Exception:
                log.exception("reconcile failed")

    async def reconcile(self) -> int:
        """Repair what lost events left stuck; returns how many things were repaired. A channel
        counts as gone only when two rounds in a row missed it (its ChannelDestroyed may be on the
        way), and never while its originate is still waiting for Asterisk's answer."""
        repaired = self._reconcile_agents()
        raw = await self.ari.request("GET", "/channels")  # type: ignore[attr-defined]
        present = {c["id"] for c in raw}
        now = self.clock()  # type: ignore[attr-defined]
        missing: set[str] = set()

        def gone(ch: str | None) -> bool:
            if not ch or ch in present or ch in self._originating:
                return False
            missing.add(ch)
            return ch in self._missing

        for call in list(self.calls.values()):
            if call.state is CallState.ENDED or call.direction != "inbound" or call.consult:
                continue
            if gone(call.channel):
                log.warning("reconcile: call %s lost its caller; ending it", call.id)
                self._end(call, by="caller")  # type: ignore[attr-defined]
                repaired += 1
            elif call.state is CallState.RINGING and call.agent_channel and gone(call.agent_channel):
                log.warning("reconcile: call %s rings a leg that is gone", call.id)
                if call.agent:
                    self._ring_no_answer(call, "no answer")  # type: ignore[attr-defined]
                else:
                    self._end(call, by="system", outcome="overflow_failed")  # type: ignore[attr-defined]
                repaired += 1
            elif call.state is CallState.RINGING and call.agent and \
                    now - call.ring_start > self._ring_timeout_for(call) + 2 * self.reconcile_interval:  # type: ignore[attr-defined]
                log.warning("reconcile: call %s rang past its ring timeout", call.id)
                self._ring_no_answer(call, "no answer")  # type: ignore[attr-defined]
                repaired += 1
            elif call.state is CallState.CONNECTED and gone(call.agent_channel):
                log.warning("reconcile: call %s lost its agent leg; ending it", call.id)
                self._end(call, by="agent")  # type: ignore[attr-defined]
                repaired += 1
        self._missing = missing
        # Our channels that no call or monitor owns (an originate answered after we gave up on it).
        strays = {ch for ch in present if ch.startswith(BRIDGE_PREFIX) and ch not in self._originating
                  and not self._ours_live(ch)}  # type: ignore[attr-defined]
        for ch in strays & self._strays:
            log.warning("reconcile: hanging up %s, a channel of ours that no call owns", ch)
            self._spawn(self.ari.hangup(ch), f"drop stray {ch}")  # type: ignore[attr-defined]
            repaired += 1
        self._strays = strays
        repaired += self._reconcile_agents()
        self.repaired += repaired
        if repaired:
            self.store.record("server.reconciled", ts=now, data={"repaired": repaired})  # type: ignore[attr-defined]
        return repaired

    def _reconcile_agents(self) -> int:
        """An agent ringing or on a call that is not (or no longer) theirs is made ready."""
        n = 0
        for agent in self.agents.values():
            if agent.state not in (AgentState.RINGING, AgentState.ON_CALL):
                continue
            call = self.calls.get(agent.call_id or "")
            mine = call is not None and call.state is not CallState.ENDED and (
                call.agent == agent.id or (call.consult or {}).get("agent") == agent.id)
            if not mine:
                log.warning("reconcile: agent %s was %s without a call of theirs; now ready", agent.id, agent.state)
                agent.call_id = None
                self._set_agent(agent, AgentState.READY, repaired=True)  # type: ignore[attr-defined]
                n += 1
        if n:
            self.route()  # type: ignore[attr-defined]
        return n
