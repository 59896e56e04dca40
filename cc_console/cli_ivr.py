"""`cc-console admin ivr check|show`: the IVR tree file checked and drawn without a running server."""
from __future__ import annotations

from pathlib import Path

import typer

ivr_app = typer.Typer(help="IVR trees: check a tree file, draw its trees.", no_args_is_help=True,
                      pretty_exceptions_show_locals=False)

ConfigOpt = typer.Option(None, "--config", "-c", help="Config TOML.", envvar="CC_CONSOLE_CONFIG")


def _routing_queues(config: Path | None, routing: Path | None) -> set[str] | None:
    from cc_console.config import config_dir, load_settings
    from cc_console.server.acd.config import load_routing
    s = load_settings(config)
    path = routing or (Path(s.server.routing_file) if s.server.routing_file else None)
    if path is None and (config_dir() / "routing.toml").exists():
        path = config_dir() / "routing.toml"
    return set(load_routing(path).queues) if path else None


def _tree_file(config: Path | None, path: Path | None) -> Path:
    from cc_console.config import load_settings
    from cc_console.server.ivr.plugin import IvrSettings
    if path is not None:
        return path
    return IvrSettings.from_settings(load_settings(config)).tree_path


@ivr_app.command("check")
def check(path: Path = typer.Argument(..., help="The IVR tree file (TOML) to check."),
          routing: Path = typer.Option(None, "--routing", help="Routing file whose queues the trees may name "
                                                               "(default: the server's)."),
          config: Path = ConfigOpt) -> None:
    """Find unreachable nodes, loops without exit, missing prompts and unknown targets."""
    from cc_console.config import load_settings
    from cc_console.server.ivr.plugin import IvrSettings
    from cc_console.server.ivr.tree import TreeError, check, load_trees
    try:
        cfg = load_trees(path)
        queues = _routing_queues(config, routing)
        settings = load_settings(config)
        prefix = IvrSettings.from_settings(settings).media_prefix
    except (TreeError, ValueError, OSError) as exc:
        typer.echo(f"not valid: {exc}", err=True)
        raise typer.Exit(1) from None
    # The same check the server makes before it loads the trees.
    problems = check(cfg, queues=queues, sounds=settings.pbx.sounds_path, media_prefix=prefix)
    for p in problems:
        typer.echo(f"error: {p}", err=True)
    if problems:
        typer.echo(f"not valid: {len(problems)} problem(s) in {path}", err=True)
        raise typer.Exit(1)
    nodes = sum(len(t.nodes) for t in cfg.trees.values())
    typer.echo(f"ok: {len(cfg.trees)} tree(s) ({', '.join(cfg.trees)}), {nodes} node(s); "
               "load them into a running server with the ivr.reload command")


@ivr_app.command("show")
def show(path: Path = typer.Argument(None, help="The IVR tree file (default: the server's)."),
         tree: str = typer.Option("", "--tree", "-t", help="Only this tree."),
         config: Path = ConfigOpt) -> None:
    """Draw the trees in the terminal: menus, keys and where each leads."""
    from cc_console.server.ivr.tree import TreeError, draw, load_trees
    try:
        cfg = load_trees(_tree_file(config, path))
    except (TreeError, ValueError, OSError) as exc:
        typer.echo(f"cannot show: {exc}", err=True)
        raise typer.Exit(1) from None
    if tree and tree not in cfg.trees:
        typer.echo(f"no tree {tree!r}; the file has {', '.join(cfg.trees) or 'none'}", err=True)
        raise typer.Exit(1)
    for name in [tree] if tree else list(cfg.trees):
        typer.echo(draw(cfg.trees[name]))
        typer.echo("")
