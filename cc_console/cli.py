"""The `cc-console` command."""
from __future__ import annotations

import asyncio
import getpass
import logging
import os
from pathlib import Path
from typing import Any, Literal

import typer

from cc_console.config import Settings, console_url, load_settings

# Locals can hold passwords and tokens: never print them in a traceback.
app = typer.Typer(help="cc-console: a terminal-first contact-centre console on Asterisk (ARI).",
                  no_args_is_help=True, pretty_exceptions_show_locals=False, add_completion=False)
pbx_app = typer.Typer(help="The sandbox Asterisk 22 (a Debian sid chroot): up, down, status.",
                      no_args_is_help=True, pretty_exceptions_show_locals=False)
admin_app = typer.Typer(help="Administration: users, roles, passwords, TOTP.", no_args_is_help=True,
                        pretty_exceptions_show_locals=False)
user_app = typer.Typer(help="Users: add, list, passwd, totp.", no_args_is_help=True,
                       pretty_exceptions_show_locals=False)
app.add_typer(pbx_app, name="pbx")
app.add_typer(admin_app, name="admin")


def _mount_optional() -> None:
    # Sub-apps of whole capabilities; each in its own module.
    from cc_console.cli_directory import directory_app
    from cc_console.cli_recordings import recordings_app
    from cc_console.cli_reports import report_app
    app.add_typer(directory_app, name="directory")
    app.add_typer(recordings_app, name="recordings")
    app.add_typer(report_app, name="report")


_mount_optional()
admin_app.add_typer(user_app, name="user")


def _mount_identity() -> None:
    from cc_console.cli_identity import audit_app
    admin_app.add_typer(audit_app, name="audit")


_mount_identity()


def _mount_api() -> None:
    from cc_console.cli_api import api_client_app
    from cc_console.cli_ivr import ivr_app
    admin_app.add_typer(api_client_app, name="api-client")
    admin_app.add_typer(ivr_app, name="ivr")
    from cc_console.cli_crm import deliveries_app, webhooks_app
    admin_app.add_typer(deliveries_app, name="deliveries")
    admin_app.add_typer(webhooks_app, name="webhooks")
    from cc_console.cli_outbound import outbound_app
    admin_app.add_typer(outbound_app, name="outbound")


_mount_api()

ConfigOpt = typer.Option(None, "--config", "-c", help="Config TOML (default: <config dir>/config.toml).",
                         envvar="CC_CONSOLE_CONFIG")


def _settings(config: Path | None) -> Settings:
    try:
        return load_settings(config)
    except (ValueError, OSError) as exc:
        raise typer.BadParameter(str(exc)) from None


def _logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs full request URLs at INFO; keep it quiet.
    logging.getLogger("httpx").setLevel(logging.WARNING)


