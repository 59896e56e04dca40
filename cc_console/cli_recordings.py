"""`cc-console recordings …`: find and fetch call recordings (for SSH users without audio), purge, keys.

`fetch` and `search` talk to a running server with a session token (``--token`` /
$CC_CONSOLE_TOKEN, or ``--user`` with the password from $CC_CONSOLE_PASSWORD, the keyring or a
prompt); every download is checked against the user's rights and written to the audit log by the
server. `purge` and `keygen` work locally. Mounted in cli.py with
``app.add_typer(recordings_app, name="recordings")``.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import typer

from cc_console.config import load_settings

recordings_app = typer.Typer(help="Call recordings: search, fetch (download) as WAV or MP3, purge, keygen.",
                             no_args_is_help=True, pretty_exceptions_show_locals=False)

ConfigOpt = typer.Option(None, "--config", "-c", help="Config TOML (default: <config dir>/config.toml).",
                         envvar="CC_CONSOLE_CONFIG")
UrlOpt = typer.Option(None, "--url", help="Server websocket URL (default from config: ws://127.0.0.1:8765/ws).")
UserOpt = typer.Option(None, "--user", "-u", help="Log in as this user to get a session token.")
TokenOpt = typer.Option(None, "--token", envvar="CC_CONSOLE_TOKEN", help="A session token (from login).")


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


def _ws_url(url: str | None, config: Path | None) -> str:
    if url:
        return url
    s = load_settings(config)
    return f"{'wss' if s.server.tls_cert else 'ws'}://{s.server.host}:{s.server.port}/ws"


def http_base(ws_url: str) -> str:
    """ws://host:port/ws -> http://host:port (wss -> https)."""
    scheme, rest = ws_url.split("://", 1)
    return ("https" if scheme == "wss" else "http") + "://" + rest.split("/", 1)[0]


async def _session(ws_url: str, user: str | None, token: str | None) -> tuple[Any, str]:
    from cc_console.client import ConsoleClient
    c = ConsoleClient(ws_url, reconnect=False)
    await c.connect()
    try:
        if token:
            await c.call("resume", {"token": token})
            return c, token
        if not user:
            _fail("give --token (or $CC_CONSOLE_TOKEN) or --user")
        password = os.environ.get("CC_CONSOLE_PASSWORD")
        if not password:
            from cc_console.credentials import recall
            password = recall(ws_url, user) or typer.prompt(f"password for {user}", hide_input=True)
        res = await c.login(user, password)
        return c, res["token"]
    except BaseException:
        await c.close()
        raise


