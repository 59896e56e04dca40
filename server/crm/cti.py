"""CTI contact start and stop per agent, in the form the Rx.Front KCC interface defines.

When an agent's part in a call begins (the call connects to them, they answer a consultation) the
CRM gets ``action=CTIEventStartContact``; when it ends (they hang up, transfer the call away, the
consultation is cancelled, the call ends) ``action=CTIEventStopContact`` with ``duration`` in
seconds. ``userid`` is the CRM's account of our user (the [crm] users table, as the KCC's
kcc-cti.xml maps them); ``callerid`` the caller's number. GET carries the fields in the query
string, POST as a form body. Each agent's feed is one outbox stream, so a stop never overtakes its
start. The contacts open per agent are kept with the outbox, so a restart still stops them.
"""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .settings import CtiTarget
from .store import NewItem

if TYPE_CHECKING:
    from cc_console.models import Call

    from .service import CrmService

START, STOP = "CTIEventStartContact", "CTIEventStopContact"


@dataclass(frozen=True)
class OpenContact:
    call_id: str
    agent: str
    started: float
    callerid: str
    url: str
    method: str
    redirect: bool


def request(target_url: str, method: str, fields: dict[str, str]) -> tuple[str, str, dict[str, str]]:
    """(url, body, headers) of one KCC request."""
    form = urlencode(fields)
    if method == "GET":
        return f"{target_url}{'&' if '?' in target_url else '?'}{form}", "", {}
    return target_url, form, {"Content-Type": "application/x-www-form-urlencoded"}


class CtiFeed:
    def __init__(self, svc: CrmService) -> None:
        self.svc = svc
        self.open: dict[tuple[str, str], OpenContact] = {}

    def load(self, rows: list[dict[str, Any]]) -> None:
        for r in rows:
            self.open[(r["call_id"], r["agent"])] = OpenContact(r["call_id"], r["agent"], r["started"], r["callerid"],
                                                                r["url"], r["method"], bool(r["redirect"]))

    def userid(self, agent: str) -> str:
        return self.svc.settings.users.get(agent, agent)

    def _target(self, call: Call) -> CtiTarget | None:
        q = self.svc.engine.cfg.queues.get(call.queue) if call.queue else None
        return self.svc.settings.target_for(q.tenant if q else "", call.queue or "")

    def start(self, call: Call, agent: str) -> None:
        if (call.id, agent) in self.open:
            return
        target = self._target(call)
        now = self.svc.clock()
        caller = call.caller or ""
        if target is not None:
            oc = OpenContact(call.id, agent, now, caller, target.url, target.method, target.redirect)
            self.open[(call.id, agent)] = oc
            url, body, headers = request(target.url, target.method, {
                "action": START, "userid": self.userid(agent), "callerid": caller,
                "redirect": "true" if target.redirect else "false"})
            self.svc.write([NewItem(f"cti:{agent}", "cti", START, target.method, url, body, headers)],
                           cti_open=((call.id, agent, now, caller, target.url, target.method, int(target.redirect)),))
        self.svc.open_page(call, agent)

    def stop(self, call_id: str, agent: str) -> None:
        oc = self.open.pop((call_id, agent), None)
        if oc is None:
            return
        duration = max(0, math.floor(self.svc.clock() - oc.started + 0.5))
        url, body, headers = request(oc.url, oc.method, {
            "action": STOP, "userid": self.userid(agent), "callerid": oc.callerid, "duration": str(duration),
            "redirect": "true" if oc.redirect else "false"})
        self.svc.write([NewItem(f"cti:{agent}", "cti", STOP, oc.method, url, body, headers)],
                       cti_close=((call_id, agent),))

    # -- from the call engine's hooks ------------------------------------------------------------------
    def call_connected(self, call: Call) -> None:
        if call.agent:
            self.start(call, call.agent)

    def call_leg_ended(self, call: Call, agent_id: str) -> None:
        self.stop(call.id, agent_id)

    def call_ended(self, call: Call, kind: str) -> None:
        for call_id, agent in [k for k in self.open if k[0] == call.id]:
            self.stop(call_id, agent)

    def consult_connected(self, call: Call) -> None:
        target = (call.consult or {}).get("agent")
        if target:
            self.start(call, target)

    def consult_ended(self, call: Call) -> None:
        # Called before the engine decides what the consultation became: the target may now hold
        # the call (attended transfer) or share it (conference). Settle once this tick is over.
        target = (call.consult or {}).get("agent")
        if target and (call.id, target) in self.open:
            asyncio.get_running_loop().call_soon(self._settle, call, target)

    def _settle(self, call: Call, agent: str) -> None:
        c = call.consult or {}
        if call.agent == agent or (c.get("agent") == agent and c.get("state") == "conference"):
            return
        self.stop(call.id, agent)
