"""The directory service: search, person details, absences, messages; protocol handlers and REST.

Wired by server/app.py: ``Server.directory``; its ``handlers()`` join the gateway's and
``add_routes()`` adds ``GET /api/directory/search`` and ``/api/directory/persons/{id}``.

Person ids on the wire are ``"<tenant>:<id>"`` (ids are unique per organisation only).
"""
from __future__ import annotations

import asyncio
import gc
import logging
import os
import smtplib
import time
import uuid
from bisect import bisect_right
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cc_console.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, Unavailable
from cc_console.protocol import P_ADMIN, P_SESSION, P_SUPERVISE, ErrorCode, ProtocolError

from . import ics as ics_mod
from .importer import ImportReport, import_files
from .index import SearchIndex
from .results import Absence, AbsenceDeleted, LocalFields, MessageSent
from .store import DirectoryStore

log = logging.getLogger(__name__)

ABSENCE_TYPES = ics_mod.ABSENCE_TYPES
# Agent states of a desk phone's device, as the operator reads them.
LINE_STATES = {"ready": "free", "ringing": "ringing", "on_call": "busy", "wrap_up": "wrap-up",
               "paused": "paused", "logged_out": "logged out"}
KEEP_PAST = 24 * 3600.0  # absences ended longer ago than this are not kept in memory
FREEZE_AT = 1000  # persons from which the loaded directory is kept out of the garbage collector's scans


def split_key(key: str) -> tuple[str, str]:
    tenant, sep, pid = key.partition(":")
    if not sep or not tenant or not pid:
        raise Invalid(f"a person id is '<organisation>:<id>', not {key!r}")
    return tenant, pid


