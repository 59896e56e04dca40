"""Scheduled reports: chosen reports e-mailed at a set time over SMTP, driven by asyncio.

Config (TOML), e.g. `reports.toml`:

    [smtp]
    host = "127.0.0.1"
    port = 25
    sender = "reports@example.org"
    # user / password / starttls = true  (optional)

    [[schedule]]
    name = "daily queues"
    at = "07:00"            # local time in tz
    days = ["mon", "tue", "wed", "thu", "fri"]   # optional; default every day
    tz = "Europe/Amsterdam"
    report = "queue"        # queue | interval | agent | tenant | category | busiest | erlang
    range = "yesterday"     # yesterday | today | last_week | last_month
    interval = "total"
    queues = ["support"]    # optional
    format = "xlsx"         # csv | xlsx | pdf
    to = ["boss@example.org"]
"""
from __future__ import annotations

import asyncio
import logging
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .export import render
from .figures import Params, Report

log = logging.getLogger(__name__)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RANGES = ("yesterday", "today", "last_week", "last_month")
MIME = {"csv": ("text", "csv"), "xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "pdf": ("application", "pdf")}


@dataclass
class Smtp:
    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "cc-console@localhost"
    user: str = ""
    password: str = ""
    starttls: bool = False
    ca_file: str = ""  # the CA of the mail server's certificate (STARTTLS); empty: the system's


@dataclass
class Job:
    name: str
    at: str
    to: list[str]
    report: str = "queue"
    range: str = "yesterday"
    interval: str = "total"
    tz: str = "UTC"
    days: list[str] = field(default_factory=lambda: list(DAYS))
    queues: list[str] = field(default_factory=list)
    tenants: list[str] = field(default_factory=list)
    format: str = "csv"

    def next_run(self, now: float) -> float:
        z = ZoneInfo(self.tz)
        parts = [int(x) for x in self.at.split(":")]
        h, m, sec = (parts + [0, 0])[:3]
        d = datetime.fromtimestamp(now, z)
        for i in range(8):
            day = (d + timedelta(days=i)).date()
            at = datetime(day.year, day.month, day.day, h, m, sec, tzinfo=z)
            if at.timestamp() > now and DAYS[at.weekday()] in self.days:
                return at.timestamp()
        raise ValueError(f"schedule {self.name!r}: no day to run on")

    def range_for(self, run_at: float) -> tuple[float, float]:
        z = ZoneInfo(self.tz)
        d = datetime.fromtimestamp(run_at, z)
        today = datetime(d.year, d.month, d.day, tzinfo=z)
        if self.range == "today":
            return today.timestamp(), run_at
        if self.range == "yesterday":
            y = (today - timedelta(days=1)).date()
            return datetime(y.year, y.month, y.day, tzinfo=z).timestamp(), today.timestamp()
        if self.range == "last_week":
            mon = (today - timedelta(days=today.weekday() + 7)).date()
            end = mon + timedelta(days=7)
            return (datetime(mon.year, mon.month, mon.day, tzinfo=z).timestamp(),
                    datetime(end.year, end.month, end.day, tzinfo=z).timestamp())
        first = today.replace(day=1)
        prev = (first - timedelta(days=1)).replace(day=1)
        return (datetime(prev.year, prev.month, 1, tzinfo=z).timestamp(),
                datetime(first.year, first.month, 1, tzinfo=z).timestamp())

    def params(self, run_at: float) -> Params:
        a, b = self.range_for(run_at)
        return Params(kind=self.report, start=a, end=b, now=b, queues=list(self.queues), tenants=list(self.tenants),
                      interval=self.interval, tz=self.tz)


def load_schedule(path: Path | str) -> tuple[Smtp, list[Job]]:
    with open(path, "rb") as fh:
        data = tomllib.load(fh)
    return parse_schedule(data, str(path))


def parse_schedule(data: dict[str, Any], source: str = "") -> tuple[Smtp, list[Job]]:
    smtp = Smtp(**(data.get("smtp") or {}))
    jobs = []
    for d in data.get("schedule") or []:
        try:
            job = Job(**d)
        except TypeError as exc:
            raise ValueError(f"{source}: schedule {d.get('name')!r}: {exc}") from None
        if job.range not in RANGES:
            raise ValueError(f"{source}: schedule {job.name!r}: range is one of {', '.join(RANGES)}")
        if job.format not in MIME:
            raise ValueError(f"{source}: schedule {job.name!r}: format is csv, xlsx or pdf")
        bad = [x for x in job.days if x not in DAYS]
        if bad or not job.to:
            raise ValueError(f"{source}: schedule {job.name!r}: bad days {bad} or no recipients")
        job.next_run(0)  # validates `at`
        jobs.append(job)
    return smtp, jobs


def build_message(smtp: Smtp, job: Job, report: Report) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = smtp.sender
    msg["To"] = ", ".join(job.to)
    msg["Subject"] = f"{report.title}: {report.params.get('from')} - {report.params.get('to')} ({job.name})"
    body = [f"{report.title}", ""] + [f"{k}: {v}" for k, v in report.params.items()] + [
        "", f"{len(report.rows)} rows; the report is attached ({job.format})."]
    msg.set_content("\n".join(body))
    main, sub = MIME[job.format]
    stamp = report.params.get("from", "").replace(" ", "_").replace(":", "")
    msg.add_attachment(render(report, job.format), maintype=main, subtype=sub,
                       filename=f"{job.report}-{stamp}.{job.format}")
    return msg


def send(smtp: Smtp, msg: EmailMessage) -> None:
    # The shared sender: STARTTLS checks the mail server's certificate (smtplib alone would not).
    from cc_console.server.mail import MailSettings
    from cc_console.server.mail import send as send_mail
    send_mail(MailSettings(smtp.host, smtp.port, smtp.sender, smtp.user, smtp.password,
                           "starttls" if smtp.starttls else "none", smtp.ca_file), msg)


class Scheduler:
    """Runs each job at its time: compute (in a thread), render, e-mail. `make_report(params)` does
    the computing, so the scheduler knows nothing of the store."""

    def __init__(self, smtp: Smtp, jobs: list[Job], make_report: Callable[[Params], Report],
                 clock: Callable[[], float] = time.time) -> None:
        self.smtp, self.jobs, self.make_report, self.clock = smtp, jobs, make_report, clock
        self.sent: list[tuple[str, float]] = []  # (job name, run time)
        self._task: asyncio.Task[None] | None = None

    async def run_job(self, job: Job, run_at: float) -> None:
        report = await asyncio.to_thread(self.make_report, job.params(run_at))
        msg = build_message(self.smtp, job, report)
        await asyncio.to_thread(send, self.smtp, msg)
        self.sent.append((job.name, run_at))

    async def run_forever(self) -> None:
        nexts = {j.name: j.next_run(self.clock()) for j in self.jobs}
        while self.jobs:
            name, at = min(nexts.items(), key=lambda kv: kv[1])
            await asyncio.sleep(max(0.0, at - self.clock()))
            job = next(j for j in self.jobs if j.name == name)
            try:
                await self.run_job(job, at)
            except Exception:
                log.exception("scheduled report %s failed", name)
            nexts[name] = job.next_run(max(at, self.clock()))

    def start(self) -> asyncio.Task[None]:
        self._task = asyncio.get_running_loop().create_task(self.run_forever(), name="report-scheduler")
        return self._task

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
