"""Call and agent state, driven by ARI events and console commands: the ACD at work.

State changes are synchronous and recorded in the store as they happen (and in queue_log, in
Asterisk's format); the server's store hands them to a writer thread, so a locked database never
makes the engine wait. ARI side effects run in tasks ordered per call, so one slow HTTP round
trip never holds up the event stream and a bridge always exists before a leg is added to it. After a
reconnect to ARI (or a restart of this server, which reloads the projections first) `resync`
reconciles what we believe with what Asterisk has, so a call in progress survives either.

A call's path: entering (closed check, general-problem message, greeting) -> queued (music on
hold, position announcements, max wait, DTMF for callback or voicemail) -> ringing an agent ->
connected -> ended; or overflowed to another queue, an agent, an external number or voicemail.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cc_console import service_level
from cc_console.errors import Conflict, Forbidden, Invalid, NotFound
from cc_console.models import Agent, AgentState, AnswerMode, Call, CallState, QueueStats, call_agents
from cc_console.protocol import Event
from cc_console.server.acd import decide
from cc_console.server.acd.config import Overflow, Queue, RoutingConfig
from cc_console.server.acd.queue_log import QueueLog, clock_seconds
from cc_console.server.acd.routing_index import RoutingIndex
from cc_console.server.ari import AriClient, AriError, AriEvent, Channel
from cc_console.server.ari.breaker import retrying, transient
from cc_console.server.capability import CallHookList
from cc_console.server.store import Store

from .control import CallControl
from .effects import AgentRecord, Effect, EffectRunner, Local, QueueLogWrite, Record
from .monitor import MONITOR, SNOOP, MonitorService
from .names import AGENT_LEG, BRIDGE_PREFIX, CONSULT, INBOUND, OUT_AGENT, OUT_REMOTE, leg_owner
from .overload import OverloadGuard
from .pacing import LeadingEdgePacer
from .states import (
    ConsultState,
    TransitionCounter,
    agent_move_effects,
    connect_effects,
    consult_dropped_effects,
    dialing_effects,
    end_queue_log,
    end_record,
    enqueue_effects,
    entered_effects,
    entry_effects,
    leave_queue_effects,
    offer_effects,
    offered_effects,
    overflow_effects,
    ring_no_answer_effects,
)

log = logging.getLogger(__name__)

# Publish(event, data, audience): audience is the agent id concerned, a set of them (supervisors
# and wallboards see everything anyway), or None for everyone.
Audience = str | frozenset[str] | None
Publisher = Callable[[str, dict[str, Any], Audience], None]

# Pause reasons the server itself sets (not in the admin's list).
SYSTEM_REASONS = ("no answer", "declined", "device unreachable")
# Causes with which a ringing leg ends when nobody picked up (not a failure of the device).
NO_ANSWER_CAUSES = (None, 16, 17, 18, 19, 21, 31)


@dataclass
class QueueCounters:
    offered: int = 0
    answered: int = 0
    answered_in_sl: int = 0
    abandoned: int = 0
    overflowed: int = 0
    callbacks: int = 0
    voicemails: int = 0


class CallEngine(CallControl, OverloadGuard):
    def __init__(self, ari: AriClient, store: Store, routing: RoutingConfig, *,
                 ring_timeout: float = 15.0, inbound_context: str = "cc-inbound",
                 queue_log: QueueLog | None = None, callback_digit_timeout: float = 5.0,
                 voicemail_max: int = 120, dial_template: str = "PJSIP/{number}", moh_class: str = "default",
                 clock: Callable[[], float] = time.time, reconcile_interval: float = 5.0,
                 offer_failures_max: int = 3, offer_backoff: float = 10.0) -> None:
        self.ari = ari
        self.store = store
        self.cfg = routing
        self.did_to_queue = routing.did_map()
        self.ring_timeout = ring_timeout
        self.inbound_context = inbound_context
        self.qlog = queue_log or QueueLog(None)
        self.callback_digit_timeout = callback_digit_timeout
        self.voicemail_max = voicemail_max
        self.dial_template = dial_template  # how a bare number is dialled (transfers, overflow)
        self.moh_class = moh_class
        self.clock = clock
        self.publish: Publisher = lambda event, data, audience: None
        self.agents: dict[str, Agent] = {}
        self.calls: dict[str, Call] = {}  # active calls only
        # Kept up to date by touch_agent/touch_call where an agent's or call's routing changes.
        self.router = RoutingIndex(self.calls, self.agents)
        self.by_channel: dict[str, str] = {}  # caller or agent-leg channel id -> call id
        self.counters: dict[str, QueueCounters] = {name: QueueCounters() for name in routing.queues}
        self.problem: dict[str, str] = {}  # queue -> media of the general-problem message while it is on
        self.problem_media: dict[str, str] = {}  # queue -> the last uploaded message
        self.last_agent: dict[str, tuple[str, float]] = {}  # caller number -> (agent, when the call ended)
        self.recent_waits: dict[str, deque[float]] = {}
        self._timers: dict[tuple[str, str], asyncio.TimerHandle] = {}
        self._playbacks: dict[str, tuple[str, str]] = {}  # playback id -> (call id, purpose)
        # Channels whose hang-up Asterisk has announced: a prompt they were hearing ends with a
        # PlaybackFinished that may reach us before the channel leaves Stasis, and must not move
        # the call on (a welcome cut short by the caller is not a welcome heard).
        self._hanging_up: set[str] = set()
        self._digits: dict[str, str] = {}  # call id -> digits keyed after the callback key
        self.effects = EffectRunner()
        self._tasks = self.effects.tasks  # the same set and dict: the soak bench counts them by name
        self._chains = self.effects.chains
        self._pending_dial: dict[str, str] = {}  # outbound call id -> the number to dial once the agent is up
        self._ahead: dict[str, Any] = {}  # dialled ahead (predictive): call id -> control.Ahead
        self._seq = 0
        self._outbox: dict[tuple[str, str], tuple[str, dict[str, Any], Audience]] = {}
        # call id -> the agents its last event went to: an agent the call leaves (a transfer, a
        # no-answer, leaving a conference) must be told, or its console keeps a ghost of the call.
        self._call_audience: dict[str, frozenset[str]] = {}
        self._outbox_scheduled = False
        # queue figures: see _publish_queue
        self._stats = LeadingEdgePacer(0.25, self._send_queue_stats, floor=0.05)
        self.ari_up = False
        self.monitors = MonitorService(self)
        # Other capabilities (recording, the CRM's CTI feed) follow calls through these hooks
        # (server/capability.py CallHooks). Called synchronously; they spawn their own I/O.
        self.hooks = CallHookList()
        # Every call and agent move is checked against the state tables (server/calls/states.py).
        self.transitions = TransitionCounter()
        # The IVR (server/ivr) when loaded: takes inbound calls before the queue and hands them back
        # through leave_ivr. Its interface: home_queue(did), take(call), dtmf(call, digit) (True: the IVR
        # took the key), played(call, purpose) and play_failed(call, purpose) for its prompts.
        self.front: Any = None
        # Device technologies a capability dials itself (server/audio: "Console"): name -> an async
        # originate(person, device, channel_id, **originate kwargs); any other device is ARI's.
        self.dialers: dict[str, Any] = {}
        ari.on_event = self.on_event
        ari.on_connect = self.resync
        ari.on_disconnect = self._on_ari_down
        self._init_overload(reconcile_interval, offer_failures_max, offer_backoff)

    # == start-up and configuration ===================================================================
    def load(self, users: list[dict[str, Any]]) -> None:
        """Rebuild in-memory state from the store's projections (after a restart of this server)."""
        saved = {a["id"]: a for a in self.store.agents()}
        for u in users:
            if u["role"] == "wallboard":
                continue
            agent = Agent(id=u["username"], name=u["name"], device=u["device"],
                          answer_mode=AnswerMode(u.get("answer_mode") or "console"))
            self._apply_profile(agent, u)
            a = saved.get(u["username"])
            if a:
                agent.state = AgentState(a["state"])
                agent.reason = a.get("reason", "")
                agent.state_since = a.get("state_since", 0.0)
                agent.call_id = a.get("call_id")
                agent.last_call_end = a.get("last_call_end", 0.0)
                agent.last_call_id = a.get("last_call_id", "")
                agent.wrapup_until = a.get("wrapup_until", 0.0)
                agent.logged_in_since = a.get("logged_in_since", 0.0)
                agent.pending_pause = a.get("pending_pause", "")
                agent.queues = [q for q in a.get("queues") or [] if q in agent.penalties]
            self.agents[agent.id] = agent
        for d in self.store.active_calls():
            fields = {k: v for k, v in d.items() if k in Call.__dataclass_fields__}
            call = Call(**{**fields, "state": CallState(d["state"])})
            self.calls[call.id] = call
            self.by_channel[call.channel] = call.id
            if call.agent_channel:
                self.by_channel[call.agent_channel] = call.id
            if call.consult:
                self.by_channel[call.consult["leg"]] = call.id
        # The general-problem message: uploaded media and on/off survive a restart.
        for ev in self.store.events(kinds=("queue.problem", "queue.problem_uploaded")):
            if ev.kind == "queue.problem_uploaded":
                self.problem_media[ev.queue or ""] = ev.data["media"]
            elif ev.data.get("on"):
                self.problem[ev.queue or ""] = ev.data["media"]
            else:
                self.problem.pop(ev.queue or "", None)
        now = self.clock()
        midnight = time.mktime(time.localtime(now)[:3] + (0, 0, 0, 0, 0, -1))
        sticky_from = now - self.cfg.sticky_seconds
        for ev in self.store.events(kinds=("call.queued", "call.connected", "call.abandoned", "call.overflow",
                                           "call.callback", "call.voicemail", "call.completed")):
            if ev.kind == "call.completed":
                call = ev.data.get("call", {})
                if ev.ts >= sticky_from and call.get("agent") and call.get("caller"):
                    self._remember_agent(call["caller"], call["agent"], ev.ts)
                continue
            if ev.ts >= midnight and ev.queue in self.counters:
                self._count(ev.kind, ev.queue, ev.data.get("wait", 0.0))
        self.router.rebuild()

    def _apply_profile(self, agent: Agent, user: dict[str, Any]) -> None:
        prof = self.cfg.agents.get(agent.id)
        if prof:
            agent.penalties = dict(prof.penalties)
            agent.skills = dict(prof.skills)
            agent.self_login = prof.self_login
            agent.team, agent.site = prof.team, prof.site
        else:  # no routing profile: the queues given when the user was added, penalty 0
            agent.penalties = {q: 0 for q in user.get("queues") or [] if q in self.cfg.queues}
            agent.skills = {}
            agent.self_login = True

    def reload(self, routing: RoutingConfig, users: list[dict[str, Any]]) -> dict[str, Any]:
        """Swap in a new routing configuration. Calls in progress keep going; waiting calls in a
        queue that no longer exists stay where they are until they end."""
        self.cfg = routing
        self.did_to_queue = routing.did_map()
        for name in routing.queues:
            self.counters.setdefault(name, QueueCounters())
        by_user = {u["username"]: u for u in users}
        for agent in self.agents.values():
            if agent.id in by_user:
                self._apply_profile(agent, by_user[agent.id])
                gone = [q for q in agent.queues if q not in agent.penalties]
                if gone:
                    self._queues_logout(agent, gone)
                self.publish(Event.AGENT_STATE, agent.to_dict(), agent.id)
        for call in self.calls.values():
            q = routing.queues.get(call.queue)
            if q:
                call.skills = list(q.skills)
        self.router.rebuild()
        self.qlog.configreload(self.clock())
        self.store.record("config.reloaded", ts=self.clock(), data={"source": routing.source,
                                                                   "queues": sorted(routing.queues)})
        for name in routing.queues:
            self._publish_queue(name)
        self.route()
        return {"queues": sorted(routing.queues), "agents": sorted(routing.agents)}

    def queue(self, name: str) -> Queue:
        q = self.cfg.queues.get(name)
        if q is None:
            raise NotFound(f"no queue {name!r}")
        return q

    # == recording and publishing ======================================================================
    def _count(self, kind: str, queue: str, wait: float = 0.0) -> None:
        c = self.counters.setdefault(queue, QueueCounters())
        if kind == "call.queued":
            c.offered += 1
        elif kind == "call.connected":
            c.answered += 1
            if service_level.within(wait, service_level.threshold(queue, self.cfg.thresholds)):
                c.answered_in_sl += 1
            self.recent_waits.setdefault(queue, deque(maxlen=20)).append(wait)
        elif kind == "call.abandoned":
            c.abandoned += 1
        elif kind == "call.overflow":
            c.overflowed += 1
        elif kind == "call.callback":
            c.callbacks += 1
        elif kind == "call.voicemail":
            c.voicemails += 1

    def _record_call(self, kind: str, call: Call, at: float | None = None, **data: Any) -> None:
        self.router.touch_call(call)
        # `at`: the moment the transition used for its figures, so the event's time and the
        # durations derived from it (wait, talk, queue_log seconds) agree to the microsecond.
        d = call.to_dict()  # one copy for the store and the consoles: neither changes it
        self.store.record(kind, ts=self.clock() if at is None else at, call=d, data=data or None,
                          agent_id=call.agent)
        if call.queue and call.id not in self._ahead:  # a campaign's contacts are not the queue's callers
            self._count(kind, call.queue, data.get("wait", 0.0))
        ev = Event.CALL_ENDED if call.state is CallState.ENDED else Event.CALL_UPDATE
        concerned = call_agents(d)
        before = self._call_audience.pop(call.id, frozenset())
        if call.state is not CallState.ENDED:
            self._call_audience[call.id] = concerned
        self._emit(("call", call.id), ev, d, before | concerned)
        if call.queue:
            self._publish_queue(call.queue)

    def note_call(self, call_id: str, kind: str, **data: Any) -> bool:
        """Another capability changed a call's own data (its verification, ...): store the event and
        push the call to the consoles concerned. False when there is no such live call."""
        call = self.calls.get(call_id)
        if call is None or call.state is CallState.ENDED:
            return False
        self._record_call(kind, call, **data)
        return True

    def _call_to(self, call: Call, state: CallState) -> None:
        """Move a call to ``state``, checked against the call state table."""
        self.transitions.check_call(call.id, call.state, state)
        call.state = state

    def _set_agent(self, agent: Agent, state: AgentState, reason: str = "", **data: Any) -> None:
        self.router.touch_agent(agent)
        if agent.state is state and agent.reason == reason and not data:
            return
        prev, prev_reason = agent.state, agent.reason
        if state in (AgentState.READY, AgentState.PAUSED, AgentState.LOGGED_OUT):
            agent.pending_pause = ""  # only waits while the agent is busy; now over either way
        self.transitions.check_agent(agent.id, prev, state)
        agent.state = state
        agent.reason = reason
        agent.state_since = self.clock()
        now = agent.state_since

        def local(effect: Local) -> None:
            if isinstance(effect, AgentRecord):
                self.store.record(effect.kind, ts=effect.at, agent=agent.to_dict(), data=dict(effect.data))
            elif isinstance(effect, QueueLogWrite):
                effect.write(self.qlog)
        self.effects.apply(self.ari, agent_move_effects(agent.id, agent.queues, prev, prev_reason, state, now,
                                                        reason, tuple(data.items())),
                           f"agent {agent.id} {state}", local=local)
        self._emit(("agent", agent.id), Event.AGENT_STATE, agent.to_dict(), agent.id)
        self._hook("agent_state", agent, str(prev))
        for q in agent.queues:
            self._publish_queue(q)
        self._hook("agent_changed", agent, prev)

    def waiting(self, queue: str) -> list[Call]:
        qp = {n: q.priority for n, q in self.cfg.queues.items()}
        from cc_console.server.acd.routing import waiting_order
        return sorted((c for c in self.calls.values() if c.queue == queue and c.state is CallState.QUEUED),
                      key=lambda c: waiting_order(c, qp))

    def position(self, call: Call) -> int:
        for i, c in enumerate(self.waiting(call.queue), 1):
            if c.id == call.id:
                return i
        return 0

    def qlog_position(self, call: Call) -> int:
        """The call's position as app_queue logs it: among every caller in the queue's list, the
        ones being rung included (app_queue drops a caller from the list only when answered)."""
        qp = {n: q.priority for n, q in self.cfg.queues.items()}
        from cc_console.server.acd.routing import waiting_order
        listed = sorted((c for c in self.calls.values() if c.queue == call.queue and c.direction == "inbound"
                         and (c.state is CallState.QUEUED or (c.state is CallState.RINGING and c.agent))),
                        key=lambda c: waiting_order(c, qp))
        for i, c in enumerate(listed, 1):
            if c.id == call.id:
                return i
        return 0

    def expected_wait(self, queue: str) -> float | None:
        waits = self.recent_waits.get(queue)
        return sum(waits) / len(waits) if waits else None

    def queue_stats(self, name: str) -> dict[str, Any]:
        """The queue's figures as the protocol carries them (queue.stats events, snapshots, REST)."""
        return self.queue_figures(name).to_dict()

    def queue_figures(self, name: str) -> QueueStats:
        now = self.clock()
        waiting = [c for c in self.calls.values() if c.queue == name and c.state is CallState.QUEUED]
        # One pass, counted in C: the figures are pushed up to 20 times a second per busy queue,
        # and a pass per figure over 2,000 agents was a millisecond of each push.
        states = Counter([a.state for a in self.agents.values() if name in a.queues])
        logged_in = sum(states.values()) - states[AgentState.LOGGED_OUT]
        c = self.counters.get(name, QueueCounters())
        q = self.cfg.queues.get(name)
        return QueueStats(
            name=name, tenant=q.tenant if q else "",
            open=q.schedule.is_open(now) if q else False,
            problem=name in self.problem,
            waiting=len(waiting),
            oldest_enqueued=min((w.enqueued for w in waiting), default=None),
            longest_wait=max((now - w.enqueued for w in waiting), default=0.0),
            agents_logged_in=logged_in,
            agents_ready=states[AgentState.READY],
            agents_busy=states[AgentState.RINGING] + states[AgentState.ON_CALL],
            agents_wrapup=states[AgentState.WRAP_UP],
            agents_paused=states[AgentState.PAUSED],
            offered=c.offered, answered=c.answered, abandoned=c.abandoned,
            overflowed=c.overflowed, callbacks=c.callbacks, voicemails=c.voicemails,
            service_level=service_level.ratio(c.answered_in_sl, c.answered),
        )

    def _emit(self, key: tuple[str, str], event: str, data: dict[str, Any], audience: Audience) -> None:
        """Push a call's or agent's new state to the consoles once per loop tick: one event handler
        often moves a call through several states (entered, queued, offered); the store keeps
        every step, the consoles need only the last, and each frame costs every console. Whoever
        an earlier step was for gets the last one too (it may say the call left them).

        A call's end never replaces its last update: a call that came and went within one tick
        (the server was behind, the caller hung up at once) would otherwise never have been on
        any console, and a supervisor would count an abandoned call they never saw."""
        if event == Event.CALL_ENDED:
            key = ("ended", key[1])
        pending = self._outbox.pop(key, None)
        if pending is not None and isinstance(audience, frozenset) and isinstance(pending[2], frozenset):
            audience = audience | pending[2]
        self._outbox[key] = (event, data, audience)
        if not self._outbox_scheduled:
            self._outbox_scheduled = True
            try:
                asyncio.get_running_loop().call_soon(self.flush_outbox)
            except RuntimeError:
                self.flush_outbox()

    def flush_outbox(self) -> None:
        self._outbox_scheduled = False
        box, self._outbox = self._outbox, {}
        for event, data, audience in box.values():
            self.publish(event, data, audience)

    @property
    def stats_interval(self) -> float:
        """The most seconds between two pushes of one queue's figures (its first change goes at once)."""
        return self._stats.interval

    @stats_interval.setter
    def stats_interval(self, seconds: float) -> None:
        self._stats.interval = seconds

    @property
    def stats_interval_min(self) -> float | None:
        """The fewest: the interval is this short while the pushes are cheap (server/calls/pacing.py)."""
        return self._stats.floor

    @stats_interval_min.setter
    def stats_interval_min(self, seconds: float | None) -> None:
        self._stats.floor = seconds

    def _publish_queue(self, name: str) -> None:
        """Queue figures change with almost every event; a queue's first change goes out at the end
        of this tick, what follows within the interval as one push at its end (server/calls/
        pacing.py: between `stats_interval_min` while pushes are cheap and `stats_interval`), so a
        burst of calls costs each console a stats frame or two, not one per change."""
        self._stats.changed(name)

    def _send_queue_stats(self, name: str) -> None:
        self.publish(Event.QUEUE_STATS, self.queue_stats(name), None)

    def flush_queue_stats(self) -> None:
        """Push every queue's figures that are waiting for their interval now."""
        self._stats.flush()

    def snapshot(self, only: str | None = None) -> dict[str, Any]:
        """Everything, or (`only`) one agent's own record and calls: at shift start hundreds of
        agents sign in at once, and each building every agent's record was most of the cost."""
        agents = self.agents.values() if only is None else [a for a in (self.agents.get(only),) if a]
        calls = [c.to_dict() for c in self.calls.values()]
        return {
            "agents": [a.to_dict() for a in agents],
            "calls": calls if only is None else [c for c in calls if only in call_agents(c)],
            "queues": [self.queue_stats(q) for q in self.cfg.queues],
            "monitors": self.monitors.snapshot(),
            "callbacks": self.callbacks("open"),
            "pause_reasons": [{"code": r.code, "label": r.label, "kind": r.kind}
                              for r in self.cfg.pause_reasons.values()],
            "server": {"ari": "up" if self.ari_up else "down", "time": self.clock(), "overload": self.overload,
                       **self.store_status()},
        }

    def store_status(self) -> dict[str, Any]:
        """Whether events reach the database, as consoles see it (supervisors get an alert)."""
        health = getattr(self.store, "health", None)
        h = health() if health else {"ok": True, "problem": None}
        return {"store": "ok" if h["ok"] else "fault", "store_problem": h["problem"] or ""}

    def _hook(self, name: str, *args: Any) -> None:
        """Tell the hooks by name; ``self.hooks.<name>(...)`` is the typed spelling of the same."""
        self.hooks.tell(name, *args)

    # == tasks and timers =============================================================================
    def _apply(self, call: Call, effects: Sequence[Effect | Local], what: str, *, each: bool = False) -> None:
        """Perform a transition's effects (server/calls/effects.py): its records and queue_log lines
        now, in order; its ARI requests in the call's chain."""
        def local(effect: Local) -> None:
            if isinstance(effect, Record):
                self._record_call(effect.kind, call, at=effect.at, **dict(effect.data))
            elif isinstance(effect, QueueLogWrite):
                effect.write(self.qlog)
        self.effects.apply(self.ari, effects, what, call.id, local=local, each=each)

    def _spawn(self, coro: Coroutine[Any, Any, Any], what: str, key: str | None = None) -> None:
        """Run a side effect (server/calls/effects.py): effects with the same key (a call id) run in
        order, one at a time."""
        self.effects.run(coro, what, key)

    def shutdown(self) -> None:
        """Stop every timer: this server is going away (calls stay up in Asterisk; a restart resyncs)."""
        for t in self._timers.values():
            t.cancel()
        self._timers.clear()
        self._stats.cancel()
        self._stop_reconcile()

    async def idle(self) -> None:
        """Wait until no side-effect task is running (tests and shutdown)."""
        await self.effects.idle()

    def _arm(self, kind: str, key: str, delay: float, fn: Callable[..., None], *args: Any) -> None:
        self._disarm(kind, key)
        self._timers[(kind, key)] = asyncio.get_running_loop().call_later(max(0.0, delay), self._fire, kind, key,
                                                                         fn, args)

    def _fire(self, kind: str, key: str, fn: Callable[..., None], args: tuple[Any, ...]) -> None:
        self._timers.pop((kind, key), None)
        try:
            fn(*args)
        except Exception:
            log.exception("timer %s for %s failed", kind, key)

    def _disarm(self, kind: str, key: str) -> None:
        t = self._timers.pop((kind, key), None)
        if t:
            t.cancel()

    def _disarm_call(self, call_id: str) -> None:
        for kind in ("ring", "max_wait", "position", "digits", "dial"):
            self._disarm(kind, call_id)

    def play(self, call: Call, media: list[str], purpose: str) -> str:
        """Play to a caller not yet with an agent (the IVR); returns the playback id. When it ends,
        a purpose starting with "ivr" goes back to the front (the IVR) as played(call, purpose)."""
        return self._play(call, media, purpose)

    def stop_play(self, call: Call, playback: str) -> None:
        """Stop a playback started with play (a caller's key cuts an IVR prompt short): in the call's
        order of effects, so a stop never overtakes the play it is meant for."""
        self._spawn(self.ari.stop_playback(playback), f"stop playback {playback}", call.id)

    def _play(self, call: Call, media: list[str], purpose: str) -> str:
        """Play to the caller (the call's bridge holds only the caller while it waits)."""
        self._seq += 1
        pb = f"pb-{call.id}-{self._seq}"
        self._playbacks[pb] = (call.id, purpose)

        async def go() -> None:
            await self.ari.stop_moh(call.bridge)
            try:
                await self.ari.play_on_bridge(call.bridge, pb, media)
            except AriError:
                # Nothing to wait for: carry on as if it had been heard.
                if self._playbacks.pop(pb, None):
                    if purpose.startswith("ivr") and self.front is not None:
                        self.front.play_failed(call, purpose)  # perhaps the caller hung up: it checks
                    else:
                        self._after_playback(call.id, purpose)
                raise
        self._spawn(go(), f"play {purpose} to {call.id}", call.id)
        return pb

    def _moh(self, call: Call) -> None:
        self._spawn(self.ari.start_moh(call.bridge, self.moh_class), f"moh {call.id}", call.id)

    # == ARI events ===================================================================================
    async def on_event(self, ev: AriEvent) -> None:
        t = ev.type
        if t == "StasisStart" and ev.channel:
            if ev.args and ev.args[0] == INBOUND:
                self._new_inbound(ev.channel, ev.args[1] if len(ev.args) > 1 else ev.channel.exten)
            elif ev.args and ev.args[0] == AGENT_LEG:
                self._agent_leg_up(ev.channel.id, ev.args[1] if len(ev.args) > 1 else "")
            elif ev.args and ev.args[0] in (OUT_AGENT, OUT_REMOTE):
                self._outbound_leg_up(ev.channel.id, ev.args[0], ev.args[1] if len(ev.args) > 1 else "")
            elif ev.args and ev.args[0] == CONSULT:
                self._consult_leg_up(ev.channel.id, ev.args[1] if len(ev.args) > 1 else "")
            elif ev.args and ev.args[0] in (MONITOR, SNOOP):
                self.monitors.stasis_start(ev.channel.id, ev.args[0], ev.args[1] if len(ev.args) > 1 else "")
        elif t == "ChannelHangupRequest" and ev.channel:
            self._hanging_up.add(ev.channel.id)
        elif t in ("ChannelDestroyed", "StasisEnd") and ev.channel:
            # at StasisEnd already: a channel out of Stasis may send us nothing more (the soak
            # bench saw the set grow); a prompt's end after it finds its call ended
            self._hanging_up.discard(ev.channel.id)
            if self.monitors.owns(ev.channel.id):
                self.monitors.channel_gone(ev.channel.id)
            else:
                self._channel_gone(ev.channel.id, ev.cause)
        elif t == "ChannelDtmfReceived" and ev.channel:
            self._dtmf(ev.channel.id, ev.digit)
        elif t == "PlaybackFinished":
            pb = (ev.raw.get("playback") or {}).get("id", "")
            entry = self._playbacks.pop(pb, None)
            if entry:
                self._after_playback(*entry)

    def _new_inbound(self, ch: Channel, did: str) -> None:
        if ch.id in self.by_channel:
            return  # seen already (a resync found it before its StasisStart reached us)
        now = self.clock()
        qname = (self.front and self.front.home_queue(did)) or self.did_to_queue.get(did)
        # 16 hex digits as before (uuid4().hex[:16]); building the UUID object was most of its cost.
        call = Call(id=os.urandom(8).hex(), caller=ch.caller_number, did=did, queue=qname or "",
                    channel=ch.id, bridge="", created=now, enqueued=now, state=CallState.ENTERING,
                    stage="announcement")
        call.bridge = BRIDGE_PREFIX + call.id
        if qname is None:
            self._call_to(call, CallState.ENDED)
            call.ended = now
            call.end_reason = "unknown_did"
            self.store.record("call.rejected", ts=now, call=call.to_dict(), data={"did": did})
            self.publish(Event.CALL_ENDED, call.to_dict(), None)
            self._spawn(self.ari.hangup(ch.id, "unallocated"), f"reject {ch.id}")
            return
        q = self.cfg.queues[qname]
        call.priority = self.cfg.vip.get(call.caller, 0)
        call.skills = list(q.skills)
        last = self.last_agent.get(call.caller)
        if last and self.cfg.sticky_seconds and now - last[1] <= self.cfg.sticky_seconds:
            call.sticky_agent = last[0]
        self.calls[call.id] = call
        self.by_channel[ch.id] = call.id
        self._apply(call, entered_effects(did), f"enter {call.id}")
        self._spawn(self._hold(call, moh=False), f"hold {call.id}", call.id)
        if self.front is None or not self.front.take(call):
            self._enter(call)

    async def _hold(self, call: Call, moh: bool = True) -> None:
        await self.ari.answer(call.channel)
        try:
            await self.ari.create_bridge(call.bridge)
        except AriError as exc:
            # There already: a re-hold after a restart or failover finds the bridge a server that died
            # mid-hold created; the caller must still be added to it.
            if exc.status != 409:
                raise
        await self.ari.add_channel(call.bridge, call.channel)
        if moh and call.state is CallState.QUEUED:
            await self.ari.start_moh(call.bridge, self.moh_class)

    # == entering and leaving the queue ===============================================================
    def _enter(self, call: Call) -> None:
        q = self.cfg.queues[call.queue]
        closed = not q.schedule.is_open(self.clock())
        problem = self.problem.get(call.queue)
        self._apply(call, entry_effects(closed, problem), f"entry {call.id}")
        if closed:
            self._overflow(call, "closed", announce=q.announcements.closed)
            return
        media = [problem] if problem else []
        if q.announcements.greeting:
            media.append(q.announcements.greeting)
        if media:
            self._play(call, media, "greeting")
        else:
            self._enqueue(call)

    def _logged_in(self, queue: str) -> list[Agent]:
        return [a for a in self.agents.values() if queue in a.queues and a.state is not AgentState.LOGGED_OUT]

    def _enqueue(self, call: Call) -> None:
        q = self.cfg.queues[call.queue]
        now = self.clock()
        if call.target_agent is None and not self._logged_in(call.queue) and "no_agents" in q.overflow:
            self._overflow(call, "no_agents", announce=q.announcements.no_agents)
            return
        waiting = len(self.waiting(call.queue))
        if q.max_length and waiting >= q.max_length:
            self._overflow(call, "max_length", announce="")
            return
        self._call_to(call, CallState.QUEUED)
        call.stage = "queue"
        call.enqueued = now
        call.position = self.qlog_position(call)
        call.qlog_closed = False
        self._apply(call, enqueue_effects(now, call.channel, call.queue, call.caller, call.position, call.bridge,
                                          self.moh_class), f"enqueue {call.id}")
        self._arm_queue_timers(call)
        self.route()

    def _arm_queue_timers(self, call: Call) -> None:
        q = self.cfg.queues.get(call.queue)
        if q is None:
            return
        now = self.clock()
        if q.max_wait:
            self._arm("max_wait", call.id, call.enqueued + q.max_wait - now, self._max_wait, call.id)
        if q.announcements.position_every:
            self._arm("position", call.id, q.announcements.position_every, self._announce_position, call.id)

    def _leave_queue(self, call: Call, event: str, **data: Any) -> None:
        """Leave the queue without an agent (timeout, key, empty): queue_log and timers."""
        now = self.clock()
        self._apply(call, leave_queue_effects(now, event, call.channel, call.queue,
                                              self.qlog_position(call) or call.position, call.position,
                                              clock_seconds(call.enqueued, now), data.get("key", "")),
                    f"leave queue {call.id}")
        self._disarm_call(call.id)

    def _max_wait(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.QUEUED:
            return
        self._leave_queue(call, "EXITWITHTIMEOUT")
        self._overflow(call, "max_wait", announce="")

    def _announce_position(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is not CallState.QUEUED:
            return
        q = self.cfg.queues[call.queue]
        pos = self.position(call)
        media = ["sound:queue-youarenext"] if pos == 1 else ["sound:queue-thereare", f"number:{pos}",
                                                              "sound:queue-callswaiting"]
        ewt = self.expected_wait(call.queue)
        if ewt is not None and ewt >= 60:
            media += ["sound:queue-holdtime", f"number:{round(ewt / 60)}", "sound:queue-minutes"]
        self._record_call("call.announcement", call, what="position", position=pos,
                          expected_wait=ewt)
        self._play(call, media, "position")
        self._arm("position", call.id, q.announcements.position_every, self._announce_position, call.id)

    def _after_playback(self, call_id: str, purpose: str) -> None:
        call = self.calls.get(call_id)
        if call is None or call.state is CallState.ENDED or call.channel in self._hanging_up:
            return
        if purpose.startswith("ivr") and self.front is not None:
            self.front.played(call, purpose)
        elif purpose == "greeting" and call.state is CallState.ENTERING:
            self._enqueue(call)
        elif purpose in ("position", "key") and call.state is CallState.QUEUED:
            self._moh(call)
        elif purpose == "ahead_announcement" and call.state is CallState.ENTERING:
            self.queue_ahead(call)  # control.py: a predictive campaign's callee heard its announcement
        elif purpose == "then_hangup":
            self._end(call, by="system", outcome=call.end_reason or "overflow")
        elif purpose == "voicemail_prompt" and call.state is CallState.VOICEMAIL:
            name = f"vm-{call.id}"
            self._spawn(self.ari.record_bridge(call.bridge, name, max_seconds=self.voicemail_max),
                        f"record voicemail {call.id}", call.id)

    # == overflow =====================================================================================
    def _overflow(self, call: Call, when: str, *, announce: str) -> None:
        q = self.cfg.queues[call.queue]
        ov = q.overflow.get(when) or Overflow("hangup")
        call.offers = call.offers  # unchanged; kept for clarity of what survives an overflow
        now = self.clock()
        self._apply(call, overflow_effects(now, when, str(ov), now - call.enqueued, call.channel, call.queue,
                                           call.caller), f"overflow {call.id}")
        if ov.kind == "queue" and call.stage != "overflowed-twice":
            call.stage = "overflowed-twice" if call.stage == "overflowed" else "overflowed"
            call.queue = ov.target
            call.skills = list(self.cfg.queues[ov.target].skills)
            self._call_to(call, CallState.ENTERING)
            self._enqueue(call)
        elif ov.kind == "agent":
            call.target_agent = ov.target
            self._call_to(call, CallState.ENTERING)
            self._enqueue(call)
        elif ov.kind == "number":
            self._dial_number(call, ov.target)
        elif ov.kind == "voicemail":
            self._voicemail(call)
        else:
            call.end_reason = when
            if announce:
                self._play(call, [announce], "then_hangup")
            else:
                self._end(call, by="system", outcome=when)

    def _dial_number(self, call: Call, dialstring: str) -> None:
        self._call_to(call, CallState.RINGING)
        call.stage = "external"
        call.agent = None
        call.offers += 1
        leg = f"{BRIDGE_PREFIX}{call.id}-x{call.offers}"
        call.agent_channel = leg
        self.by_channel[leg] = call.id
        self._apply(call, dialing_effects(leg, number=dialstring), f"dial {call.id}")

        async def go() -> None:
            self._originating.add(leg)
            try:
                await self.ari.originate(dialstring, leg, app_args=f"{AGENT_LEG},{call.id}",
                                         caller_id=f'"{call.queue}" <{call.caller}>', timeout=60)
            except AriError:
                if call.agent_channel == leg and call.state is CallState.RINGING:
                    self._end(call, by="system", outcome="overflow_failed")
                raise
            finally:
                self._originating.discard(leg)
        self._spawn(go(), f"dial {dialstring} for {call.id}", call.id)

    def _voicemail(self, call: Call) -> None:
        q = self.cfg.queues[call.queue]
        self._call_to(call, CallState.VOICEMAIL)
        call.stage = "voicemail"
        self._disarm_call(call.id)
        self._record_call("call.voicemail_started", call)
        self._play(call, [q.announcements.voicemail_prompt, "sound:beep"], "voicemail_prompt")

    # == DTMF: callback or voicemail instead of waiting ===============================================
    def _dtmf(self, channel_id: str, digit: str) -> None:
        call = self.calls.get(self.by_channel.get(channel_id, ""))
        if call is None or channel_id != call.channel:
            return
        if self.front is not None and self.front.dtmf(call, digit):
            return
        q = self.cfg.queues.get(call.queue)
        if q is None:
            return
        if call.id in self._digits:  # keying a preferred time for the callback
            if digit == "#":
                self._callback_done(call.id)
            else:
                self._digits[call.id] += digit
                self._arm("digits", call.id, self.callback_digit_timeout, self._callback_done, call.id)
            return
        if call.state not in (CallState.QUEUED, CallState.ENTERING):
            return
        if q.callback_key and digit == q.callback_key:
            if call.state is CallState.QUEUED:
                self._leave_queue(call, "EXITWITHKEY", key=digit)
            self._call_to(call, CallState.ENTERING)  # out of the queue, not yet gone
            call.stage = "callback"
            self._digits[call.id] = ""
            self._record_call("call.callback_key", call, key=digit)
            self._arm("digits", call.id, self.callback_digit_timeout, self._callback_done, call.id)
            if q.announcements.callback_offer:
                self._play(call, [q.announcements.callback_offer], "key")
        elif q.voicemail_key and digit == q.voicemail_key:
            if call.state is CallState.QUEUED:
                self._leave_queue(call, "EXITWITHKEY", key=digit)
            self._voicemail(call)

    def leave_ivr(self, call: Call, kind: str, target: str = "") -> None:
        """The IVR is done with a call: queue:NAME, agent:ID, number:DIAL, voicemail, callback or hangup.
        Skills, priority and tags the caller's path set are already on the call."""
        call.stage = "announcement"
        if kind == "queue":
            if target not in self.cfg.queues:
                log.warning("IVR sent call %s to unknown queue %r; it stays in %s", call.id, target, call.queue)
            else:
                call.queue = target
            call.skills = call.skills or list(self.cfg.queues[call.queue].skills)
            self._enter(call)
        elif kind == "agent":
            call.target_agent = target
            self._enqueue(call)
        elif kind == "number":
            self._dial_number(call, target if "/" in target else self.dial_template.format(number=target))
        elif kind == "voicemail":
            self._voicemail(call)
        elif kind == "callback":
            item = self._new_callback("callback", call, preferred=None, digits="")
            self._record_call("call.callback", call, callback=item["id"], preferred=None)
            call.end_reason = "callback"
            self._play(call, [self.cfg.queues[call.queue].announcements.callback_thanks], "then_hangup")
        else:
            self._end(call, by="system", outcome="ivr_hangup")

    def _callback_done(self, call_id: str) -> None:
        call = self.calls.get(call_id)
        digits = self._digits.pop(call_id, "")
        self._disarm("digits", call_id)
        if call is None:
            return
        preferred = self._preferred_time(call, digits)
        item = self._new_callback("callback", call, preferred=preferred, digits=digits)
        self._record_call("call.callback", call, callback=item["id"], preferred=preferred)
        call.end_reason = "callback"
        q = self.cfg.queues[call.queue]
        self._play(call, [q.announcements.callback_thanks], "then_hangup")

    def _preferred_time(self, call: Call, digits: str) -> float | None:
        """HHMM keyed by the caller, the next such moment in the queue's time zone; None: as soon as possible."""
        if len(digits) != 4 or not digits.isdigit():
            return None
        h, m = int(digits[:2]), int(digits[2:])
        if h > 23 or m > 59:
            return None
        tz = ZoneInfo(self.cfg.queues[call.queue].schedule.tz)
        now = datetime.fromtimestamp(self.clock(), tz)
        at = now.replace(hour=h, minute=m, second=0, microsecond=0)
        if at <= now:
            at += timedelta(days=1)
        return at.timestamp()

    def _new_callback(self, kind: str, call: Call, **extra: Any) -> dict[str, Any]:
        item = {"id": uuid.uuid4().hex[:12], "kind": kind, "caller": call.caller, "queue": call.queue,
                "tenant": self.cfg.queues[call.queue].tenant if call.queue in self.cfg.queues else "",
                "call_id": call.id, "requested": self.clock(), "enqueued": call.enqueued, "state": "open",
                "agent": None, **extra}
        if call.verified:  # the caller proved who they are before asking (server/verified): say so, not what
            item["identified"] = {k: call.verified.get(k) for k in ("kind", "at", "via")}
        self.store.save_callback(item)
        self.publish(Event.CALLBACK, item, None)
        self._hook("callback_created", item)
        return item

    # == routing ======================================================================================
    def route(self) -> None:
        qp = {n: q.priority for n, q in self.cfg.queues.items()}
        if self.ari.breaker.is_open or self._holdoff:
            # Under overload (server/calls/overload.py) some calls and agents are held back: the
            # plain decision over what may be paired now; the index catches up from the touches.
            calls, agents = self._routable()
            offers = decide(calls, agents, qp) if calls and agents else []
        else:
            offers = self.router.decide(qp)
        for call_id, agent_id in offers:
            self._offer(self.calls[call_id], self.agents[agent_id])

    def _ring_timeout_for(self, call: Call) -> float:
        q = self.cfg.queues.get(call.queue)
        return q.ring_timeout if q and q.ring_timeout else self.ring_timeout

    def _offer(self, call: Call, agent: Agent) -> None:
        self._disarm("position", call.id)
        self._call_to(call, CallState.RINGING)
        call.stage = "ringing"
        call.agent = agent.id
        call.offers += 1
        call.agent_channel = None
        call.ring_start = self.clock()
        agent.call_id = call.id
        self._set_agent(agent, AgentState.RINGING, call=call.id)
        self._apply(call, offered_effects(agent.id), f"offer {call.id}")
        self.hooks.call_offered(call, agent.id)
        self._arm("ring", call.id, self._ring_timeout_for(call), self._ring_timeout, call.id, call.offers)
        # A console-mode agent is rung once it accepts; a callee dialled ahead cannot wait for that.
        self._dial_agent(call, agent, accepted=call.id in self._ahead)

    def _ring_timeout(self, call_id: str, offer: int) -> None:
        call = self.calls.get(call_id)
        if call and call.state is CallState.RINGING and call.offers == offer and call.agent:
            self._ring_no_answer(call, "no answer")

    def _ring_no_answer(self, call: Call, why: str) -> None:
        """The offered agent did not answer: the call goes back to the queue, the agent not ready."""
        agent = self.agents.get(call.agent or "")
        leg = call.agent_channel
        if leg:
            self.by_channel.pop(leg, None)
            self._spawn(self.ari.hangup(leg), f"cancel leg {leg}", call.id)
        self._disarm("ring", call.id)
        now = self.clock()
        effects = ring_no_answer_effects(now, call.channel, call.queue, agent.id if agent else None,
                                         int((now - call.ring_start) * 1000), why)
        self._call_to(call, CallState.QUEUED)
        call.stage = "queue"
        call.agent = None
        call.agent_channel = None
        self._apply(call, effects, f"ring no answer {call.id}")
        if agent:
            agent.call_id = None
            # Asterisk not answering is not the agent's doing: ready again, rested by _offer_failed.
            self._set_agent(agent, AgentState.READY if why == "pbx not answering" else AgentState.PAUSED,
                            "" if why == "pbx not answering" else why)
        self._offer_failed(call, agent, why)
        self._moh(call)
        q = self.cfg.queues.get(call.queue)
        if q and q.announcements.position_every:
            self._arm("position", call.id, q.announcements.position_every, self._announce_position, call.id)
        self.route()

    def _dial_agent(self, call: Call, agent: Agent, *, accepted: bool = True) -> None:
        leg = f"{BRIDGE_PREFIX}{call.id}-{call.offers}"
        effects = offer_effects(call.id, call.queue, call.caller, leg, agent.device, agent.answer_mode,
                                self._ring_timeout_for(call), accepted)
        if not effects:
            return
        (originate,) = effects
        call.agent_channel = leg
        # Recorded before the originate: its StasisStart may beat the HTTP reply.
        self.by_channel[leg] = call.id
        self._apply(call, dialing_effects(leg, agent=agent.id), f"dial {call.id}")

        async def go() -> None:
            self._originating.add(leg)
            try:
                # A refused connection is retried with the same channel id (a 409 then means an
                # earlier try did get through); a read timeout is not (server/ari/breaker.py).
                async for attempt in retrying(timeout=max(2.0, self._ring_timeout_for(call))):
                    with attempt:
                        try:
                            await self.originate_device(
                                agent.id, originate.endpoint, originate.channel_id, app_args=originate.app_args,
                                caller_id=originate.caller_id, timeout=originate.timeout,
                                variables=dict(originate.variables))
                        except AriError as exc:
                            if exc.status == 409 and attempt.num > 1:
                                return
                            raise
            except AriError as exc:
                if call.state is CallState.RINGING and call.agent_channel == leg:
                    # An answer is a real refusal (unknown or unreachable device); no answer at
                    # all after the retries is Asterisk's trouble, not the device's.
                    self._ring_no_answer(call, "pbx not answering" if transient(exc) else "device unreachable")
                raise
            finally:
                self._originating.discard(leg)
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
        self._disarm_call(call.id)
        self._offer_settled(call.id)
        self._call_to(call, CallState.CONNECTED)
        call.stage = "talk"
        call.answered = now
        wait = now - call.enqueued
        agent = self.agents.get(call.agent or "")
        if agent:
            self._set_agent(agent, AgentState.ON_CALL, call=call.id)
        self._apply(call, connect_effects(now, call.channel, call.queue, agent.id if agent else None,
                                          clock_seconds(call.enqueued, now), call.agent_channel or "",
                                          int(now - call.ring_start), wait), f"connect {call.id}")
        leg = call.agent_channel or ""

        async def bridge() -> None:
            try:
                await self.ari.stop_moh(call.bridge)
            except AriError as exc:  # music still playing is a nuisance; no bridge is no call
                log.warning("stop moh for %s: %s", call.id, exc)
            async for attempt in retrying():
                with attempt:
                    await self.ari.add_channel(call.bridge, leg)
        self._spawn(bridge(), f"bridge {call.id}", call.id)
        self.hooks.call_connected(call)

    def _channel_gone(self, channel_id: str, cause: int | None) -> None:
        call_id = self.by_channel.get(channel_id)
        call = self.calls.get(call_id or "")
        if call is None:
            return
        if call.consult and channel_id == call.consult["leg"]:
            self._consult_over(call, "no answer" if call.consult["state"] == ConsultState.RINGING
                                else "target hung up")
            return
        if call.direction == "outbound" and call.state is not CallState.CONNECTED and call.answered is None:
            # Before the called party answered: not reached (or the agent dropped the attempt).
            by = "agent" if channel_id == call.agent_channel else "system"
            self.hooks.call_not_reached(call, cause, by)
            self._end(call, by=by, cause=cause, outcome="not_reached")
            return
        if channel_id == call.channel:
            self._end(call, by="caller", cause=cause)
        elif channel_id == call.agent_channel and call.consult and call.consult["state"] == ConsultState.CONFERENCE \
                and call.agent:
            # The agent leaves a conference: the caller and the target go on, as a transfer.
            self.consult_complete(call.agent, call.id)
        elif channel_id == call.agent_channel:
            if call.state is CallState.RINGING and call.agent:
                self._ring_no_answer(call, "no answer" if cause in NO_ANSWER_CAUSES else "device unreachable")
            elif call.state is CallState.RINGING:  # an overflow number that did not answer
                self._end(call, by="system", cause=cause, outcome="overflow_failed")
            elif call.state is CallState.CONNECTED:
                self._end(call, by="agent", cause=cause)

    def _end(self, call: Call, *, by: str, cause: int | None = None, outcome: str = "") -> None:
        if call.state is CallState.ENDED:
            return
        now = self.clock()
        prev = call.state
        qpos = self.qlog_position(call)  # before the call leaves the queue's list
        self._disarm_call(call.id)
        self._offer_settled(call.id)
        self._digits.pop(call.id, None)
        self._call_to(call, CallState.ENDED)
        call.ended = now
        agent = self.agents.get(call.agent or "")
        if prev is CallState.CONNECTED and call.held:  # hung up while on hold: the hold ends with the call
            call.hold_total += now - call.hold_start
            call.held = False
        lines = end_queue_log(now, prev, by, outcome, call.channel, call.queue, agent.id if agent else None,
                              # a callee dialled ahead waited in the queue as a caller does
                              "inbound" if call.id in self._ahead else call.direction,
                              call.qlog_closed, call.enqueued, call.answered, call.ring_start, call.position, qpos)
        callback = None
        if prev is CallState.VOICEMAIL:
            callback = self._new_callback("voicemail", call, recording=f"vm-{call.id}")["id"]
        c = call.consult
        record, call.end_reason = end_record(now, prev, by, cause, outcome, call.stage, call.enqueued, call.answered,
                                             call.hold_total, c["state"] if c else None, callback)
        self.calls.pop(call.id, None)
        self.by_channel.pop(call.channel, None)
        if call.agent_channel:
            self.by_channel.pop(call.agent_channel, None)
        self.monitors.call_ended(call.id)
        consulted = None  # the agent a consultation was ringing or talking to: free once the call is over
        if c:
            self.by_channel.pop(c["leg"], None)
            if c["agent"] and self.agents[c["agent"]].call_id == call.id:
                consulted = self.agents[c["agent"]]
                consulted.call_id = None
        # The call's end is written before any agent's move it causes, the consulted agent's as the
        # call's own agent's: whoever reads the store or the hooks sees the call over, then its agents free.
        self._apply(call, [*lines, record, *(consult_dropped_effects(c) if c else ())], f"end {call.id}", each=True)
        self._ahead.pop(call.id, None)
        self.hooks.call_ended(call, record.kind)
        if consulted is not None:
            self._free(consulted)
        if agent and agent.call_id == call.id:
            agent.call_id = None
            agent.last_call_end = now
            agent.last_call_id = call.id
            if prev is CallState.CONNECTED:
                self._remember_agent(call.caller, agent.id, now)
                self._start_wrapup(agent, call)
            elif agent.state is AgentState.RINGING or call.direction == "outbound":
                self._free(agent)
        self._spawn(self._teardown(call), f"teardown {call.id}", call.id)
        self.route()

    def _remember_agent(self, caller: str, agent_id: str, now: float) -> None:
        """The caller's last agent, for sticky routing. Kept only as long as it can matter: every
        caller ever answered would otherwise stay in memory for the server's lifetime."""
        window = self.cfg.sticky_seconds
        if not window:
            self.last_agent.clear()  # sticky routing off (perhaps by a reload): nothing to remember
            return
        if not caller:
            return
        self.last_agent.pop(caller, None)  # re-inserted last, so the dict stays in order of time
        self.last_agent[caller] = (agent_id, now)
        cutoff = now - window
        while self.last_agent:  # the oldest first: each entry is dropped once, so amortised O(1)
            old = next(iter(self.last_agent))
            if self.last_agent[old][1] >= cutoff:
                break
            del self.last_agent[old]

    def _start_wrapup(self, agent: Agent, call: Call) -> None:
        q = self.cfg.queues.get(call.queue)
        wrapup = q.wrapup if q else 0.0
        if wrapup > 0:
            agent.wrapup_until = self.clock() + wrapup
            self._set_agent(agent, AgentState.WRAP_UP, call=call.id)
            self._arm("wrapup", agent.id, wrapup, self._end_wrapup, agent.id)
        else:
            self._free(agent)

    def _free(self, agent: Agent) -> None:
        """The agent's call (and wrap-up) is over: ready, or paused if they asked during the call."""
        code = agent.pending_pause
        if code:
            self._set_agent(agent, AgentState.PAUSED, code, kind=self._pause_kind(code), pending=True)
        else:
            self._set_agent(agent, AgentState.READY)

    def _pause_kind(self, code: str) -> str:
        return self.cfg.pause_reasons[code].kind if code in self.cfg.pause_reasons else "work"

    def _end_wrapup(self, agent_id: str) -> None:
        agent = self.agents.get(agent_id)
        if agent and agent.state is AgentState.WRAP_UP:
            self._disarm("wrapup", agent_id)
            agent.wrapup_until = 0.0
            self._free(agent)
            self.route()

    async def _teardown(self, call: Call) -> None:
        # Each step on its own: one failed hang-up (Asterisk busy) must not leave the rest behind.
        steps: list[Callable[[], Coroutine[Any, Any, Any]]] = [
            functools.partial(self.ari.hangup, ch) for ch in (call.channel, call.agent_channel) if ch]
        steps.append(lambda: self.ari.destroy_bridge(call.bridge))
        for make in steps:
            await self._retrying(make)

    @staticmethod
    async def _retrying(make: Callable[[], Coroutine[Any, Any, Any]], attempts: int = 3) -> Any:
        """Run an idempotent ARI call, retrying when Asterisk does not answer (server/ari/breaker.py)."""
        try:
            async for attempt in retrying(attempts=attempts):
                with attempt:
                    return await make()
        except AriError as exc:
            log.warning("%s", exc)
        return None

    # == resync after (re)connect ======================================================================
    async def _on_ari_down(self) -> None:
        self.ari_up = False
        self.publish(Event.SERVER_STATUS, {"ari": "down"}, None)

    async def resync(self) -> None:
        """Reconcile our state with Asterisk's after every (re)connect of the ARI websocket."""
        raw = await self.ari.request("GET", "/channels")
        channels = {c["id"]: Channel.from_json(c) for c in raw}
        stasis_args = {c["id"]: (c.get("dialplan") or {}).get("app_data", "") for c in raw}
        bridges = {b.id: b for b in await self.ari.bridges()}
        self._playbacks.clear()  # their PlaybackFinished may be lost: timers and states below carry on
        self._hanging_up &= set(channels)
        for call in list(self.calls.values()):
            if call.channel not in channels:
                self._end(call, by="caller", cause=None)
                continue
            leg = call.agent_channel
            bridge = bridges.get(call.bridge)
            if call.consult:
                self.by_channel[call.consult["leg"]] = call.id
                cleg = call.consult["leg"]
                if cleg not in channels:
                    self._consult_over(call, "target gone while we were away")
                elif call.consult["state"] == ConsultState.RINGING and channels[cleg].state == "Up":
                    self._consult_leg_up(cleg, call.id)
                live_consult = call.consult["bridge"] if call.consult else None
                if live_consult:
                    bridges.pop(live_consult, None)  # not stale: keep it
            if call.state is CallState.CONNECTED and (not leg or leg not in channels):
                self._end(call, by="agent")
                continue
            if call.state is CallState.RINGING and leg:
                if leg not in channels:
                    if call.agent:
                        self._ring_no_answer(call, "no answer")
                    else:
                        self._end(call, by="system", outcome="overflow_failed")
                    continue
                if (bridge and leg in bridge.channels) or channels[leg].state == "Up":
                    self._connect(call)  # answered while we were away
            elif call.state is CallState.RINGING and call.id in self._ahead and call.answered is None:
                # a campaign's callee dialled ahead: its answer may have been lost with the connection
                if channels[call.channel].state == "Up":
                    self._outbound_leg_up(call.channel, OUT_REMOTE, call.id)
                else:
                    self._arm("dial", call.id, self.ahead_no_news, self._ahead_no_news, call.id)
                continue
            elif call.state is CallState.RINGING and call.agent:
                self._arm("ring", call.id, self._ring_timeout_for(call), self._ring_timeout, call.id, call.offers)
            elif call.state is CallState.QUEUED:
                self._arm_queue_timers(call)
            elif call.state is CallState.ENTERING and call.stage in ("ivr", "before_ivr"):
                if self.front is None or not self.front.take(call):  # its menu starts again
                    self._enter(call)
            elif call.state is CallState.ENTERING and call.stage == "announcement":
                self._enqueue(call)  # the greeting's end was lost with the connection
            elif call.state is CallState.ENTERING and call.stage == "callback":
                self._callback_done(call.id)
            if call.state is not CallState.ENDED and not call.consult and (
                    bridge is None or call.channel not in bridge.channels):
                self._spawn(self._hold(call), f"re-hold {call.id}", call.id)
        # Inbound channels that entered our app while we were not listening.
        for ch in channels.values():
            parts = stasis_args.get(ch.id, "").split(",")
            if ch.id not in self.by_channel and parts[0] == self.ari.app and len(parts) > 1 and parts[1] == INBOUND:
                self._new_inbound(ch, parts[2] if len(parts) > 2 else ch.exten)
            elif ch.id.startswith(BRIDGE_PREFIX) and not self._ours_live(ch.id):
                self._spawn(self.ari.hangup(ch.id), f"drop stale leg {ch.id}")
        live = {c.bridge for c in self.calls.values()} | {m.bridge for m in self.monitors.monitors.values()}
        for b in bridges.values():
            if b.id.startswith(BRIDGE_PREFIX) and b.id not in live:
                self._spawn(self.ari.destroy_bridge(b.id), f"destroy stale bridge {b.id}")
        now = self.clock()
        for agent in self.agents.values():
            if agent.state is AgentState.WRAP_UP and ("wrapup", agent.id) not in self._timers:
                self._arm("wrapup", agent.id, agent.wrapup_until - now, self._end_wrapup, agent.id)
        self.ari_up = True
        self.publish(Event.SERVER_STATUS, {"ari": "up"}, None)
        self._missing, self._strays = set(), set()
        self._start_reconcile()
        self.route()
        self._hook("resynced")

    def _ours_live(self, channel_id: str) -> bool:
        """Is this channel (or the leg whose Local-channel half it is) part of a live call or monitor?"""
        owner = leg_owner(channel_id)
        return any(c in self.by_channel or self.monitors.owns(c) for c in (channel_id, owner))

    async def originate_device(self, person: str, device: str, channel_id: str, **kw: Any) -> Any:
        """Dial an agent's or supervisor's own device for a leg (the same arguments as ARI's originate)."""
        dialer = self.dialers.get(device.split("/", 1)[0])
        if dialer is not None:
            return await dialer(person, device, channel_id, **kw)
        return await self.ari.originate(device, channel_id, **kw)

    # == console commands =============================================================================
    def agent(self, agent_id: str) -> Agent:
        agent = self.agents.get(agent_id)
        if agent is None:
            raise NotFound(f"no agent {agent_id!r}; this user has no agent profile")
        return agent

    # queue_log, as Asterisk writes it: AGENTLOGIN/AGENTLOGOFF once per session (queue NONE), and
    # ADDMEMBER/REMOVEMEMBER for each queue joined or left.
    def _queues_login(self, agent: Agent, queues: list[str]) -> None:
        self.router.touch_agent(agent)
        now = self.clock()
        for q in queues:
            if q not in agent.queues:
                agent.queues.append(q)
                self.qlog.addmember(now, q, agent.id)

    def _queues_logout(self, agent: Agent, queues: list[str]) -> None:
        self.router.touch_agent(agent)
        now = self.clock()
        for q in list(queues):
            if q in agent.queues:
                agent.queues.remove(q)
                self.qlog.removemember(now, q, agent.id)

    def _check_queues(self, agent: Agent, queues: list[Any]) -> list[str]:
        bad = [q for q in queues if not isinstance(q, str) or q not in self.cfg.queues]
        if bad:
            raise NotFound(f"unknown queue(s): {bad}")
        not_member = [q for q in queues if q not in agent.penalties]
        if not_member:
            raise Forbidden(f"{agent.id} is not a member of {not_member}")
        return list(dict.fromkeys(queues))

    def agent_login(self, agent_id: str, queues: list[str] | None = None, *, by_self: bool = True) -> Agent:
        agent = self.agent(agent_id)
        if by_self and not agent.self_login:
            raise Forbidden("you may not log yourself in or out of queues; ask a supervisor")
        if not agent.device:
            raise Conflict("this agent has no device configured")
        wanted = self._check_queues(agent, queues) if queues is not None else list(agent.penalties)
        if not wanted:
            raise Conflict("this agent is a member of no queue")
        if agent.state is AgentState.LOGGED_OUT:
            agent.queues = []
            agent.logged_in_since = self.clock()
            self.qlog.agentlogin(agent.logged_in_since, "NONE", agent.id, agent.device)
            self._queues_login(agent, wanted)
            self._set_agent(agent, AgentState.READY, queues=agent.queues)
        else:
            self._queues_logout(agent, [q for q in agent.queues if q not in wanted])
            self._queues_login(agent, wanted)
            self.store.record("agent.queues", ts=self.clock(), agent=agent.to_dict())
            self.publish(Event.AGENT_STATE, agent.to_dict(), agent.id)
            for q in self.cfg.queues:
                self._publish_queue(q)
        self.route()
        return agent

    def agent_logout(self, agent_id: str, *, by_self: bool = True) -> Agent:
        agent = self.agent(agent_id)
        if by_self and not agent.self_login:
            raise Forbidden("you may not log yourself in or out of queues; ask a supervisor")
        if agent.call_id:
            raise Conflict("finish the current call before logging out")
        if agent.state is AgentState.PAUSED:
            self._set_agent(agent, AgentState.READY)  # UNPAUSE before the log-off, as app_queue does
        self._disarm("wrapup", agent.id)
        queues = list(agent.queues)
        self._queues_logout(agent, queues)
        now = self.clock()
        self.qlog.agentlogoff(now, "NONE", agent.id, agent.device, clock_seconds(agent.logged_in_since or now, now))
        self._set_agent(agent, AgentState.LOGGED_OUT, queues=queues)
        for q in queues:
            self._publish_queue(q)
        return agent

    def agent_ready(self, agent_id: str) -> Agent:
        agent = self.agent(agent_id)
        if agent.state is AgentState.WRAP_UP:
            agent.pending_pause = ""  # asked for ready at the end of the call after all
        if agent.state is AgentState.LOGGED_OUT:
            return self.agent_login(agent_id)
        if agent.state is AgentState.WRAP_UP:
            self._end_wrapup(agent_id)  # wrap-up ended early by the agent
        elif agent.state is AgentState.PAUSED:
            self._set_agent(agent, AgentState.READY)
            self.route()
        elif agent.state is not AgentState.READY:
            raise Conflict(f"agent is {agent.state}; cannot become ready now")
        return agent

    def agent_pause(self, agent_id: str, reason: str = "") -> Agent:
        agent = self.agent(agent_id)
        code = reason or next(iter(self.cfg.pause_reasons), "break")
        if code not in self.cfg.pause_reasons and code not in SYSTEM_REASONS:
            raise Invalid(f"unknown pause reason {code!r}; "
                          f"use one of {', '.join(self.cfg.pause_reasons)}")
        if agent.state in (AgentState.RINGING, AgentState.ON_CALL):
            # Asked during a call: kept on the agent, applied when the call and its wrap-up end
            # (no new offer in between: the agent is never ready again until then).
            self._pending_pause(agent, code)
            return agent
        if agent.state not in (AgentState.READY, AgentState.PAUSED, AgentState.WRAP_UP):
            raise Conflict(f"agent is {agent.state}; pause when ready or in wrap-up")
        self._disarm("wrapup", agent.id)
        self._set_agent(agent, AgentState.PAUSED, code, kind=self._pause_kind(code))
        return agent

    def agent_pause_cancel(self, agent_id: str) -> Agent:
        agent = self.agent(agent_id)
        if not agent.pending_pause:
            raise Conflict("no pause is pending")
        self._pending_pause(agent, "")
        return agent

    def _pending_pause(self, agent: Agent, code: str) -> None:
        agent.pending_pause = code
        self.store.record("agent.pause_pending", ts=self.clock(), agent=agent.to_dict(),
                          data={"reason": code, "cancelled": not code})
        self._emit(("agent", agent.id), Event.AGENT_STATE, agent.to_dict(), agent.id)

    def _my_call(self, agent_id: str, call_id: str | None) -> Call:
        agent = self.agent(agent_id)
        cid = call_id or agent.call_id
        call = self.calls.get(cid or "")
        if call is None:
            if call_id:
                raise NotFound(f"no active call {call_id!r}")
            raise Conflict("no call for this agent right now")
        if call.agent != agent_id:
            raise Forbidden("that call is not yours")
        return call

    def answer(self, agent_id: str, call_id: str | None = None) -> Call:
        call = self._my_call(agent_id, call_id)
        if call.state is not CallState.RINGING:
            raise Conflict(f"the call is {call.state}, not ringing")
        agent = self.agents[agent_id]
        if agent.answer_mode is AnswerMode.PHONE:
            raise Conflict("this agent answers on the phone itself")
        if call.agent_channel:
            raise Conflict("already answering")
        self._dial_agent(call, agent)
        return call

    def hangup(self, agent_id: str, call_id: str | None = None) -> Call:
        call = self._my_call(agent_id, call_id)
        if call.state is CallState.RINGING and call.direction == "outbound":
            self._end(call, by="agent", outcome="not_reached")
        elif call.state is CallState.RINGING:
            # Declining an offer: back to the queue for someone else; this agent pauses.
            self._ring_no_answer(call, "declined")
        elif call.consult and call.consult["state"] == ConsultState.CONFERENCE:
            # Leaving a conference: the caller and the consulted party go on without me.
            self.consult_complete(agent_id, call.id)
        else:
            self._end(call, by="agent")
        return call

    def set_agent_state(self, agent_id: str, state: str, reason: str = "") -> Agent:
        try:
            target = AgentState(state)
        except ValueError:
            raise Invalid(f"state must be ready, paused or logged_out, not {state!r}") from None
        if target is AgentState.READY:
            return self.agent_ready(agent_id)
        if target is AgentState.PAUSED:
            return self.agent_pause(agent_id, reason)
        if target is AgentState.LOGGED_OUT:
            return self.agent_logout(agent_id, by_self=False)
        raise Invalid(f"cannot set an agent to {state!r}")

    def set_problem_media(self, queue: str, media: str, *, by: str, seconds: float) -> None:
        """A supervisor uploaded a new general-problem message for the queue."""
        self.queue(queue)
        self.problem_media[queue] = media
        if queue in self.problem:
            self.problem[queue] = media
        self.store.record("queue.problem_uploaded", ts=self.clock(), queue=queue,
                          data={"media": media, "by": by, "seconds": seconds})

    def set_problem(self, queue: str, on: bool, media: str = "") -> QueueStats:
        q = self.queue(queue)
        if on:
            media = media or self.problem_media.get(queue) or q.announcements.general_problem
            if not media:
                raise Conflict(f"queue {queue!r} has no general-problem message; upload one")
            self.problem[queue] = media
        else:
            self.problem.pop(queue, None)
        self.store.record("queue.problem", ts=self.clock(), queue=queue, data={"on": on, "media": media})
        self._publish_queue(queue)
        return self.queue_figures(queue)

    def callbacks(self, state: str | None = "open") -> list[dict[str, Any]]:
        return self.store.callbacks(state)
