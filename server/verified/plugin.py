"""The verified-calling capability: the start page, its JSON, the calls it marks, light identification."""
from __future__ import annotations

import asyncio
import html
import json
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from cc_console.protocol import P_AGENT, Arg, CommandSpec, ErrorCode, ProtocolError, Request
from cc_console.server.capability import CallHooks, Capability, Context, Handler
from cc_console.server.store import capability_target

from .service import VerifiedSettings, VerifiedStore
from .yivi import ResultRefused, YiviClient, YiviError, verify_result

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("verified.code", P_AGENT, {"call_id": Arg(str, False), "code": Arg(str)},
                "The caller reads out the one-time code from the start page: the call is marked verified."),
    CommandSpec("ident.issue", P_AGENT, {"name": Arg(str), "note": Arg(str, False)},
                "Light identification: issue an id and password to a citizen (shown once)."),
    CommandSpec("ident.check", P_AGENT, {"call_id": Arg(str, False), "ident_id": Arg(str), "password": Arg(str)},
                "The caller gives their id and password: the call is marked identified (rate-limited)."),
)
EVENTS = ("call.verified", "call.identified")
TEMPLATES = Path(__file__).with_name("templates")
# Light identification's passwords: argon2id at OWASP's minimum profile, as the sign-in's own (kept
# here, not borrowed from server/auth: capabilities do not import each other).
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH = _HASHER.hash("not a password")  # an unknown id costs the same time as a known one


