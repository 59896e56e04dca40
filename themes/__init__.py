"""Console themes: Textual colour themes plus the stylesheet the screens share.

Two themes ship: ``cc-default`` (dark, calm) and ``cc-high-contrast`` (black and white with
saturated state colours, for wallboards across a room and for low-vision users). The stylesheet
only uses theme variables ($primary, $warning, $error, $success, ...), so every Textual theme
works too; pick one with ``CCConsoleApp(theme=...)``, ctrl+t, or the command palette.
"""
from __future__ import annotations

from pathlib import Path

from textual.theme import Theme

THEMES_DIR = Path(__file__).parent
CONSOLE_CSS = THEMES_DIR / "console.tcss"

DEFAULT_THEME = Theme(
    name="cc-default",
    primary="#3b82f6",
    secondary="#64748b",
    accent="#38bdf8",
    warning="#f59e0b",
    error="#ef4444",
    success="#22c55e",
    foreground="#e2e8f0",
    background="#0f172a",
    surface="#1e293b",
    panel="#273449",
    dark=True,
)

HIGH_CONTRAST_THEME = Theme(
    name="cc-high-contrast",
    primary="#ffff00",
    secondary="#ffffff",
    accent="#00ffff",
    warning="#ffaf00",
    error="#ff3030",
    success="#00ff00",
    foreground="#ffffff",
    background="#000000",
    surface="#000000",
    panel="#1a1a1a",
    dark=True,
    luminosity_spread=0.05,
    text_alpha=1.0,
    variables={
        "border": "#ffffff",
        "footer-key-foreground": "#ffff00",
        "block-cursor-background": "#ffff00",
        "block-cursor-foreground": "#000000",
        "input-selection-background": "#ffff00 60%",
    },
)

THEMES: dict[str, Theme] = {t.name: t for t in (DEFAULT_THEME, HIGH_CONTRAST_THEME)}

__all__ = ["CONSOLE_CSS", "DEFAULT_THEME", "HIGH_CONTRAST_THEME", "THEMES", "THEMES_DIR"]
