"""The contacts capability: caller identification, customer records, versioned call notes, call
categories, history with a caller, the callback/missed-call work list with claims, an agent's own
figures and the transfer panel's targets. Registered from server/app.py (handlers and a hook).

Commands are listed in cc_console/protocol.py and docs/protocol.md; the behaviour in docs/agent.md.
"""
from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from cc_console.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unavailable
from cc_console.protocol import P_SUPERVISE

from .channels import add_written_figures, history_rows
from .config import ContactsConfig, load_config
from .figures import FIGURE_KINDS, HISTORY_KINDS, WINDOWS, agent_figures, caller_history, missed_calls
from .presence import TransferPresence
from .results import DialBack
from .store import ContactsStore, phone_key

log = logging.getLogger(__name__)
_DB_DOWN = "The server cannot read its database just now; try again in a moment"

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s\-()./]{3,}$")
MISSED_DAYS = 7  # missed calls older than this are not listed


def _bad(msg: str) -> Invalid:
    return Invalid(msg)


class ContactsService:
    def __init__(self, engine: Any, store: ContactsStore, config: ContactsConfig | None = None, *,
                 publish: Callable[[str, dict[str, Any], str | None], None] | None = None,
                 clock: Callable[[], float] | None = None) -> None:
        self.engine = engine
        self.store = store
        self.config = config or ContactsConfig()
        self.store.match_digits = self.config.match_digits
        self._publish = publish
        self.clock: Callable[[], float] = clock if clock is not None else getattr(engine, "clock", time.time)
        # the owners of written work items (Context.written, server/written.py): chats in history and figures
        self.written: list[Any] = []
        self._claim_lock = threading.Lock()
        self.presence = TransferPresence(self.targets, self.target_states, self.publish)
        hooks = getattr(engine, "hooks", None)
        if hooks is not None and hasattr(hooks, "append"):  # the engine tells the panel's watchers of changes
            hooks.append(self.presence)

    @classmethod
    def from_config_dir(cls, engine: Any, store: ContactsStore, **kw: Any) -> ContactsService:
        try:
            cfg = load_config()
        except (ValueError, OSError) as exc:
            log.error("contacts config not loaded, using defaults: %s", exc)
            cfg = ContactsConfig()
        return cls(engine, store, cfg, **kw)

    def configure(self, config: ContactsConfig) -> None:
        self.config = config
        self.store.match_digits = config.match_digits

    def publish(self, event: str, data: dict[str, Any], audience: str | None = None) -> None:
        fn = self._publish or getattr(self.engine, "publish", None)
        if fn is not None:
            fn(event, data, audience)

    def key(self, number: str) -> str:
        return phone_key(number, self.config.match_digits)

    @property
    def main(self) -> Any:
        return self.engine.store

    # -- customer records ---------------------------------------------------------------------------
    def crm_link(self, contact: dict[str, Any]) -> str | None:
        url = self.config.crm_url
        if not url or not contact.get("crm_id"):
            return None
        try:
            return url.format_map({k: ("" if v is None else str(v)) for k, v in contact.items()})
        except (KeyError, ValueError, IndexError):
            return None

    def present(self, contact: dict[str, Any]) -> dict[str, Any]:
        return {**contact, "crm_link": self.crm_link(contact)}

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in data.items():
            if name.startswith("_") or name == "crm_link":
                continue
            spec = self.config.field(name)
            if spec is None:
                raise _bad(f"contacts.save: unknown field {name!r}; fields are "
                           f"{', '.join(f.name for f in self.config.fields)}")
            if value is None:
                value = ""
            if not isinstance(value, str):
                raise _bad(f"contacts.save: field {name!r} must be a string")
            value = value.strip()
            if value:
                if spec.type == "date" and not _DATE.match(value):
                    raise _bad(f"{spec.label}: a date is written YYYY-MM-DD, not {value!r}")
                if spec.type == "date":
                    try:
                        datetime.strptime(value, "%Y-%m-%d")
                    except ValueError:
                        raise _bad(f"{spec.label}: {value!r} is not a date") from None
                if spec.type == "email" and not _EMAIL.match(value):
                    raise _bad(f"{spec.label}: {value!r} is not an e-mail address")
                if spec.type == "phone" and not _PHONE.match(value):
                    raise _bad(f"{spec.label}: {value!r} is not a phone number")
                if spec.type == "choice" and spec.choices and value not in spec.choices:
                    raise _bad(f"{spec.label}: one of {', '.join(spec.choices)}, not {value!r}")
            out[name] = value
        return out

    def save_contact(self, data: dict[str, Any], by: str) -> dict[str, Any]:
        clean = self.validate(data)
        if clean.get("id") and self.store.contact(clean["id"]) is None and data.get("_must_exist"):
            raise NotFound(f"no contact {clean['id']!r}")
        return self.present(self.store.save_contact(clean, phone_fields=self.config.phone_fields, by=by,
                                                    ts=self.clock()))

    def bulk_upsert(self, records: list[dict[str, Any]], by: str) -> int:
        """Records from another system (blocking: run it off the event loop). Each is validated as
        contacts.save validates (a bad one raises with its field), then all are written at once."""
        clean = []
        for rec in records:
            c = self.validate(rec)
            if not c.get("id"):
                raise _bad("every record needs its id")
            clean.append(c)
        return self.store.bulk_upsert(clean, phone_fields=self.config.phone_fields, by=by, ts=self.clock())

    def delete_many(self, ids: list[str]) -> int:
        return self.store.delete_many(ids)

    def contact(self, cid: str) -> dict[str, Any]:
        c = self.store.contact(cid)
        if c is None:
            raise NotFound(f"no contact {cid!r}")
        return self.present(c)

    def search(self, q: str = "", number: str = "", limit: int = 50) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        if number:
            found = self.store.by_number(number)
        if q:
            ids = {c["id"] for c in found}
            found += [c for c in self.store.search(q, limit) if c["id"] not in ids]
        return [self.present(c) for c in found[:limit]]

    # -- calls: ownership, notes, category, contact ---------------------------------------------------
    def _call(self, call_id: str) -> dict[str, Any]:
        live = self.engine.calls.get(call_id)
        if live is not None:
            return live.to_dict()
        call = self.main.call(call_id)
        if call is None:
            raise NotFound(f"no call {call_id!r}")
        return call

    def _check_call(self, principal: Any, call_id: str) -> dict[str, Any]:
        call = self._call(call_id)
        if P_SUPERVISE in principal.permissions:
            return call
        agent = call.get("agent")
        if agent and agent != principal.username:
            if not self._was_my_call(call_id, principal.username):
                raise Forbidden("this call was not yours")
        return call

    async def _checked_call(self, principal: Any, call_id: str) -> dict[str, Any]:
        """_check_call from the event loop: a live call is the engine's; an ended one and the call's
        earlier agents are read in a worker thread."""
        live = self.engine.calls.get(call_id)
        if live is None or (P_SUPERVISE not in principal.permissions
                            and live.agent not in (None, "", principal.username)):
            return await self._read(self._check_call, principal, call_id)
        return live.to_dict()

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A read of the main store or the contacts' own in a worker thread: on PostgreSQL a lock
        elsewhere would stall every console (docs/high-availability.md); a database that fails
        refuses this request in words, its own words go to the log."""
        try:
            return await asyncio.to_thread(fn, *args)
        except DomainError:
            raise
        except Exception as exc:
            log.warning("contacts: the database failed in %s: %s", getattr(fn, "__name__", "?"), type(exc).__name__)
            raise Unavailable(_DB_DOWN) from None

    def _was_my_call(self, call_id: str, me: str) -> bool:
        """A transferred call ends with another agent; the one who took it first may still note it."""
        for ev in self.main.events(kinds=("call.connected", "call.outbound"), call_id=call_id):
            if (ev.data or {}).get("agent") == me:
                return True
        return False

    def add_note(self, principal: Any, call_id: str, text: str, contact_id: str | None = None, *,
                 call: dict[str, Any] | None = None) -> dict[str, Any]:
        call = call or self._check_call(principal, call_id)
        if contact_id:
            self.contact(contact_id)
        else:
            contact_id = (self.store.meta(call_id) or {}).get("contact_id")
        if not (self.store.meta(call_id) or {}).get("caller"):
            self.store.set_meta(call_id, self.clock(), caller=call.get("caller", ""))
        note = self.store.add_note(call_id, text, principal.username, self.clock(), contact_id)
        return {"note": note, "notes": self.store.notes(call_id)}

    def set_category(self, principal: Any, call_id: str, category: str, *,
                     call: dict[str, Any] | None = None) -> dict[str, Any]:
        call = call or self._check_call(principal, call_id)
        cats = self.categories()
        if category and category not in cats:
            raise _bad(f"unknown category {category!r}; the list is: {', '.join(cats)}")
        now = self.clock()
        meta = self.store.set_meta(call_id, now, category=category, category_by=principal.username,
                                   category_ts=now, caller=call.get("caller", ""))
        # Reports read the category from the main event log.
        self.main.record("call.category", ts=now, call_id=call_id, agent_id=principal.username,
                         queue=call.get("queue") or None, data={"category": category, "by": principal.username})
        return {"call_id": call_id, "category": category, "meta": meta}

    def link(self, principal: Any, call_id: str, contact_id: str, *,
             call: dict[str, Any] | None = None) -> dict[str, Any]:
        call = call or self._check_call(principal, call_id)
        contact = self.contact(contact_id) if contact_id else None
        meta = self.store.set_meta(call_id, self.clock(), contact_id=contact_id or None,
                                   contact_by=principal.username, caller=call.get("caller", ""))
        return {"call_id": call_id, "contact": contact, "meta": meta}

    def call_info(self, principal: Any, call_id: str) -> dict[str, Any]:
        return self._call_details(call_id, self._check_call(principal, call_id))

    def _call_details(self, call_id: str, call: dict[str, Any]) -> dict[str, Any]:
        meta = self.store.meta(call_id) or {}
        contact = self.store.contact(meta["contact_id"]) if meta.get("contact_id") else None
        return {"call_id": call_id, "caller": call.get("caller", ""), "category": meta.get("category", ""),
                "contact": self.present(contact) if contact else None, "notes": self.store.notes(call_id),
                "matches": self.search(number=call.get("caller", "")) if call.get("caller") else []}

    # -- categories ----------------------------------------------------------------------------------
    def categories(self) -> list[str]:
        stored = self.store.setting("categories")
        return list(stored) if stored is not None else list(self.config.categories)

    def set_categories(self, cats: list[Any], by: str) -> list[str]:
        clean: list[str] = []
        for c in cats:
            if not isinstance(c, str) or not c.strip():
                raise _bad("categories must be non-empty strings")
            if c.strip() not in clean:
                clean.append(c.strip())
        self.store.set_setting("categories", clean)
        self.main.record("contacts.categories", ts=self.clock(), data={"categories": clean, "by": by})
        self.publish("categories.update", {"categories": clean}, None)
        return clean

    # -- history with a caller -------------------------------------------------------------------------
    def history(self, number: str, exclude: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        return caller_history(self.main.events(kinds=HISTORY_KINDS), number, self.key,
                              metas=self.store.metas, notes=self.store.latest_notes, exclude=exclude, limit=limit)

    async def history_all(self, number: str, exclude: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """The earlier calls with this number, the chats of the customers with this number (by the
        e-mail addresses in their records) and the SMS conversations with it, newest first."""
        calls = await self._read(self.history, number, exclude, limit)
        emails = [str(c.get(f.name) or "") for c in await self._read(self.store.by_number, number)
                  for f in self.config.fields if f.type == "email"] if self.written else []
        # the number too: SMS conversations are kept by the customer's number (server/sms)
        wanted = [e for e in emails if e] + [number]
        items = await self._written_items(lambda w: w.of_contacts(wanted, limit)) if self.written else []
        return history_rows(calls, items, limit)

    async def _written_items(self, ask: Callable[[Any], Any]) -> list[Any]:
        """The written items of every owner; an owner that fails is logged and left out, so the
        calls are still shown."""
        out: list[Any] = []
        for w in self.written:
            try:
                out += await ask(w)
            except Exception:
                log.exception("written work items not read from %r", w)
        return out

    # -- callbacks, voicemails and missed calls --------------------------------------------------------
    def _missed(self) -> list[dict[str, Any]]:
        since = self.clock() - MISSED_DAYS * 86400
        items = missed_calls(self.main.events(kinds=("call.entered", "call.outbound", "call.connected",
                                                     "call.abandoned")), self.key, since=since)
        states = self.store.missed_states()
        for it in items:
            st = states.get(it["id"])
            if st:
                it.update(state=st["state"], agent=st["agent"], preferred=st["preferred"])
            q = self.engine.cfg.queues.get(it["queue"])
            it["tenant"] = q.tenant if q else ""
        return items

    def _find(self, item_id: str) -> dict[str, Any]:
        if item_id.startswith("m-"):
            for it in self._missed():
                if it["id"] == item_id:
                    return it
            states = self.store.missed_states()
            if item_id in states:  # handled since (no longer listed), still addressable
                st = states[item_id]
                call = self.main.call(st["call_id"]) or {}
                return {"id": item_id, "kind": "missed", "caller": call.get("caller", ""),
                        "queue": call.get("queue", ""),
                        "tenant": "", "call_id": st["call_id"], "requested": st["updated"], "enqueued": st["updated"],
                        "preferred": st["preferred"], "state": st["state"], "agent": st["agent"]}
        else:
            for it in self.main.callbacks("all"):
                if it["id"] == item_id:
                    return it
        raise NotFound(f"no callback, voicemail or missed call {item_id!r}")

    def _save(self, item: dict[str, Any]) -> dict[str, Any]:
        if item.get("kind") == "missed":
            self.store.set_missed(item["id"], item["call_id"], self.clock(), state=item["state"],
                                  agent=item.get("agent"), preferred=item.get("preferred"))
        else:
            self.main.save_callback({k: v for k, v in item.items() if k != "history"})
        self.publish("callback.update", item, None)
        return item

    def worklist(self, state: str = "open", history: int = 3) -> list[dict[str, Any]]:
        items = [i for i in self.main.callbacks("all") if state == "all" or i.get("state") in (state, "taken")]
        items += [i for i in self._missed() if state == "all" or i.get("state") in (state, "taken")]
        for it in items:
            it["history"] = self.history(it.get("caller", ""), exclude=it.get("call_id"), limit=history) \
                if history and it.get("caller") else []
        items.sort(key=lambda i: (i.get("preferred") or i.get("requested") or 0))
        return items

    def claim(self, agent: str, item_id: str) -> dict[str, Any]:
        """Compare-and-set: open -> taken by ``agent``. Two agents claiming at once: one wins, the
        other gets ``conflict``. Claiming one's own item again is fine."""
        with self._claim_lock:
            item = self._find(item_id)
            if item.get("state") == "taken" and item.get("agent") == agent:
                return item
            if item.get("state") != "open":
                who = f" by {item['agent']}" if item.get("agent") else ""
                raise Conflict(f"already {item.get('state')}{who}",
                               state=item.get("state"), agent=item.get("agent"))
            item.update(state="taken", agent=agent, taken=self.clock())
            return self._save(item)

    def release(self, principal: Any, item_id: str) -> dict[str, Any]:
        with self._claim_lock:
            item = self._find(item_id)
            self._check_owner(principal, item)
            item.update(state="open", agent=None)
            return self._save(item)

    def _check_owner(self, principal: Any, item: dict[str, Any]) -> None:
        if item.get("state") == "taken" and item.get("agent") not in (None, principal.username) \
                and P_SUPERVISE not in principal.permissions:
            raise Conflict(f"taken by {item['agent']}", agent=item["agent"])

    def reschedule(self, principal: Any, item_id: str, preferred: Any) -> dict[str, Any]:
        at = self.parse_time(preferred)
        with self._claim_lock:
            item = self._find(item_id)
            self._check_owner(principal, item)
            if item.get("state") == "done":
                raise Conflict("already done")
            item.update(preferred=at, state="open", agent=None, rescheduled_by=principal.username)
            return self._save(item)

    def done(self, principal: Any, item_id: str) -> dict[str, Any]:
        with self._claim_lock:
            item = self._find(item_id)
            self._check_owner(principal, item)
            item.update(state="done", agent=item.get("agent") or principal.username, done=self.clock(),
                        done_by=principal.username)
            saved = self._save(item)
        hook = getattr(self.engine, "_hook", None)  # other capabilities (the CRM's webhooks) hear of it
        if hook is not None:
            hook("callback_done", saved)
        return saved

    def dial(self, agent: str, item_id: str, caller_id: str = "") -> DialBack:
        """Claim (if not mine yet) and call the number back from my device."""
        before = self._find(item_id)
        item = self.claim(agent, item_id)
        queue = item.get("queue") if item.get("queue") in self.engine.cfg.queues else ""
        try:
            call = self.engine.dial_out(agent, item["caller"], caller_id=caller_id, queue=queue or "")
        except Exception:
            if before.get("state") == "open":  # give it back: nobody called
                with self._claim_lock:
                    item.update(state="open", agent=None)
                    self._save(item)
            raise
        with self._claim_lock:
            item.update(attempts=int(item.get("attempts") or 0) + 1, last_call=call.id)
            self._save(item)
        return DialBack(item, call)

    def parse_time(self, value: Any) -> float:
        """Epoch seconds, ISO 8601 (local time), ``HH:MM`` (the next such time) or ``+30m``/``+2h``/``+1d``."""
        now = self.clock()
        if isinstance(value, bool):
            raise _bad("preferred: a time, not a boolean")
        if isinstance(value, (int, float)):
            return float(value)
        text = str(value).strip()
        m = re.fullmatch(r"\+(\d+)\s*([mhd])", text)
        if m:
            return now + int(m.group(1)) * {"m": 60, "h": 3600, "d": 86400}[m.group(2)]
        m = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
        if m:
            base = datetime.fromtimestamp(now)
            at = base.replace(hour=int(m.group(1)), minute=int(m.group(2)), second=0, microsecond=0)
            if at <= base:
                at += timedelta(days=1)
            return at.timestamp()
        try:
            return datetime.fromisoformat(text).timestamp()
        except ValueError:
            raise _bad(f"preferred: {text!r} is not a time (epoch, ISO 8601, HH:MM or +30m)") from None

    # -- an agent's own figures -------------------------------------------------------------------------
    def figures(self, agent_id: str, events: Iterable[Any] | None = None) -> dict[str, Any]:
        """events: the event log's FIGURE_KINDS, already read (figures_all reads them off the loop)."""
        agent = self.engine.agents.get(agent_id)
        queues = list(agent.queues) if agent else []
        if events is None:
            events = self.main.events(kinds=FIGURE_KINDS)
        out = agent_figures(events, agent_id, self.clock(), queues=queues, sl_threshold=self.engine.cfg.thresholds)
        out["queues"] = queues
        out["waiting"] = {q: self.engine.queue_stats(q)["waiting"] for q in queues if q in self.engine.cfg.queues}
        return out

    async def figures_all(self, agent_id: str) -> dict[str, Any]:
        """An agent's figures with their chats beside the calls (channels.add_written_figures)."""
        out = self.figures(agent_id, await self._read(self._figure_events))
        now = float(out["now"])
        start = now - max(WINDOWS.values()) - 86400.0  # a chat queued the day before may be accepted inside
        items = await self._written_items(lambda w: w.items_between(start, now + 1.0, agent=agent_id))
        return add_written_figures(out, items, agent_id, now)

    def _figure_events(self) -> list[Any]:
        return list(self.main.events(kinds=FIGURE_KINDS))

    # -- transfer targets -------------------------------------------------------------------------------
    def targets(self) -> list[dict[str, Any]]:
        users = {u["username"]: u for u in self.main.list_users()}
        out: list[dict[str, Any]] = []
        for username, u in users.items():
            role = u.get("role", "")
            if role not in ("agent", "supervisor", "admin"):
                continue
            a = self.engine.agents.get(username)
            state = _presence(str(a.state) if a else "logged_out")
            out.append({"key": f"agent:{username}", "kind": "supervisor" if role != "agent" else "agent",
                        "name": (a.name if a else "") or u.get("name") or username, "id": username,
                        "number": (a.device if a else "") or u.get("device") or "",
                        "group": "Supervisors" if role != "agent" else "Agents", "state": state,
                        "target": f"agent:{username}"})
        busy_numbers = {self.key(c.caller) for c in self.engine.calls.values() if c.direction == "outbound"}
        for ln in self.config.lines:
            out.append({"key": f"line:{ln.number}", "kind": "line", "name": ln.name, "id": ln.number,
                        "number": ln.number, "group": ln.group, "target": ln.number,
                        "state": "busy" if self.key(ln.number) in busy_numbers else "free"})
        return out

    def target_states(self) -> dict[str, str]:
        """Every target's state from the engine's memory (no database read: called on each change)."""
        out = {f"agent:{a.id}": _presence(str(a.state)) for a in self.engine.agents.values()}
        busy_numbers = {self.key(c.caller) for c in self.engine.calls.values() if c.direction == "outbound"}
        for ln in self.config.lines:
            out[f"line:{ln.number}"] = "busy" if self.key(ln.number) in busy_numbers else "free"
        return out

    # -- gateway handlers -------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[Any, Any], Any]]:
        me = lambda s: s.principal.username  # noqa: E731
        return {
            "contacts.config": lambda s, r: {**self.config.to_dict(), "categories": self.categories()},
            "contacts.search": lambda s, r: {"contacts": self.search(r.args.get("q", ""), r.args.get("number", ""),
                                                                     int(r.args.get("limit", 50)))},
            "contacts.get": lambda s, r: {"contact": self.contact(r.args["id"])},
            "contacts.save": lambda s, r: {"contact": self.save_contact(r.args["contact"], me(s))},
            "contacts.link": self._link_handler,
            "contacts.call": self._call_handler,
            "contacts.history": self._history_handler,
            "notes.add": self._note_handler,
            "notes.history": self._notes_handler,
            "call.category": self._category_handler,
            "categories.list": lambda s, r: {"categories": self.categories()},
            "categories.set": lambda s, r: {"categories": self.set_categories(r.args["categories"], me(s))},
            "callbacks.worklist": self._worklist_handler,
            "callback.claim": lambda s, r: {"item": self.claim(me(s), r.args["id"])},
            "callback.release": lambda s, r: {"item": self.release(s.principal, r.args["id"])},
            "callback.dial": lambda s, r: self.dial(me(s), r.args["id"], r.args.get("caller_id", "")).to_dict(),
            "callback.reschedule": lambda s, r: {
                "item": self.reschedule(s.principal, r.args["id"], r.args["preferred"])},
            "callback.done": lambda s, r: {"item": self.done(s.principal, r.args["id"])},
            "agent.figures": self._figures_handler,
            "transfer.targets": lambda s, r: {"targets": self.targets()},
            "transfer.watch": lambda s, r: {"targets": self.presence.watch(me(s), bool(r.args["on"]))},
        }

    # The reads of these go to worker threads (the databases); the writes stay on the loop, where the
    # main store's writer queue keeps their order.
    async def _call_handler(self, s: Any, r: Any) -> dict[str, Any]:
        call = await self._checked_call(s.principal, r.args["call_id"])
        return await self._read(self._call_details, r.args["call_id"], call)

    async def _notes_handler(self, s: Any, r: Any) -> dict[str, Any]:
        await self._checked_call(s.principal, r.args["call_id"])
        return {"call_id": r.args["call_id"], "notes": await self._read(self.store.notes, r.args["call_id"])}

    async def _link_handler(self, s: Any, r: Any) -> dict[str, Any]:
        call = await self._checked_call(s.principal, r.args["call_id"])
        return self.link(s.principal, r.args["call_id"], r.args.get("contact_id", ""), call=call)

    async def _note_handler(self, s: Any, r: Any) -> dict[str, Any]:
        call = await self._checked_call(s.principal, r.args["call_id"])
        return self.add_note(s.principal, r.args["call_id"], r.args["text"], r.args.get("contact_id"), call=call)

    async def _category_handler(self, s: Any, r: Any) -> dict[str, Any]:
        call = await self._checked_call(s.principal, r.args["call_id"])
        return self.set_category(s.principal, r.args["call_id"], r.args["category"], call=call)

    async def _worklist_handler(self, s: Any, r: Any) -> dict[str, Any]:
        return {"items": await self._read(self.worklist, r.args.get("state", "open"))}

    async def _history_handler(self, s: Any, r: Any) -> dict[str, Any]:
        return {"history": await self.history_all(r.args["number"], r.args.get("exclude"),
                                                  int(r.args.get("limit", 50)))}

    async def _figures_handler(self, s: Any, r: Any) -> dict[str, Any]:
        me = s.principal.username
        if r.args.get("agent") not in (None, "", me) and P_SUPERVISE not in s.principal.permissions:
            _forbidden()
        return {"figures": await self.figures_all(r.args.get("agent") or me)}


def _forbidden() -> Any:
    raise Forbidden("only supervisors see another agent's figures")


def _presence(agent_state: str) -> str:
    """Agent state -> the transfer panel's live state: free, busy, ringing, paused, logged out."""
    return {"ready": "free", "on_call": "busy", "wrap_up": "busy", "ringing": "ringing", "paused": "paused",
            "logged_out": "logged out"}.get(agent_state, agent_state)
