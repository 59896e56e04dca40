"""Supervisor monitoring: listen, whisper (coach) and barge, with ARI snoop channels.

A snoop channel on the agent's leg, bridged with the supervisor's own leg:

* listen:  spy=both, whisper=none — the supervisor hears both sides, nobody hears the supervisor;
* whisper: spy=both, whisper=out  — the agent hears the supervisor, the caller does not;
* barge:   spy=both, whisper=both — caller and agent hear the supervisor.

(`whisper=out` is audio sent out of the agent's channel, i.e. to the agent's phone; checked with
real phones in tests/test_monitor.py.) Changing the mode replaces the snoop channel and keeps the
supervisor's leg, so the supervisor's phone does not ring again.
"""
from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cc_console.errors import Conflict, Invalid
from cc_console.models import AgentState, AnswerMode, CallState

if TYPE_CHECKING:
    from .engine import CallEngine

MODES = {"listen": ("both", "none"), "whisper": ("both", "out"), "barge": ("both", "both")}
MONITOR = "monitor"
SNOOP = "snoop"
PREFIX = "cc-mon-"


@dataclass
class Monitor:
    id: str
    supervisor: str
    agent: str
    call_id: str
    mode: str
    sup_leg: str
    snoop: str
    bridge: str
    state: str = "dialing"  # dialing -> active -> ended
    snoop_ready: bool = False  # the snoop for the current mode is in the bridge: audio flows

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class MonitorService:
    def __init__(self, engine: CallEngine) -> None:
        self.engine = engine
        self.monitors: dict[str, Monitor] = {}
        self.by_channel: dict[str, str] = {}  # supervisor leg / snoop channel -> monitor id

    def owns(self, channel_id: str) -> bool:
        return channel_id in self.by_channel

    def _publish(self, m: Monitor) -> None:
        e = self.engine
        e.store.record(f"monitor.{m.state}", ts=e.clock(), call_id=m.call_id, agent_id=m.agent,
                       data={"monitor": m.to_dict()})
        e.publish("monitor.update", m.to_dict(), m.supervisor)

    # -- commands -------------------------------------------------------------------------------
    def start(self, supervisor_id: str, agent_id: str, mode: str) -> Monitor:
        e = self.engine
        if mode not in MODES:
            raise Invalid(f"mode must be one of {', '.join(MODES)}")
        sup = e.agent(supervisor_id)
        if not sup.device:
            raise Conflict("you have no device to listen on; set one for your user")
        if sup.call_id:
            raise Conflict("you are on a call yourself")
        target = e.agent(agent_id)
        call = e.calls.get(target.call_id or "")
        if call is None or call.state is not CallState.CONNECTED or not call.agent_channel:
            raise Conflict(f"{agent_id} is not on a call")
        current = self.of_supervisor(supervisor_id)
        if current and current.agent == agent_id:
            return self.change(supervisor_id, mode)
        if current:
            self.stop(supervisor_id)
        mid = uuid.uuid4().hex[:10]
        m = Monitor(mid, supervisor_id, agent_id, call.id, mode, sup_leg=f"{PREFIX}{mid}-sup",
                    snoop=f"{PREFIX}{mid}-snoop-1", bridge=f"{PREFIX}{mid}")
        self.monitors[mid] = m
        self.by_channel[m.sup_leg] = mid
        variables = {"CALLERID(name)": f"{mode}: {agent_id}"}
        if sup.answer_mode is AnswerMode.CONSOLE:
            variables["PJSIP_HEADER(add,Call-Info)"] = "<sip:127.0.0.1>;answer-after=0"
            variables["PJSIP_HEADER(add,Alert-Info)"] = "<http://127.0.0.1>;info=alert-autoanswer"

        async def go() -> None:
            await e.ari.create_bridge(m.bridge)
            await e.originate_device(sup.id, sup.device, m.sup_leg, app_args=f"{MONITOR},{mid}", timeout=30,
                                  caller_id=f'"{mode} {agent_id}" <{call.caller}>', variables=variables)
        e._spawn(go(), f"monitor {mid}", mid)
        self._publish(m)
        return m

    def change(self, supervisor_id: str, mode: str) -> Monitor:
        m = self.of_supervisor(supervisor_id)
        if m is None:
            raise Conflict("you are not monitoring anyone")
        if mode not in MODES:
            raise Invalid(f"mode must be one of {', '.join(MODES)}")
        if mode == m.mode:
            return m
        m.mode = mode
        if m.state == "active":
            m.snoop_ready = False
            old = m.snoop
            n = int(old.rsplit("-", 1)[1]) + 1
            m.snoop = f"{PREFIX}{m.id}-snoop-{n}"
            self.by_channel.pop(old, None)
            self._snoop(m)
            self.engine._spawn(self.engine.ari.hangup(old), f"drop snoop {old}", m.id)
        self._publish(m)
        return m

    def stop(self, supervisor_id: str) -> Monitor:
        m = self.of_supervisor(supervisor_id)
        if m is None:
            raise Conflict("you are not monitoring anyone")
        self._end(m)
        return m

    def of_supervisor(self, supervisor_id: str) -> Monitor | None:
        return next((m for m in self.monitors.values() if m.supervisor == supervisor_id), None)

    # -- events ---------------------------------------------------------------------------------
    def stasis_start(self, channel_id: str, kind: str, mid: str) -> None:
        m = self.monitors.get(mid)
        e = self.engine
        if m is None:
            e._spawn(e.ari.hangup(channel_id), f"drop stale monitor leg {channel_id}")
            return
        if kind == MONITOR and channel_id == m.sup_leg:
            m.state = "active"
            e._spawn(e.ari.add_channel(m.bridge, m.sup_leg), f"bridge supervisor {mid}", mid)
            self._snoop(m)
            self._publish(m)
        elif kind == SNOOP and channel_id == m.snoop:
            async def bridged() -> None:
                await e.ari.add_channel(m.bridge, m.snoop)
                if m.snoop == channel_id and m.state == "active":
                    m.snoop_ready = True
                    self._publish(m)
            e._spawn(bridged(), f"bridge snoop {mid}", mid)

    def _snoop(self, m: Monitor) -> None:
        e = self.engine
        call = e.calls.get(m.call_id)
        if call is None or not call.agent_channel:
            self._end(m)
            return
        spy, whisper = MODES[m.mode]
        self.by_channel[m.snoop] = m.id
        e._spawn(e.ari.request("POST", f"/channels/{call.agent_channel}/snoop", params={
            "spy": spy, "whisper": whisper, "app": e.ari.app, "appArgs": f"{SNOOP},{m.id}", "snoopId": m.snoop}),
            f"snoop {m.id}", m.id)

    def channel_gone(self, channel_id: str) -> None:
        mid = self.by_channel.pop(channel_id, None)
        m = self.monitors.get(mid or "")
        if m and channel_id == m.sup_leg:
            self._end(m)  # the supervisor hung up their phone

    def call_ended(self, call_id: str) -> None:
        for m in [m for m in self.monitors.values() if m.call_id == call_id]:
            self._end(m)

    def _end(self, m: Monitor) -> None:
        e = self.engine
        if m.state == "ended":
            return
        m.state = "ended"
        self.monitors.pop(m.id, None)
        for ch in (m.sup_leg, m.snoop):
            self.by_channel.pop(ch, None)

        async def teardown() -> None:
            await e.ari.hangup(m.snoop)
            await e.ari.hangup(m.sup_leg)
            await e.ari.destroy_bridge(m.bridge)
        e._spawn(teardown(), f"end monitor {m.id}", m.id)
        self._publish(m)

    def snapshot(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self.monitors.values()]


__all__ = ["MonitorService", "Monitor", "MODES", "AgentState"]
