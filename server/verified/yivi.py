"""A client of a Yivi (formerly IRMA) server's requestor API, and the check of its signed results.

The requestor API, as the Yivi server (irmago's `irma server`) publishes it:

- ``POST /session`` with a disclosure request (``{"@context": "https://irma.app/ld/request/disclosure/v2",
  "disclose": [[[attribute id]], ...]}``), authorised by the requestor token in the
  ``Authorization`` header: answers ``{"token": <requestor token>, "sessionPtr": {"u": ..., "irmaqr":
  "disclosing"}, ...}``. ``sessionPtr`` is what the citizen's app scans (QR) or opens (app link).
- ``GET /session/{token}/status``: ``"INITIALIZED"``, ``"PAIRING"``, ``"CONNECTED"``, ``"DONE"``,
  ``"CANCELLED"`` or ``"TIMEOUT"``.
- ``GET /session/{token}/result-jwt``: the session result signed by the server (RS256) with
  ``sub = "disclosure_result"``, ``iss`` the server's name, ``iat`` (and ``exp`` when the server sets
  a lifetime), and the result's own fields: ``token``, ``status``, ``type``, ``proofStatus``,
  ``disclosed`` (a list of lists of ``{"id", "rawvalue", "status", ...}``).
- ``GET /publickey``: the PEM public key those results are signed with.

We never trust the plain JSON result: only the JWT, verified with the server's public key (configured
as a file, pinned), and only if it is for *our* session token, DONE, proof VALID, every requested
attribute PRESENT, fresh (issued within `max_age`), and not seen before (replay).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

DISCLOSURE_CONTEXT = "https://irma.app/ld/request/disclosure/v2"


class YiviError(Exception):
    """The Yivi server could not be asked, or said something we cannot use."""


class ResultRefused(Exception):
    """A result that does not prove what we need; the text says why (for the log and the citizen)."""


@dataclass(frozen=True)
class Session:
    token: str  # the requestor token: ours to ask the server about this session, never shown
    pointer: dict[str, Any]  # the sessionPtr the app scans or opens


@dataclass(frozen=True)
class Disclosure:
    token: str
    attributes: dict[str, str]  # attribute id -> value
    issued_at: float


class YiviClient:
    def __init__(self, url: str, requestor_token: str = "", *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.headers = {"Authorization": requestor_token} if requestor_token else {}
        self.timeout = aiohttp.ClientTimeout(total=timeout)

    async def _call(self, method: str, path: str, **kw: Any) -> Any:
        try:
            async with aiohttp.ClientSession(timeout=self.timeout, headers=self.headers) as http:
                async with http.request(method, self.url + path, **kw) as r:
                    text = await r.text()
                    if r.status >= 400:
                        raise YiviError(f"the Yivi server answered {r.status} to {method} {path}: {text[:200]}")
                    return text
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise YiviError(f"the Yivi server cannot be reached: {type(exc).__name__}: {exc}") from None

    async def start(self, attributes: list[str]) -> Session:
        import json
        body = {"@context": DISCLOSURE_CONTEXT, "disclose": [[[a]] for a in attributes]}
        data = json.loads(await self._call("POST", "/session", json=body))
        try:
            return Session(str(data["token"]), dict(data["sessionPtr"]))
        except (KeyError, TypeError):
            raise YiviError("the Yivi server's answer has no token or sessionPtr") from None

    async def status(self, token: str) -> str:
        import json
        raw = (await self._call("GET", f"/session/{token}/status")).strip()
        try:
            return str(json.loads(raw))
        except ValueError:
            return raw.strip('"')

    async def result_jwt(self, token: str) -> str:
        return (await self._call("GET", f"/session/{token}/result-jwt")).strip().strip('"')


def verify_result(signed: str, *, public_key: str, token: str, attributes: list[str], issuer: str,
                  max_age: float, now: float | None = None) -> Disclosure:
    """The disclosure a signed result proves, or ResultRefused saying why."""
    now = time.time() if now is None else now
    try:
        claims = jwt.decode(signed, public_key, algorithms=["RS256"], issuer=issuer or None,
                            options={"require": ["iat", "sub"], "verify_iat": False}, leeway=5)
    except jwt.InvalidSignatureError:
        raise ResultRefused("the result's signature is not the Yivi server's") from None
    except jwt.ExpiredSignatureError:
        raise ResultRefused("the result has expired") from None
    except jwt.InvalidIssuerError:
        raise ResultRefused("the result comes from another Yivi server") from None
    except jwt.PyJWTError as exc:
        raise ResultRefused(f"the result cannot be read: {exc}") from None
    if claims.get("sub") != "disclosure_result":
        raise ResultRefused("the result is not a disclosure result")
    if claims.get("token") != token:
        raise ResultRefused("the result is for another session")
    if claims.get("status") != "DONE":
        raise ResultRefused(f"the session is not done ({claims.get('status')})")
    if claims.get("proofStatus") != "VALID":
        raise ResultRefused(f"the proof is not valid ({claims.get('proofStatus')})")
    iat = float(claims["iat"])
    if iat > now + 5 or now - iat > max_age:
        raise ResultRefused("the result is too old")
    found: dict[str, str] = {}
    for conjunction in claims.get("disclosed") or []:
        for attr in conjunction or []:
            if isinstance(attr, dict) and attr.get("status") == "PRESENT" and attr.get("id"):
                found[str(attr["id"])] = str(attr.get("rawvalue") or "")
    missing = [a for a in attributes if a not in found]
    if missing:
        raise ResultRefused(f"attributes missing from the proof: {', '.join(missing)}")
    return Disclosure(token, {a: found[a] for a in attributes}, iat)
