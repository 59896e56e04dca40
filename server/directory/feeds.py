"""Calendar feeds: what the ``[directory]`` settings say, and the plain iCalendar feed over HTTP(S).

A feed belongs to one organisation and says where each of its persons' calendars is: a URL
template filled from the person (``{id}``, ``{username}``, ``{email}``, ``{email_local}``) or an
explicit ``calendars`` table (person id -> URL). Kinds:

* ``ics``: an iCalendar feed (any server that publishes one); polled with ``If-None-Match`` (the
  ETag it sent) and ``If-Modified-Since`` (its Last-Modified), so an unchanged feed costs a 304.
* ``domino``: HCL (Lotus) Domino's iCalendar export of a mail file's calendar; the same as ``ics``
  (Domino adds X-LOTUS-* properties, which are allowed and ignored).
* ``caldav``: a CalDAV calendar collection (server/directory/caldav.py).
* ``graph``: Microsoft 365 / Exchange Online through Microsoft Graph (server/directory/graph.py).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

log = logging.getLogger(__name__)

KINDS = ("ics", "domino", "caldav", "graph")


@dataclass
class Feed:
    name: str = ""
    tenant: str = ""
    kind: str = "ics"
    url: str = ""  # template: {id} {username} {email} {email_local}
    calendars: dict[str, str] = field(default_factory=dict)  # person id -> URL, instead of (or beside) url
    interval: float = 300.0  # seconds between polls of each calendar of this feed
    username: str = ""  # HTTP basic auth (ics, domino, caldav)
    password: str = ""
    timeout: float = 30.0
    concurrency: int = 4  # calendars of this feed fetched at once
    # graph: an app registration with Calendars.Read (application) and its client secret
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    token_url: str = ""  # default https://login.microsoftonline.com/<tenant_id>/oauth2/v2.0/token
    graph_url: str = "https://graph.microsoft.com/v1.0"

    @classmethod
    def from_dict(cls, d: dict[str, Any], n: int) -> Feed:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"[[directory.feeds]] #{n}: unknown setting(s) {', '.join(sorted(unknown))}")
        feed = cls(**d)
        feed.name = feed.name or f"{feed.tenant}-{feed.kind}-{n}"
        if feed.kind not in KINDS:
            raise ValueError(f"feed {feed.name}: kind must be one of {', '.join(KINDS)}, not {feed.kind!r}")
        if not feed.tenant:
            raise ValueError(f"feed {feed.name}: give the organisation (tenant)")
        if not feed.interval >= 1:  # also refuses NaN: a feed polled in a busy loop
            raise ValueError(f"feed {feed.name}: interval is at least 1 second")
        if feed.kind != "graph" and not (feed.url or feed.calendars):
            raise ValueError(f"feed {feed.name}: give url (a template) or calendars")
        if feed.kind == "graph" and not (feed.client_id and feed.client_secret and (feed.tenant_id or feed.token_url)):
            raise ValueError(f"feed {feed.name}: Graph needs tenant_id, client_id and client_secret")
        return feed

    @property
    def source(self) -> str:
        """The absences' source: each feed's are replaced only by that feed."""
        return f"feed:{self.name}"

    def url_for(self, person: dict[str, Any]) -> str | None:
        """The person's calendar URL (or, for Graph, mailbox), None when this feed has none."""
        if person["id"] in self.calendars:
            return self.calendars[person["id"]]
        if not self.url:
            return (person.get("email") or None) if self.kind == "graph" else None
        email = person.get("email") or ""
        values = {"id": person["id"], "username": person.get("username") or "", "email": email,
                  "email_local": email.partition("@")[0]}
        for name in ("username", "email", "email_local"):
            if "{" + name + "}" in self.url and not values[name]:
                return None
        return self.url.format(**values)

    def auth(self) -> dict[str, str]:
        """The Authorization header for basic auth, if the feed has credentials."""
        return {"Authorization": aiohttp.encode_basic_auth(self.username, self.password)} if self.username else {}


@dataclass
class DirectorySettings:
    """``[directory]`` in config.toml (docs/directory.md)."""

    tz: str = "Europe/Oslo"
    country_code: str = "47"  # for national numbers in search
    watch_interval: float = 2.0  # how often the server looks for what other processes (the CLI) wrote
    codes: dict[str, dict[str, str]] = field(default_factory=dict)  # tenant -> {"Ferie": "vacation"}
    feeds: list[dict[str, Any]] = field(default_factory=list)

    def feed_list(self) -> list[Feed]:
        feeds = [Feed.from_dict(dict(d), n) for n, d in enumerate(self.feeds, start=1)]
        names = [f.name for f in feeds]
        if len(set(names)) != len(names):
            raise ValueError("[[directory.feeds]]: feed names must differ")
        return feeds


class FeedError(Exception):
    """A calendar could not be fetched or was refused; the message says why, for the log."""


@dataclass
class Validators:
    """What a server said about the last copy we have: sent back so that it can answer 304."""

    etag: str = ""
    last_modified: str = ""
    ctag: str = ""  # CalDAV's collection tag


async def fetch_ics(http: aiohttp.ClientSession, feed: Feed, url: str, seen: Validators) -> bytes | None:
    """The feed's body, or None when it has not changed since ``seen`` (which is updated)."""
    headers = {"Accept": "text/calendar", **feed.auth()}
    if seen.etag:
        headers["If-None-Match"] = seen.etag
    if seen.last_modified:
        headers["If-Modified-Since"] = seen.last_modified
    try:
        async with http.get(url, headers=headers, timeout=aiohttp.ClientTimeout(total=feed.timeout)) as r:
            if r.status == 304:
                return None
            if r.status != 200:
                raise FeedError(f"{url}: HTTP {r.status}")
            body = await r.read()
            seen.etag = r.headers.get("ETag", "")
            seen.last_modified = r.headers.get("Last-Modified", "")
            return body
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise FeedError(f"{url}: {exc or type(exc).__name__}") from None
