"""Call recording: record every agent leg through ARI, move the file off the PBX, find, play,
evaluate and retain it. docs/recordings.md describes the rules.

The service follows calls through the engine's hooks (call_connected, call_leg_ended,
call_ended), all synchronous; its ARI side effects run through ``engine._spawn`` keyed by the
call id, so a recording starts after the agent's leg is in the bridge and stops before the bridge
is torn down. Moving the file (GET the stored file, checksum, encrypt, write, DELETE it in
Asterisk) runs on its own key so it never holds up the call.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from cc_console.errors import Conflict, Damaged, DomainError, Forbidden, Invalid, NotFound, Unavailable
from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.capability import CallHooks

from . import audio
from .store import RecordingStore
from .writes import SerialWrites

log = logging.getLogger(__name__)

DAY = 86400.0
# Rights on recordings, by role (docs/recordings.md). Agents may listen to their own legs only.
RIGHTS: dict[str, frozenset[str]] = {
    "admin": frozenset({"listen", "download", "evaluate", "hold", "purge"}),
    "supervisor": frozenset({"listen", "download", "evaluate", "hold"}),
    "agent": frozenset({"listen_own"}),
    "wallboard": frozenset(),
}
OPTOUT_ROLES = frozenset({"supervisor", "admin"})


def rights(principal: Any, rec: dict[str, Any] | None = None) -> set[str]:
    """What this user may do with this recording: a subset of {listen, download, evaluate, hold, purge}."""
    r = set(RIGHTS.get(str(principal.role), frozenset()))
    if getattr(principal, "custom", False):
        # A custom role: exactly the recording rights it lists (recordings.listen, ...), on top of
        # an agent's own legs where its base is agent.
        r = {p.split(".", 1)[1] for p in principal.permissions if p.startswith("recordings.")} | (r & {"listen_own"})
    if "listen_own" in r:
        r.discard("listen_own")
        if rec is not None and rec.get("agent_id") == principal.username:
            r.add("listen")
    return r


@dataclass
class RecordingSettings:
    folder: Path
    key_file: str = ""
    retention_days: int = 183
    retention: dict[str, int] = field(default_factory=dict)  # "queue:NAME" / "tenant:NAME" -> days
    optout_users: set[str] = field(default_factory=set)
    skip_prefixes: tuple[str, ...] = ()
    purge_interval: float = 3600.0
    fetch_timeout: float = 15.0

    @classmethod
    def from_server(cls, s: Any) -> RecordingSettings:
        folder = Path(s.recordings_dir) if s.recordings_dir else Path(str(s.db_file)).parent / "recordings"
        return cls(folder=folder, key_file=s.recordings_key_file, retention_days=s.recording_retention_days,
                   retention=dict(s.recording_retention), optout_users=set(s.recording_optout_users),
                   skip_prefixes=tuple(s.recording_skip_prefixes), purge_interval=s.recording_purge_interval)


def _number(device: str) -> str:
    """PJSIP/1001 -> 1001; a bare number stays itself."""
    return device.rsplit("/", 1)[-1].split("@", 1)[0] if device else ""


def parse_time(v: Any) -> float | None:
    if v is None or v == "":
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return float(v)
    try:
        return float(v)
    except (TypeError, ValueError):
        pass
    try:
        return datetime.fromisoformat(str(v)).timestamp()
    except ValueError:
        raise Invalid(f"not a time: {v!r} (epoch seconds or ISO 8601)") from None


class RecordingService(CallHooks):
    def __init__(self, engine: Any, store: RecordingStore, settings: RecordingSettings, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.engine = engine
        self.store = store
        self.s = settings
        self.clock = clock
        self.key: bytes | None = audio.load_key(settings.key_file) if settings.key_file else None
        self.active: dict[str, dict[str, Any]] = {}  # call id -> the row of the leg being recorded
        self.legs: dict[str, int] = {}  # call id -> legs seen
        self.pending_optout: set[tuple[str, str]] = set()  # (call id, agent) opted out before answering
        self._purge_task: asyncio.Task[None] | None = None
        self._cache: tuple[str, bytes] | None = None  # the last decrypted file (Range requests come in series)
        self.writes = SerialWrites()  # the hooks' writes that nothing on the loop waits for

    # == recording rules ================================================================================
    def retention_days(self, queue: str, tenant: str) -> int:
        r = self.s.retention
        return int(r.get(f"queue:{queue}", r.get(f"tenant:{tenant}", self.s.retention_days)))

    def _skip_destination(self, number: str) -> bool:
        return bool(number) and any(number.startswith(p) for p in self.s.skip_prefixes if p)

    def _last_target(self, call_id: str) -> str:
        """The number a transfer or overflow sent the call to (the latest one)."""
        to = ""
        for e in self.engine.store.events(call_id=call_id, kinds=("call.transferred", "call.overflow")):
            t = str(e.data.get("to") or e.data.get("target") or "")
            if t:
                to = t
        return to.split(":", 1)[1] if t_is_prefixed(to) else to

    def _base_row(self, call: Any, kind: str) -> dict[str, Any]:
        q = self.engine.cfg.queues.get(call.queue)
        tenant = q.tenant if q else "default"
        now = self.clock()
        return {"call_id": call.id, "queue": call.queue, "queue_name": call.queue,
                "queue_number": (q.dids[0] if q and q.dids else call.did) or "", "tenant": tenant,
                "caller": call.caller, "call_type": kind, "started": now,
                "expires": now + self.retention_days(call.queue, tenant) * DAY}

    # == engine hooks (synchronous) ======================================================================
    def call_connected(self, call: Any) -> None:
        leg = self.legs.get(call.id, 0) + 1
        self.legs[call.id] = leg
        agent = self.engine.agents.get(call.agent or "")
        row = self._base_row(call, "outbound" if getattr(call, "direction", "") == "outbound" else "inbound")
        now = row["started"]
        name = f"cc-rec-{call.id}-{leg}"
        row.update(leg=leg, name=name, queue_time=max(0.0, (call.answered or now) - call.enqueued))
        if agent is not None:
            row.update(agent_id=agent.id, agent_name=agent.name, agent_number=_number(agent.device))
        else:
            row.update(agent_number=_number(self._last_target(call.id)))
        q = self.engine.cfg.queues.get(call.queue)
        if getattr(call, "record", True) is False:
            row.update(status="not_recorded", reason="the call was placed without recording")
        elif q is not None and not q.record:
            row.update(status="not_recorded", reason=f"queue {call.queue} is not recorded")
        elif agent is None and self._skip_destination(row["agent_number"]):
            row.update(status="not_recorded", reason=f"destination {row['agent_number']} is not recorded")
        elif agent is not None and (call.id, agent.id) in self.pending_optout:
            self.pending_optout.discard((call.id, agent.id))
            row.update(status="opted_out", reason=f"opted out by {agent.id}")
        else:
            row.update(status="recording")
        rec = self.store.insert(row)
        if rec["status"] != "recording":
            log.info("call %s leg %d not recorded: %s", call.id, leg, rec["reason"])
            return
        self.active[call.id] = rec
        self._record_bridge(call.bridge, name, rec, call.id, call.id)

    def _record_bridge(self, bridge: str, name: str, rec: dict[str, Any], key: str, call_id: str) -> None:
        async def start() -> None:
            try:
                # terminateOn none: a caller pressing # must not end the recording.
                await self.engine.ari.request("POST", f"/bridges/{bridge}/record", params={
                    "name": name, "format": "wav", "maxDurationSeconds": 0, "maxSilenceSeconds": 0,
                    "beep": "false", "ifExists": "overwrite", "terminateOn": "none"})
            except Exception as exc:
                self.store.update(rec["id"], status="failed", reason=f"recording did not start: {exc}")
                if self.active.get(key, {}).get("id") == rec["id"]:
                    self.active.pop(key, None)
                raise
        self.engine._spawn(start(), f"record {name}", call_id)

    def consult_connected(self, call: Any) -> None:
        """The consulted party answered: record the consultation (agent and target, in the consult
        bridge) as a leg of its own, type `consult`."""
        c = call.consult or {}
        key = f"{call.id}:consult"
        if key in self.active or not c.get("bridge"):
            return
        n = self.legs.get(key, 0) + 1
        self.legs[key] = n
        agent = self.engine.agents.get(call.agent or "")
        row = self._base_row(call, "consult")
        name = f"cc-rec-{call.id}-c{n}"
        row.update(leg=100 + n, name=name, queue_time=0.0, transferred_to=str(c.get("target", "")))
        if agent is not None:
            row.update(agent_id=agent.id, agent_name=agent.name, agent_number=_number(agent.device))
        q = self.engine.cfg.queues.get(call.queue)
        if getattr(call, "record", True) is False or (q is not None and not q.record):
            row.update(status="not_recorded", reason="the call is not recorded")
            self.store.insert(row)
            return
        row.update(status="recording")
        rec = self.store.insert(row)
        self.active[key] = rec
        self._record_bridge(c["bridge"], name, rec, key, call.id)

    def consult_ended(self, call: Any) -> None:
        self._close_key(f"{call.id}:consult", call.id)

    def call_leg_ended(self, call: Any, agent_id: str) -> None:
        self._close_leg(call, transferred_to=self._last_target(call.id))

    def call_ended(self, call: Any, kind: str) -> None:
        self._close_key(f"{call.id}:consult", call.id)
        self.legs.pop(f"{call.id}:consult", None)
        if call.id in self.active:
            self._close_leg(call)
        elif call.id not in self.legs and kind in ("call.abandoned", "call.ended"):
            # Never connected: metadata only, so lost and unreached calls are found beside the recordings.
            row = self._base_row(call, "lost" if kind == "call.abandoned" else "not_reached")
            row.update(leg=0, name="", started=call.created or row["started"], ended=self.clock(),
                       queue_time=max(0.0, self.clock() - (call.enqueued or call.created or self.clock())),
                       status="no_audio", reason=call.end_reason)
            self.writes.submit(f"the row of lost call {call.id}", self.store.add, row)
        self.legs.pop(call.id, None)
        for key in [k for k in self.pending_optout if k[0] == call.id]:
            self.pending_optout.discard(key)

    def _close_leg(self, call: Any, transferred_to: str = "") -> None:
        self._close_key(call.id, call.id, transferred_to)

    def _close_key(self, key: str, call_id: str, transferred_to: str | None = None) -> None:
        rec = self.active.pop(key, None)
        if rec is None:
            return
        now = self.clock()
        fields: dict[str, Any] = {"ended": now, "talk": max(0.0, now - rec["started"])}
        if transferred_to is not None:
            fields["transferred_to"] = transferred_to
        self.store.update(rec["id"], **fields)
        name = rec["name"]

        async def stop() -> None:
            row = self.store.get(rec["id"])
            if row is None or row["status"] != "recording":
                return  # failed to start or opted out meanwhile (or the row is gone)
            await self.engine.ari.stop_recording(name)
            self.engine._spawn(self._finalize(rec["id"], name), f"store recording {name}", f"rec:{name}")
        self.engine._spawn(stop(), f"stop recording {name}", call_id)

    # == after a restart: live recordings we lost track of ===============================================
    def resynced(self) -> None:
        """The engine knows again which calls are live (after our restart or a reconnect to ARI).
        A leg still recording (its row says so) that this process is not following was started
        before a restart: if its call goes on, follow it again so that its end stores the file as
        usual; if the call ended meanwhile, Asterisk has stopped the recording and left the file in
        its spool, so fetch it now (then delete it there). Done once per reconnect, in a task."""
        self.engine._spawn(self._sweep(), "sweep recordings left by a restart", "rec:sweep")

    async def _sweep(self) -> None:
        following = {r["id"] for r in self.active.values()}
        rows = await asyncio.to_thread(self.store.search, status="recording", limit=1000)
        for rec in rows[0]:
            if rec["id"] in following:
                continue
            consult = rec["leg"] >= 100
            key = f"{rec['call_id']}:consult" if consult else rec["call_id"]
            call = self.engine.calls.get(rec["call_id"])
            live = call is not None and (bool(call.consult) if consult else str(call.state) == "connected")
            if live and key not in self.active:
                self.active[key] = rec
                self.legs[key] = max(self.legs.get(key, 0), rec["leg"] - 100 if consult else rec["leg"])
                log.info("recording %s (call %s) followed again after a restart", rec["name"], rec["call_id"])
                continue
            self.store.update(rec["id"], ended=self.clock(), talk=max(0.0, self.clock() - rec["started"]))
            log.info("recording %s (call %s) ended while we were away: fetching it from the PBX",
                     rec["name"], rec["call_id"])
            self.engine._spawn(self._finalize(rec["id"], rec["name"], after_restart=True),
                               f"store recording {rec['name']}", f"rec:{rec['name']}")

    # == moving the file off the PBX ====================================================================
    async def _finalize(self, rec_id: str, name: str, after_restart: bool = False) -> None:
        ari = self.engine.ari
        deadline = time.monotonic() + self.s.fetch_timeout
        data = b""
        while True:
            try:
                live = await ari.request("GET", f"/recordings/live/{name}")
            except Exception as exc:
                live = None if getattr(exc, "status", 0) == 404 else {"state": "?"}
            if live is None:
                try:
                    data = await ari.stored_recording(name)
                    if audio.wav_seconds(data) > 0 or len(data) <= 44:
                        break
                except Exception as exc:  # not there yet, or a header not yet final
                    log.debug("recording %s not ready: %s", name, exc)
            if time.monotonic() > deadline:
                self.store.update(rec_id, status="failed", reason="the PBX did not deliver the file in time")
                log.warning("recording %s: the PBX did not deliver the file in time", name)
                return
            await asyncio.sleep(0.2)
        saved = self.save(rec_id, data)
        if after_restart and saved.get("duration"):
            # Our clock lost the leg's end: the file's own length is the better account of the talk.
            self.store.update(rec_id, talk=saved["duration"], ended=saved["started"] + saved["duration"])
        self.engine._hook("recording_ready", saved)
        try:
            await ari.request("DELETE", f"/recordings/stored/{name}")
        except Exception as exc:
            log.warning("recording %s stored here but not deleted in Asterisk: %s", name, exc)

    def save(self, rec_id: str, data: bytes) -> dict[str, Any]:
        """Write the WAV into the recordings folder (encrypted when a key is set), checksummed."""
        rec = self.store.get(rec_id)
        assert rec is not None
        day = datetime.fromtimestamp(rec["started"])
        rel = Path(f"{day:%Y/%m/%d}") / (rec_id + (".wav.enc" if self.key else ".wav"))
        path = self.s.folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        body = audio.encrypt(self.key, data, rec_id) if self.key else data
        tmp = path.with_name(path.name + ".part")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
        try:
            seconds = audio.wav_seconds(data)
        except Exception:
            seconds = 0.0
        self.store.update(rec_id, status="stored", file=str(rel), size=len(data), sha256=audio.sha256(data),
                          encrypted=1 if self.key else 0, duration=seconds)
        log.info("recording %s stored: %s (%d bytes, %.1f s)", rec_id, rel, len(data), seconds)
        return self.store.get(rec_id) or rec

    def read_audio(self, rec: dict[str, Any]) -> bytes:
        """The plain WAV of a stored recording, its checksum verified."""
        if rec["status"] != "stored" or not rec["file"]:
            raise NotFound(f"recording {rec['id']} has no audio ({rec['status']})")
        if self._cache and self._cache[0] == rec["id"]:
            return self._cache[1]
        blob = (self.s.folder / rec["file"]).read_bytes()
        if rec["encrypted"]:
            if self.key is None:
                raise Unavailable("this recording is encrypted and no key is configured")
            blob = audio.decrypt(self.key, blob, rec["id"])
        if audio.sha256(blob) != rec["sha256"]:
            raise Damaged(f"recording {rec['id']} fails its checksum")
        self._cache = (rec["id"], blob)
        return blob

    # == opt-out ========================================================================================
    def may_optout(self, principal: Any) -> bool:
        return str(principal.role) in OPTOUT_ROLES or principal.username in self.s.optout_users

    def optout(self, principal: Any, call_id: str | None = None) -> dict[str, Any]:
        me = principal.username
        if not self.may_optout(principal):
            raise Forbidden(f"{me} may not switch recording off")
        agent = self.engine.agents.get(me)
        cid = call_id or (agent.call_id if agent else None)
        call = self.engine.calls.get(cid or "")
        if call is None or call.agent != me:
            raise Conflict("no call of yours to stop recording")
        rec = self.active.get(call.id)
        if rec is None or rec.get("agent_id") != me:
            self.pending_optout.add((call.id, me))  # ringing: the leg will not be recorded
            return {"call_id": call.id, "recording": None, "pending": True}
        self.active.pop(call.id, None)
        now = self.clock()
        self.store.update(rec["id"], status="opted_out", reason=f"opted out by {me}", ended=now,
                          talk=max(0.0, now - rec["started"]))
        name = rec["name"]

        async def discard() -> None:
            # DELETE on a live recording stops it and throws the file away.
            await self.engine.ari.request("DELETE", f"/recordings/live/{name}")
        self.engine._spawn(discard(), f"discard recording {name}", call.id)
        log.info("recording of call %s leg %s switched off by %s", call.id, rec["leg"], me)
        return {"call_id": call.id, "recording": self.public(self.store.get(rec["id"]) or rec), "pending": False}

    # == access ========================================================================================
    @staticmethod
    def public(rec: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in rec.items() if k not in ("file", "name")}

    def access(self, principal: Any, rec_id: str, action: str, *, audit: bool = True,
               detail: str = "") -> dict[str, Any]:
        """The recording when `principal` has the right `action`; audited (who, what, when, outcome)."""
        rec = self.store.get(rec_id)
        if rec is None:
            if audit:
                self.store.audit(principal.username, action, rec_id, "not_found", detail)
            raise NotFound(f"no recording {rec_id}")
        if action not in rights(principal, rec):
            if audit:
                self.store.audit(principal.username, action, rec_id, "forbidden", detail)
            raise Forbidden(f"{principal.username} may not {action} recording {rec_id}")
        if audit:
            self.store.audit(principal.username, action, rec_id, "ok", detail)
        return rec

    def search(self, principal: Any, args: dict[str, Any]) -> dict[str, Any]:
        agent = args.get("agent") or None
        if "listen" not in rights(principal) and "download" not in rights(principal):
            if agent and agent != principal.username:
                raise Forbidden("agents may search only their own recordings")
            agent = principal.username
        try:
            rows, more = self.store.search(
                agent=agent, date_from=parse_time(args.get("from")), date_to=parse_time(args.get("to")),
                category=args.get("category"), queue=args.get("queue"), caller=args.get("caller"),
                call_type=args.get("call_type"), status=args.get("status"), tenant=args.get("tenant"),
                text=args.get("text"), sort=args.get("sort", "started"), desc=bool(args.get("desc", True)),
                limit=int(args.get("limit", 50)), offset=int(args.get("offset", 0)))
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        return {"recordings": [self.public(r) for r in rows], "more": more}

    def detail(self, principal: Any, rec_id: str) -> dict[str, Any]:
        rec = self.store.get(rec_id)
        if rec is None:
            raise NotFound(f"no recording {rec_id}")
        r = rights(principal, rec)
        if not r & {"listen", "download", "evaluate"}:
            raise Forbidden(f"{principal.username} may not see recording {rec_id}")
        return {"recording": self.public(rec), "rights": sorted(r), "evaluations": self.store.evaluations(rec_id),
                "marks": self.store.marks(rec_id)}

    def update(self, principal: Any, rec_id: str, category: str | None, notes: str | None) -> dict[str, Any]:
        rec = self.store.get(rec_id)
        if rec is None:
            raise NotFound(f"no recording {rec_id}")
        if rec["agent_id"] != principal.username and "evaluate" not in rights(principal, rec):
            raise Forbidden("only the agent or a supervisor may edit a recording's notes")
        fields = {k: v for k, v in (("category", category), ("notes", notes)) if v is not None}
        if fields:
            self.store.update(rec_id, **fields)
        return {"recording": self.public(self.store.get(rec_id) or rec)}

    def set_hold(self, principal: Any, rec_id: str, on: bool) -> dict[str, Any]:
        rec = self.access(principal, rec_id, "hold", detail="on" if on else "off")
        self.store.update(rec_id, legal_hold=1 if on else 0)
        return {"recording": self.public(self.store.get(rec_id) or rec)}

    def evaluate(self, principal: Any, rec_id: str, scores: dict[str, Any], comment: str) -> dict[str, Any]:
        self.access(principal, rec_id, "evaluate", audit=False)
        if not scores or not all(isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
                                 for k, v in scores.items()):
            raise Invalid("scores: an object of criterion -> number")
        return {"evaluation": self.store.evaluate(rec_id, principal.username,
                                                  {k: float(v) for k, v in scores.items()}, comment)}

    def mark(self, principal: Any, rec_id: str, at: float, text: str) -> dict[str, Any]:
        rec = self.access(principal, rec_id, "evaluate", audit=False)
        if at < 0 or (rec["duration"] and at > rec["duration"] + 1):
            raise Invalid(f"at: 0..{rec['duration']:.0f} seconds")
        return {"mark": self.store.add_mark(rec_id, at, principal.username, text), "marks": self.store.marks(rec_id)}

    # == retention =====================================================================================
    def purge(self, now: float | None = None) -> list[dict[str, Any]]:
        """Delete the audio of every expired recording not under legal hold; log each one."""
        now = self.clock() if now is None else now
        done = []
        for rec in self.store.expired(now):
            if rec["file"]:
                try:
                    (self.s.folder / rec["file"]).unlink()
                except FileNotFoundError:
                    pass
            self.store.log_purge(rec, now)
            self.store.update(rec["id"], status="purged", purged_at=now, file="")
            log.info("purged recording %s (call %s, agent %s, started %s, expired %s, file %s, sha256 %s)",
                     rec["id"], rec["call_id"], rec["agent_id"] or "-", datetime.fromtimestamp(rec["started"]),
                     datetime.fromtimestamp(rec["expires"]), rec["file"] or "-", rec["sha256"] or "-")
            done.append({"id": rec["id"], "file": rec["file"], "expires": rec["expires"]})
        if self._cache and any(d["id"] == self._cache[0] for d in done):
            self._cache = None
        return done

    async def _purge_loop(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.purge)
            except Exception:
                log.exception("recording purge failed")
            await asyncio.sleep(self.s.purge_interval)

    async def on_startup(self, app: Any = None) -> None:
        if self.s.purge_interval > 0:
            self._purge_task = asyncio.get_running_loop().create_task(self._purge_loop(), name="recording-purge")

    async def on_cleanup(self, app: Any = None) -> None:
        if self._purge_task:
            self._purge_task.cancel()
            try:
                await self._purge_task
            except (asyncio.CancelledError, Exception):
                pass
        await self.writes.drain()  # a call that ended just before the stop keeps its row
        self.store.close()

    # == protocol =======================================================================================
    def handlers(self) -> dict[str, Callable[[Any, Any], Any]]:
        a = lambda r, k, d=None: r.args.get(k, d)  # noqa: E731
        return {
            "recording.optout": lambda s, r: self.optout(s.principal, a(r, "call_id")),
            "recordings.search": lambda s, r: self.search(s.principal, r.args),
            "recordings.get": lambda s, r: self.detail(s.principal, r.args["id"]),
            "recordings.update": lambda s, r: self.update(s.principal, r.args["id"], a(r, "category"), a(r, "notes")),
            "recordings.hold": lambda s, r: self.set_hold(s.principal, r.args["id"], r.args["on"]),
            "recordings.evaluate": lambda s, r: self.evaluate(s.principal, r.args["id"], r.args["scores"],
                                                              a(r, "comment", "")),
            "recordings.mark": lambda s, r: self.mark(s.principal, r.args["id"], float(r.args["at"]), r.args["text"]),
            "recordings.audit": lambda s, r: {"audit": self.store.audit_rows(
                rec_id=a(r, "id"), username=a(r, "user"), limit=int(a(r, "limit", 200)))},
            "recordings.purge": lambda s, r: {"purged": self.purge()},
        }

    # == HTTP ==========================================================================================
    def add_routes(self, app: Any, auth: Any) -> None:
        """GET /api/recordings/{id}/audio (listen; Range) and /api/recordings/{id}/download?format=wav|mp3,
        with ``Authorization: Bearer <session token>`` (or Basic with the token as the password)."""
        from aiohttp import web

        def principal(request: web.Request) -> Any:
            try:  # the server's one reading of Authorization (server/api/bearer.py), Basic allowed
                return auth.from_headers(request.headers, basic=True)
            except ProtocolError as exc:
                raise web.HTTPUnauthorized(text=exc.message,
                                           headers={"WWW-Authenticate": 'Bearer, Basic realm="cc-console"'}) from None

        def guard(p: Any, rec_id: str, action: str, detail: str = "", audit: bool = True) -> dict[str, Any]:
            try:
                return self.access(p, rec_id, action, detail=detail, audit=audit)
            except DomainError as exc:
                if exc.code is ErrorCode.FORBIDDEN:
                    raise web.HTTPForbidden(text=exc.message) from None
                raise web.HTTPNotFound(text=exc.message) from None

        def body(rec: dict[str, Any]) -> bytes:
            try:
                return self.read_audio(rec)
            except DomainError as exc:
                raise web.HTTPNotFound(text=exc.message) from None

        async def listen(request: web.Request) -> web.StreamResponse:
            p = principal(request)
            rec_id = request.match_info["id"]
            rng = request.headers.get("Range", "")
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip()) if rng else None
            # One audit row per listening, not per Range request a player makes while seeking.
            first = m is None or m.group(1) == "0"
            rec = guard(p, rec_id, "listen", "stream", audit=first)
            if not first:
                self.access(p, rec_id, "listen", audit=False)
            data = await asyncio.to_thread(body, rec)
            size = len(data)
            headers = {"Accept-Ranges": "bytes", "Content-Type": "audio/wav", "Cache-Control": "no-store"}
            if m is None:
                return web.Response(body=data, headers=headers)
            a, b = m.group(1), m.group(2)
            if a == "":
                start, end = max(0, size - int(b or 0)), size - 1
            else:
                start, end = int(a), min(int(b) if b else size - 1, size - 1)
            if start >= size or start > end:
                return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return web.Response(status=206, body=data[start:end + 1], headers=headers)

        async def download(request: web.Request) -> web.Response:
            p = principal(request)
            fmt = request.query.get("format", "wav").lower()
            if fmt not in ("wav", "mp3"):
                raise web.HTTPBadRequest(text="format is wav or mp3")
            rec = guard(p, request.match_info["id"], "download", fmt)
            data = await asyncio.to_thread(body, rec)
            if fmt == "mp3":
                data = await asyncio.to_thread(audio.wav_to_mp3, data)
            started = datetime.fromtimestamp(rec["started"])
            fname = f"{started:%Y%m%d-%H%M%S}-{rec['agent_id'] or 'na'}-{rec['id'][:8]}.{fmt}"
            return web.Response(body=data, headers={
                "Content-Type": "audio/mpeg" if fmt == "mp3" else "audio/wav", "X-Checksum-Sha256": rec["sha256"],
                "Content-Disposition": f'attachment; filename="{fname}"', "Cache-Control": "no-store"})

        app.router.add_get("/api/recordings/{id}/audio", listen)
        app.router.add_get("/api/recordings/{id}/download", download)
        app.on_startup.append(self.on_startup)
        app.on_cleanup.append(self.on_cleanup)


def t_is_prefixed(target: str) -> bool:
    return target.split(":", 1)[0] in ("number", "agent", "queue") and ":" in target
