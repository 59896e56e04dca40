"""`cc-console admin outbound script-check FILE`: a call script checked without a running server."""
from __future__ import annotations

from pathlib import Path

import typer

outbound_app = typer.Typer(help="Outbound campaigns: check call scripts.", no_args_is_help=True,
                           pretty_exceptions_show_locals=False)


@outbound_app.command("script-check")
def script_check(path: Path = typer.Argument(..., help="The call script (TOML) to check.")) -> None:
    """Find unknown targets, unreachable questions and loops that never reach the end."""
    from cc_console.server.outbound.scripts import ScriptError, check, load_script
    try:
        script = load_script(path.read_text(encoding="utf-8"))
    except (ScriptError, OSError, UnicodeDecodeError) as exc:
        typer.echo(f"not valid: {exc}", err=True)
        raise typer.Exit(1) from None
    # The same check a campaign makes before it takes the script.
    problems = check(script)
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    if problems:
        typer.echo(f"not valid: {len(problems)} problem(s) in {path}", err=True)
        raise typer.Exit(1)
    typer.echo(f"ok: {len(script.questions)} question(s), starting at {script.start}; "
               "give it to a campaign with campaign.update (script)")
