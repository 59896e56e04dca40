"""Campaigns, their lists, the do-not-call list and the outcome of each attempt: the outbound
capability's service. Blocking (SQLite): the plugin runs it through asyncio.to_thread.

A contact is ``pending`` (with the time it may be called next), ``dialing``, ``done`` (answered),
``closed`` (no attempts left) or ``dnc`` (on the do-not-call list when its turn came).
"""
from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .campaigns import Campaign, CampaignError, CampaignNotFound, CampaignState, DialMode, transition
from .lists import ImportResult, ListError, check_mapping, is_number, normalise_number, read_list
from .retries import Outcome, RetryError, RetryRules
from .scripts import END, ScriptError, parse_and_check
from .store import OutboundStore
from .windows import Window, WindowError, may_call, zone

CONTACT_STATES = ("pending", "dialing", "done", "closed", "dnc")
# What a supervisor may change on a campaign after it was made (the state has its own commands).
EDITABLE = ("name", "queue", "mode", "priority", "caller_id", "record", "amd", "machine_message", "announcement",
            "timezone", "window", "retries", "mapping", "script")


@dataclass
class Progress:
    campaign: str
    state: str
    contacts: int
    by_state: dict[str, int]
    by_outcome: dict[str, int]
    attempts: int

    @property
    def settled(self) -> bool:
        """Every contact accounted for: none waiting or being dialled."""
        return self.by_state.get("pending", 0) == 0 and self.by_state.get("dialing", 0) == 0

    def to_dict(self) -> dict[str, Any]:
        return {"campaign": self.campaign, "state": self.state, "contacts": self.contacts,
                "by_state": self.by_state, "by_outcome": self.by_outcome, "attempts": self.attempts,
                "settled": self.settled}


def media_list(value: Any) -> str:
    """Media URIs (sound:..., recording:..., tone:...), comma-separated, as Asterisk plays them."""
    items = [m.strip() for m in str(value).split(",") if m.strip()]
    bad = [m for m in items if ":" not in m]
    if bad:
        raise CampaignError(f"Not something Asterisk can play (sound:NAME, recording:NAME): {bad[0]}")
    return ",".join(items)


