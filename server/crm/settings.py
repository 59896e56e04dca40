"""The [crm] settings section (docs/crm.md).

Lists of tables ([[crm.cti]]) arrive as plain dicts from the TOML reader; they are turned into
:class:`CtiTarget` here so a misspelt key is refused by name, as every other setting is.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class CtiTarget:
    """Where the CTI events of calls of one tenant and/or some queues go (the KCC interface)."""

    url: str
    method: str = "GET"  # GET (query string) or POST (form body): the KCC interface takes both
    tenant: str = ""  # "" = any tenant
    queues: tuple[str, ...] = ()  # () = any queue
    redirect: bool = False  # sent as redirect=true|false

    def matches(self, tenant: str, queue: str) -> int:
        """How well it fits the call: 0 not at all; the more specific, the higher."""
        if self.tenant and self.tenant != tenant:
            return 0
        if self.queues and queue not in self.queues:
            return 0
        return 1 + (2 if self.queues else 0) + (1 if self.tenant else 0)


@dataclass
class CrmSettings:
    cti: list[dict[str, Any]] = field(default_factory=list)  # [[crm.cti]] tables -> CtiTarget
    # Our username -> the CRM's account (what the KCC's kcc-cti.xml maps); unmapped users are sent as is.
    users: dict[str, str] = field(default_factory=dict)
    # The CRM page the agent console opens when a call connects ({callerid}, {userid}, {call_id}).
    page_url: str = ""
    # Delivery (CTI, webhooks, records hand-off): retried with a growing pause between retry_min and
    # retry_max seconds; an item still not delivered dead_after seconds after it was written is a
    # dead letter (an admin can replay it).
    retry_min: float = 1.0
    retry_max: float = 300.0
    dead_after: float = 86400.0
    timeout: float = 10.0  # one HTTP request to a receiver
    poll: float = 5.0  # how often the outbox is looked at for items an admin replayed
    parallel: int = 8  # streams (agents, subscriptions) delivered at once
    keep_delivered_days: float = 30.0  # delivered items and their log are kept this long (dead letters stay)
    cases: bool = True  # a case is opened for each inbound call
    level2_queues: list[str] = field(default_factory=list)  # queues whose agents work level 2 (docs/crm.md)
    # Cases handed to an external records system: POSTed as JSON to this URL when closed ("" = off).
    records_url: str = ""
    records_token: str = ""  # sent as a bearer token; never logged

    def targets(self) -> list[CtiTarget]:
        known = {f.name for f in fields(CtiTarget)}
        out = []
        for t in self.cti:
            unknown = set(t) - known
            if unknown:
                raise ValueError(f"unknown setting(s) in [[crm.cti]]: {', '.join(sorted(unknown))}")
            if not t.get("url"):
                raise ValueError("[[crm.cti]] needs a url")
            method = str(t.get("method", "GET")).upper()
            if method not in ("GET", "POST"):
                raise ValueError(f"[[crm.cti]] method is GET or POST, not {method!r}")
            out.append(CtiTarget(url=str(t["url"]), method=method, tenant=str(t.get("tenant", "")),
                                 queues=tuple(t.get("queues", ())), redirect=bool(t.get("redirect", False))))
        return out

    def target_for(self, tenant: str, queue: str) -> CtiTarget | None:
        best, score = None, 0
        for t in self.targets():
            s = t.matches(tenant, queue)
            if s > score:
                best, score = t, s
        return best
