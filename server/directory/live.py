"""The directory live in a running server: calendar feeds polled per organisation, and changes other
processes make (``cc-console directory import``, ``absence …``) picked up without a restart.

* **Watch.** Every ``watch_interval`` seconds the server reads the directory database's data version
  (SQLite's ``PRAGMA data_version``; on PostgreSQL a change counter, store.py): it changes only when
  another connection committed. Then the index and
  absences are rebuilt in a thread and swapped in on the loop.
* **Feeds.** Each ``[[directory.feeds]]`` entry (server/directory/feeds.py) is polled every
  ``interval`` seconds, a few calendars at a time. A calendar that has not changed costs a 304 or
  an unchanged CalDAV tag; a changed one is parsed in a thread and, when it is well formed,
  replaces that person's absences from that feed in one transaction. A refused calendar (line
  number and cause in the log and in ``status()``) or a failed fetch changes nothing.
* **Push.** Whatever changed goes to every console as ``directory.changed`` ``{persons, source}``
  (persons: the person ids, empty when the whole directory was reloaded); the directory screen
  searches again.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from . import caldav, graph, ics
from .feeds import DirectorySettings, Feed, FeedError, Validators, fetch_ics
from .service import DirectoryService

log = logging.getLogger(__name__)

EVENT = "directory.changed"


@dataclass
class CalendarStatus:
    """The last poll of one person's calendar in one feed."""

    checked: float = 0.0
    changed: float = 0.0
    error: str = ""  # why it was refused or not fetched; empty when the last poll was fine


