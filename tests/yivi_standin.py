"""A stand-in for a Yivi (IRMA) server's requestor API, for the tests: no real Yivi server is packaged
for Debian or PyPI. It follows the published API (POST /session, GET /session/{token}/status,
GET /session/{token}/result-jwt, GET /publickey) and signs results with a real RSA key pair (RS256),
as the real server does with its jwt_privkey. What the citizen's app would do is one extra route
that only the stand-in has: POST /standin/app/{client token} with the attributes to disclose.

Knobs for the refusal tests: `sign_with` (a key that is not the server's: a forged result), `age`
(seconds to backdate iat: an expired result), `proof_status` (e.g. "INVALID").

The same tests run against a real Yivi server by its URL: see docs/verified.md.
"""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: rsa.RSAPrivateKey) -> str:
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class _Session:
    requestor_token: str
    client_token: str
    attributes: list[str]
    status: str = "INITIALIZED"
    disclosed: dict[str, str] = field(default_factory=dict)


class YiviStandIn:
    def __init__(self, requestor_token: str = "standin-requestor-token", issuer: str = "irmaserver") -> None:
        self.key = new_key()
        self.requestor_token = requestor_token
        self.issuer = issuer
        self.sessions: dict[str, _Session] = {}
        self.sign_with: rsa.RSAPrivateKey | None = None
        self.age = 0.0
        self.proof_status = "VALID"
        self.base = ""
        self._runner: web.AppRunner | None = None

    @property
    def public_key_pem(self) -> str:
        return public_pem(self.key)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/session", self._start)
        app.router.add_get("/session/{token}/status", self._status)
        app.router.add_get("/session/{token}/result-jwt", self._result_jwt)
        app.router.add_get("/publickey", self._publickey)
        app.router.add_post("/standin/app/{client}", self._app_discloses)
        return app

    async def start(self) -> str:
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        return self.base

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _start(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != self.requestor_token:
            return web.Response(status=403, text='{"error":"UNAUTHORIZED"}')
        body = await request.json()
        if body.get("@context") != "https://irma.app/ld/request/disclosure/v2":
            return web.Response(status=400, text='{"error":"MALFORMED_SESSION_REQUEST"}')
        attrs = [a for disjunction in body["disclose"] for conj in disjunction for a in conj]
        s = _Session(secrets.token_urlsafe(20), secrets.token_urlsafe(20), attrs)
        self.sessions[s.requestor_token] = s
        ptr = {"u": f"{self.base}/irma/session/{s.client_token}", "irmaqr": "disclosing"}
        return web.json_response({"token": s.requestor_token, "sessionPtr": ptr,
                                  "frontendRequest": {"authorization": secrets.token_urlsafe(12)}})

    def _session(self, request: web.Request) -> _Session:
        s = self.sessions.get(request.match_info["token"])
        if s is None:
            raise web.HTTPBadRequest(text='{"error":"SESSION_UNKNOWN"}')
        return s

    async def _status(self, request: web.Request) -> web.Response:
        return web.json_response(self._session(request).status)

    async def _result_jwt(self, request: web.Request) -> web.Response:
        s = self._session(request)
        now = int(time.time() - self.age)
        claims: dict[str, Any] = {
            "iss": self.issuer, "sub": "disclosure_result", "iat": now, "token": s.requestor_token,
            "status": s.status, "type": "disclosing", "proofStatus": self.proof_status,
            "disclosed": [[{"id": a, "rawvalue": v, "value": {"": v, "en": v}, "status": "PRESENT",
                            "issuancetime": now - 86400}] for a, v in s.disclosed.items()]}
        token = jwt.encode(claims, self.sign_with or self.key, algorithm="RS256")
        return web.Response(text=token)

    async def _publickey(self, request: web.Request) -> web.Response:
        return web.Response(text=self.public_key_pem)

    async def _app_discloses(self, request: web.Request) -> web.Response:
        client = request.match_info["client"]
        s = next((x for x in self.sessions.values() if x.client_token == client), None)
        if s is None:
            raise web.HTTPNotFound()
        s.disclosed = dict((await request.json())["attributes"])
        s.status = "DONE"
        return web.json_response({"ok": True})

    def client_token(self, session_pointer_u: str) -> str:
        return session_pointer_u.rsplit("/", 1)[1]


