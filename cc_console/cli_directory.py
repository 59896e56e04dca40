"""`cc-console directory …`: import and absences straight on the directory database; search asks
the running server.

Imports and absences need no server; a running server sees them within its watch interval (it
watches the database for other writers, docs/directory.md) and pushes them to the consoles.
`search` asks the running server's index over the websocket (``--url``, ``--token`` or ``--user``
as for `cc-console recordings`) instead of building an index of its own on every call; with
``--db`` it searches that database file itself (no server needed). Mounted in cli.py with
``app.add_typer(directory_app, name="directory")``.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import typer

from cc_console.config import load_settings

directory_app = typer.Typer(help="The switchboard directory: import persons and units, search, absences.",
                            no_args_is_help=True, pretty_exceptions_show_locals=False)
absence_app = typer.Typer(help="Absences: add, list, import-ics.", no_args_is_help=True,
                          pretty_exceptions_show_locals=False)
directory_app.add_typer(absence_app, name="absence")

ConfigOpt = typer.Option(None, "--config", "-c", help="Config TOML (default: <config dir>/config.toml).",
                         envvar="CC_CONSOLE_CONFIG")
DbOpt = typer.Option(None, "--db", help="Directory database (default: the server's: "
                     "<server db_path>.directory.sqlite3, or its PostgreSQL with [store] url).",
                     envvar="CC_CONSOLE_DIRECTORY_DB")
TzOpt = typer.Option("Europe/Oslo", "--tz", help="Time zone for times without one and all-day events.")


def _service(config: Path | None, db: Path | None, tz: str = "Europe/Oslo"):
    from cc_console.server.directory import DirectoryService, DirectoryStore
    from cc_console.server.store import capability_target
    target: str | Path | None = db
    if target is None:
        try:
            s = load_settings(config)
        except (ValueError, OSError) as exc:
            raise typer.BadParameter(str(exc)) from None
        target = capability_target(s, "directory")
    return DirectoryService(DirectoryStore(target), tz=tz)


def _fail(message: str, code: int = 1) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@directory_app.command("import")
def import_(persons: Path | None = typer.Option(None, "--persons", help="Persons file (CSV or JSON)."),
            units: Path | None = typer.Option(None, "--units", help="Units file (CSV or JSON)."),
            full: bool = typer.Option(False, "--full", help="The files are complete: mark what is missing as gone."),
            tenant: str | None = typer.Option(None, "--tenant", help="Organisation for rows without a tenant column."),
            encoding: str = typer.Option("utf-8", "--encoding", help="The files' encoding (e.g. cp1252)."),
            as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
            config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Import persons and/or units; prints what was added, changed, removed and rejected (with lines)."""
    from cc_console.server.directory import ImportRefused, import_paths
    if persons is None and units is None:
        raise typer.BadParameter("give --persons and/or --units")
    svc = _service(config, db)
    try:
        report = import_paths(svc.store, persons=persons, units=units, tenant=tenant, full=full,
                              encoding=encoding, now=svc.clock())
    except ImportRefused as exc:
        _fail(f"refused: {exc}", 2)
    except OSError as exc:
        _fail(str(exc), 2)
    typer.echo(json.dumps(report.to_dict(), ensure_ascii=False, indent=2) if as_json else report.text())
    if report.units.rejected or report.persons.rejected:
        raise typer.Exit(3)  # applied, but with rejected rows


def _fmt(t: float, tz: str) -> str:
    """Local time; in the hour that happens twice (clocks going back) with its UTC offset."""
    from zoneinfo import ZoneInfo
    dt = datetime.fromtimestamp(t, ZoneInfo(tz))
    text = dt.strftime("%Y-%m-%d %H:%M")
    if dt.replace(fold=1 - dt.fold).utcoffset() != dt.utcoffset():
        z = dt.strftime("%z")
        text += f"{z[:3]}:{z[3:]}"
    return text


def _ask_server(text: str, tenant: str | None, limit: int, url: str | None, user: str | None,
                token: str | None, config: Path | None) -> list[dict]:
    import asyncio

    from cc_console.cli_recordings import _session, _ws_url
    from cc_console.protocol import ProtocolError

    async def go() -> list[dict]:
        c, _ = await _session(_ws_url(url, config), user, token)
        try:
            args: dict = {"q": text, "limit": limit}
            if tenant:
                args["tenant"] = tenant
            return (await c.call("directory.search", args))["results"]
        finally:
            await c.close()
    try:
        return asyncio.run(go())
    except ProtocolError as exc:
        _fail(f"search refused: {exc.message}")
    except OSError as exc:
        _fail(f"cannot reach the server ({exc}); give --url, or --db to search a database file yourself")
    return []


@directory_app.command("search")
def search(text: str, tenant: str | None = typer.Option(None, "--tenant"),
           limit: int = typer.Option(20, "--limit"), as_json: bool = typer.Option(False, "--json"),
           url: str | None = typer.Option(None, "--url", help="Server websocket URL (default from config)."),
           user: str | None = typer.Option(None, "--user", "-u", help="Log in as this user."),
           token: str | None = typer.Option(None, "--token", envvar="CC_CONSOLE_TOKEN",
                                            help="A session token (from login)."),
           config: Path | None = ConfigOpt,
           db: Path | None = typer.Option(None, "--db", help="Search this directory database file here instead "
                                          "of asking the running server."), tz: str = TzOpt) -> None:
    """Search as the operator does (name, unit, title, subject or number), on the running server."""
    if db is not None:
        rows = _service(config, db, tz).search(text, tenant=tenant, limit=limit)
    else:
        rows = _ask_server(text, tenant, limit, url, user, token, config)
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        status = r["status"]
        if r["absence"]:
            status = f"{r['absence']['type']} until {_fmt(r['absence']['until'], tz)}"
        sub = f"  → {r['substitute']['name']}" if r.get("substitute") else ""
        typer.echo(f"{r['id']:<20} {r['name']:<28} {r['unit'][:24]:<24} {r['desk']:<16} {status}{sub}")
    if not rows:
        typer.echo("no match", err=True)


