"""The connection indicator: live / stale / disconnected, and whether the PBX (ARI) is up.

Query it as ``#connection``; ``status.level`` is "live", "stale" or "down".
"""
from __future__ import annotations

from textual.reactive import reactive
from textual.widget import Widget


class ConnectionStatus(Widget):
    DEFAULT_CSS = """
    ConnectionStatus { height: 1; width: 1fr; padding: 0 1; background: $panel; color: $text-muted; }
    ConnectionStatus.-stale { background: $warning; color: $background; text-style: bold; }
    ConnectionStatus.-down { background: $error; color: $foreground; text-style: bold; }
    ConnectionStatus.-pbx-down { background: $error 60%; color: $foreground; text-style: bold; }
    """

    connected: reactive[bool] = reactive(False)
    stale: reactive[bool] = reactive(True)
    ari: reactive[str] = reactive("")
    who: reactive[str] = reactive("")

    def show(self, connected: bool, stale: bool, ari: str, who: str = "") -> None:
        self.connected, self.stale, self.ari, self.who = connected, stale, ari, who
        self._classes_for_level()

    @property
    def level(self) -> str:
        if not self.connected:
            return "down"
        if self.stale:
            return "stale"
        return "live"

    def _classes_for_level(self) -> None:
        level = self.level
        self.set_class(level == "down", "-down")
        self.set_class(level == "stale", "-stale")
        self.set_class(level == "live" and self.ari == "down", "-pbx-down")

    def on_mount(self) -> None:
        self._classes_for_level()

    def render(self) -> str:
        level = self.level
        if level == "down":
            text = "✖ DISCONNECTED: reconnecting…  data below may be out of date"
        elif level == "stale":
            text = "▲ STALE: waiting for a fresh snapshot from the server"
        else:
            text = "● live"
        if self.ari == "down":
            text += "   ✖ PBX unreachable: calls cannot be answered"
        if self.who:
            text += f"   {self.who}"
        return text