class OutboundService:
    def __init__(self, store: OutboundStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    # -- campaigns -----------------------------------------------------------------------------------
    def _get(self, cid: str) -> Campaign:
        c = self.store.campaign(cid)
        if c is None:
            raise CampaignNotFound("No such campaign")
        return c

    def get(self, cid: str) -> Campaign:
        return self._get(cid)

    def campaigns(self) -> list[Campaign]:
        return self.store.campaigns()

    def _apply(self, c: Campaign, values: dict[str, Any]) -> None:
        """Check and set editable fields; CampaignError names the first one that is wrong."""
        for key, value in values.items():
            if key not in EDITABLE:
                continue
            try:
                if key == "mode":
                    value = DialMode(value)
                elif key == "priority":
                    value = int(value)
                elif key in ("record", "amd"):
                    value = bool(value)
                elif key in ("machine_message", "announcement"):
                    value = media_list(value)
                elif key == "timezone":
                    zone(str(value))
                elif key == "window":
                    value = Window.from_dict(value).to_dict()
                elif key == "retries":
                    value = RetryRules.from_dict(value).to_dict()
                elif key == "mapping":
                    value = check_mapping(value)
                elif key == "script":
                    if value:
                        parse_and_check(str(value))
                elif key in ("name", "queue") and not str(value).strip():
                    raise CampaignError(f"The campaign needs a {key}")
            except (WindowError, RetryError, ListError, ScriptError) as exc:
                raise CampaignError(str(exc)) from None
            except (ValueError, TypeError):  # a bad enum value, a list where an object belongs
                raise CampaignError(f"Not a valid {key}: {value}") from None
            setattr(c, key, value)

    def create(self, values: dict[str, Any]) -> Campaign:
        now = self.clock()
        c = Campaign(id=uuid.uuid4().hex[:12], name=str(values.get("name", "")), queue=str(values.get("queue", "")),
                     created=now, updated=now, window=Window().to_dict(), retries=RetryRules.from_dict({}).to_dict())
        self._apply(c, {"name": c.name, "queue": c.queue, **values})
        self.store.save_campaign(c)
        return c

    def update(self, cid: str, values: dict[str, Any]) -> Campaign:
        c = self._get(cid)
        if c.state == CampaignState.FINISHED:
            raise CampaignError("The campaign is finished")
        self._apply(c, values)
        c.updated = self.clock()
        self.store.save_campaign(c)
        return c

    def act(self, cid: str, action: str) -> Campaign:
        c = self._get(cid)
        c.state = transition(c.state, action)
        c.updated = self.clock()
        self.store.save_campaign(c)
        return c

    def running(self) -> list[Campaign]:
        """Running campaigns, highest priority first."""
        return [c for c in self.store.campaigns() if c.state == CampaignState.RUNNING]

    # -- lists ---------------------------------------------------------------------------------------
    def import_list(self, cid: str, data: bytes, fmt: str, mapping: dict[str, str] | None = None) -> ImportResult:
        """Add a list's rows to the campaign (also while it runs); a mapping given is saved for the next list."""
        c = self._get(cid)
        if c.state == CampaignState.FINISHED:
            raise CampaignError("The campaign is finished")
        if mapping:
            c.mapping = check_mapping(mapping)
        if not c.mapping:
            raise ListError("Set the campaign's column mapping first (which column holds the number)")
        result = read_list(data, fmt, c.mapping)
        self.store.add_contacts(cid, [(r.number, r.name, r.timezone, r.extra) for r in result.rows], self.clock())
        if mapping:
            c.updated = self.clock()
            self.store.save_campaign(c)
        return result

    def contacts(self, cid: str) -> list[dict[str, Any]]:
        self._get(cid)
        return self.store.contacts(cid)

    def remove_contact(self, cid: str, seq: int) -> None:
        self._get(cid)
        if not self.store.remove_contact(cid, seq):
            raise CampaignError("No such contact waiting in this campaign (one being called stays)")

    # -- do-not-call ---------------------------------------------------------------------------------
    def dnc_add(self, number: str, reason: str = "", by: str = "") -> str:
        n = normalise_number(number)
        if not is_number(n):
            raise ListError(f"Not a phone number: {number}")
        self.store.dnc_add(n, reason, by, self.clock())
        return n

    def dnc_remove(self, number: str) -> bool:
        return self.store.dnc_remove(normalise_number(number))

    # -- dialing -------------------------------------------------------------------------------------
    def next_contacts(self, cid: str, n: int = 1, free: frozenset[str] | None = None) -> list[dict[str, Any]]:
        """Up to ``n`` contacts to call now, marked ``dialing``: due, inside the calling window where
        the campaign and the contact are, and not on the do-not-call list (those are closed as ``dnc``).
        A contact an agent kept for themselves waits until that agent is among ``free`` (None: any)."""
        c = self._get(cid)
        if c.state != CampaignState.RUNNING or n <= 0:
            return []
        now = self.clock()
        window = Window.from_dict(c.window)
        if not window.open_at(now, c.timezone):
            return []
        picked: list[dict[str, Any]] = []
        for contact in self.store.due(cid, now, limit=max(50, n * 4)):
            if self.store.dnc_has(contact["number"]):
                self.store.update_contact(contact["id"], now, state="dnc", outcome="dnc")
                continue
            if not may_call(window, now, c.timezone, contact["timezone"]):
                continue
            if contact["owner"] and free is not None and contact["owner"] not in free:
                continue
            self.store.update_contact(contact["id"], now, state="dialing")
            contact["state"] = "dialing"
            picked.append(contact)
            if len(picked) >= n:
                break
        return picked

    def preview_next(self, agent: str, queues: list[str]) -> dict[str, Any] | None:
        """The next contact of a running preview campaign of one of the agent's queues, kept for the
        agent while they look at it (state ``dialing``, ``agent`` set); None: nothing to call now."""
        for c in self.running():
            if c.mode is not DialMode.PREVIEW or c.queue not in queues:
                continue
            picked = self.next_contacts(c.id, 1, free=frozenset({agent}))
            if picked:
                self.store.update_contact(picked[0]["id"], self.clock(), agent=agent)
                return {**picked[0], "agent": agent, "campaign_name": c.name}
        return None

    def previewed(self, seq: int, agent: str) -> tuple[dict[str, Any], Campaign]:
        """The contact an agent is previewing, with its campaign; CampaignError when it is not theirs now."""
        contact = self.store.contact(seq)
        if contact is None or contact["state"] != "dialing" or contact["agent"] != agent:
            raise CampaignError("This contact is not in your preview")
        return contact, self._get(contact["campaign"])

    def release_previews(self, agent: str, calling: frozenset[int]) -> int:
        """An agent who logged out gives back the contacts they were previewing (not those on a call)."""
        n = 0
        for seq in self.store.reserved_by(agent):
            if seq not in calling:
                self.release(seq)
                n += 1
        return n

    def dialing(self, seq: int, call_id: str, agent: str) -> None:
        self.store.update_contact(seq, self.clock(), call_id=call_id, agent=agent)

    def release(self, seq: int) -> None:
        """The call could not be placed or was dropped on our side: the contact waits again, no attempt counted."""
        self.store.update_contact(seq, self.clock(), state="pending")

    def recent_attempts(self, cid: str, since: float) -> list[dict[str, Any]]:
        """The campaign's attempts since then (the predictive pacer's figures after a restart)."""
        return [a for a in self.store.attempts(cid) if a["ts"] >= since]

    def finish_if_settled(self, cid: str) -> Campaign | None:
        """A running campaign whose every contact is accounted for finishes; the campaign then, else None."""
        c = self._get(cid)
        if c.state != CampaignState.RUNNING or not self.progress(cid).settled:
            return None
        return self.act(cid, "finish")

    def record_outcome(self, seq: int, outcome: Outcome | str, call_id: str = "", agent: str = "") -> dict[str, Any]:
        """An attempt ended: log it, then close the contact or schedule it again by the campaign's rules."""
        contact = self.store.contact(seq)
        if contact is None:
            raise CampaignError("No such contact")
        c = self._get(contact["campaign"])
        outcome = Outcome(outcome)
        now = self.clock()
        attempts = contact["attempts"] + 1
        self.store.add_attempt(seq, c.id, now, str(outcome), call_id, agent)
        if contact.get("rescheduled"):
            # the agent agreed a new time with the contact during this call: that is the next attempt
            state, next_at = "pending", contact["next_at"]
        elif outcome == Outcome.ANSWERED:
            state, next_at = "done", contact["next_at"]
        else:
            nxt = RetryRules.from_dict(c.retries).next_attempt(outcome, attempts, now)
            state, next_at = ("pending", nxt) if nxt is not None else ("closed", contact["next_at"])
        self.store.update_contact(seq, now, state=state, attempts=attempts, next_at=next_at, outcome=str(outcome),
                                  call_id=call_id, agent=agent, rescheduled=0)
        updated = self.store.contact(seq)
        assert updated is not None
        return updated

    def reschedule(self, call_id: str, when: float | str, agent: str, *, mine: bool = False,
                   team_open: Callable[[float], bool] = lambda t: True, supervisor: bool = False) -> dict[str, Any]:
        """An agent asks for the contact of a campaign call to be called again at ``when`` (epoch, or
        ISO 8601; without an offset in the campaign's zone), by themselves (``mine``) or the team.
        Refused when that time is past, outside the calling window where the contact is, or when the
        campaign's queue is closed then (nobody of the team is there)."""
        contact, c = self._call(call_id)
        if not supervisor and contact["agent"] != agent:
            raise CampaignNotFound("This call is not one of yours")
        at = self._time(when, c.timezone)
        if at <= self.clock():
            raise CampaignError("Pick a time in the future")
        if not may_call(Window.from_dict(c.window), at, c.timezone, contact["timezone"]):
            raise CampaignError("That time is outside the campaign's calling hours for this contact")
        if not team_open(at):
            raise CampaignError("The team is not working at that time (the queue is closed)")
        on_call = contact["state"] == "dialing"
        self.store.update_contact(contact["id"], self.clock(), next_at=at, owner=agent if mine else "",
                                  state="dialing" if on_call else "pending", rescheduled=int(on_call))
        updated = self.store.contact(contact["id"])
        assert updated is not None
        return updated

    @staticmethod
    def _time(when: float | str, tz: str) -> float:
        if isinstance(when, (int, float)):
            return float(when)
        try:
            parsed = dt.datetime.fromisoformat(str(when))
        except ValueError:
            raise CampaignError(f"Not a date and time: {when}") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=zone(tz))
        return parsed.timestamp()

    def progress(self, cid: str) -> Progress:
        c = self._get(cid)
        contacts = self.store.contacts(cid)
        by_state = dict.fromkeys(CONTACT_STATES, 0)
        by_outcome: dict[str, int] = {}
        for x in contacts:
            by_state[x["state"]] = by_state.get(x["state"], 0) + 1
            if x["outcome"]:
                by_outcome[x["outcome"]] = by_outcome.get(x["outcome"], 0) + 1
        return Progress(c.id, str(c.state), len(contacts), by_state, by_outcome, len(self.store.attempts(cid)))

    def report(self, cid: str) -> dict[str, Any]:
        """The campaign's figures: attempts and their outcomes, reach rate, abandonment, the answers
        given to its script, the answered calls per agent, and agent occupancy: the time the agents
        of its queue spent on its calls and their wrap-up over the time they were staffed (ready,
        ringing, on a call or in wrap-up) while it ran."""
        p = self.progress(cid)
        attempts = self.store.attempts(cid)
        outcomes: dict[str, int] = {}
        per_agent: dict[str, int] = {}
        for a in attempts:
            outcomes[a["outcome"]] = outcomes.get(a["outcome"], 0) + 1
            if a["outcome"] == Outcome.ANSWERED and a["agent"]:
                per_agent[a["agent"]] = per_agent.get(a["agent"], 0) + 1
        tried = len({a["contact"] for a in attempts})
        reached = p.by_state.get("done", 0)
        people = outcomes.get(Outcome.ANSWERED, 0) + outcomes.get(Outcome.ABANDONED, 0)
        answers: dict[str, dict[str, int]] = {}
        for a in self.store.answers(cid):
            q = answers.setdefault(a["question"], {})
            q[a["answer"]] = q.get(a["answer"], 0) + 1
        occ = self.store.occupancy(cid)
        staffed = sum(s for s, _ in occ.values())
        busy = sum(b for _, b in occ.values())
        return {"campaign": cid, "state": p.state, "contacts": p.contacts, "by_state": p.by_state,
                "occupancy": busy / staffed if staffed > 0 else None,
                "occupancy_by_agent": {a: (b / s if s > 0 else None) for a, (s, b) in sorted(occ.items())},
                "staffed_seconds": staffed, "busy_seconds": busy,
                "attempts": len(attempts), "outcomes": outcomes, "contacts_tried": tried, "reached": reached,
                "reach_rate": reached / tried if tried else None,
                "abandon_rate": outcomes.get(Outcome.ABANDONED, 0) / people if people else None,
                "answered_by_agent": per_agent, "answers": answers}

    # -- call scripts --------------------------------------------------------------------------------
    def _call(self, call_id: str) -> tuple[dict[str, Any], Campaign]:
        contact = self.store.contact_by_call(call_id)
        if contact is None:
            raise CampaignNotFound("This call is not part of a campaign")
        return contact, self._get(contact["campaign"])

    def campaign_of_call(self, call_id: str) -> Campaign:
        return self._call(call_id)[1]

    def script_for_call(self, call_id: str) -> dict[str, Any]:
        """The campaign's script for an agent on one of its calls, with the answers given so far and
        the question to ask now (empty when the script has ended, or there is none)."""
        contact, c = self._call(call_id)
        answers = self.store.answers(c.id, call_id)
        if not c.script:
            return {"campaign": c.id, "contact": contact, "script": None, "answers": answers, "current": ""}
        script = parse_and_check(c.script)
        current = script.start
        given = {a["question"]: a["answer"] for a in answers}
        while current != END and current in given:
            current = script.next_after(current, given[current])
        return {"campaign": c.id, "contact": contact, "script": script.to_dict(), "answers": answers,
                "current": "" if current == END else current}

    def answer(self, call_id: str, question: str, answer: str, agent: str) -> dict[str, Any]:
        """Store an agent's answer to a script question on a campaign call; the script as it goes on."""
        contact, c = self._call(call_id)
        if not c.script:
            raise CampaignError("The campaign has no call script")
        try:
            parse_and_check(c.script).next_after(question, answer)
        except ScriptError as exc:
            raise CampaignError(str(exc)) from None
        self.store.save_answer(call_id, c.id, contact["id"], question, answer, agent, self.clock())
        return self.script_for_call(call_id)
