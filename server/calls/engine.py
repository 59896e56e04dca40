"""Call and agent state, driven by ARI events and console commands.

State changes are synchronous and recorded in the store as they happen; ARI side effects run in
per-call tasks so one slow HTTP round trip never holds up the event stream. After a reconnect to
ARI (or a restart of this server, which reloads the projections first) `resync` reconciles what
we believe with what Asterisk has, so a call in progress survives either.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from cc_console.config import QueueSettings
from cc_console.models import Agent, AgentState, AnswerMode, Call, CallState
from cc_console.protocol import ErrorCode, Event, ProtocolError
from cc_console.server.acd import decide
from cc_console.server.ari import AriClient, AriError, AriEvent, Channel
from cc_console.server.store import Store

log = logging.getLogger(__name__)

# Publish(event, data, audience): audience is the agent id concerned, or None for everyone.
Publisher = Callable[[str, dict[str, Any], str | None], None]

INBOUND = "inbound"
AGENT_LEG = "agentleg"
BRIDGE_PREFIX = "cc-"


@dataclass
class QueueCounters:
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0


class CallEngine:
    def __init__(self, ari: AriClient, store: Store, queues: list[QueueSettings], *,
                 ring_timeout: float = 15.0, inbound_context: str = "cc-inbound",
                 clock: Callable[[], float] = time.time) -> None:
        self.ari = ari
        self.store = store
        self.queues = {q.name: q for q in queues}
        self.did_to_queue = {did: q.name for q in queues for did in q.dids}
        self.ring_timeout = ring_timeout
        self.inbound_context = inbound_context
        self.clock = clock
        self.publish: Publisher = lambda event, data, audience: None
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, Call] = {}  # active calls only
        self.by_channel: dict[str, str] = {}  # caller or agent-leg channel id -> call id
        self.counters: dict[str, QueueCounters] = {name: QueueCounters() for name in self.queues}
        self._ring_timers: dict[str, asyncio.TimerHandle] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._chains: dict[str, asyncio.Task[Any]] = {}
        self.ari_up = False
        ari.on_event = self.on_event
        ari.on_connect = self.resync
        ari.on_disconnect = self._on_ari_down

    # -- start-up -------------------------------------------------------------------------------
    def load(self, users: list[dict[str, Any]]) -> None:
        """Rebuild in-memory state from the store's projections (after a restart of this server)."""
        saved = {a["id"]: a for a in self.store.agents()}
        for u in users:
            if u["role"] == "wallboard":
                continue
            a = saved.get(u["username"])
            agent = Agent(id=u["username"], name=u["name"], device=u["device"],
                          answer_mode=AnswerMode(u.get("answer_mode") or "console"),
                          queues=list(u.get("queues") or []))
            if a:
                agent.state = AgentState(a["state"])
                agent.reason = a.get("reason", "")
                agent.state_since = a.get("state_since", 0.0)
                agent.call_id = a.get("call_id")
                agent.last_call_end = a.get("last_call_end", 0.0)
                agent.queues = a.get("queues") or agent.queues
            self.agents[agent.id] = agent
        for d in self.store.active_calls():
            call = Call(**{**d, "state": CallState(d["state"])})
            self.calls[call.id] = call
            self.by_channel[call.channel] = call.id
            if call.agent_channel:
                self.by_channel[call.agent_channel] = call.id
        midnight = time.mktime(time.localtime(self.clock())[:3] + (0, 0, 0, 0, 0, -1))
        for ev in self.store.events(kinds=("call.queued", "call.connected", "call.abandoned")):
            if ev.ts < midnight or ev.queue not in self.counters:
                continue
            self._count(ev.kind, ev.queue, ev.data.get("wait", 0.0))

    def _count(self, kind: str, queue: str, wait: float = 0.0) -> None:
        c = self.counters.setdefault(queue, QueueCounters())
        if kind == "call.queued":
            c.offered += 1
        elif kind == "call.connected":
            c.answered += 1
            sl = self.queues[queue].service_level if queue in self.queues else 20.0
            if wait <= sl:
                c.answered_in_sl += 1
        elif kind == "call.abandoned":
            c.abandoned += 1

    # -- recording and publishing -------------------------------------------------------------------
    def _record_call(self, kind: str, call: Call, **data: Any) -> None:
        self.store.record(kind, ts=self.clock(), call=call.to_dict(), data=data or None,
                          agent_id=call.agent)
        if kind in ("call.queued", "call.connected", "call.abandoned"):
            self._count(kind, call.queue, data.get("wait", 0.0))
        ev = Event.CALL_ENDED if call.state is CallState.ENDED else Event.CALL_UPDATE
        self.publish(ev, call.to_dict(), call.agent)
        self._publish_queue(call.queue)

    def _set_agent(self, agent: Agent, state: AgentState, reason: str = "", **data: Any) -> None:
        if agent.state is state and agent.reason == reason and not data:
            return
        prev = agent.state
        agent.state = state
        agent.reason = reason
        agent.state_since = self.clock()
        self.store.record("agent.state", ts=agent.state_since, agent=agent.to_dict(),
                          data={"from": str(prev), **data})
        self.publish(Event.AGENT_STATE, agent.to_dict(), agent.id)
        for q in agent.queues:
            self._publish_queue(q)

    def queue_stats(self, name: str) -> dict[str, Any]:
        now = self.clock()
        waiting = [c for c in self.calls.values() if c.queue == name and c.state is CallState.QUEUED]
        members = [a for a in self.agents.values() if name in a.queues and a.state is not AgentState.LOGGED_OUT]
        c = self.counters.get(name, QueueCounters())
        q = self.queues.get(name)
        return {
            "name": name, "tenant": q.tenant if q else "",
            "waiting": len(waiting),
            "oldest_enqueued": min((w.enqueued for w in waiting), default=None),
            "longest_wait": max((now - w.enqueued for w in waiting), default=0.0),
            "agents_logged_in": len(members),
            "agents_ready": sum(a.state is AgentState.READY for a in members),
            "agents_busy": sum(a.state in (AgentState.RINGING, AgentState.ON_CALL) for a in members),
            "agents_paused": sum(a.state is AgentState.PAUSED for a in members),
            "offered": c.offered, "answered": c.answered, "abandoned": c.abandoned,
            "service_level": (c.answered_in_sl / c.answered) if c.answered else None,
        }

    def _publish_queue(self, name: str) -> None:
        self.publish(Event.QUEUE_STATS, self.queue_stats(name), None)

    def snapshot(self) -> dict[str, Any]:
        return {
            "agents": [a.to_dict() for a in self.agents.values()],
            "calls": [c.to_dict() for c in self.calls.values()],
            "queues": [self.queue_stats(q) for q in self.queues],
            "server": {"ari": "up" if self.ari_up else "down", "time": self.clock()},
        }

    # -- tasks ---------------------------------------------------------------------------------
    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str, key: str | None = None) -> None:
        """Run an ARI side effect. Effects with the same key (a call id) run in order, one at a time:
        the bridge must exist before the agent's leg is added to it."""
        prev = self._chains.get(key) if key else None

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
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        if key:
            self._chains[key] = task
            task.add_done_callback(lambda t: self._chains.pop(key, None) if self._chains.get(key) is t else None)

    async def idle(self) -> None:
        """Wait until no side-effect task is running (tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- ARI events -----------------------------------------------------------------------------
    async def on_event(self, ev: AriEvent) -> None:
        if ev.type == "StasisStart" and ev.channel:
            if ev.args and ev.args[0] == INBOUND:
                self._new_inbound(ev.channel, ev.args[1] if len(ev.args) > 1 else ev.channel.exten)
            elif ev.args and ev.args[0] == AGENT_LEG:
                self._agent_leg_up(ev.channel.id, ev.args[1] if len(ev.args) > 1 else "")
        elif ev.type in ("ChannelDestroyed", "StasisEnd") and ev.channel:
            self._channel_gone(ev.channel.id, ev.cause)

    def _new_inbound(self, ch: Channel, did: str) -> None:
        if ch.id in self.by_channel:
            return  # seen already (a resync found it before its StasisStart reached us)
        now = self.clock()
        queue = self.did_to_queue.get(did)
        call = Call(id=uuid.uuid4().hex[:16], caller=ch.caller_number, did=did, queue=queue or "",
                    channel=ch.id, bridge="", created=now, enqueued=now)
        call.bridge = BRIDGE_PREFIX + call.id
        if queue is None:
            call.state = CallState.ENDED
            call.ended = now
            call.end_reason = "unknown_did"
            self.store.record("call.rejected", ts=now, call=call.to_dict(), data={"did": did})
            self.publish(Event.CALL_ENDED, call.to_dict(), None)
            self._spawn(self.ari.hangup(ch.id, "unallocated"), f"reject {ch.id}")
            return
        self.calls[call.id] = call
        self.by_channel[ch.id] = call.id
        self._record_call("call.queued", call, stage="queue")
        self._spawn(self._hold(call), f"hold {call.id}", call.id)
        self.route()

    async def _hold(self, call: Call) -> None:
        await self.ari.answer(call.channel)
        await self.ari.create_bridge(call.bridge)
        await self.ari.add_channel(call.bridge, call.channel)
        if call.state is CallState.QUEUED or (call.state is CallState.RINGING and not call.answered):
            await self.ari.start_moh(call.bridge)

    # -- routing ---------------------------------------------------------------------------------
    def route(self) -> None:
        for call_id, agent_id in decide(self.calls.values(), self.agents.values()):
            self._offer(self.calls[call_id], self.agents[agent_id])

    def _offer(self, call: Call, agent: Agent) -> None:
        call.state = CallState.RINGING
        call.agent = agent.id
        call.offers += 1
        call.agent_channel = None
        agent.call_id = call.id
        self._set_agent(agent, AgentState.RINGING, call=call.id)
        self._record_call("call.offered", call, agent=agent.id)
        self._arm_ring_timer(call)
        if agent.answer_mode is AnswerMode.PHONE:
            self._dial_agent(call, agent)

    def _arm_ring_timer(self, call: Call) -> None:
        self._cancel_ring_timer(call.id)
        loop = asyncio.get_running_loop()
        offer = call.offers
        self._ring_timers[call.id] = loop.call_later(self.ring_timeout, self._ring_timeout, call.id, offer)

    def _cancel_ring_timer(self, call_id: str) -> None:
        t = self._ring_timers.pop(call_id, None)
        if t:
            t.cancel()

    def _ring_timeout(self, call_id: str, offer: int) -> None:
        call = self.calls.get(call_id)
        if call and call.state is CallState.RINGING and call.offers == offer:
            self._ring_no_answer(call, "no answer")

    def _ring_no_answer(self, call: Call, why: str) -> None:
        """The offered agent did not answer: the call goes back to the queue, the agent not ready."""
        agent = self.agents.get(call.agent or "")
        leg = call.agent_channel
        if leg:
            self.by_channel.pop(leg, None)
            self._spawn(self.ari.hangup(leg), f"cancel leg {leg}", call.id)
        self._cancel_ring_timer(call.id)
        call.state = CallState.QUEUED
        call.agent = None
        call.agent_channel = None
        self._record_call("call.ringnoanswer", call, agent=agent.id if agent else None, why=why)
        if agent:
            agent.call_id = None
            self._set_agent(agent, AgentState.PAUSED, "no answer" if why == "no answer" else why)
        self.route()

    def _dial_agent(self, call: Call, agent: Agent) -> None:
        leg = f"{BRIDGE_PREFIX}{call.id}-{call.offers}"
        call.agent_channel = leg
        # Recorded before the originate: its StasisStart may beat the HTTP reply.
        self.by_channel[leg] = call.id
        self._record_call("call.dialing", call, agent=agent.id, leg=leg)
        variables = {"CALLERID(name)": f"{call.queue}: {call.caller}"}
        if agent.answer_mode is AnswerMode.CONSOLE:
            # The agent already said yes on the console: ask the phone to pick up by itself.
            variables["PJSIP_HEADER(add,Call-Info)"] = "<sip:127.0.0.1>;answer-after=0"
            variables["PJSIP_HEADER(add,Alert-Info)"] = "<http://127.0.0.1>;info=alert-autoanswer"
        timeout = max(1, int(round(self.ring_timeout)))

        async def go() -> None:
            try:
                await self.ari.originate(agent.device, leg, app_args=f"{AGENT_LEG},{call.id}",
                                         caller_id=f'"{call.queue}" <{call.caller}>', timeout=timeout,
                                         variables=variables)
            except AriError:
                if call.state is CallState.RINGING and call.agent_channel == leg:
                    self._ring_no_answer(call, "device unreachable")
                raise
        self._spawn(go(), f"dial {agent.device} for {call.id}", call.id)

    def _agent_leg_up(self, leg: str, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.agent_channel != leg:
            # Too late (caller gone, or moved on after a no-answer): drop the orphan leg.
            self._spawn(self.ari.hangup(leg), f"drop orphan leg {leg}")
            return
        self._connect(call)

    def _connect(self, call: Call) -> None:
        now = self.clock()
        self._cancel_ring_timer(call.id)
        call.state = CallState.CONNECTED
        call.answered = now
        agent = self.agents[call.agent or ""]
        self._set_agent(agent, AgentState.ON_CALL, call=call.id)
        self._record_call("call.connected", call, agent=agent.id, wait=now - call.enqueued)
        leg = call.agent_channel or ""

        async def bridge() -> None:
            await self.ari.stop_moh(call.bridge)
            await self.ari.add_channel(call.bridge, leg)
        self._spawn(bridge(), f"bridge {call.id}", call.id)

    def _channel_gone(self, channel_id: str, cause: int | None) -> None:
        call_id = self.by_channel.get(channel_id)
        call = self.calls.get(call_id or "")
        if call is None:
            return
        if channel_id == call.channel:
            self._end(call, by="caller", cause=cause)
        elif channel_id == call.agent_channel:
            if call.state is CallState.RINGING:
                self._ring_no_answer(call, "no answer" if cause in (None, 19, 21, 17, 18) else f"cause {cause}")
            elif call.state is CallState.CONNECTED:
                self._end(call, by="agent", cause=cause)

    def _end(self, call: Call, *, by: str, cause: int | None = None) -> None:
        if call.state is CallState.ENDED:
            return
        now = self.clock()
        prev = call.state
        self._cancel_ring_timer(call.id)
        call.state = CallState.ENDED
        call.ended = now
        call.end_reason = f"{by}_hangup"
        kind = "call.completed" if prev is CallState.CONNECTED else "call.abandoned"
        stage = {CallState.QUEUED: "queue", CallState.RINGING: "ringing"}.get(prev, "")
        data: dict[str, Any] = {"by": by, "cause": cause}
        if kind == "call.abandoned":
            data.update(stage=stage, wait=now - call.enqueued)
        else:
            data.update(talk=now - (call.answered or now))
        self.calls.pop(call.id, None)
        self.by_channel.pop(call.channel, None)
        if call.agent_channel:
            self.by_channel.pop(call.agent_channel, None)
        self._record_call(kind, call, **data)
        agent = self.agents.get(call.agent or "")
        if agent and agent.call_id == call.id:
            agent.call_id = None
            agent.last_call_end = now
            if agent.state in (AgentState.ON_CALL, AgentState.RINGING):
                self._set_agent(agent, AgentState.READY)
        self._spawn(self._teardown(call), f"teardown {call.id}", call.id)
        self.route()

    async def _teardown(self, call: Call) -> None:
        for ch in (call.channel, call.agent_channel):
            if ch:
                await self.ari.hangup(ch)
        await self.ari.destroy_bridge(call.bridge)

    # -- resync after (re)connect ----------------------------------------------------------------
    async def _on_ari_down(self) -> None:
        self.ari_up = False
        self.publish(Event.SERVER_STATUS, {"ari": "down"}, None)

    async def resync(self) -> None:
        """Reconcile our state with Asterisk's after every (re)connect of the ARI websocket."""
        channels = {c.id: c for c in await self.ari.channels()}
        raw = await self.ari.request("GET", "/channels")
        stasis_args = {c["id"]: (c.get("dialplan") or {}).get("app_data", "") for c in raw}
        bridges = {b.id: b for b in await self.ari.bridges()}
        for call in list(self.calls.values()):
            if call.channel not in channels:
                self._end(call, by="caller", cause=None)
                continue
            leg = call.agent_channel
            bridge = bridges.get(call.bridge)
            if call.state is CallState.CONNECTED and (not leg or leg not in channels):
                self._end(call, by="agent")
            elif call.state is CallState.RINGING and leg:
                if leg not in channels:
                    self._ring_no_answer(call, "no answer")
                elif (bridge and leg in bridge.channels) or channels[leg].state == "Up":
                    self._connect(call)  # answered while we were away
            elif call.state is CallState.RINGING:
                self._arm_ring_timer(call)
            if call.state is not CallState.ENDED and (bridge is None or call.channel not in bridge.channels):
                self._spawn(self._hold(call), f"re-hold {call.id}", call.id)
        # Inbound channels that entered our app while we were not listening.
        for ch in channels.values():
            data = stasis_args.get(ch.id, "")
            parts = data.split(",")
            if ch.id not in self.by_channel and parts[0] == self.ari.app and len(parts) > 1 and parts[1] == INBOUND:
                self._new_inbound(ch, parts[2] if len(parts) > 2 else ch.exten)
            elif ch.id.startswith(BRIDGE_PREFIX) and ch.id not in self.by_channel:
                self._spawn(self.ari.hangup(ch.id), f"drop stale leg {ch.id}")
        live = {c.bridge for c in self.calls.values()}
        for b in bridges.values():
            if b.id.startswith(BRIDGE_PREFIX) and b.id not in live:
                self._spawn(self.ari.destroy_bridge(b.id), f"destroy stale bridge {b.id}")
        self.ari_up = True
        self.publish(Event.SERVER_STATUS, {"ari": "up"}, None)
        self.route()

    # -- console commands --------------------------------------------------------------------------
    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, f"no agent {agent_id!r}; this user has no agent profile")
        return agent

    def agent_login(self, agent_id: str, queues: list[str] | None = None) -> Agent:
        agent = self.agent(agent_id)
        if queues is not None:
            bad = [q for q in queues if not isinstance(q, str) or q not in self.queues]
            if bad:
                raise ProtocolError(ErrorCode.NOT_FOUND, f"unknown queue(s): {bad}")
            agent.queues = list(queues)
        if not agent.queues:
            agent.queues = list(self.queues)
        if not agent.device:
            raise ProtocolError(ErrorCode.CONFLICT, "this agent has no device configured")
        if agent.state is AgentState.LOGGED_OUT:
            self._set_agent(agent, AgentState.READY, queues=agent.queues)
            self.route()
        return agent

    def agent_logout(self, agent_id: str) -> Agent:
        agent = self.agent(agent_id)
        if agent.call_id:
            raise ProtocolError(ErrorCode.CONFLICT, "finish the current call before logging out")
        self._set_agent(agent, AgentState.LOGGED_OUT)
        return agent

    def agent_ready(self, agent_id: str) -> Agent:
        agent = self.agent(agent_id)
        if agent.state is AgentState.LOGGED_OUT:
            return self.agent_login(agent_id)
        if agent.state is AgentState.PAUSED:
            self._set_agent(agent, AgentState.READY)
            self.route()
        elif agent.state is not AgentState.READY:
            raise ProtocolError(ErrorCode.CONFLICT, f"agent is {agent.state}; cannot become ready now")
        return agent

    def agent_pause(self, agent_id: str, reason: str = "") -> Agent:
        agent = self.agent(agent_id)
        if agent.state not in (AgentState.READY, AgentState.PAUSED):
            raise ProtocolError(ErrorCode.CONFLICT, f"agent is {agent.state}; pause when ready")
        self._set_agent(agent, AgentState.PAUSED, reason or "break")
        return agent

    def _my_call(self, agent_id: str, call_id: str | None) -> Call:
        agent = self.agent(agent_id)
        cid = call_id or agent.call_id
        call = self.calls.get(cid or "")
        if call is None:
            if call_id:
                raise ProtocolError(ErrorCode.NOT_FOUND, f"no active call {call_id!r}")
            raise ProtocolError(ErrorCode.CONFLICT, "no call for this agent right now")
        if call.agent != agent_id:
            raise ProtocolError(ErrorCode.FORBIDDEN, "that call is not yours")
        return call

    def answer(self, agent_id: str, call_id: str | None = None) -> Call:
        call = self._my_call(agent_id, call_id)
        if call.state is not CallState.RINGING:
            raise ProtocolError(ErrorCode.CONFLICT, f"the call is {call.state}, not ringing")
        agent = self.agents[agent_id]
        if agent.answer_mode is AnswerMode.PHONE:
            raise ProtocolError(ErrorCode.CONFLICT, "this agent answers on the phone itself")
        if call.agent_channel:
            raise ProtocolError(ErrorCode.CONFLICT, "already answering")
        self._dial_agent(call, agent)
        return call

    def hangup(self, agent_id: str, call_id: str | None = None) -> Call:
        call = self._my_call(agent_id, call_id)
        if call.state is CallState.RINGING:
            # Declining an offer: back to the queue for someone else; this agent pauses.
            self._ring_no_answer(call, "declined")
        else:
            self._end(call, by="agent")
        return call

    def set_agent_state(self, agent_id: str, state: str, reason: str = "") -> Agent:
        try:
            target = AgentState(state)
        except ValueError:
            raise ProtocolError(ErrorCode.BAD_REQUEST, f"state must be ready, paused or logged_out, not {state!r}") from None
        if target is AgentState.READY:
            return self.agent_ready(agent_id)
        if target is AgentState.PAUSED:
            return self.agent_pause(agent_id, reason)
        if target is AgentState.LOGGED_OUT:
            return self.agent_logout(agent_id)
        raise ProtocolError(ErrorCode.BAD_REQUEST, f"cannot set an agent to {state!r}")
