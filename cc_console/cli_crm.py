"""`cc-console admin deliveries list|dead|show|replay` and `cc-console admin webhooks add|list|remove`:
the CRM outbox and webhook subscriptions (docs/crm.md). They work on the CRM database beside the
main one; a running server picks up replays and subscriptions within its [crm] poll time."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

deliveries_app = typer.Typer(help="The CRM outbox: CTI events, webhooks, records hand-offs; dead letters and "
                             "their replay.", no_args_is_help=True, pretty_exceptions_show_locals=False)
webhooks_app = typer.Typer(help="Webhook subscriptions: add (prints the signing secret once), list, remove.",
                           no_args_is_help=True, pretty_exceptions_show_locals=False)

ConfigOpt = typer.Option(None, "--config", "-c", help="Config TOML (default: <config dir>/config.toml).",
                         envvar="CC_CONSOLE_CONFIG")
DbOpt = typer.Option(None, "--db", help="The main SQLite database file (default from config); the CRM's "
                     "database is kept beside it.")


def _store(config: Path | None, db: Path | None):
    from cc_console.cli import _settings
    from cc_console.server.capability import Context
    from cc_console.server.crm.store import CrmStore
    s = _settings(config)
    if db:
        s.server.db_path = str(db)
    from cc_console.server.store import store_url
    if not db and (url := store_url(s)):  # [store] url: the outbox is in PostgreSQL
        return CrmStore(url)
    nothing: Any = None  # the shell needs only where the CRM's database is, not a running server
    return CrmStore(Context(s, nothing, nothing, lambda *a: None, nothing, nothing).db_path("crm"))


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


def _print(items) -> None:
    if not items:
        typer.echo("nothing")
    for i in items:
        typer.echo(f"{i.seq:>7} {i.id}  {i.state:<9} {i.stream:<24} {i.event:<22} tries {i.attempts:<3} "
                   f"written {_when(i.created)}  {('last error: ' + i.last_error) if i.last_error else ''}")


@deliveries_app.command("list")
def list_(state: str = typer.Option("", help="pending, delivered or dead (default: all)"),
          stream: str = typer.Option("", help="cti:<agent>, hook:<subscription> or records"),
          limit: int = typer.Option(50, help="How many, oldest first after --after."),
          after: int = typer.Option(0, help="Items after this number."),
          config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """List outbox items: state, stream, event, tries, last error."""
    if state and state not in ("pending", "delivered", "dead"):
        raise typer.BadParameter("state is pending, delivered or dead")
    st = _store(config, db)
    try:
        counts = st.counts()
        typer.echo("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "the outbox is empty")
        _print(st.items(state or None, stream or None, limit, after))
    finally:
        st.close()


@deliveries_app.command("dead")
def dead(limit: int = typer.Option(50), config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """List dead letters: items given up on after [crm] dead_after seconds of failures."""
    st = _store(config, db)
    try:
        _print(st.items("dead", None, limit))
    finally:
        st.close()


@deliveries_app.command("show")
def show(item: str, config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """One item (by number or event id) and every attempt to deliver it."""
    st = _store(config, db)
    try:
        found = st.find(item)
        if not found:
            typer.echo(f"no delivery {item}", err=True)
            raise typer.Exit(1)
        _print(found)
        for a in st.log(found[0].seq):
            typer.echo(f"  try {a['attempt']}: {_when(a['ts'])}  {a['status'] or '-'}  {a['ms']:.0f} ms  {a['error']}")
    finally:
        st.close()


@deliveries_app.command("replay")
def replay(items: list[str] = typer.Argument(None, help="Numbers or event ids (default: every dead letter)."),
           config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Send dead letters again, in their streams' order."""
    import time
    st = _store(config, db)
    try:
        n = st.replay(list(items) if items else None, time.time())
    finally:
        st.close()
    typer.echo(f"{n} dead letter(s) will be sent again")


@webhooks_app.command("add")
def add(url: str, event: list[str] = typer.Option(..., "--event", "-e", help="An event to send (repeatable): "
                                                  "call.offered, call.connected, call.ended, agent.state, "
                                                  "callback.created, callback.done, recording.ready, or *"),
        config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Subscribe a URL; prints the signing secret (shown this once)."""
    from cc_console.server.crm.webhooks import WEBHOOK_EVENTS, new_secret
    bad = [e for e in event if e not in WEBHOOK_EVENTS and e != "*"]
    if bad or not url.startswith(("http://", "https://")):
        typer.echo(f"cannot subscribe: {'unknown event ' + ', '.join(bad) if bad else 'the URL must be http(s)'}",
                   err=True)
        raise typer.Exit(1)
    st = _store(config, db)
    try:
        secret = new_secret()
        sub = st.add_subscription(url, secret, tuple(event))
    finally:
        st.close()
    typer.echo(f"subscription {sub.id} added; its signing secret, shown once:", err=True)
    typer.echo(secret)


@webhooks_app.command("list")
def list_hooks(config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Subscriptions: id, URL, events (never the secret)."""
    st = _store(config, db)
    try:
        subs = st.subscriptions()
    finally:
        st.close()
    for s in subs:
        typer.echo(f"{s.id}  {s.url}  {' '.join(s.events)}  added {_when(s.created)}")
    if not subs:
        typer.echo("no subscriptions")


@webhooks_app.command("remove")
def remove(sid: str, config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Remove a subscription; what is still queued for it becomes a dead letter."""
    st = _store(config, db)
    try:
        ok = st.remove_subscription(sid)
    finally:
        st.close()
    if not ok:
        typer.echo(f"no subscription {sid}", err=True)
        raise typer.Exit(1)
    typer.echo(f"subscription {sid} removed")
