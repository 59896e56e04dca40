"""`cc-console admin api-client add|list|revoke`: other systems' tokens for the REST API (docs/api.md)."""
from __future__ import annotations

from pathlib import Path

import typer

api_client_app = typer.Typer(help="API clients of the REST API: add (prints the token once), list, revoke.",
                             no_args_is_help=True, pretty_exceptions_show_locals=False)

ConfigOpt = typer.Option(None, "--config", "-c", help="Config TOML (default: <config dir>/config.toml).",
                         envvar="CC_CONSOLE_CONFIG")
DbOpt = typer.Option(None, "--db", help="The main SQLite database file (default from config); API clients "
                     "are kept beside it (default: the server's, in PostgreSQL with [store] url).")


def _clients(config: Path | None, db: Path | None):
    from cc_console.cli import _settings
    from cc_console.server.api.clients import ApiClients, default_path
    from cc_console.server.store import capability_target
    # --db: an SQLite installation's file; else where the configured server keeps them ([store] url)
    return ApiClients(default_path(db) if db else capability_target(_settings(config), "api"))


@api_client_app.command("add")
def add(name: str,
        role: str = typer.Option(..., help="admin, supervisor, agent or wallboard: the most the client may do"),
        scope: list[str] = typer.Option([], "--scope", "-s", help="A permission of the role to give (repeatable; "
                                        "default: all of the role's): session, agent.self, supervise, "
                                        "wallboard.view, admin"),
        config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Add an API client and print its token (shown this once; only a hash is kept)."""
    clients = _clients(config, db)
    try:
        token = clients.add(name, role, scope or None)
    except ValueError as exc:
        typer.echo(f"cannot add API client: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        clients.close()
    typer.echo(f"added API client {name} ({role}); its token, shown once:", err=True)
    typer.echo(token)


@api_client_app.command("list")
def list_(config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """List API clients: role, scopes, when added, last used, revoked."""
    from datetime import datetime

    def when(ts: float | None) -> str:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"
    clients = _clients(config, db)
    for c in clients.list():
        typer.echo(f"{c.name:<16} {c.role!s:<11} {' '.join(sorted(c.scopes)):<44} added {when(c.created)}  "
                   f"used {when(c.last_used)}  {'revoked ' + when(c.revoked) if c.revoked else 'active'}")
    clients.close()


@api_client_app.command("revoke")
def revoke(name: str, config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Revoke an API client's token at once."""
    clients = _clients(config, db)
    try:
        clients.revoke(name)
    except KeyError:
        typer.echo(f"no active API client {name!r}", err=True)
        raise typer.Exit(1) from None
    finally:
        clients.close()
    typer.echo(f"revoked {name}")
