"""Kannel's smsbox over HTTP: sendsms out (with a dlr-url for delivery reports), and what its
sms-service get-url brings in. We chose Kannel's HTTP interface over SMPP: smsbox already speaks
SMPP, EMI/UCP, CIMD or a GSM modem to the operator and does the splitting, concatenation, charset
work and the delivery-report bookkeeping; our side stays two HTTP requests (docs/sms.md).

The sendsms password travels in the request's query (Kannel's interface); it is never logged: a
failure is logged with the status and Kannel's answer only.
"""
from __future__ import annotations

import codecs
import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl

import aiohttp

from .settings import SmsSettings

log = logging.getLogger(__name__)


class GatewayRefused(Exception):
    """Kannel did not take the message; the text is for the log (no secrets in it)."""


@dataclass(frozen=True)
class Inbound:
    """One SMS as smsbox's get-url hands it over (Kannel has joined a concatenated one already)."""

    sender: str
    receiver: str
    text: str
    kannel_id: str  # Kannel's message id (%I): a retried get-url brings the same one


class Kannel:
    def __init__(self, settings: SmsSettings) -> None:
        self.s = settings
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def send(self, to: str, text: str, code: int, dlr_url: str) -> None:
        """Hand one message to smsbox; Kannel splits it (concatenation) and reports each part."""
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.s.timeout))
        q = {"username": self.s.username, "password": self.s.password, "to": to, "text": text,
             "charset": "UTF-8", "coding": str(code), "dlr-mask": str(self.s.dlr_mask), "dlr-url": dlr_url}
        if self.s.sender:
            q["from"] = self.s.sender
        if self.s.smsc:
            q["smsc"] = self.s.smsc
        try:
            async with self._http.get(self.s.sendsms_url, params=q) as resp:
                body = (await resp.text(errors="replace"))[:200].strip()
                # 202 "0: Accepted for delivery" or "3: Queued for later delivery"
                if resp.status not in (200, 202) or body[:1] not in ("0", "3"):
                    raise GatewayRefused(f"sendsms answered {resp.status}: {body}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise GatewayRefused(f"sendsms could not be reached: {type(exc).__name__}") from None


def inbound(raw_query: str) -> Inbound:
    """A get-url request's query (docs/sms.md gives the get-url): from=%p, to=%P, id=%I, coding=%c,
    charset=%C and bin=%b, the message's bytes as Kannel holds them. We read the bytes, not the
    text (%a), because only the bytes with coding and charset say which characters they are."""
    q = dict(parse_qsl(raw_query, keep_blank_values=True, encoding="latin-1"))
    data = q.get("bin", q.get("text", "")).encode("latin-1")  # latin-1: every %XX back to its byte
    return Inbound(q.get("from", ""), q.get("to", ""), decode(data, q.get("coding", ""), q.get("charset", "")),
                   q.get("id", ""))


def decode(data: bytes, coding: str, charset: str) -> str:
    """UCS-2 (coding 2) as UTF-16BE; otherwise the charset Kannel names (smsbox's mo-recode gives
    UTF-8), UTF-8 when it names none; a byte that is none of these is replaced, never dropped."""
    if coding == "2":
        return data.decode("utf-16-be", errors="replace")
    name = charset.strip()
    if name and name.upper() not in ("8-BIT", "7-BIT", "UNDEF"):
        try:
            codecs.lookup(name)
        except LookupError:
            name = "utf-8"
    else:
        name = "utf-8"
    return data.decode(name, errors="replace")