def parse_time(value: Any, tz: ZoneInfo, name: str) -> float:
    """Epoch seconds from a number or an ISO 8601 string (local time zone when it has none)."""
    if isinstance(value, bool):
        raise Invalid(f"{name}: a time, not a boolean")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        dt = datetime.fromisoformat(str(value))
    except ValueError:
        raise Invalid(f"{name}: {value!r} is not an ISO 8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=tz)
    return dt.timestamp()


class DirectoryService:
    def __init__(self, store: DirectoryStore, *, clock: Callable[[], float] = time.time,
                 devices: Callable[[], dict[str, str]] | None = None, tz: str = "Europe/Oslo",
                 smtp_host: str | None = None, smtp_port: int | None = None,
                 smtp_from: str | None = None, country_code: str = "47",
                 codes: dict[str, dict[str, str]] | None = None) -> None:
        self.store = store
        # each organisation's own subject codes ("Ferie:" -> vacation) on top of the defaults
        self.codes = {tenant: ics_mod.codes_table(words) for tenant, words in (codes or {}).items()}
        self.country_code = country_code  # for national numbers in search (normalize.phone_keys)
        self.clock = clock
        self.devices = devices or (lambda: {})
        self.tz = ZoneInfo(tz)
        self.smtp_host = smtp_host or os.environ.get("CC_CONSOLE_SMTP_HOST", "127.0.0.1")
        self.smtp_port = int(smtp_port or os.environ.get("CC_CONSOLE_SMTP_PORT", "25"))
        self.smtp_from = smtp_from or os.environ.get("CC_CONSOLE_SMTP_FROM", "switchboard@localhost")
        self.index = SearchIndex()
        self._absences: dict[str, list[dict[str, Any]]] = {}
        self._by_username: dict[str, list[str]] = {}
        self.reload()

    # -- memory -------------------------------------------------------------------------------------
    def reload(self) -> None:
        """(Re)build the search index and the absence lists from the database."""
        self.install(self.load())

    def load(self) -> dict[str, Any]:
        """Everything reload() builds, without touching the running service: a running server
        builds it in a thread (14,000 persons take seconds) and installs it on the loop."""
        index = SearchIndex(self.store.persons(), self.store.units(), country_code=self.country_code)
        by_username: dict[str, list[str]] = {}
        for key, p in zip(index.keys, index.persons):
            if p.get("username"):
                by_username.setdefault(p["username"], []).append(key)
        absences: dict[str, list[dict[str, Any]]] = {}
        for a in self.store.absences(since=self.clock() - KEEP_PAST):
            absences.setdefault(f"{a['tenant']}:{a['person']}", []).append(a)
        return {"index": index, "by_username": by_username, "absences": absences,
                "base_rows": [self._base_row(i, index) for i in range(len(index))]}

    def install(self, state: dict[str, Any]) -> None:
        self.index, self._by_username = state["index"], state["by_username"]
        self._absences, self._base_rows = state["absences"], state["base_rows"]
        if len(self.index) >= FREEZE_AT:
            # Millions of objects that live until the next reload: out of the cyclic collector's
            # sight, or every full collection walks them (about 0.7 s at 14,000 persons and a year
            # of absences, a pause of the whole server, every console's events with it). None of
            # them is in a reference cycle, so the previous index is still freed when replaced.
            gc.freeze()

    def _resort(self, key: str) -> None:
        lst = self._absences.get(key)
        if lst is not None:
            lst.sort(key=lambda a: a["start"])

    # -- search -------------------------------------------------------------------------------------
    def _base_row(self, i: int, index: SearchIndex | None = None) -> dict[str, Any]:
        index = index or self.index
        p = index.persons[i]
        path = index.units_path[i]
        return {"id": index.keys[i], "tenant": p["tenant"], "name": p["name"], "title": p.get("title", ""),
                "unit": path[0] if path else "", "unit_path": path, "desk": p.get("desk", ""),
                "mobile": p.get("mobile", ""), "switchboard": p.get("switchboard", ""),
                "email": p.get("email", ""), "location": p.get("location", ""),
                "subjects": p.get("subjects", []), "gone": bool(p.get("gone"))}

    def current_absence(self, key: str, now: float) -> tuple[dict[str, Any] | None, float]:
        """The absence in force now (the one running longest), and when the person is back."""
        lst = self._absences.get(key)
        if not lst:
            return None, 0.0
        hi = bisect_right([a["start"] for a in lst], now) if len(lst) > 8 else len(lst)
        active = [a for a in lst[:hi] if a["start"] <= now < a["until"]]
        if not active:
            return None, 0.0
        cur = max(active, key=lambda a: a["until"])
        back = cur["until"]
        # Absences back to back (vacation, then a course) make one stretch away.
        for a in lst:
            if a["start"] <= back < a["until"]:
                back = a["until"]
        return cur, back

    def _present(self, key: str, now: float) -> bool:
        return self.current_absence(key, now)[0] is None and key in self.index.by_key \
            and not self.index.persons[self.index.by_key[key]].get("gone")

    def _resolve_sub(self, tenant: str, ref: str) -> dict[str, Any] | None:
        if not ref:
            return None
        key = ref if ":" in ref else f"{tenant}:{ref}"
        i = self.index.by_key.get(key)
        if i is None:
            return {"id": "", "name": ref, "desk": ref if any(c.isdigit() for c in ref) else "", "mobile": ""}
        p = self.index.persons[i]
        return {"id": key, "name": p["name"], "desk": p.get("desk", ""), "mobile": p.get("mobile", "")}

    def substitute_for(self, key: str, now: float, absence: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """Who covers: the absence's substitute, else the first listed substitute who is in."""
        i = self.index.by_key.get(key)
        if i is None:
            return None
        p = self.index.persons[i]
        if absence and absence.get("substitute"):
            return self._resolve_sub(p["tenant"], absence["substitute"])
        subs = p.get("substitutes") or []
        for ref in subs:
            skey = ref if ":" in ref else f"{p['tenant']}:{ref}"
            if self._present(skey, now):
                return self._resolve_sub(p["tenant"], ref)
        return self._resolve_sub(p["tenant"], subs[0]) if subs else None

    def _line_state(self, row: dict[str, Any], devices: dict[str, str]) -> str:
        for kind in ("desk", "switchboard"):
            number = "".join(c for c in row.get(kind, "") if c.isdigit() or c == "+")
            if number:
                state = devices.get(f"PJSIP/{number}") or devices.get(f"PJSIP/{number.lstrip('+')}")
                if state:
                    return LINE_STATES.get(state, state)
        return "unknown"

    def row(self, i: int, now: float, devices: dict[str, str]) -> dict[str, Any]:
        r = dict(self._base_rows[i])
        key = r["id"]
        absence, back = self.current_absence(key, now)
        if r["gone"]:
            r["status"] = "gone"
        else:
            r["status"] = "absent" if absence else "in"
        r["absence"] = None if absence is None else {
            "id": absence["id"], "type": absence["type"], "from": absence["start"], "until": back,
            "message": absence.get("message", "")}
        needs_cover = r["gone"] or absence is not None
        r["substitute"] = self.substitute_for(key, now, absence) if needs_cover else None
        r["line"] = self._line_state(r, devices)
        return r

    def search(self, q: str, *, tenant: str | None = None, limit: int = 20,
               now: float | None = None) -> list[dict[str, Any]]:
        now = self.clock() if now is None else now
        ids = self.index.search(q, tenant=tenant, limit=max(1, min(limit, 200)))
        devices = self.devices() if ids else {}
        return [self.row(i, now, devices) for i in ids]

    def person(self, key: str, *, now: float | None = None) -> dict[str, Any]:
        now = self.clock() if now is None else now
        i = self.index.by_key.get(key)
        if i is None:
            raise NotFound(f"no person {key!r} in the directory")
        p = self.index.persons[i]
        d = self.row(i, now, self.devices())
        local = p.get("local") or {}
        d.update(given_name=p.get("given_name", ""), family_name=p.get("family_name", ""),
                 username=p.get("username", ""), notes=local.get("notes", ""),
                 attributes=local.get("attributes", {}), extra=p.get("extra", {}),
                 substitutes=[s for s in (self._resolve_sub(p["tenant"], ref) for ref in p.get("substitutes", []))
                              if s],
                 absences=[Absence.of(a).to_dict() for a in self._absences.get(key, []) if a["until"] > now][:50])
        return d

    # -- permissions --------------------------------------------------------------------------------
    def own_keys(self, username: str) -> list[str]:
        return self._by_username.get(username, [])

    def check_may_edit(self, principal: Any, key: str) -> None:
        """Own absence: anyone. Others': supervisors (of that organisation, when they are in the
        directory themselves) and admins."""
        if key in self.own_keys(principal.username):
            return
        perms = principal.permissions
        if P_ADMIN in perms:
            return
        if P_SUPERVISE not in perms:
            raise Forbidden("you may only change your own absences")
        mine = {k.partition(":")[0] for k in self.own_keys(principal.username)}
        if mine and key.partition(":")[0] not in mine:
            raise Forbidden("a supervisor may change absences in their own organisation only")

    # -- absences -----------------------------------------------------------------------------------
    def _check_absence(self, kind: str, start: float, until: float) -> None:
        if kind not in ABSENCE_TYPES:
            raise Invalid(f"absence type must be one of {', '.join(ABSENCE_TYPES)}")
        if until <= start:
            raise Invalid("an absence must end after it starts")

    def _end_of_day(self, t: float) -> float:
        d = datetime.fromtimestamp(t, self.tz).date() + timedelta(days=1)
        return datetime(d.year, d.month, d.day, tzinfo=self.tz).timestamp()

    def add_absence(self, by: str, key: str, kind: str, start: Any, until: Any = None, message: str = "",
                    substitute: str = "", source: str = "manual") -> Absence:
        tenant, pid = split_key(key)
        if key not in self.index.by_key:
            raise NotFound(f"no person {key!r} in the directory")
        s = parse_time(start, self.tz, "from")
        u = parse_time(until, self.tz, "until") if until not in (None, "") else self._end_of_day(s)
        self._check_absence(kind, s, u)
        a = {"id": uuid.uuid4().hex, "tenant": tenant, "person": pid, "type": kind, "start": s, "until": u,
             "message": message, "substitute": substitute, "source": source, "created_by": by,
             "created": self.clock()}
        self.store.insert_absences([a])
        self._absences.setdefault(key, []).append(a)
        self._resort(key)
        return Absence.of(a)

    def get_absence(self, aid: str) -> dict[str, Any]:
        a = self.store.absence(aid)
        if a is None:
            raise NotFound(f"no absence {aid!r}")
        return a

    def update_absence(self, aid: str, **changes: Any) -> Absence:
        a = self.get_absence(aid)
        new = dict(a)
        if changes.get("type") is not None:
            new["type"] = changes["type"]
        if changes.get("from") is not None:
            new["start"] = parse_time(changes["from"], self.tz, "from")
        if changes.get("until") is not None:
            new["until"] = parse_time(changes["until"], self.tz, "until")
        for k in ("message", "substitute"):
            if changes.get(k) is not None:
                new[k] = changes[k]
        self._check_absence(new["type"], new["start"], new["until"])
        self.store.update_absence(aid, new)
        key = f"{a['tenant']}:{a['person']}"
        lst = self._absences.setdefault(key, [])
        lst[:] = [x for x in lst if x["id"] != aid] + [new]
        self._resort(key)
        return Absence.of(new)

    def delete_absence(self, aid: str) -> AbsenceDeleted:
        a = self.get_absence(aid)
        self.store.delete_absence(aid)
        key = f"{a['tenant']}:{a['person']}"
        self._absences[key] = [x for x in self._absences.get(key, []) if x["id"] != aid]
        return AbsenceDeleted(aid)

    def import_ics(self, key: str, raw: bytes | str, *, now: float | None = None,
                   source: str = "ics") -> list[dict[str, Any]]:
        """Replace the person's calendar absences with those in this iCalendar file or feed; a
        calendar that is refused (ics.CalendarError) changes nothing."""
        tenant, _pid = split_key(key)
        if key not in self.index.by_key:
            raise NotFound(f"no person {key!r} in the directory")
        found = self.parse_calendar(tenant, raw, now=now)
        rows = self.calendar_rows(key, found, source)
        self.store.replace_source_absences(tenant, key.partition(":")[2], source, rows)
        self.remember_calendar(key, rows, source)
        return [Absence.of(a).to_dict() for a in rows]

    def parse_calendar(self, tenant: str, raw: bytes | str, *, now: float | None = None) -> list[dict[str, Any]]:
        """The absences in a calendar for one of the organisation's persons (blocking: CPU only)."""
        start, end = ics_mod.window(self.clock() if now is None else now)
        return ics_mod.absences_from_ics(raw, start=start, end=end, tz=self.tz, codes=self.codes.get(tenant))

    def calendar_rows(self, key: str, found: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
        tenant, pid = split_key(key)
        created = self.clock()
        return [{"id": uuid.uuid4().hex, "tenant": tenant, "person": pid, "type": a["type"], "start": a["start"],
                 "until": a["until"], "message": "", "substitute": "", "source": source, "created_by": source,
                 "created": created} for a in found]

    def calendar_differs(self, key: str, found: list[dict[str, Any]], source: str) -> bool:
        """Whether these absences differ from what the person has from this source now."""
        have = sorted((a["type"], a["start"], a["until"]) for a in self._absences.get(key, [])
                      if a.get("source") == source and a["until"] > self.clock() - KEEP_PAST)
        want = sorted((a["type"], a["start"], a["until"]) for a in found if a["until"] > self.clock() - KEEP_PAST)
        return have != want

    def remember_calendar(self, key: str, rows: list[dict[str, Any]], source: str) -> None:
        """After the store took them: the in-memory absences follow (on the loop)."""
        self._absences[key] = [a for a in self._absences.get(key, []) if a.get("source") != source] + rows
        self._resort(key)

    # -- imports ------------------------------------------------------------------------------------
    def import_files(self, **kwargs: Any) -> ImportReport:
        kwargs.setdefault("now", self.clock())
        report = import_files(self.store, **kwargs)
        self.reload()
        return report

    def set_notes(self, key: str, notes: str) -> LocalFields:
        tenant, pid = split_key(key)
        p = self.store.person(tenant, pid)
        if p is None:
            raise NotFound(f"no person {key!r} in the directory")
        local = dict(p["local"], notes=notes)
        self.store.set_local(tenant, pid, local, self.clock())
        i = self.index.by_key.get(key)
        if i is not None:
            self.index.persons[i]["local"] = local
        return LocalFields(key, notes)

    def set_local_fields(self, key: str, *, notes: str, attributes: dict[str, str]) -> LocalFields:
        """What only we keep about a person (the web page's maintenance form): notes and attributes."""
        tenant, pid = split_key(key)
        p = self.store.person(tenant, pid)
        if p is None:
            raise NotFound(f"no person {key!r} in the directory")
        local = dict(p["local"], notes=notes, attributes=dict(attributes))
        self.store.set_local(tenant, pid, local, self.clock())
        i = self.index.by_key.get(key)
        if i is not None:
            self.index.persons[i]["local"] = local
        return LocalFields(key, notes, local["attributes"])

    # -- messages -----------------------------------------------------------------------------------
    def build_message(self, key: str, text: str, taken_by: str) -> EmailMessage:
        i = self.index.by_key.get(key)
        if i is None:
            raise NotFound(f"no person {key!r} in the directory")
        p = self.index.persons[i]
        if not p.get("email"):
            raise Conflict(f"{p['name']} has no e-mail address in the directory")
        if not text.strip():
            raise Invalid("the message is empty")
        msg = EmailMessage()
        msg["From"] = self.smtp_from
        msg["To"] = p["email"]
        msg["Subject"] = "Telephone message: " + " ".join(text.split())[:60]
        msg["Date"] = formatdate(localtime=True)
        msg["Message-ID"] = make_msgid(domain=self.smtp_from.partition("@")[2] or None)
        when = datetime.fromtimestamp(self.clock(), self.tz).strftime("%Y-%m-%d %H:%M")
        msg.set_content(f"{text.strip()}\n\n-- \nTaken by {taken_by} at the switchboard, {when}.\n")
        return msg

    def _send(self, msg: EmailMessage) -> None:
        # The shared sender (server/mail.py): STARTTLS with the certificate checked when
        # CC_CONSOLE_SMTP_TLS=starttls; in clear to the local relay by default.
        from cc_console.server.mail import MailRefused, MailSettings, send
        try:
            send(MailSettings(self.smtp_host, self.smtp_port, self.smtp_from,
                              tls=os.environ.get("CC_CONSOLE_SMTP_TLS", "none"),
                              ca_file=os.environ.get("CC_CONSOLE_SMTP_CA", ""), timeout=10), msg)
        except MailRefused as exc:
            raise OSError(str(exc)) from None

    async def send_message(self, key: str, text: str, taken_by: str) -> MessageSent:
        msg = self.build_message(key, text, taken_by)
        try:
            await asyncio.to_thread(self._send, msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise Unavailable(f"the mail server {self.smtp_host}:{self.smtp_port} did not take the message: "
                              f"{exc}") from exc
        return MessageSent(str(msg["To"]), str(msg["Message-ID"]))

    # -- protocol -----------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Callable[[Any, Any], Any]]:
        """Gateway handlers: ``handler(session, request)``; permissions are checked by the gateway
        from the CommandSpec, ownership here."""

        def search(s: Any, r: Any) -> dict[str, Any]:
            return {"q": r.args["q"], "results": self.search(r.args["q"], tenant=r.args.get("tenant") or None,
                                                             limit=int(r.args.get("limit", 20)))}

        def person(s: Any, r: Any) -> dict[str, Any]:
            return {"person": self.person(r.args["id"])}

        def add(s: Any, r: Any) -> dict[str, Any]:
            a = r.args
            key = a.get("person_id")
            if not key:
                own = self.own_keys(s.principal.username)
                if not own:
                    raise NotFound(f"user {s.principal.username} has no person in the directory; give person_id")
                key = own[0]
            self.check_may_edit(s.principal, key)
            sub = a.get("substitute", "")
            return {"absence": self.add_absence(s.principal.username, key, a["type"], a["from"], a.get("until"),
                                                a.get("message", ""), sub).to_dict()}

        def update(s: Any, r: Any) -> dict[str, Any]:
            old = self.get_absence(r.args["id"])
            self.check_may_edit(s.principal, f"{old['tenant']}:{old['person']}")
            return {"absence": self.update_absence(r.args["id"],
                                                   **{k: v for k, v in r.args.items() if k != "id"}).to_dict()}

        def delete(s: Any, r: Any) -> dict[str, Any]:
            old = self.get_absence(r.args["id"])
            self.check_may_edit(s.principal, f"{old['tenant']}:{old['person']}")
            return self.delete_absence(r.args["id"]).to_dict()

        async def message(s: Any, r: Any) -> dict[str, Any]:
            who = s.principal.name or s.principal.username
            return (await self.send_message(r.args["person_id"], r.args["text"], who)).to_dict()

        def notes(s: Any, r: Any) -> dict[str, Any]:
            return self.set_notes(r.args["id"], r.args["notes"]).to_dict()

        return {"directory.search": search, "directory.person": person, "absence.add": add,
                "absence.update": update, "absence.delete": delete, "directory.message": message,
                "directory.notes": notes}

    # -- REST -----------------------------------------------------------------------------------------
    def add_routes(self, app: Any, auth: Any) -> None:
        """GET /api/directory/search?q=&tenant=&limit= and /api/directory/persons/{id}, with
        ``Authorization: Bearer <session token>`` (the token ``login`` returns) or an API client's token;
        ``auth`` is the server's Principals (server/api/bearer.py)."""
        from aiohttp import web

        def principal(request: web.Request) -> Any:
            p = auth.from_headers(request.headers)  # the server's one reading of Authorization
            if P_SESSION not in p.permissions:
                raise Forbidden("no session permission")
            return p

        status = {ErrorCode.UNAUTHENTICATED: 401, ErrorCode.FORBIDDEN: 403, ErrorCode.NOT_FOUND: 404,
                  ErrorCode.BAD_REQUEST: 400}

        def guarded(fn: Callable[[web.Request], dict[str, Any]]):
            async def handler(request: web.Request) -> web.Response:
                try:
                    principal(request)
                    return web.json_response(fn(request))
                except (ProtocolError, DomainError) as exc:  # not signed in, or the service refused
                    resp = web.json_response({"error": exc.to_dict()}, status=status.get(exc.code, 500))
                    if exc.code is ErrorCode.UNAUTHENTICATED:
                        resp.headers["WWW-Authenticate"] = 'Bearer realm="cc-console"'
                    return resp
            return handler

        def search(request: web.Request) -> dict[str, Any]:
            q = request.query.get("q", "")
            try:
                limit = int(request.query.get("limit", "20"))
            except ValueError:
                raise Invalid("limit must be a number") from None
            return {"q": q, "results": self.search(q, tenant=request.query.get("tenant") or None, limit=limit)}

        def person(request: web.Request) -> dict[str, Any]:
            return {"person": self.person(request.match_info["id"])}

        app.router.add_get("/api/directory/search", guarded(search))
        app.router.add_get("/api/directory/persons/{id}", guarded(person))


def open_service(db_path: str | Path, **kwargs: Any) -> DirectoryService:
    return DirectoryService(DirectoryStore(db_path), **kwargs)
