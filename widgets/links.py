"""Opening a link from a console (the CRM page of a customer): in the browser where this machine
has a graphical session with one and the console is not reached over SSH; otherwise the link is
shown and copied to the clipboard of the terminal the person sits at (OSC 52, which travels back
over SSH). A text-mode browser is never started: it would take over the console's own terminal."""
from __future__ import annotations

import asyncio
import logging
import os
import sys
import webbrowser
from collections.abc import Mapping

from textual.app import App

log = logging.getLogger(__name__)


def over_ssh(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return bool(env.get("SSH_CONNECTION") or env.get("SSH_TTY") or env.get("SSH_CLIENT"))


def graphical(env: Mapping[str, str] | None = None) -> bool:
    env = os.environ if env is None else env
    return sys.platform in ("darwin", "win32") or bool(env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"))


def has_browser() -> bool:
    try:
        webbrowser.get()
    except webbrowser.Error:
        return False
    return True


async def open_link(app: App, url: str, title: str) -> str:
    """Open ``url``; returns how: ``browser`` or ``clipboard``. Never blocks the event loop (a
    browser command may take its time to start)."""
    if not over_ssh() and graphical() and await asyncio.to_thread(has_browser):
        try:
            opened = await asyncio.to_thread(webbrowser.open, url)
        except Exception:  # a broken browser command: fall back to the clipboard
            log.exception("opening %s in the browser failed", url)
            opened = False
        if opened:
            app.notify(url, title=f"{title}: opened in the browser", timeout=6)
            return "browser"
    app.copy_to_clipboard(url)
    app.notify(url, title=f"{title} (copied to the clipboard)", timeout=15)
    return "clipboard"
