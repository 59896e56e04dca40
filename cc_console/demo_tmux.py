"""The demo's screens in tmux: agent, supervisor and wallboard panes in a session of the demo's own.

The session lives on a tmux server socket of its own (`tmux -L cc-console-demo`), never on the
user's: a tmux server that is already running would otherwise start the panes with *its*
environment (panes take the server's environment, not the caller's), and from inside tmux the
attach would be refused as nesting. Everything the consoles need is handed to each pane with
`-e`, so even a server that was started elsewhere gives them the demo's credentials. The demo's
session is always killed at the end, and the server with it when nothing else lives there.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Sequence

SOCKET = "cc-console-demo"  # `tmux -L` name; $CC_CONSOLE_DEMO_TMUX_SOCKET moves it
SESSION = "cc-console-demo"


class TmuxError(RuntimeError):
    """Said to the person who started the demo, as is."""


def socket_name() -> str:
    return os.environ.get("CC_CONSOLE_DEMO_TMUX_SOCKET") or SOCKET


class DemoTmux:
    def __init__(self, socket: str | None = None, session: str = SESSION) -> None:
        self.socket = socket or socket_name()
        self.session = session
        self.created = False

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        # TMUX unset: from inside someone's tmux, this is another server, not a nested client of theirs.
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        p = subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, env=env, check=False)
        if check and p.returncode != 0:
            raise TmuxError(f"tmux {args[0]} failed: {(p.stderr or p.stdout).strip()}")
        return p

    def exists(self) -> bool:
        return self.tmux("has-session", "-t", f"={self.session}", check=False).returncode == 0

    def open(self, panes: Sequence[tuple[str, list[str]]], env: dict[str, str], nested: bool) -> None:
        """Create the session: the first pane on the left, the others stacked on the right."""
        if self.exists():
            raise TmuxError(f"A demo is already running in tmux (attach with: tmux -L {self.socket} attach "
                            f"-t {self.session}); stop it first.")
        envargs = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
        (_, first), *rest = panes
        self.tmux("new-session", "-d", "-s", self.session, "-x", "200", "-y", "50", *envargs, shlex.join(first))
        self.created = True
        for i, (_, argv) in enumerate(rest):
            self.tmux("split-window", "-t", f"={self.session}:0", "-h" if i == 0 else "-v", *envargs,
                      shlex.join(argv))
        for i, (title, _) in enumerate(panes):
            self.tmux("select-pane", "-t", f"={self.session}:0.{i}", "-T", title)
        self.tmux("select-pane", "-t", f"={self.session}:0.0")
        # Click a pane to type in it; inside another tmux the outer one keeps C-b, so the demo takes C-a.
        self.tmux("set-option", "-t", self.session, "mouse", "on")
        self.tmux("set-option", "-t", self.session, "pane-border-status", "top")
        if nested:
            self.tmux("set-option", "-t", self.session, "prefix", "C-a")

    def attach(self) -> int:
        """Show the session in this terminal until it ends or is detached from."""
        env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
        return subprocess.run(["tmux", "-L", self.socket, "attach-session", "-t", f"={self.session}"],
                              env=env, check=False).returncode

    def close(self) -> None:
        """Kill the demo's session, and the server when the demo was all it held."""
        if not self.created:
            return
        self.tmux("kill-session", "-t", f"={self.session}", check=False)
        if self.tmux("list-sessions", check=False).returncode != 0:  # no session left: the server is gone
            return
        if not self.tmux("list-sessions", "-F", "#{session_name}", check=False).stdout.strip():
            self.tmux("kill-server", check=False)


def console_argv(mode: str, url: str, user: str) -> list[str]:
    return [sys.executable, "-m", "cc_console.cli", mode, "--url", url, "--user", user]