@absence_app.command("add")
def absence_add(person: str = typer.Argument(..., help="Person id: <tenant>:<id>."),
                type_: str = typer.Option(..., "--type",
                                          help="lunch, meeting, vacation, sick, travel, course, out, other"),
                start: str = typer.Option(..., "--from", help="ISO 8601 (local time if no offset)."),
                until: str | None = typer.Option(None, "--until", help="ISO 8601 (default: end of that day)."),
                message: str = typer.Option("", "--message"), substitute: str = typer.Option("", "--substitute"),
                config: Path | None = ConfigOpt, db: Path | None = DbOpt, tz: str = TzOpt) -> None:
    """Enter an absence by hand."""
    from cc_console.errors import DomainError
    svc = _service(config, db, tz)
    try:
        a = svc.add_absence("cli", person, type_, start, until, message, substitute)
    except DomainError as exc:
        _fail(exc.message)
    typer.echo(f"{a.id} {a.type} {_fmt(a.start, tz)} – {_fmt(a.until, tz)}")


@absence_app.command("list")
def absence_list(person: str | None = typer.Argument(None, help="Person id (default: everyone)."),
                 all_: bool = typer.Option(False, "--all", help="Include past absences."),
                 config: Path | None = ConfigOpt, db: Path | None = DbOpt, tz: str = TzOpt) -> None:
    """List absences (current and coming, unless --all)."""
    svc = _service(config, db, tz)
    tenant = pid = None
    if person:
        tenant, _, pid = person.partition(":")
    for a in svc.store.absences(tenant=tenant, person=pid or None, since=None if all_ else svc.clock()):
        typer.echo(f"{a['id']} {a['tenant']}:{a['person']} {a['type']:<9} {_fmt(a['start'], tz)} – "
                   f"{_fmt(a['until'], tz)} {a['source']}{'  ' + a['message'] if a['message'] else ''}")


@absence_app.command("import-ics")
def absence_import_ics(person: str = typer.Argument(..., help="Person id: <tenant>:<id>."),
                       source: str = typer.Argument(..., help="An .ics file or an http(s) feed URL."),
                       config: Path | None = ConfigOpt, db: Path | None = DbOpt, tz: str = TzOpt) -> None:
    """Replace a person's calendar absences with those of an iCalendar file or feed (coded events only)."""
    from cc_console.errors import DomainError
    from cc_console.server.directory.ics import CalendarError
    svc = _service(config, db, tz)
    try:
        if source.startswith(("http://", "https://")):
            import httpx
            raw = httpx.get(source, timeout=30, follow_redirects=True).raise_for_status().content
        else:
            raw = Path(source).read_bytes()
        found = svc.import_ics(person, raw)
    except (DomainError, CalendarError, OSError) as exc:
        _fail(getattr(exc, "message", None) or str(exc))
    except Exception as exc:  # httpx errors
        _fail(f"cannot fetch {source}: {exc}")
    typer.echo(f"{len(found)} absences from the calendar for {person}")


@directory_app.command("sync")
def sync(feed_name: str | None = typer.Option(None, "--feed", help="Only this feed (its name in config.toml)."),
         config: Path | None = ConfigOpt, db: Path | None = DbOpt) -> None:
    """Poll the calendar feeds of [[directory.feeds]] once, now, and print each calendar's outcome.

    What a running server does on its schedule; use it to try a feed (a CalDAV server, an
    iCalendar or Domino export, a Microsoft 365 tenant through Graph) before the server polls it.
    Changes go to the directory database; a running server picks them up and pushes them.
    """
    import asyncio

    from cc_console.server.directory.feeds import DirectorySettings
    from cc_console.server.directory.live import DirectoryLive
    try:
        s = load_settings(config)
        ds = s.section("directory", DirectorySettings)
        feeds = ds.feed_list()
    except (ValueError, OSError) as exc:
        _fail(str(exc), 2)
    chosen = [f for f in feeds if feed_name in (None, f.name)]
    if not chosen:
        _fail(f"no feed {feed_name!r} in [[directory.feeds]]" if feed_name else "no [[directory.feeds]] configured", 2)
    from cc_console.server.directory import DirectoryService, DirectoryStore
    from cc_console.server.store import capability_target
    svc = DirectoryService(DirectoryStore(db or capability_target(s, "directory")), tz=ds.tz,
                           country_code=ds.country_code, codes=ds.codes)
    ds.watch_interval = 0  # one round, no watching
    live = DirectoryLive(svc, ds, lambda *a: None)
    live.feeds = chosen

    async def once() -> None:
        await live.start_http()
        try:
            for f in chosen:
                await live.poll(f)
        finally:
            await live.stop()
    asyncio.run(once())
    failed = 0
    for row in live.status():
        outcome = row["error"] or ("changed" if row["changed"] else "unchanged")
        failed += bool(row["error"])
        typer.echo(f"{row['feed']:<20} {row['person']:<24} {outcome}")
    if not live.status():
        typer.echo("no person of the feeds' organisations has a calendar address", err=True)
    svc.store.close()
    if failed:
        raise typer.Exit(3)