class DirectoryLive:
    def __init__(self, service: DirectoryService, settings: DirectorySettings,
                 publish: Callable[[str, dict[str, Any], Any], None]) -> None:
        self.service = service
        self.settings = settings
        self.feeds: list[Feed] = settings.feed_list()
        self.publish = publish
        self.seen: dict[tuple[str, str], Validators] = {}
        self.calendars: dict[tuple[str, str], CalendarStatus] = {}
        self.polls = 0  # completed rounds over all feeds (tests wait on it)
        self._tokens = {f.name: graph.TokenCache() for f in self.feeds if f.kind == "graph"}
        self._tasks: list[asyncio.Task[None]] = []
        self._http: aiohttp.ClientSession | None = None
        self._version = -1
        self.reloads = 0

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._version = await asyncio.to_thread(self.service.store.data_version)
        if self.settings.watch_interval > 0:
            self._tasks.append(asyncio.create_task(self._watch(), name="directory-watch"))
        if self.feeds:
            await self.start_http()
            for feed in self.feeds:
                self._tasks.append(asyncio.create_task(self._poll_forever(feed), name=f"directory-feed-{feed.name}"))

    async def start_http(self) -> None:
        """The feeds' HTTP client (also for a single round: ``cc-console directory sync``)."""
        if self._http is None:
            self._http = aiohttp.ClientSession()
            self._tokens = {f.name: graph.TokenCache() for f in self.feeds if f.kind == "graph"}

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def status(self) -> list[dict[str, Any]]:
        """Per feed and calendar: when checked, when last changed, the refusal or failure if any."""
        return [{"feed": f, "person": f"{self._tenant(f)}:{pid}", "checked": st.checked, "changed": st.changed,
                 "error": st.error} for (f, pid), st in sorted(self.calendars.items())]

    def _tenant(self, feed_name: str) -> str:
        return next((f.tenant for f in self.feeds if f.name == feed_name), "")

    # -- other writers -----------------------------------------------------------------------------
    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.settings.watch_interval)
            try:
                await self.check_outside_changes()
            except Exception:
                log.exception("directory: could not reload after an outside change")

    async def check_outside_changes(self) -> bool:
        version = await asyncio.to_thread(self.service.store.data_version)
        if version == self._version:
            return False
        self._version = version
        state = await asyncio.to_thread(self.service.load)
        self.service.install(state)
        self.reloads += 1
        log.info("directory reloaded: another process changed its database")
        self.publish(EVENT, {"persons": [], "source": "database"}, None)
        return True

    # -- feeds -------------------------------------------------------------------------------------
    async def _poll_forever(self, feed: Feed) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.poll(feed)
            except Exception:
                log.exception("directory feed %s: poll failed", feed.name)
            await asyncio.sleep(max(0.0, feed.interval - (time.monotonic() - started)))

    def _persons(self, feed: Feed) -> list[tuple[str, str]]:
        """(person key, calendar URL or mailbox) for each present person of the feed's organisation."""
        out = []
        index = self.service.index
        for key, p in zip(index.keys, index.persons):
            if p["tenant"] != feed.tenant or p.get("gone"):
                continue
            url = feed.url_for(p)
            if url:
                out.append((key, url))
        return out

    async def poll(self, feed: Feed) -> list[str]:
        """One round over the feed's calendars; returns the persons whose absences changed."""
        sem = asyncio.Semaphore(max(1, feed.concurrency))
        changed: list[str] = []

        async def one(key: str, url: str) -> None:
            async with sem:
                if await self._poll_calendar(feed, key, url):
                    changed.append(key)
        await asyncio.gather(*(one(k, u) for k, u in self._persons(feed)))
        self.polls += 1
        if changed:
            self.publish(EVENT, {"persons": sorted(changed), "source": feed.source}, None)
        return changed

    async def _poll_calendar(self, feed: Feed, key: str, url: str) -> bool:
        assert self._http is not None
        pid = key.partition(":")[2]
        st = self.calendars.setdefault((feed.name, pid), CalendarStatus())
        seen = self.seen.setdefault((feed.name, pid), Validators())
        trial = Validators(seen.etag, seen.last_modified, seen.ctag)
        st.checked = time.time()
        try:
            found = await self._fetch(feed, key, url, trial)
        except (FeedError, ics.CalendarError) as exc:
            st.error = str(exc)
            log.warning("directory feed %s, %s: %s; nothing changed", feed.name, key, exc)
            return False
        st.error = ""
        if found is None:
            return False
        changed = self.service.calendar_differs(key, found, feed.source)
        if changed:
            rows = self.service.calendar_rows(key, found, feed.source)
            tenant, pid = key.split(":", 1)
            await asyncio.to_thread(self.service.store.replace_source_absences, tenant, pid, feed.source, rows)
            self.service.remember_calendar(key, rows, feed.source)
            st.changed = st.checked
        seen.etag, seen.last_modified, seen.ctag = trial.etag, trial.last_modified, trial.ctag
        return changed

    async def _fetch(self, feed: Feed, key: str, url: str, seen: Validators) -> list[dict[str, Any]] | None:
        """The person's absences from the feed, None when the calendar did not change."""
        assert self._http is not None
        tenant = feed.tenant
        if feed.kind in ("ics", "domino"):
            body = await fetch_ics(self._http, feed, url, seen)
            if body is None:
                return None
            return await asyncio.to_thread(self.service.parse_calendar, tenant, body)
        if feed.kind == "caldav":
            objects = await caldav.fetch(self._http, feed, url, seen)
            if objects is None:
                return None
            return await asyncio.to_thread(self._parse_objects, tenant, objects)
        start, end = ics.window(self.service.clock())
        events = await graph.fetch(self._http, feed, self._tokens[feed.name], url, start=start, end=end)
        return graph.absences(events, self.service.tz, self.service.codes.get(tenant))

    def _parse_objects(self, tenant: str, objects: list[tuple[str, str]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for href, text in objects:
            try:
                found += self.service.parse_calendar(tenant, text)
            except ics.CalendarError as exc:
                raise ics.CalendarError(f"{href}: {exc}") from None
        found.sort(key=lambda a: (a["start"], a["until"]))
        return found