# -- server -----------------------------------------------------------------------------------------
@app.command()
def server(config: Path | None = ConfigOpt,
           host: str | None = typer.Option(None, help="Listen address (default from config: 127.0.0.1)."),
           port: int | None = typer.Option(None, help="Listen port (default from config: 8765)."),
           db: Path | None = typer.Option(None, help="SQLite database file."),
           verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """Run the server: ARI gateway to Asterisk, routing, storage, and the consoles' websocket."""
    from cc_console.server.app import serve
    s = _settings(config)
    if host:
        s.server.host = host
    if port is not None:
        s.server.port = port
    if db:
        s.server.db_path = str(db)
    _logging(verbose)
    code = asyncio.run(serve(s))
    if code:
        raise typer.Exit(code)  # a high-availability node that lost its lease: its service manager restarts it


# -- consoles ---------------------------------------------------------------------------------------
def _console(mode: Literal["agent", "supervisor", "wallboard"], url: str | None, user: str | None,
             config: Path | None, remember: bool, layout: Path | None = None, board_filter: Any = None) -> None:
    from cc_console.credentials import keyring_status, recall
    from cc_console.credentials import remember as keep
    s = _settings(config)
    url = url or console_url(s)
    password = os.environ.get("CC_CONSOLE_PASSWORD")
    if user and not password:
        password = recall(url, user)
    if remember:
        st = keyring_status()
        typer.echo(st.message, err=True)

    def on_login(server_url: str, username: str, pw: str) -> None:
        st = keep(server_url, username, pw)
        if not st.usable:
            typer.echo(st.message, err=True)

    from cc_console.tui import CCConsoleApp  # the UI is imported only by the commands that show it
    CCConsoleApp(url=url, mode=mode, username=user, password=password,
                 remember=on_login if remember else None, wallboard_layout=layout,
                 wallboard_filter=board_filter, token=os.environ.get("CC_CONSOLE_TOKEN") or None,
                 settle_heap=True).run()


UrlOpt = typer.Option(None, "--url", help="Server websocket URL, or several separated by commas (a high-availability "
                                           "pair); default from config: [console] servers or server, else "
                                           "ws://127.0.0.1:8765/ws.")
UserOpt = typer.Option(None, "--user", "-u", help="User name; the password comes from the keyring, "
                       "$CC_CONSOLE_PASSWORD, or the login screen.")
RememberOpt = typer.Option(False, "--remember", help="Keep the password in the system keyring (never in plain text).")


@app.command()
def agent(url: str | None = UrlOpt, user: str | None = UserOpt, config: Path | None = ConfigOpt,
          remember: bool = RememberOpt) -> None:
    """The agent console: state, the ringing call, answer and hang up from the keyboard."""
    _console("agent", url, user, config, remember)


@app.command()
def supervisor(url: str | None = UrlOpt, user: str | None = UserOpt, config: Path | None = ConfigOpt,
               remember: bool = RememberOpt) -> None:
    """The supervisor console: live agents and queues."""
    _console("supervisor", url, user, config, remember)


@app.command()
def wallboard(url: str | None = UrlOpt, user: str | None = UserOpt, config: Path | None = ConfigOpt,
              remember: bool = RememberOpt,
              layout: Path | None = typer.Option(None, "--layout", help="Wallboard layout TOML: tiles, queues, "
                                                    "thresholds (default <config dir>/wallboard.toml); reloaded "
                                                    "while running"),
              queues: str | None = typer.Option(None, "--queues", help="Show only these queues "
                                                   "(comma-separated names)."),
              tenant: str | None = typer.Option(None, "--tenant", help="Show only this tenant's queues."),
              group: str | None = typer.Option(None, "--group", help="Show only this group of the "
                                                  "layout file ([[groups]] name).")) -> None:
    """The wallboard: big figures for a screen across the room."""
    from cc_console.screens.wallboard import BoardFilter
    board_filter = BoardFilter.from_query({"queues": queues or "", "tenant": tenant or "", "group": group or ""})
    _console("wallboard", url, user, config, remember, layout=layout, board_filter=board_filter)


@app.command()
def web(url: str | None = UrlOpt, config: Path | None = ConfigOpt,
        host: str = typer.Option("127.0.0.1", help="Listen address."),
        port: int = typer.Option(8766, help="Listen port."),
        max_sessions: int = typer.Option(50, help="Browser consoles open at once (each is one process)."),
        wallboard_user: str = typer.Option("", help="Kiosk TVs sign in as this wallboard user; its password "
                                           "from $CC_CONSOLE_WALLBOARD_PASSWORD, the TV's token from "
                                           "$CC_CONSOLE_WALLBOARD_TOKEN."),
        tls_cert: str = typer.Option("", help="TLS certificate (default: the server's [server] tls_cert)."),
        tls_key: str = typer.Option("", help="TLS key (default: the server's [server] tls_key)."),
        verbose: bool = typer.Option(False, "--verbose", "-v")) -> None:
    """The agent, supervisor and wallboard consoles in a browser: /agent, /supervisor, /wallboard."""
    from cc_console.web_consoles import WebConsoles, from_environment, serve
    s = _settings(config)
    scheme = "wss" if s.server.tls_cert else "ws"
    _logging(verbose)
    consoles = WebConsoles(url or f"{scheme}://{s.server.host}:{s.server.port}/ws", host=host, port=port,
                           max_sessions=max_sessions, wallboard_user=wallboard_user,
                           tls_cert=tls_cert or s.server.tls_cert, tls_key=tls_key or s.server.tls_key,
                           config=config, **from_environment())
    if wallboard_user and not consoles.wallboard_token:
        typer.echo("--wallboard-user needs $CC_CONSOLE_WALLBOARD_TOKEN (the TV's secret)", err=True)
        raise typer.Exit(2)
    asyncio.run(serve(consoles))


# -- pbx --------------------------------------------------------------------------------------------
@pbx_app.command("up")
def pbx_up(config: Path | None = ConfigOpt) -> None:
    """Build (once) and start the sandbox Asterisk; wait until ARI answers. Idempotent."""
    from cc_console.server.pbx import sandbox
    s = _settings(config)
    try:
        sandbox.up(s.pbx, log=lambda m: typer.echo(m, err=True))
    except Exception as exc:
        typer.echo(f"pbx up failed: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Asterisk is up; ARI at {s.pbx.ari_url}")


@pbx_app.command("down")
def pbx_down(config: Path | None = ConfigOpt) -> None:
    """Stop the sandbox Asterisk and its phones, and unmount the chroot. Idempotent."""
    from cc_console.server.pbx import sandbox
    sandbox.down(_settings(config).pbx, log=lambda m: typer.echo(m, err=True))
    typer.echo("sandbox is down")


@pbx_app.command("status")
def pbx_status(config: Path | None = ConfigOpt) -> None:
    """Say whether the sandbox is built, mounted and running, and whether ARI answers."""
    from cc_console.server.pbx import sandbox
    st = sandbox.status(_settings(config).pbx)
    for k, v in st.items():
        typer.echo(f"{k}: {v}")
    if not st.get("ari"):
        raise typer.Exit(3)


# -- admin ------------------------------------------------------------------------------------------
def _auth(config: Path | None, db: Path | None):
    from cc_console.server.auth import Auth
    from cc_console.server.identity.plugin import configure
    from cc_console.server.store import open_configured
    s = _settings(config)
    auth = Auth(open_configured(s, db))
    configure(auth, s)  # the password policy of [access] applies to accounts made here too
    return auth


def _audited(config: Path | None, db: Path | None, action: str, target: str, outcome: str = "ok") -> None:
    from cc_console.cli_identity import audited
    audited(config, db, action, target, outcome)


DbOpt = typer.Option(None, "--db", help="SQLite database file (default from config).")


def _ask_password(password_stdin: bool) -> str:
    if password_stdin:
        return typer.get_text_stream("stdin").readline().rstrip("\n")
    pw = getpass.getpass("Password: ")
    if pw != getpass.getpass("Again: "):
        typer.echo("passwords differ", err=True)
        raise typer.Exit(1)
    return pw


@user_app.command("add")
def user_add(username: str, role: str = typer.Option(..., help="admin, supervisor, agent or wallboard"),
             name: str = typer.Option("", help="Display name."),
             device: str = typer.Option("", help="Agent device, e.g. PJSIP/1001 or PJSIP/0612345678@trunk"),
             answer_mode: str = typer.Option("console", help="console: answer with a key, the phone auto-answers; "
                                             "phone: the phone rings and is picked up there"),
             queue: list[str] = typer.Option([], "--queue", "-q", help="Queue the agent works (repeatable)."),
             password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the password from stdin."),
             config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Add a user."""
    auth = _auth(config, db)
    try:
        auth.add_user(username, _ask_password(password_stdin), role, name=name, device=device,
                      answer_mode=answer_mode, queues=queue)
    except ValueError as exc:
        _audited(config, db, "user.add", username, "refused")
        typer.echo(f"cannot add user: {exc}", err=True)
        raise typer.Exit(1) from None
    _audited(config, db, "user.add", username)
    typer.echo(f"added {username} ({role})")


@user_app.command("list")
def user_list(config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """List users with role, device and whether TOTP is on."""
    for u in _auth(config, db).store.list_users():
        typer.echo(f"{u['username']:<16} {u['role']:<11} {u['device'] or '-':<16} "
                   f"totp={'on' if u['totp_secret'] else 'off'} {'disabled' if u['disabled'] else ''} {u['name']}")


@user_app.command("passwd")
def user_passwd(username: str, password_stdin: bool = typer.Option(False, "--password-stdin"),
                config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Set a user's password."""
    try:
        _auth(config, db).set_password(username, _ask_password(password_stdin))
    except (KeyError, ValueError) as exc:
        _audited(config, db, "user.password", username, "refused")
        typer.echo(f"cannot set password: {exc}", err=True)
        raise typer.Exit(1) from None
    _audited(config, db, "user.password", username)
    typer.echo(f"password of {username} changed")


@user_app.command("totp")
def user_totp(username: str, disable: bool = typer.Option(False, "--disable", help="Turn the second factor off."),
              config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Turn on TOTP for a user and print the otpauth:// URI for their authenticator app."""
    auth = _auth(config, db)
    try:
        if disable:
            auth.disable_totp(username)
            _audited(config, db, "user.totp_off", username)
            typer.echo(f"TOTP off for {username}")
            return
        uri = auth.enable_totp(username)
        _audited(config, db, "user.totp_on", username)
    except KeyError:
        typer.echo(f"no user {username!r}", err=True)
        raise typer.Exit(1) from None
    typer.echo("Scan or enter this in the user's authenticator app (shown once):")
    typer.echo(uri)


def _user_change(username: str, config: Path | None, db: Path | None, action: str, **fields: object) -> None:
    auth = _auth(config, db)
    try:
        if action == "user.delete":
            auth.delete_user(username)
        else:
            user = auth.store.get_user(username)
            if user is None:
                raise KeyError(username)
            if "attrs" in fields:
                fields["attrs"] = {**(user.get("attrs") or {}), **fields["attrs"]}  # type: ignore[dict-item]
            auth.store.update_user(username, **fields)
    except KeyError:
        typer.echo(f"no user {username!r}", err=True)
        raise typer.Exit(1) from None
    _audited(config, db, action, username)


@user_app.command("disable")
def user_disable(username: str, config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Disable an account: it can no longer sign in or resume a session."""
    _user_change(username, config, db, "user.disable", disabled=1)
    typer.echo(f"{username} disabled")


@user_app.command("enable")
def user_enable(username: str, config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Enable a disabled account again."""
    _user_change(username, config, db, "user.enable", disabled=0)
    typer.echo(f"{username} enabled")


@user_app.command("delete")
def user_delete(username: str, yes: bool = typer.Option(False, "--yes", help="Do not ask."),
                config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Delete an account (its history in reports and the audit log stays)."""
    if not yes and not typer.confirm(f"Delete the account {username}?"):
        raise typer.Exit(1)
    _user_change(username, config, db, "user.delete")
    typer.echo(f"{username} deleted")


@user_app.command("set")
def user_set(username: str, team: str = typer.Option(None, help="The agent's team (the supervisor groups by it)."),
             site: str = typer.Option(None, help="The agent's site."),
             tenant: str = typer.Option(None, help="The tenant (organisation) the user belongs to."),
             config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Set a user's team, site or tenant."""
    attrs = {k: v for k, v in (("team", team), ("site", site), ("tenant", tenant)) if v is not None}
    if not attrs:
        typer.echo("nothing to set: give --team, --site or --tenant", err=True)
        raise typer.Exit(1)
    _user_change(username, config, db, "user.update", attrs=attrs)
    typer.echo(f"{username}: " + ", ".join(f"{k}={v}" for k, v in attrs.items()))


@admin_app.command("migrate-store")
def migrate_store(to: str = typer.Option(..., "--to", help="The PostgreSQL database: postgresql://user:password@host/db"),
                  config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Copy this installation's SQLite store (events, users, sessions, roles, calls, agents,
    callbacks) and the capabilities' own SQLite files (directory, contacts, recordings, CRM, chat,
    e-mail, SMS, outbound, audit, verified calling, web links, API clients) into PostgreSQL; safe to
    run again (copies only what is missing). Stop the server first."""
    import psycopg

    from cc_console.server.store import redact
    from cc_console.server.store.copy import copy_store
    from cc_console.server.store.postgres import is_url
    if not is_url(to):
        raise typer.BadParameter("--to takes a postgresql:// URL")
    from cc_console.store_parts import capability_parts
    settings = _settings(config)
    if db:
        settings.server.db_path = str(db)
    source = Path(settings.server.db_file)
    # The capabilities' databases that live in PostgreSQL too (docs/storage.md).
    parts = capability_parts(source)
    typer.echo(f"copying {source} into {redact(to)}")
    try:
        copied = copy_store(source, to, parts=parts, progress=lambda c: typer.echo(
            f"{c.table}: {c.copied} copied, {c.already} already there ({c.source} in SQLite)"))
    except (OSError, ConnectionError, psycopg.Error) as exc:
        typer.echo(f"cannot copy the store: {exc}", err=True)
        raise typer.Exit(1) from None
    differ = sum(c.differ for c in copied)
    if differ:
        typer.echo(f"warning: {differ} event(s) of SQLite have a number PostgreSQL already gives another event "
                   "(written there since the last copy); PostgreSQL's were kept", err=True)
    typer.echo(f'done; to use it, put [store] url = "{redact(to)}" (with its password) in config.toml')


@admin_app.command("routing-check")
def routing_check(path: Path = typer.Argument(..., help="The routing TOML to check.")) -> None:
    """Check a routing file (queues, hours, overflow, agents) without touching a running server."""
    from cc_console.server.acd.config import load_routing
    try:
        cfg = load_routing(path)
    except (ValueError, OSError) as exc:
        typer.echo(f"not valid: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"ok: {len(cfg.queues)} queue(s) ({', '.join(cfg.queues)}), {len(cfg.agents)} agent profile(s), "
               f"{len(cfg.pause_reasons)} pause reason(s); reload a running server with SIGHUP or admin.reload")


# -- demo -------------------------------------------------------------------------------------------
@app.command()
def demo(config: Path | None = ConfigOpt,
         layout: str = typer.Option("tmux", help="tmux: agent, supervisor and wallboard panes; "
                                    "agent: only the agent screen; headless: no screen (CI)"),
         calls_every: float = typer.Option(20.0, help="Seconds between generated calls."),
         duration: float = typer.Option(0, help="Stop after this many seconds (0: until Ctrl-C)."),
         ) -> None:
    """Bring up the sandbox PBX, a server with seeded users, one queue and a directory, phones for
    the agents and the supervisor, a gentle stream of calls, and open the screens. The demo's data
    is kept in <data dir>/demo (wiped at each start); its config.toml there points
    `report`/`directory ... --config` at it."""
    from cc_console.demo import run_demo
    raise typer.Exit(run_demo(_settings(config), layout=layout, calls_every=calls_every, duration=duration))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
