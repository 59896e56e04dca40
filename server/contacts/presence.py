"""The transfer panel's live states, pushed: consoles with the panel open (``transfer.watch``) get
``transfer.update`` with the targets whose state changed, ``key`` and ``state`` (free, busy,
ringing, paused, logged out; a line busy while an outbound call to it lasts), instead of asking
for the whole list every few seconds. Only watchers get them: at a floor of hundreds of agents,
every state change sent to every console would cost more than the panel is worth.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cc_console.protocol import Event
from cc_console.server.capability import CallHooks


class TransferPresence(CallHooks):
    def __init__(self, targets: Callable[[], list[dict[str, Any]]], states: Callable[[], dict[str, str]],
                 publish: Callable[[str, dict[str, Any], Any], None]) -> None:
        self._targets = targets  # the whole list (reads the users: on a watch, not on every change)
        self._states = states  # target key -> state, from the engine's memory only
        self._publish = publish
        self.watchers: set[str] = set()
        self._last: dict[str, str] = {}  # target key -> the state the watchers were last told

    def watch(self, username: str, on: bool) -> list[dict[str, Any]]:
        """Start (or stop) pushing to this user; starting gives the whole list as it is now."""
        if not on:
            self.watchers.discard(username)
            return []
        self.watchers.add(username)
        targets = self._targets()
        self._last = {t["key"]: t["state"] for t in targets}
        return targets

    def changed(self) -> None:
        """Something that can change a target's state happened: push what did change."""
        if not self.watchers:
            return
        changed = []
        for key, state in self._states().items():
            if key in self._last and self._last[key] != state:
                self._last[key] = state
                changed.append({"key": key, "state": state})
        if changed:
            self._publish(Event.TRANSFER, {"targets": changed}, frozenset(self.watchers))

    # -- engine hooks -----------------------------------------------------------------------------
    def agent_changed(self, agent: Any, previous: Any) -> None:
        self.changed()

    def call_ended(self, call: Any, kind: str) -> None:  # an outbound call to a line is over
        self.changed()

    def call_offered(self, call: Any, agent_id: str) -> None:
        self.changed()
