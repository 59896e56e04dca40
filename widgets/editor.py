"""Writing a reply in the agent's own editor ($VISUAL or $EDITOR): the console steps aside
(Textual's App.suspend), the editor runs on a private temp file holding the reply box's text, and
what the agent saved comes back into the box, to be sent with Ctrl+S as usual.

The editor runs in a worker thread while the console is suspended, so the console's connection to
the server (on the event loop) stays alive however long the agent writes; Textual drops the screen
updates of that time and redraws on resume.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import subprocess
import tempfile
from typing import Any

from textual.app import SuspendNotSupported


def editor_command() -> list[str]:
    """$VISUAL, else $EDITOR, split as the shell would ("code --wait" is two words)."""
    raw = os.environ.get("VISUAL") or os.environ.get("EDITOR") or ""
    try:
        return shlex.split(raw)
    except ValueError:
        return []


async def edit_text(app: Any, text: str, suffix: str = ".txt") -> str | None:
    """The text as the agent left it in their editor; None when there is no editor, it cannot run
    here (a browser console), or it failed (the agent is told which)."""
    cmd = editor_command()
    if not cmd:
        app.notify("Set VISUAL or EDITOR to write in your own editor (for example: export EDITOR=nano).",
                   severity="warning", timeout=6)
        return None
    folder = await asyncio.to_thread(tempfile.mkdtemp, prefix="cc-reply-")  # 0700: the reply is private
    path = os.path.join(folder, "reply" + suffix)
    try:
        await asyncio.to_thread(_write, path, text)
        try:
            with app.suspend():
                rc = await asyncio.to_thread(_run, [*cmd, path])
        except SuspendNotSupported:
            app.notify("Your own editor cannot run in this console; write in the box.", severity="warning",
                       timeout=6)
            return None
        if rc != 0:
            app.notify("The editor did not finish; the reply box is as it was.", severity="warning", timeout=6)
            return None
        return await asyncio.to_thread(_read, path)
    finally:
        await asyncio.to_thread(shutil.rmtree, folder, True)


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + ("\n" if text and not text.endswith("\n") else ""))


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


def _run(cmd: list[str]) -> int:
    try:
        return subprocess.call(cmd)
    except OSError:
        return 127  # no such editor: said to the agent as "did not finish"