def _fmt_time(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S") if ts else "-"


@recordings_app.command("search")
def search(agent: str | None = typer.Option(None, "--agent"),
           date_from: str | None = typer.Option(None, "--from", help="ISO date/time or epoch seconds."),
           date_to: str | None = typer.Option(None, "--to"),
           category: str | None = typer.Option(None, "--category"),
           queue: str | None = typer.Option(None, "--queue"),
           caller: str | None = typer.Option(None, "--caller"),
           call_type: str | None = typer.Option(None, "--type", help="inbound, outbound, lost, not_reached"),
           text: str | None = typer.Option(None, "--text", help="Words in the notes."),
           sort: str = typer.Option("started", "--sort"), asc: bool = typer.Option(False, "--asc"),
           limit: int = typer.Option(50, "--limit"), as_json: bool = typer.Option(False, "--json"),
           url: str | None = UrlOpt, user: str | None = UserOpt, token: str | None = TokenOpt,
           config: Path | None = ConfigOpt) -> None:
    """Search recordings (agents see only their own)."""
    args: dict[str, Any] = {"sort": sort, "desc": not asc, "limit": limit}
    for k, v in (("agent", agent), ("from", date_from), ("to", date_to), ("category", category), ("queue", queue),
                 ("caller", caller), ("call_type", call_type), ("text", text)):
        if v:
            args[k] = v

    async def go() -> dict[str, Any]:
        c, _ = await _session(_ws_url(url, config), user, token)
        try:
            return await c.call("recordings.search", args)
        finally:
            await c.close()
    from cc_console.protocol import ProtocolError
    try:
        res = asyncio.run(go())
    except (ProtocolError, OSError) as exc:
        _fail(f"search failed: {exc}")
    if as_json:
        typer.echo(json.dumps(res, indent=2))
        return
    for r in res["recordings"]:
        typer.echo(f"{r['id']}  {_fmt_time(r['started'])}  {r['call_type']:<11} {r['status']:<12} "
                   f"{r['agent_id'] or '-':<10} {r['queue']:<10} {r['caller']:<14} {r['talk']:>6.0f}s  "
                   f"{r['category']}")
    if res.get("more"):
        typer.echo("… more: narrow the search or raise --limit", err=True)


@recordings_app.command("fetch")
def fetch(recording_id: str = typer.Argument(..., metavar="ID"),
          out: Path = typer.Option(..., "--out", "-o", help="Where to write the file."),
          fmt: str = typer.Option("", "--format", help="wav or mp3 (default: from --out's suffix, else wav)."),
          url: str | None = UrlOpt, user: str | None = UserOpt, token: str | None = TokenOpt,
          config: Path | None = ConfigOpt) -> None:
    """Download a recording (needs the download right; audited), checking its SHA-256."""
    import httpx
    fmt = (fmt or (out.suffix.lstrip(".").lower() if out.suffix.lower() in (".wav", ".mp3") else "wav")).lower()
    if fmt not in ("wav", "mp3"):
        raise typer.BadParameter("--format is wav or mp3")
    ws = _ws_url(url, config)
    if not token:
        async def get_token() -> str:
            c, t = await _session(ws, user, None)
            await c.close()
            return t
        token = asyncio.run(get_token())
    with httpx.Client(timeout=60) as http:
        r = http.get(f"{http_base(ws)}/api/recordings/{recording_id}/download", params={"format": fmt},
                     headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 200:
        _fail(f"{r.status_code}: {r.text.strip()}", 2 if r.status_code in (401, 403) else 1)
    if fmt == "wav" and hashlib.sha256(r.content).hexdigest() != r.headers.get("X-Checksum-Sha256"):
        _fail("the file does not match its checksum; not written")
    tmp = out.with_name(out.name + ".part")
    tmp.write_bytes(r.content)
    tmp.replace(out)
    typer.echo(f"{out}: {len(r.content)} bytes ({fmt})")


@recordings_app.command("purge")
def purge(dry_run: bool = typer.Option(False, "--dry-run", help="List what would be deleted."),
          config: Path | None = ConfigOpt) -> None:
    """Enforce retention now, on this machine's recordings (the server also does it periodically)."""
    import time

    from cc_console.server.recordings import RecordingService, RecordingSettings, RecordingStore, default_path
    from cc_console.server.store import store_url
    settings = load_settings(config)
    s = settings.server
    store = RecordingStore(store_url(settings) or default_path(s.db_file))
    try:
        if dry_run:
            for r in store.expired(time.time()):
                typer.echo(f"{r['id']}  started {_fmt_time(r['started'])}  expired {_fmt_time(r['expires'])}  "
                           f"{r['file'] or '-'}")
            return
        svc = RecordingService(None, store, RecordingSettings.from_server(s))
        for d in svc.purge():
            typer.echo(f"purged {d['id']}  {d['file'] or '-'}")
    finally:
        store.close()


@recordings_app.command("keygen")
def keygen(path: Path = typer.Argument(..., help="Key file to create (mode 0600); set it as recordings_key_file.")
           ) -> None:
    """Create a 256-bit key for encrypting recordings at rest (AES-GCM)."""
    from cc_console.server.recordings.audio import new_key_file
    try:
        new_key_file(path)
    except FileExistsError:
        _fail(f"{path} exists; not overwritten (recordings encrypted with it would be lost)")
    typer.echo(f"wrote {path}; set [server] recordings_key_file = \"{path}\"")
