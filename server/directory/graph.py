"""Exchange / Microsoft 365 calendars through Microsoft Graph, with an app's client credentials.

The app registration needs the application permission ``Calendars.Read`` (admin consent). A token
comes from the OAuth 2.0 client-credentials grant (``POST {token_url}``, scope
``https://graph.microsoft.com/.default``) and is reused until shortly before it expires. Each
person's mailbox (their e-mail, or the feed's ``url`` template) is read with
``GET {graph_url}/users/{mailbox}/calendarView?startDateTime=…&endDateTime=…``, which expands
recurring events on the server; ``@odata.nextLink`` pages are followed, 429/503 ``Retry-After``
is honoured by skipping that person until the next poll.

Meaning, as Outlook shows it: ``showAs`` ``oof`` is an absence even without a subject code (``out``
unless the code says more); ``free`` and ``tentative`` are not absences; ``busy`` and
``workingElsewhere`` count only with a subject code. Cancelled events are skipped. Only the code
leaves this module; subjects, bodies and attendees are not even asked for (``$select``).
"""
from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, tzinfo
from typing import Any
from urllib.parse import quote

import aiohttp

from . import ics
from .feeds import Feed, FeedError

SELECT = "subject,showAs,isAllDay,isCancelled,start,end"


class TokenCache:
    def __init__(self) -> None:
        self.token = ""
        self.expires = 0.0
        self._lock = asyncio.Lock()  # calendars fetched at once share one token request

    async def get(self, http: aiohttp.ClientSession, feed: Feed) -> str:
        async with self._lock:
            if self.token and time.monotonic() < self.expires - 60:
                return self.token
            return await self._fetch(http, feed)

    async def _fetch(self, http: aiohttp.ClientSession, feed: Feed) -> str:
        url = feed.token_url or f"https://login.microsoftonline.com/{feed.tenant_id}/oauth2/v2.0/token"
        form = {"client_id": feed.client_id, "client_secret": feed.client_secret,
                "scope": "https://graph.microsoft.com/.default", "grant_type": "client_credentials"}
        try:
            async with http.post(url, data=form, timeout=aiohttp.ClientTimeout(total=feed.timeout)) as r:
                body = await r.json(content_type=None)
                if r.status != 200 or "access_token" not in body:
                    # the error code and description only: never the secret we sent
                    raise FeedError(f"Graph token: HTTP {r.status} {body.get('error', '')} "
                                    f"{str(body.get('error_description', ''))[:200]}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise FeedError(f"Graph token: {exc or type(exc).__name__}") from None
        self.token = body["access_token"]
        self.expires = time.monotonic() + float(body.get("expires_in", 3600))
        return self.token


def _when(value: dict[str, Any], all_day: bool, tz: tzinfo) -> float:
    text = value["dateTime"]
    if all_day:  # whole days in the directory's time zone, whatever zone Graph put them in
        d = date.fromisoformat(text[:10])
        return datetime(d.year, d.month, d.day, tzinfo=tz).timestamp()
    base, _, frac = text.partition(".")  # Graph gives seven fractional digits
    dt = datetime.fromisoformat(base).replace(microsecond=int((frac + "000000")[:6]) if frac else 0)
    zone = value.get("timeZone", "UTC")
    if zone.upper() not in ("UTC", "Z"):
        raise FeedError(f"Graph answered in time zone {zone!r}, not the UTC we asked for")
    return dt.replace(tzinfo=UTC).timestamp()


def absences(events: list[dict[str, Any]], tz: tzinfo, codes: dict[str, str] | None) -> list[dict[str, Any]]:
    out = []
    for ev in events:
        if ev.get("isCancelled"):
            continue
        show = str(ev.get("showAs", "")).lower()
        if show in ("free", "tentative"):
            continue
        kind = ics.subject_code(ev.get("subject") or "", codes)
        if kind is None and show == "oof":
            kind = "out"
        if kind is None:
            continue
        all_day = bool(ev.get("isAllDay"))
        s, u = _when(ev["start"], all_day, tz), _when(ev["end"], all_day, tz)
        if u > s:
            out.append({"type": kind, "start": s, "until": u, "uid": str(ev.get("id", "")), "all_day": all_day})
    out.sort(key=lambda a: (a["start"], a["until"]))
    return out


async def fetch(http: aiohttp.ClientSession, feed: Feed, tokens: TokenCache, mailbox: str, *,
                start: datetime, end: datetime) -> list[dict[str, Any]]:
    """Every event of the mailbox's calendar view between start and end (Graph's JSON objects)."""
    token = await tokens.get(http, feed)
    url: str | None = (f"{feed.graph_url.rstrip('/')}/users/{quote(mailbox)}/calendarView?"
                       f"startDateTime={start.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}&"
                       f"endDateTime={end.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}&"
                       f"$select={SELECT}&$top=200")
    headers = {"Authorization": f"Bearer {token}", "Prefer": 'outlook.timezone="UTC"'}
    events: list[dict[str, Any]] = []
    pages = 0
    while url:
        pages += 1
        if pages > 100:
            raise FeedError(f"Graph {mailbox}: more than 100 pages; not applied")
        try:
            async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=feed.timeout)) as r:
                if r.status in (429, 503):
                    raise FeedError(f"Graph {mailbox}: HTTP {r.status}, retry after "
                                    f"{r.headers.get('Retry-After', '?')} s; not applied")
                if r.status == 401:
                    tokens.token = ""  # fetch a new one next time
                body = await r.json(content_type=None)
                if r.status != 200:
                    err = body.get("error", {}) if isinstance(body, dict) else {}
                    raise FeedError(f"Graph {mailbox}: HTTP {r.status} {err.get('code', '')} "
                                    f"{str(err.get('message', ''))[:200]}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise FeedError(f"Graph {mailbox}: {exc or type(exc).__name__}") from None
        events += body.get("value", [])
        url = body.get("@odata.nextLink")
    return events

