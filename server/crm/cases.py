"""Cases (the regional centre's tickets): one opened for each inbound call when it is first offered,
pre-filled with the caller's number and the matched contact; edited by the agent during and after
the call; carried along when the call goes to a level-2 queue, where the ringing agent is sent it
before answering; closed with an outcome and then handed to the records system through the outbox.
"""
from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Any

from cc_console.errors import Conflict, Forbidden, Invalid, NotFound
from cc_console.protocol import P_SUPERVISE

from .store import NewItem

if TYPE_CHECKING:
    from cc_console.models import Call

    from .service import CrmService

CASE_EVENT = "case.update"
EDITABLE = ("subject", "notes", "contact_id")


class Cases:
    def __init__(self, svc: CrmService) -> None:
        self.svc = svc
        self.by_call: dict[str, dict[str, Any]] = {}  # cases of calls in progress

    def level(self, queue: str) -> int:
        return 2 if queue in self.svc.settings.level2_queues else 1

    def _note(self, case: dict[str, Any], what: str, by: str, **more: Any) -> None:
        case["history"] = [*case.get("history", []), {"ts": self.svc.clock(), "what": what, "by": by, **more}]
        case["updated"] = self.svc.clock()

    def _push(self, case: dict[str, Any], agent: str | None) -> None:
        if agent:
            self.svc.publish(CASE_EVENT, {"case": case}, agent)

    # -- from the call engine's hooks ------------------------------------------------------------------
    def call_offered(self, call: Call, agent_id: str) -> None:
        if call.direction != "inbound" or not self.svc.settings.cases:
            return
        if (call.consult or {}).get("agent") == agent_id:
            return  # a colleague asked for advice is not the case's agent (unless the call is handed over)
        case = self.by_call.get(call.id)
        queue = call.queue or ""
        if case is None:
            now = self.svc.clock()
            case = {"id": uuid.uuid4().hex[:12], "call_id": call.id, "channel": "phone", "caller": call.caller or "",
                    "contact_id": None, "subject": "", "notes": "", "level": self.level(queue), "queue": queue,
                    "agent": agent_id, "state": "open", "outcome": "", "created": now, "updated": now,
                    "closed": None, "history": [], "identified": _identified(call)}
            self._note(case, "opened", "system", queue=queue, agent=agent_id)
            self.by_call[call.id] = case
            self.svc.write([], cases=(dict(case),))
            self.svc.spawn(self._match(case, agent_id), f"case {case['id']}: match the caller")
        elif _identified(call) and not case.get("identified"):
            case["identified"] = _identified(call)  # verified since the case was opened (e.g. by id and password)
            self.svc.write([], cases=(dict(case),))
        if case["agent"] != agent_id or case["queue"] != queue:
            level = self.level(queue)
            self._note(case, "to level 2" if level > case["level"] else "offered", "system", queue=queue,
                       agent=agent_id, level=level)
            case.update(level=max(level, case["level"]), queue=queue, agent=agent_id)
            self.svc.write([], cases=(dict(case),))
        self._push(case, agent_id)

    async def _match(self, case: dict[str, Any], agent: str) -> None:
        contacts = self.svc.contacts
        if contacts is None or not case["caller"]:
            return
        found = await asyncio.to_thread(contacts.store.by_number, case["caller"])
        if found and not case.get("contact_id"):
            case["contact_id"] = found[0]["id"]
            case["contact"] = {k: v for k, v in found[0].items() if not k.startswith("_")}
            self.svc.write([], cases=(dict(case),))
            self._push(case, case["agent"] or agent)

    def call_connected(self, call: Call) -> None:
        case = self.by_call.get(call.id)
        if case is not None and call.agent and call.agent != case["agent"]:
            self._note(case, "taken", call.agent)
            case["agent"] = call.agent
            self.svc.write([], cases=(dict(case),))
            self._push(case, call.agent)

    def call_ended(self, call: Call, kind: str) -> None:
        self.by_call.pop(call.id, None)  # the case stays open in the database until an agent closes it

    # -- commands --------------------------------------------------------------------------------------
    async def _load(self, case_id: str = "", call_id: str = "") -> dict[str, Any]:
        if call_id and call_id in self.by_call:
            return self.by_call[call_id]
        for c in self.by_call.values():
            if c["id"] == case_id:
                return c
        case = await self.svc.db(self.svc.store.case_of_call if call_id else self.svc.store.case, call_id or case_id)
        if case is None:
            raise NotFound("There is no case for this call." if call_id
                           else "That case does not exist.")
        contacts = self.svc.contacts
        if case.get("contact_id") and contacts is not None:
            contact = await asyncio.to_thread(contacts.store.contact, case["contact_id"])
            if contact is not None:
                case["contact"] = {k: v for k, v in contact.items() if not k.startswith("_")}
        return case

    @staticmethod
    def _check(principal: Any, case: dict[str, Any]) -> None:
        if P_SUPERVISE in principal.permissions or case["agent"] == principal.username:
            return
        if any(h.get("agent") == principal.username or h.get("by") == principal.username for h in case["history"]):
            return
        raise Forbidden("This case belongs to another agent's call.")

    async def get(self, principal: Any, case_id: str = "", call_id: str = "") -> dict[str, Any]:
        if not case_id and not call_id:
            raise Invalid("Say which case: its id or its call.")
        case = await self._load(case_id, call_id)
        self._check(principal, case)
        return {"case": case}

    async def update(self, principal: Any, case_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        case = await self._load(case_id)
        self._check(principal, case)
        if case["state"] != "open":
            raise Conflict("This case is closed.")
        changed = {k: v for k, v in changes.items() if k in EDITABLE and v is not None and case.get(k) != v}
        if "contact_id" in changed and changed["contact_id"] and self.svc.contacts is not None:
            contact = await asyncio.to_thread(self.svc.contacts.store.contact, changed["contact_id"])
            if contact is None:
                raise NotFound("That contact does not exist.")
            case["contact"] = {k: v for k, v in contact.items() if not k.startswith("_")}
        case.update(changed)
        if changed:
            self._note(case, "edited", principal.username, fields=sorted(changed))
            await self.svc.write_now([], cases=(dict(case),))
            self._push(case, case["agent"])
        return {"case": case}

    async def close(self, principal: Any, case_id: str, outcome: str) -> dict[str, Any]:
        case = await self._load(case_id)
        self._check(principal, case)
        if case["state"] != "open":
            raise Conflict("This case is already closed.")
        if not outcome.strip():
            raise Invalid("Give the case an outcome to close it.")
        case.update(state="closed", outcome=outcome.strip(), closed=self.svc.clock())
        self._note(case, "closed", principal.username, outcome=case["outcome"])
        items = []
        s = self.svc.settings
        if s.records_url:
            headers = {"Content-Type": "application/json"}
            if s.records_token:
                headers["Authorization"] = f"Bearer {s.records_token}"
            body = json.dumps({"case": {k: v for k, v in case.items() if k != "contact"}, "contact":
                               case.get("contact")}, separators=(",", ":"), default=str)
            items.append(NewItem("records", "records", "case.closed", "POST", s.records_url, body, headers))
        await self.svc.write_now(items, cases=(dict(case),))
        self._push(case, case["agent"])
        return {"case": case}

    async def history(self, principal: Any, contact_id: str = "", number: str = "",
                      limit: int = 50) -> dict[str, Any]:
        if not contact_id and not number:
            raise Invalid("Say whose cases: a contact or a phone number.")
        cases = await self.svc.db(self.svc.store.cases_of, contact_id, number, limit)
        return {"cases": cases}


def _identified(call: Call) -> dict[str, Any] | None:
    """How the caller proved who they are (server/verified puts it on the call): the kind, when and how,
    never the attributes themselves (they stay with the call, and are deleted after their keeping time)."""
    v = getattr(call, "verified", None)
    return {k: v.get(k) for k in ("kind", "at", "via")} if v else None
