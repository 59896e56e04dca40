"""Opening the CRM page of a caller when the agent's call connects (the server's `crm.open`), and
showing a case handed over from level 1 while the call rings (the server's `case.update`).

On a desktop session the browser opens it; over SSH (or with no display) there is no browser to
open on the agent's screen, so the URL is shown and copied to the clipboard (OSC 52, which most
terminals pass through SSH) for the agent to paste.
"""
from __future__ import annotations

import os
import threading
import webbrowser
from collections.abc import Mapping
from typing import Any


def how_to_open(env: Mapping[str, str]) -> str:
    """"browser" where the console runs on a desktop; "copy" over SSH or without a display."""
    if env.get("SSH_CONNECTION") or env.get("SSH_TTY"):
        return "copy"
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return "browser"
    return "copy"


def open_crm_page(app: Any, url: str, env: Mapping[str, str] | None = None) -> str:
    """Open or copy ``url``; says which it did."""
    way = how_to_open(os.environ if env is None else env)
    if way == "browser":
        # webbrowser may start a process and wait for it: never on the UI's loop.
        threading.Thread(target=webbrowser.open, args=(url,), daemon=True).start()
        app.notify(url, title="CRM page opened in the browser", timeout=6)
    else:
        app.copy_to_clipboard(url)
        app.notify(url, title="CRM page (copied to the clipboard)", timeout=15)
    return way


def case_summary(case: Mapping[str, Any]) -> str:
    """What a level-2 agent reads before answering: who, what, and what level 1 wrote."""
    contact = case.get("contact") or {}
    who = " ".join(str(contact.get(k) or "") for k in ("first_name", "last_name")).strip() or case.get("caller", "")
    lines = [f"{who} ({case.get('caller', '')})" if who != case.get("caller") else str(who)]
    if case.get("subject"):
        lines.append(str(case["subject"]))
    if case.get("notes"):
        lines.append(str(case["notes"]))
    return "\n".join(lines)


def show_case(app: Any, case: Mapping[str, Any]) -> bool:
    """A toast for a case that reaches this agent at level 2 (once per case and level)."""
    shown: set[tuple[str, int]] = app.__dict__.setdefault("_crm_cases_shown", set())
    key = (str(case.get("id")), int(case.get("level") or 1))
    if key[1] < 2 or key in shown or case.get("state") != "open":
        return False
    shown.add(key)
    app.notify(case_summary(case), title="Case from level 1", timeout=20)
    return True
