"""`cc-console admin user ...` (disable, enable, delete, set) and `cc-console admin audit ...`:
user administration from the shell, each action written to the audit log (docs/identity.md)."""
from __future__ import annotations

import getpass
import json
import sys
import time
from pathlib import Path

import typer

audit_app = typer.Typer(help="The audit log: list, verify, export, purge.", no_args_is_help=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="Config TOML.", envvar="CC_CONSOLE_CONFIG")
DbOpt = typer.Option(None, "--db", help="SQLite database file (default from config).")


def audit_log(config: Path | None, db: Path | None):
    """The audit log the configured server writes: in PostgreSQL with `[store] url`, unless --db
    names an SQLite main file."""
    from cc_console.config import load_settings
    from cc_console.server.audit.log import AuditLog
    return AuditLog(AuditLog.target(load_settings(config), str(db) if db else None))


def audited(config: Path | None, db: Path | None, action: str, target: str, outcome: str = "ok", **detail) -> None:
    """An admin's action from the shell, in the same audit log the server writes."""
    log = audit_log(config, db)
    try:
        log.record_now(f"cli:{getpass.getuser()}", action, remote="cli", target=target, outcome=outcome,
                       detail=detail)
    finally:
        log.close()


@audit_app.command("list")
def audit_list(actor: str = typer.Option(None, help="Only this user."),
               action: str = typer.Option(None, help="Only this action (a trailing * matches a prefix)."),
               days: float = typer.Option(1.0, help="The last N days."),
               limit: int = typer.Option(200, help="At most this many entries."),
               config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Audit entries of the last days, oldest first."""
    log = audit_log(config, db)
    try:
        for e in log.query(actor=actor, action=action, since=time.time() - days * 86400, limit=limit):
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.ts))
            typer.echo(f"{e.id:>7} {when} {e.actor:<16} {e.remote:<15} {e.action:<24} {e.target:<24} {e.outcome}")
    finally:
        log.close()


@audit_app.command("verify")
def audit_verify(config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Check the hash chain; exit 1 and name the first entry that does not hold."""
    log = audit_log(config, db)
    try:
        check = log.verify()
    finally:
        log.close()
    if check.ok:
        typer.echo(f"audit log intact: {check.entries} entries")
        return
    typer.echo(f"audit log TAMPERED at entry {check.broken_at}: {check.problem}", err=True)
    raise typer.Exit(1)


@audit_app.command("export")
def audit_export(since: float = typer.Option(0.0, help="From this time (seconds since 1970)."),
                 until: float = typer.Option(None, help="Up to this time."),
                 config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """The entries of a period as NDJSON on standard output (for the archive)."""
    log = audit_log(config, db)
    try:
        for e in log.iter_all(since=since, until=until):
            sys.stdout.write(json.dumps(e.public(), ensure_ascii=False) + "\n")
    finally:
        log.close()
    audited(config, db, "audit.export", "", since=since, until=until)


@audit_app.command("purge")
def audit_purge(days: float = typer.Option(183.0, help="Delete entries older than this many days (at least 183)."),
                config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Delete old entries (the purge itself is logged, and the chain stays checkable)."""
    if days < 183:
        typer.echo("the audit log is kept at least six months (183 days)", err=True)
        raise typer.Exit(1)
    log = audit_log(config, db)
    try:
        n = log.purge(time.time() - days * 86400, actor=f"cli:{getpass.getuser()}", remote="cli")
    finally:
        log.close()
    typer.echo(f"{n} entries older than {days:g} days purged")
