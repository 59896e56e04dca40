"""Call control on a connected call: hold, mute, DTMF, blind transfer, outbound calls, and the
attended transfer as a state machine kept on the call (consult, swap, complete, cancel,
conference; server/calls/states.py has its states and transitions), so that it survives a restart of
our server.

A mixin of CallEngine (server/calls/engine.py): it works on the engine's state and uses its
recording (`_record_call`), side-effect (`_spawn`) and hook (`_hook`) machinery.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cc_console.errors import Conflict, Invalid, NotFound
from cc_console.models import AgentState, AnswerMode, Call, CallState
from cc_console.server.acd.queue_log import clock_seconds
from cc_console.server.ari import AriError

from .effects import QueueLogWrite
from .names import BRIDGE_PREFIX, CONSULT, OUT_AGENT, OUT_REMOTE
from .states import (
    ConsultEvent,
    ConsultRefused,
    ConsultState,
    blind_transfer_effects,
    conference_effects,
    consult_complete_effects,
    consult_next,
    consult_over_effects,
    consult_swap_effects,
    enqueue_effects,
    hold_effects,
    transferred_effects,
)

# Callees dialled ahead (predictive) wait before every caller of their queue: a person is on the line
# and has at most the connect limit (2 s) to get an agent.
log = logging.getLogger(__name__)

AHEAD_PRIORITY = 1_000_000
AHEAD_RING_SECONDS = 45  # Asterisk rings a callee dialled ahead this long



@dataclass
class Ahead:
    """How a call dialled ahead goes on once the callee answers (CallControl.dial_ahead)."""

    patience: float  # seconds an answered callee waits for an agent
    abandon_media: list[str] = field(default_factory=list)
    amd: bool = False  # the dial string runs AMD(); its result is SHARED(CC_AMD) on our channel
    machine_media: list[str] = field(default_factory=list)  # left on a machine; none: hang up
    announcement: list[str] = field(default_factory=list)  # heard by the callee before an agent is offered


if TYPE_CHECKING:
    # CallEngine mixes this in and subclasses it, a cycle mypy cannot resolve as a base class: the
    # engine's attributes are unchecked (Any) here.
    _Base: Any = object
else:
    _Base = object


class CallControl(_Base):
    # A callee dialled ahead with no news this long after the originate: ask Asterisk (the ring
    # time plus a margin for a busy Asterisk; tests shorten it)
    ahead_no_news: float = AHEAD_RING_SECONDS + 15.0

    def hold(self, agent_id: str, on: bool, call_id: str | None = None) -> Call:
        """Hold: the agent's leg leaves the call's bridge and the caller, alone in it, hears music
        on hold; unhold puts it back. Hold time is recorded for the handle-time figures."""
        call = self._my_call(agent_id, call_id)
        if call.state is not CallState.CONNECTED or not call.agent_channel:
            raise Conflict(f"the call is {call.state}; hold a connected call")
        if on == call.held:
            return call
        leg = call.agent_channel
        call.held = on
        now = self.clock()
        held_for = 0.0
        if on:
            call.hold_start = now
        else:
            held_for = now - call.hold_start
            call.hold_total += held_for
        self._apply(call, hold_effects(call.bridge, leg, on, self.moh_class, now, held_for),
                    f"{'hold' if on else 'unhold'} {call.id}")
        return call

    def mute(self, agent_id: str, on: bool, call_id: str | None = None) -> Call:
        """Mute the agent's microphone towards the call (the agent still hears the caller)."""
        call = self._my_call(agent_id, call_id)
        if call.state is not CallState.CONNECTED or not call.agent_channel:
            raise Conflict(f"the call is {call.state}; mute a connected call")
        call.muted = on
        self._record_call("call.mute" if on else "call.unmute", call)
        self._spawn(self.ari.request("POST" if on else "DELETE", f"/channels/{call.agent_channel}/mute",
                                     params={"direction": "in"}), f"mute {call.id}", call.id)
        return call

    def send_dtmf(self, agent_id: str, digits: str, call_id: str | None = None) -> Call:
        call = self._my_call(agent_id, call_id)
        if call.state is not CallState.CONNECTED:
            raise Conflict("send DTMF on a connected call")
        if not digits or any(d not in "0123456789*#ABCDabcd" for d in digits) or len(digits) > 40:
            raise Invalid("DTMF digits are 0-9, *, #, A-D (at most 40)")
        # Played into the caller's channel: the far end (an IVR behind an external number) hears it.
        self._spawn(self.ari.request("POST", f"/channels/{call.channel}/dtmf", params={"dtmf": digits}),
                    f"dtmf {call.id}", call.id)
        return call

    def transfer(self, agent_id: str, target: str, call_id: str | None = None, mode: str = "blind") -> Call:
        """Blind transfer of my connected call to `queue:NAME`, `agent:ID`, or a number/dial string.

        The caller stays in the call's bridge (music on hold while the target rings); this agent's
        leg is hung up and the agent goes to wrap-up. queue_log gets BLINDTRANSFER, as app_queue
        writes it when an agent blind-transfers a queue call."""
        if mode in ("announced", "attended"):
            # Announced: consult the target first; the agent completes (or cancels) the transfer.
            return self.consult(agent_id, target, call_id)
        call = self._my_call(agent_id, call_id)
        if mode != "blind":
            raise Invalid(f"mode is blind or announced, not {mode!r}")
        if call.state is not CallState.CONNECTED:
            raise Conflict(f"the call is {call.state}; transfer a connected call")
        kind, _, name = target.partition(":")
        dialstring = ""
        if kind == "queue":
            if name not in self.cfg.queues:
                raise NotFound(f"no queue {name!r}")
        elif kind == "agent":
            other = self.agent(name)
            if other.id == agent_id:
                raise Invalid("cannot transfer a call to yourself")
            if other.state is AgentState.LOGGED_OUT or not other.device:
                raise Conflict(f"{other.id} is logged out")
        else:
            dialstring = self._dialstring(target)
        agent = self.agents[agent_id]
        now = self.clock()
        hold = clock_seconds(call.enqueued, call.answered or now)
        talk = now - (call.answered or now)
        line = QueueLogWrite("blindtransfer", (now, call.channel, call.queue, agent.id, target, "cc-console", hold,
                                              clock_seconds(call.answered or now, now), call.position))
        call.qlog_closed = True
        old_leg = call.agent_channel
        self.monitors.call_ended(call.id)  # the snoop sat on the leg that leaves
        if old_leg:
            self.by_channel.pop(old_leg, None)
        call.agent = None
        call.agent_channel = None
        held = call.hold_total + (now - call.hold_start if call.held else 0.0)
        # The ARI requests each on its own: a transferring leg already gone must not keep the
        # caller's music back.
        self._apply(call, transferred_effects(line, now, agent.id, target, mode, talk, held)
                    + blind_transfer_effects(call.bridge, old_leg, kind not in ("queue", "agent"), self.moh_class),
                    f"transfer {call.id}", each=True)
        self.hooks.call_leg_ended(call, agent.id)
        agent.call_id = None
        agent.last_call_end = now
        self._start_wrapup(agent, call)
        if kind == "queue":
            call.queue = name
            call.skills = list(self.cfg.queues[name].skills)
            call.target_agent = None
            self._call_to(call, CallState.ENTERING)
            self._enqueue(call)
        elif kind == "agent":
            call.target_agent = name
            self._call_to(call, CallState.ENTERING)
            self._enqueue(call)
        else:
            self._dial_number(call, dialstring)  # the caller hears music on hold (above) while it rings
        return call

    # -- outbound ---------------------------------------------------------------------------------------
    def dial_out(self, agent_id: str, number: str, *, caller_id: str = "", record: bool = True,
                 queue: str = "") -> Call:
        """An outbound call from the console: the agent's device is called first (auto-answer in
        console mode), then the number, with the chosen caller id (a queue's number or the
        department's); both in the call's bridge. Not reached: the call ends as `not_reached`."""
        agent = self.agent(agent_id)
        if agent.call_id:
            raise Conflict("finish the current call first")
        if agent.state not in (AgentState.READY, AgentState.PAUSED, AgentState.WRAP_UP, AgentState.LOGGED_OUT):
            raise Conflict(f"agent is {agent.state}")
        if not agent.device:
            raise Conflict("this agent has no device configured")
        if queue and queue not in self.cfg.queues:
            raise NotFound(f"no queue {queue!r}")
        if caller_id and not caller_id.lstrip("+").isdigit():
            raise Invalid("caller_id must be a number")
        dialstring = self._dialstring(number)
        now = self.clock()
        call = Call(id=uuid.uuid4().hex[:16], caller=number, did="", queue=queue, channel="", bridge="",
                    created=now, enqueued=now, state=CallState.RINGING, stage="dialing", agent=agent.id,
                    direction="outbound", caller_id=caller_id, record=record)
        call.bridge = BRIDGE_PREFIX + call.id
        call.agent_channel = f"{BRIDGE_PREFIX}{call.id}-a"
        call.channel = f"{BRIDGE_PREFIX}{call.id}-o"
        call.ring_start = now
        self.calls[call.id] = call
        self.by_channel[call.agent_channel] = call.id
        self.by_channel[call.channel] = call.id
        agent.call_id = call.id
        self._disarm("wrapup", agent.id)
        self._set_agent(agent, AgentState.ON_CALL, call=call.id, outbound=True)
        self._record_call("call.outbound", call, agent=agent.id, number=number, caller_id=caller_id)
        variables = {"CALLERID(name)": f"out: {number}"}
        if agent.answer_mode is AnswerMode.CONSOLE:
            variables["PJSIP_HEADER(add,Call-Info)"] = "<sip:127.0.0.1>;answer-after=0"
            variables["PJSIP_HEADER(add,Alert-Info)"] = "<http://127.0.0.1>;info=alert-autoanswer"
        call_ref = call

        async def go() -> None:
            await self.ari.create_bridge(call_ref.bridge)
            try:
                await self.originate_device(agent.id, agent.device, call_ref.agent_channel or "",
                                         app_args=f"{OUT_AGENT},{call_ref.id}",
                                         caller_id=f'"{number}" <{number}>', timeout=30, variables=variables)
            except AriError:
                self._end(call_ref, by="system", outcome="agent_unreachable")
                raise
        self._spawn(go(), f"outbound {call.id}", call.id)
        self._pending_dial[call.id] = dialstring
        return call

    def dial_ahead(self, number: str, *, queue: str, caller_id: str = "", record: bool = True,
                   patience: float = 2.0, abandon_media: list[str] | None = None, agent: str | None = None,
                   amd: bool = False, machine_media: list[str] | None = None,
                   announcement: list[str] | None = None) -> Call:
        """Predictive dialing: the number is called before any agent is. Answered, the callee waits in
        ``queue`` ahead of its callers and is offered to a free agent (whose device is called at once,
        as an auto-answer in console mode); no agent connected within ``patience`` seconds, the callee
        hears ``abandon_media`` and is hung up: the call ends with outcome ``abandoned``
        (queue_log EXITWITHTIMEOUT). Not answered: ended as ``not_reached`` with the call_not_reached
        hook, as ``dial_out``'s calls. ``agent``: only this agent may take it (a contact kept by one).
        ``amd``: the dial string runs Asterisk's AMD() on the answered callee (docs/outbound.md) and
        leaves its result in SHARED(CC_AMD) on our channel; a machine is left ``machine_media`` (or
        hung up at once) and the call ends with outcome ``machine``, its stage ``machine``.
        ``announcement``: played to a person who answered before an agent is offered the call."""
        if queue not in self.cfg.queues:
            raise NotFound(f"no queue {queue!r}")
        if caller_id and not caller_id.lstrip("+").isdigit():
            raise Invalid("caller_id must be a number")
        dialstring = self._dialstring(number)
        now = self.clock()
        call = Call(id=uuid.uuid4().hex[:16], caller=number, did="", queue=queue, channel="", bridge="",
                    created=now, enqueued=now, state=CallState.RINGING, stage="dialing",
                    direction="outbound", caller_id=caller_id, record=record, target_agent=agent)
        call.bridge = BRIDGE_PREFIX + call.id
        call.channel = f"{BRIDGE_PREFIX}{call.id}-o"
        call.ring_start = now
        self.calls[call.id] = call
        self.by_channel[call.channel] = call.id
        self._ahead[call.id] = Ahead(patience, list(abandon_media or []), amd, list(machine_media or []),
                                     list(announcement or []))
        self._record_call("call.outbound", call, number=number, caller_id=caller_id, ahead=True)

        async def go() -> None:
            try:
                await self.ari.originate(dialstring, call.channel, app_args=f"{OUT_REMOTE},{call.id}",
                                         caller_id=caller_id or "", timeout=AHEAD_RING_SECONDS)
            except AriError:
                self._end(call, by="system", outcome="not_reached")
                raise
            self._arm("dial", call.id, self.ahead_no_news, self._ahead_no_news, call.id)
        self._spawn(go(), f"dial ahead {call.id}", call.id)
        return call

    def _ahead_no_news(self, call_id: str) -> None:
        """Asterisk gives up ringing after AHEAD_RING_SECONDS; past that with neither an answer nor a
        hang-up heard, an event was lost (a campaign would wait on this contact for ever): ask
        Asterisk where the callee's channel is."""
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.RINGING or call.answered is not None:
            return

        async def check() -> None:
            channel = await self.ari.get_channel(call.channel)
            if call.state is not CallState.RINGING or call.answered is not None:
                return
            if channel is None:
                log.warning("dialled ahead %s: its channel went without a word from Asterisk", call.id)
                self._channel_gone(call.channel, None)
            elif channel.state == "Up":
                log.warning("dialled ahead %s: answered without a word from Asterisk", call.id)
                self._outbound_leg_up(call.channel, OUT_REMOTE, call.id)
            else:
                log.warning("dialled ahead %s: still %s after %.0f s; hung up", call.id, channel.state,
                            self.ahead_no_news)
                try:
                    await self.ari.hangup(call.channel)
                except AriError as exc:  # gone meanwhile: not reached all the same
                    log.info("hang up %s: %s", call.channel, exc)
                self._channel_gone(call.channel, None)
        self._spawn(check(), f"dial ahead {call.id}: no news", call.id)

    def _answered_ahead(self, call: Call) -> None:
        """A callee dialled ahead answered: a machine is dealt with; a person goes into the call's
        bridge and the queue, taken before the queue's callers, with the patience timer running."""
        ahead = self._ahead[call.id]
        if ahead.amd:
            async def detect() -> None:
                status = await self.ari.get_variable(call.channel, "SHARED(CC_AMD)")
                if call.state is CallState.RINGING:  # not hung up meanwhile
                    self._after_amd(call, status)
            self._spawn(detect(), f"amd result {call.id}", call.id)
            return
        self._after_amd(call, "")

    def _after_amd(self, call: Call, status: str) -> None:
        now = self.clock()
        ahead = self._ahead[call.id]
        call.answered = now  # the line's answer (connecting an agent sets it again for the talk time)
        self._record_call("call.outbound_answered", call, at=now, ring=now - call.ring_start, amd=status or None)

        async def park() -> None:
            await self.ari.create_bridge(call.bridge)
            await self.ari.add_channel(call.bridge, call.channel)
        self._spawn(park(), f"park {call.id}", call.id)
        if status == "MACHINE":
            self._call_to(call, CallState.ENTERING)
            call.stage = call.end_reason = "machine"
            if ahead.machine_media:
                self._play(call, ahead.machine_media, "then_hangup")
            else:
                self._end(call, by="system", outcome="machine")
            return
        if ahead.announcement:
            # heard before an agent is looked for: the connect limit runs from its end
            self._call_to(call, CallState.ENTERING)
            call.stage = "announcement"
            self._play(call, ahead.announcement, "ahead_announcement")
            return
        self.queue_ahead(call)

    def queue_ahead(self, call: Call) -> None:
        """A callee dialled ahead who answered (and heard the announcement): into the queue, before
        its callers (a person is on the line), with the patience timer running."""
        now = self.clock()
        call.priority = max(call.priority, AHEAD_PRIORITY)
        self._call_to(call, CallState.QUEUED)
        call.stage = "queue"
        call.enqueued = now
        call.position = self.qlog_position(call)
        call.qlog_closed = False
        self._apply(call, enqueue_effects(now, call.channel, call.queue, call.caller, call.position, call.bridge, None),
                    f"enqueue ahead {call.id}")
        self._arm("max_wait", call.id, self._ahead[call.id].patience, self._ahead_patience, call.id)
        self.route()

    def _ahead_patience(self, call_id: str) -> None:
        """No agent connected in time: the callee hears the abandon message and is hung up."""
        call = self.calls.get(call_id)
        if call is None or call.state not in (CallState.QUEUED, CallState.RINGING):
            return
        now = self.clock()
        agent = self.agents.get(call.agent or "")
        if call.state is CallState.RINGING and agent:
            # The agent's device is still being called: too late for this callee, not the agent's doing.
            if call.agent_channel:
                self.by_channel.pop(call.agent_channel, None)
                self._spawn(self.ari.hangup(call.agent_channel), f"cancel leg {call.agent_channel}", call.id)
            self.qlog.ringcanceled(now, call.channel, call.queue, agent.id, int((now - call.ring_start) * 1000))
            agent.call_id = None
            call.agent = None
            call.agent_channel = None
            self._set_agent(agent, AgentState.READY)
        self._leave_queue(call, "EXITWITHTIMEOUT")
        self._call_to(call, CallState.ENTERING)
        call.stage = "abandon_message"
        call.end_reason = "abandoned"
        self._record_call("call.outbound_abandoned", call, at=now, wait=now - call.enqueued)
        media = self._ahead[call.id].abandon_media
        if media:
            self._play(call, media, "then_hangup")
        else:
            self._end(call, by="system", outcome="abandoned")
        self.route()

    def _outbound_leg_up(self, leg: str, kind: str, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is CallState.ENDED:
            self._spawn(self.ari.hangup(leg), f"drop orphan outbound leg {leg}")
            return
        if kind == OUT_AGENT and leg == call.agent_channel:
            dialstring = self._pending_dial.pop(call.id, "")
            self._record_call("call.outbound_dialing", call, number=call.caller)

            async def go() -> None:
                await self.ari.add_channel(call.bridge, leg)
                try:
                    await self.ari.originate(dialstring, call.channel, app_args=f"{OUT_REMOTE},{call.id}",
                                             caller_id=call.caller_id or "", timeout=45)
                except AriError:
                    self._end(call, by="system", outcome="not_reached")
                    raise
            self._spawn(go(), f"dial out {call.id}", call.id)
        elif kind == OUT_REMOTE and leg == call.channel and call.id in self._ahead:
            self._disarm("dial", call.id)
            self._answered_ahead(call)
        elif kind == OUT_REMOTE and leg == call.channel:
            now = self.clock()
            self._call_to(call, CallState.CONNECTED)
            call.stage = "talk"
            call.answered = now
            self._record_call("call.connected", call, at=now, agent=call.agent, wait=now - call.enqueued, outbound=True)
            self._spawn(self.ari.add_channel(call.bridge, leg), f"bridge outbound {call.id}", call.id)
            self.hooks.call_connected(call)

    # -- attended transfer: consult, then complete, cancel, swap or conference ------------------------
    def consult(self, agent_id: str, target: str, call_id: str | None = None) -> Call:
        """Put the caller on hold and call the target (agent:ID, a number or a dial string) in a
        consult bridge of its own. A state machine kept on the call, so it survives our restart."""
        call = self._my_call(agent_id, call_id)
        if call.state is not CallState.CONNECTED or not call.agent_channel:
            raise Conflict(f"the call is {call.state}; consult from a connected call")
        if call.consult:
            raise Conflict("a consultation is already going on; complete or cancel it")
        target_agent = None
        if target.startswith("agent:"):
            other = self.agent(target[6:])
            if other.id == agent_id:
                raise Invalid("cannot consult yourself")
            if other.state is not AgentState.READY or other.call_id or not other.device:
                raise Conflict(f"{other.id} is {other.state}; not free to take a consultation")
            target_agent = other.id
            dialstring = other.device
        elif target.startswith("queue:"):
            raise Invalid("consult a person or a number; transfer to a queue blindly")
        else:
            dialstring = self._dialstring(target)
        call.offers += 1
        leg = f"{BRIDGE_PREFIX}{call.id}-t{call.offers}"
        bridge = f"{call.bridge}-c"
        call.consult = {"target": target, "agent": target_agent, "leg": leg, "bridge": bridge,
                        "state": ConsultState.RINGING, "with": "target"}
        if not call.held:
            call.held = True
            call.hold_start = self.clock()
        self.by_channel[leg] = call.id
        if target_agent:
            other = self.agents[target_agent]
            other.call_id = call.id
            self._set_agent(other, AgentState.RINGING, call=call.id, consult=True)
        self._record_call("call.consult", call, agent=agent_id, to=target)
        agent_leg = call.agent_channel
        variables = {"CALLERID(name)": f"consult: {agent_id}"}
        if target_agent and self.agents[target_agent].answer_mode is AnswerMode.CONSOLE:
            variables["PJSIP_HEADER(add,Call-Info)"] = "<sip:127.0.0.1>;answer-after=0"

        async def go() -> None:
            await self.ari.request("POST", f"/bridges/{call.bridge}/removeChannel", params={"channel": agent_leg})
            await self.ari.start_moh(call.bridge, self.moh_class)
            await self.ari.create_bridge(bridge)
            await self.ari.add_channel(bridge, agent_leg)
            try:
                await self.originate_device(target_agent or "", dialstring, leg, app_args=f"{CONSULT},{call.id}",
                                            timeout=max(1, int(self._ring_timeout_for(call))),
                                            caller_id=f'"{agent_id}" <{call.caller}>', variables=variables)
            except AriError:
                if call.consult and call.consult.get("leg") == leg:
                    self._consult_over(call, "failed")
                raise
        self._spawn(go(), f"consult {call.id}", call.id)
        return call

    def _consult_leg_up(self, leg: str, call_id: str) -> None:
        call = self.calls.get(call_id)
        c = call.consult if call else None
        if call is None or not c or c["leg"] != leg:
            self._spawn(self.ari.hangup(leg), f"drop orphan consult leg {leg}")
            return
        try:
            c["state"] = consult_next(c["state"], ConsultEvent.ANSWERED)
        except ConsultRefused:  # a second StasisStart of a leg already up (a resync): nothing new
            return
        if c["agent"]:
            self._set_agent(self.agents[c["agent"]], AgentState.ON_CALL, call=call.id, consult=True)
        self._record_call("call.consult_answered", call, to=c["target"])
        self._spawn(self.ari.add_channel(c["bridge"], leg), f"bridge consult {call.id}", call.id)
        self.hooks.consult_connected(call)

    def _consult_over(self, call: Call, why: str) -> None:
        """The target left (no answer, hung up, cancelled): the agent is back with the caller."""
        c = call.consult
        if not c:
            return
        consult_next(c["state"], ConsultEvent.CANCEL if why == "cancelled" else ConsultEvent.TARGET_GONE)
        self.hooks.consult_ended(call)
        call.consult = None
        self.by_channel.pop(c["leg"], None)
        if c["agent"]:
            other = self.agents[c["agent"]]
            if other.call_id == call.id:
                other.call_id = None
                other.last_call_end = self.clock()
                self._free(other)
        if call.held:
            call.hold_total += self.clock() - call.hold_start
            call.held = False
        self._apply(call, consult_over_effects(call.bridge, c, call.agent_channel, why), f"consult over {call.id}")
        self.route()

    def _consult_call(self, agent_id: str, call_id: str | None) -> tuple[Call, dict[str, Any]]:
        call = self._my_call(agent_id, call_id)
        if not call.consult:
            raise Conflict("no consultation going on")
        return call, call.consult

    @staticmethod
    def _consult_step(c: dict[str, Any], event: ConsultEvent) -> ConsultState:
        """The consultation's next state for an agent's command, or the conflict the agent reads."""
        try:
            return consult_next(c["state"], event)
        except ConsultRefused as exc:
            raise Conflict(exc.message) from None

    def consult_cancel(self, agent_id: str, call_id: str | None = None) -> Call:
        call, _ = self._consult_call(agent_id, call_id)
        self._consult_over(call, "cancelled")
        return call

    def consult_swap(self, agent_id: str, call_id: str | None = None) -> Call:
        """Talk to the other party; the one left waits with music on hold."""
        call, c = self._consult_call(agent_id, call_id)
        self._consult_step(c, ConsultEvent.SWAP)
        c["with"] = "caller" if c["with"] == "target" else "target"
        self._apply(call, consult_swap_effects(call.bridge, c, call.agent_channel or "", self.moh_class),
                    f"swap {call.id}")
        return call

    def consult_complete(self, agent_id: str, call_id: str | None = None, *, conference: bool = False) -> Call:
        """Complete the attended transfer (the target takes the caller, this agent leaves), or
        make it a three-way conference (everyone in the call's bridge)."""
        call, c = self._consult_call(agent_id, call_id)
        self._consult_step(c, ConsultEvent.CONFERENCE if conference else ConsultEvent.COMPLETE)
        agent = self.agents[agent_id]
        now = self.clock()
        target_leg = c["leg"]
        agent_leg = call.agent_channel or ""
        if call.held:
            call.hold_total += now - call.hold_start
            call.held = False
        if conference:
            if c["state"] == ConsultState.CONFERENCE:
                return call
            self.hooks.consult_ended(call)  # the consult bridge goes; the call's recording goes on
            c["state"] = ConsultState.CONFERENCE
            self._apply(call, conference_effects(call.bridge, c, agent_leg, agent_id), f"conference {call.id}")
            return call
        hold = clock_seconds(call.enqueued, call.answered or now)
        talk = now - (call.answered or now)
        line = QueueLogWrite("attendedtransfer", (now, call.channel, call.queue, agent.id, "BRIDGE", call.bridge, hold,
                                                 clock_seconds(call.answered or now, now), call.position))
        call.qlog_closed = True
        self.monitors.call_ended(call.id)
        self.by_channel.pop(agent_leg, None)
        self.hooks.consult_ended(call)
        call.consult = None
        call.agent = c["agent"]
        call.agent_channel = target_leg
        self._apply(call, transferred_effects(line, now, agent_id, c["target"], "attended", talk, call.hold_total),
                    f"transferred {call.id}")
        self.hooks.call_leg_ended(call, agent_id)
        self.hooks.call_connected(call)  # the target's leg is the call's leg now
        agent.call_id = None
        agent.last_call_end = now
        self._start_wrapup(agent, call)
        was_conference = c["state"] == ConsultState.CONFERENCE
        self.effects.perform(self.ari, consult_complete_effects(call.bridge, c, agent_leg, was_conference),
                             f"complete transfer {call.id}", call.id)
        return call

    def _dialstring(self, target: str) -> str:
        target = target.strip()
        if "/" in target:
            return target  # already a dial string: PJSIP/1004, PJSIP/0612345678@trunk
        number = target.replace(" ", "").replace("-", "")
        if not number.lstrip("+").isdigit():
            raise Invalid(f"transfer target {target!r}: a number, a dial string, "
                          "queue:NAME or agent:ID")
        return self.dial_template.format(number=number)
