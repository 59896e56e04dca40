"""A person's CalDAV calendar (RFC 4791): has it changed, and its events.

Two plain WebDAV requests on the feed's aiohttp session rather than the ``caldav`` library: that
library is blocking (requests), so every poll of thousands of calendars would need a thread, and
we need only these two requests:

* ``PROPFIND`` (Depth 0) for the collection's ``getctag`` (CalendarServer) and ``sync-token``
  (RFC 6578): when neither changed since the last poll, nothing is fetched;
* ``REPORT calendar-query`` (Depth 1) for every VEVENT resource with its ``calendar-data``.

Each resource is one iCalendar object; they are checked one by one (a broken one refuses the
whole calendar, naming the resource and its line) and expanded together.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET

import aiohttp

from .feeds import Feed, FeedError, Validators

DAV, CAL, CS = "DAV:", "urn:ietf:params:xml:ns:caldav", "http://calendarserver.org/ns/"
PROPFIND = (b'<?xml version="1.0" encoding="utf-8"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/">'
            b"<d:prop><cs:getctag/><d:sync-token/></d:prop></d:propfind>")
QUERY = (b'<?xml version="1.0" encoding="utf-8"?><c:calendar-query xmlns:d="DAV:" '
         b'xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>'
         b'<c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter>'
         b"</c:calendar-query>")


async def _request(http: aiohttp.ClientSession, feed: Feed, method: str, url: str, body: bytes,
                   depth: str) -> bytes:
    headers = {"Depth": depth, "Content-Type": "application/xml; charset=utf-8", **feed.auth()}
    try:
        async with http.request(method, url, data=body, headers=headers,
                                timeout=aiohttp.ClientTimeout(total=feed.timeout)) as r:
            if r.status != 207:
                raise FeedError(f"{method} {url}: HTTP {r.status}")
            return await r.read()
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FeedError(f"{method} {url}: {exc or type(exc).__name__}") from None


def _xml(body: bytes, what: str) -> ET.Element:
    try:
        return ET.fromstring(body)
    except ET.ParseError as exc:
        raise FeedError(f"{what}: the server's answer is not XML ({exc})") from None


async def collection_tag(http: aiohttp.ClientSession, feed: Feed, url: str) -> str:
    """The collection's ctag and sync-token together: they change when any event does."""
    root = _xml(await _request(http, feed, "PROPFIND", url, PROPFIND, "0"), url)
    ctag = root.findtext(f".//{{{CS}}}getctag") or ""
    token = root.findtext(f".//{{{DAV}}}sync-token") or ""
    return f"{ctag}|{token}" if ctag or token else ""


async def calendar_objects(http: aiohttp.ClientSession, feed: Feed, url: str) -> list[tuple[str, str]]:
    """(href, iCalendar text) of every event resource in the collection."""
    root = _xml(await _request(http, feed, "REPORT", url, QUERY, "1"), url)
    out = []
    for resp in root.iter(f"{{{DAV}}}response"):
        data = resp.findtext(f".//{{{CAL}}}calendar-data")
        if data:
            out.append((resp.findtext(f"{{{DAV}}}href") or "", data))
    return out


async def fetch(http: aiohttp.ClientSession, feed: Feed, url: str, seen: Validators) -> list[tuple[str, str]] | None:
    """The calendar's objects, or None when its tag says nothing changed since ``seen``."""
    tag = await collection_tag(http, feed, url)
    if tag and tag == seen.ctag:
        return None
    objects = await calendar_objects(http, feed, url)
    seen.ctag = tag
    return objects
