"""Small formatting helpers shared by the widgets and screens (pure functions, no Textual)."""
from __future__ import annotations

from typing import Any


def duration(seconds: float | None, *, cap_minutes: int = 99) -> str:
    """mm:ss for a span of seconds (negative and None read as 0; capped at 99:59 by default)."""
    if seconds is None or seconds < 0:
        seconds = 0
    total = int(seconds)
    minutes, secs = divmod(total, 60)
    if cap_minutes and minutes > cap_minutes:
        return f"{cap_minutes}:59"
    return f"{minutes:02d}:{secs:02d}"


def long_duration(seconds: float | None) -> str:
    """mm:ss under an hour, h:mm:ss above (for time in state, which can run long)."""
    if seconds is None or seconds < 0:
        seconds = 0
    total = int(seconds)
    if total < 3600:
        return duration(total)
    hours, rest = divmod(total, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def percent(value: Any) -> str:
    """A 0..1 fraction as a whole percentage; None (nothing offered yet) as '--'."""
    if value is None:
        return "--"
    try:
        return f"{round(float(value) * 100):d}"
    except (TypeError, ValueError):
        return "--"


STATE_LABELS = {
    "logged_out": "LOGGED OUT",
    "ready": "READY",
    "ringing": "RINGING",
    "on_call": "ON CALL",
    "paused": "PAUSED",
    "wrap_up": "WRAP-UP",
}

CALL_STATE_LABELS = {
    "entering": "GREETING",
    "queued": "QUEUED",
    "voicemail": "VOICEMAIL",
    "ringing": "RINGING",
    "connected": "CONNECTED",
    "ended": "ENDED",
}


def state_label(state: str | None) -> str:
    return STATE_LABELS.get(state or "", (state or "unknown").upper().replace("_", " "))


def call_state_label(state: str | None) -> str:
    return CALL_STATE_LABELS.get(state or "", (state or "unknown").upper())


def state_style(state: str | None) -> str:
    """Rich style for a state cell in tables (the badge uses CSS classes instead)."""
    return {
        "ready": "bold green",
        "ringing": "bold black on yellow",
        "on_call": "bold cyan",
        "paused": "bold magenta",
        "wrap_up": "bold blue",
        "logged_out": "dim",
    }.get(state or "", "")


def longest_wait(queue: dict[str, Any], now: float) -> float:
    """Seconds the oldest caller has waited: live from ``oldest_enqueued`` when the server sends it
    (so the figure ticks between stats events), else the ``longest_wait`` of the last stats event."""
    oldest = queue.get("oldest_enqueued")
    if isinstance(oldest, (int, float)) and oldest and int(queue.get("waiting") or 0) > 0:
        return max(0.0, now - float(oldest))
    return float(queue.get("longest_wait") or 0.0)