def _matches(stored: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
# The page loads nothing from elsewhere: its own inline style and script, the QR as inline SVG.
CSP = "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'self' 'unsafe-inline'; img-src 'self' data:"


@dataclass
class PageSession:
    id: str
    yivi_token: str
    pointer: dict[str, Any]
    started: float
    state: str = "waiting"  # waiting | done | failed
    reason: str = ""
    number: str = ""
    code: str = ""
    valid_until: float = 0.0


class Verified(Capability, CallHooks):
    def __init__(self, ctx: Context, settings: VerifiedSettings) -> None:
        self.ctx = ctx
        self.s = settings
        self.store = VerifiedStore(capability_target(ctx.settings, "verified"))
        self.yivi = YiviClient(settings.yivi_url, settings.requestor_token) if settings.yivi_url else None
        self.public_key = Path(settings.public_key_file).read_text() if settings.public_key_file else ""
        self.pages: dict[str, PageSession] = {}
        self._purger: asyncio.Task[None] | None = None
        self._attempts: dict[str, int] = {}  # call id -> light-identification attempts
        ctx.add_hooks(self)

    # -- calls --------------------------------------------------------------------------------------
    def call_offered(self, call: Any, agent_id: str) -> None:
        """A call to a pooled number within its time is verified (marked before the agent answers)."""
        if call.verified is not None or call.direction != "inbound" or call.did not in self.s.numbers:
            return
        v = self.store.claim(number=call.did, call_id=call.id, now=time.time())
        if v is None:
            return
        self._mark(call, {"kind": "yivi", "attributes": v.attributes, "at": v.verified_at, "via": f"number {call.did}"})

    def check_code(self, call: Any, code: str) -> bool:
        """The code a caller keyed in the IVR (a code node): the call is marked verified if it is right."""
        if call.verified is not None:
            return True
        v = self.store.claim(code="".join(ch for ch in code if ch.isdigit()), call_id=call.id, now=time.time(),
                             pooled=False)
        if v is None:
            return False
        self._mark(call, {"kind": "yivi", "attributes": v.attributes, "at": v.verified_at, "via": "code in the IVR"})
        return True

    def _mark(self, call: Any, verified: dict[str, Any]) -> None:
        call.verified = verified
        self.ctx.audit(call.agent or "-", f"call.{'verified' if verified['kind'] == 'yivi' else 'identified'}",
                       target=call.id, detail={"via": verified.get("via", ""), "what": sorted(verified["attributes"])})
        self.ctx.engine.note_call(call.id, "call.verified" if verified["kind"] == "yivi" else "call.identified",
                                  how=verified["kind"], labels=sorted(verified["attributes"]))

    def _call(self, caller: Any, call_id: str | None) -> Any:
        me = caller.principal.username
        calls = self.ctx.engine.calls
        if call_id:
            call = calls.get(call_id)
        else:
            call = next((c for c in calls.values() if c.agent == me and c.state.value in ("ringing", "connected")),
                        None)
        if call is None or (call.agent != me and "supervise" not in caller.principal.permissions):
            raise ProtocolError(ErrorCode.CONFLICT, "No call of yours to mark")
        return call

    # -- commands -----------------------------------------------------------------------------------
    def handlers(self) -> dict[str, Handler]:
        return {"verified.code": self._code, "ident.issue": self._issue, "ident.check": self._check}

    async def _code(self, caller: Any, req: Request) -> dict[str, Any]:
        call = self._call(caller, req.args.get("call_id"))
        code = "".join(ch for ch in req.args["code"] if ch.isdigit())
        self._count_attempt(call.id)
        v = await asyncio.to_thread(self.store.claim, code=code, call_id=call.id, now=time.time(), pooled=False)
        if v is None:
            raise ProtocolError(ErrorCode.NOT_FOUND, "That code is not valid (wrong, used or expired)")
        self._mark(call, {"kind": "yivi", "attributes": v.attributes, "at": v.verified_at, "via": "code"})
        return {"call_id": call.id, "verified": call.verified}

    def _count_attempt(self, call_id: str) -> None:
        n = self._attempts.get(call_id, 0) + 1
        self._attempts[call_id] = n
        if n > 3:
            raise ProtocolError(ErrorCode.RATE_LIMITED, "Too many attempts on this call; it stays unverified")

    async def _issue(self, caller: Any, req: Request) -> dict[str, Any]:
        ident_id = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(8))
        password = "-".join("".join(secrets.choice("abcdefghjkmnpqrstuvwxyz23456789") for _ in range(4))
                            for _ in range(3))
        secret_hash = await asyncio.to_thread(_HASHER.hash, password)
        await asyncio.to_thread(self.store.add_ident, ident_id, secret_hash, req.args["name"],
                                req.args.get("note", ""), caller.principal.username, time.time())
        return {"ident_id": ident_id, "password": password,
                "message": "Give these to the citizen by post or e-mail; the password is not shown again."}

    async def _check(self, caller: Any, req: Request) -> dict[str, Any]:
        call = self._call(caller, req.args.get("call_id"))
        self._count_attempt(call.id)
        ident_id = req.args["ident_id"].strip().upper()
        row = await asyncio.to_thread(self.store.ident, ident_id)
        now = time.time()
        if row is not None and row["locked_until"] > now:
            raise ProtocolError(ErrorCode.RATE_LIMITED, "This identification is locked for a while after wrong "
                                                        "passwords")
        ok = await asyncio.to_thread(_matches, row["secret_hash"] if row else _DUMMY_HASH, req.args["password"].strip())
        if row is not None:
            await asyncio.to_thread(self.store.ident_result, ident_id, ok, now, self.s.ident_max_failures,
                                    self.s.ident_lock_seconds)
        if row is None or not ok:
            raise ProtocolError(ErrorCode.AUTH_FAILED, "The id and password do not match; the call is not identified")
        self._mark(call, {"kind": "light", "attributes": {"Identification": ident_id, "Name": row["name"]},
                          "at": now, "via": "id and password"})
        return {"call_id": call.id, "verified": call.verified}

    # -- the start page -----------------------------------------------------------------------------
    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/verified", self._page)
        app.router.add_post("/verified/session", self._start)
        app.router.add_get("/verified/session/{id}", self._poll)

    async def _page(self, request: web.Request) -> web.Response:
        body = (TEMPLATES / "start.html").read_text().replace("{{title}}", html.escape(self.s.page_title))
        return web.Response(text=body, content_type="text/html", headers={"Content-Security-Policy": CSP,
                                                                          "Cache-Control": "no-store"})

    async def _start(self, request: web.Request) -> web.Response:
        if self.yivi is None:
            raise web.HTTPServiceUnavailable(text="Verified calling is not set up here")
        self._forget_old()
        try:
            session = await self.yivi.start(list(self.s.attributes))
        except YiviError as exc:
            log.warning("verified: %s", exc)
            raise web.HTTPServiceUnavailable(text="The identity service cannot be reached just now; try again "
                                                  "in a moment, or call us the usual way") from None
        page = PageSession(secrets.token_urlsafe(16), session.token, session.pointer, time.time())
        self.ctx.audit("citizen", "verified.start", remote=request.remote or "", target=page.id)
        self.pages[page.id] = page
        pointer = json.dumps(session.pointer, separators=(",", ":"))
        import segno
        qr = segno.make(pointer, error="m").svg_inline(scale=4)
        return web.json_response({"id": page.id, "qr_svg": qr,
                                  "app_link": "https://irma.app/-/session#" + quote(pointer, safe="")})

    async def _poll(self, request: web.Request) -> web.Response:
        page = self.pages.get(request.match_info["id"])
        if page is None:
            raise web.HTTPNotFound(text="Unknown or expired session; start again")
        if page.state == "waiting" and self.yivi is not None:
            try:
                status = await self.yivi.status(page.yivi_token)
                if status == "DONE":
                    await self._finish(page)
                elif status in ("CANCELLED", "TIMEOUT"):
                    page.state, page.reason = "failed", "The session was cancelled or timed out; start again"
            except YiviError as exc:
                log.warning("verified: %s", exc)
        return web.json_response({"state": page.state, "reason": page.reason, "number": page.number,
                                  "code": page.code, "valid_until": page.valid_until,
                                  "valid_minutes": round(self.s.valid_seconds / 60)})

    async def _finish(self, page: PageSession) -> None:
        assert self.yivi is not None
        try:
            signed = await self.yivi.result_jwt(page.yivi_token)
            d = verify_result(signed, public_key=self.public_key, token=page.yivi_token,
                              attributes=list(self.s.attributes), issuer=self.s.issuer,
                              max_age=self.s.max_result_age)
            labels = {self.s.attributes[a]: v for a, v in d.attributes.items()}
            v = await asyncio.to_thread(self.store.add, page.yivi_token, self.s.numbers, self.s.line,
                                        self.s.code_digits, labels, self.s.valid_seconds, time.time())
        except (ResultRefused, ValueError) as exc:
            log.warning("verified: result refused: %s", exc)
            self.ctx.audit("citizen", "verified.result", target=page.id, outcome="refused", detail={"why": str(exc)})
            page.state, page.reason = "failed", "Your identity could not be verified; please start again"
            return
        self.ctx.audit("citizen", "verified.result", target=page.id,
                       detail={"number": v.number, "what": sorted(labels), "valid_until": v.valid_until})
        page.state, page.number, page.code, page.valid_until = "done", v.number, v.code, v.valid_until

    def _forget_old(self) -> None:
        cutoff = time.time() - 900
        for k in [k for k, p in self.pages.items() if p.started < cutoff]:
            del self.pages[k]

    async def start(self) -> None:
        self._purger = asyncio.get_running_loop().create_task(self._purge_loop())

    async def _purge_loop(self) -> None:
        while True:
            try:
                n = await asyncio.to_thread(self.store.purge, time.time(), self.s.keep_seconds)
                if n:
                    log.info("verified: %d verifications past their keeping time deleted", n)
            except Exception:
                log.exception("verified: purge failed; tried again later")
            await asyncio.sleep(min(60.0, self.s.keep_seconds))

    async def stop(self) -> None:
        if self._purger is not None:
            self._purger.cancel()
        await asyncio.to_thread(self.store.close)


def make(ctx: Context) -> Verified:
    return Verified(ctx, ctx.settings.section("verified", VerifiedSettings))
