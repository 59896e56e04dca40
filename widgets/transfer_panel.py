"""The transfer panel: agents, supervisors and configured lines with their live state, grouped,
filterable, favourites first.

``TransferPanel`` (#transfer-panel) holds a filter Input (#transfer-filter, shown by ``/``) and an
OptionList (#transfer-list) whose option ids are the targets' keys (``agent:ID``, ``line:NUMBER``);
group titles are disabled options. ``Favourites`` keeps a user's favourites locally in TinyDB
under platformdirs (``<data_dir>/favourites.json``, one table per user).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Input, OptionList
from textual.widgets.option_list import Option

from cc_console.config import data_dir

STATE_STYLE = {"free": "bold green", "busy": "bold red", "ringing": "bold yellow", "paused": "magenta",
               "logged out": "dim"}
GROUP_ORDER = ("Agents", "Supervisors")


class Favourites:
    """Favourite transfer targets per user, kept on this machine (TinyDB, not on the server)."""

    def __init__(self, user: str, path: Path | None = None) -> None:
        from tinydb import Query, TinyDB
        self.path = path or data_dir() / "favourites.json"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.user = user or "_"
        self._db = TinyDB(self.path)
        self._q = Query()

    @property
    def _table(self) -> Any:
        return self._db.table(self.user)

    def keys(self) -> list[str]:
        return [d["key"] for d in self._table.all()]

    def __contains__(self, key: str) -> bool:
        return bool(self._table.search(self._q.key == key))

    def toggle(self, key: str) -> bool:
        """Add or remove; returns True when it is a favourite now."""
        if key in self:
            self._table.remove(self._q.key == key)
            return False
        self._table.insert({"key": key})
        return True

    def close(self) -> None:
        self._db.close()


def matches(target: dict[str, Any], text: str) -> bool:
    text = text.strip().lower()
    if not text:
        return True
    hay = " ".join(str(target.get(k) or "") for k in ("name", "number", "group", "state", "id")).lower()
    return all(word in hay for word in text.split())


def grouped(targets: list[dict[str, Any]], favourites: list[str],
            text: str = "") -> list[tuple[str, list[dict[str, Any]]]]:
    """[(group title, targets)], favourites first, then agents, supervisors and the lines' groups."""
    shown = [t for t in targets if matches(t, text)]
    favs = [t for k in favourites for t in shown if t["key"] == k]
    groups: dict[str, list[dict[str, Any]]] = {}
    for t in shown:
        if t["key"] in favourites:
            continue
        groups.setdefault(t.get("group") or "Other", []).append(t)
    order = sorted(groups, key=lambda g: (GROUP_ORDER.index(g) if g in GROUP_ORDER else len(GROUP_ORDER), g))
    out = [("★ Favourites", favs)] if favs else []
    out += [(g, sorted(groups[g], key=lambda t: str(t.get("name", "")).lower())) for g in order]
    return out


class TransferPanel(Widget):
    DEFAULT_CSS = """
    TransferPanel { height: 1fr; }
    TransferPanel #transfer-filter { display: none; }
    TransferPanel #transfer-filter.-visible { display: block; }
    TransferPanel #transfer-list { height: 1fr; }
    """

    def __init__(self, favourites: Favourites | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.favourites = favourites
        self.targets: list[dict[str, Any]] = []
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: name, number, group or state", id="transfer-filter")
        yield OptionList(id="transfer-list")

    @property
    def option_list(self) -> OptionList:
        return self.query_one("#transfer-list", OptionList)

    @property
    def shown_keys(self) -> list[str]:
        ol = self.option_list
        return [str(ol.get_option_at_index(i).id) for i in range(ol.option_count)
                if not ol.get_option_at_index(i).disabled]

    @property
    def groups(self) -> list[tuple[str, list[dict[str, Any]]]]:
        favs = self.favourites.keys() if self.favourites else []
        return grouped(self.targets, favs, self.filter_text)

    def set_targets(self, targets: list[dict[str, Any]]) -> None:
        self.targets = list(targets)
        self.rebuild()

    def update_states(self, changes: list[dict[str, Any]]) -> bool:
        """Apply pushed state changes (``key``, ``state``); True if any target shown here changed."""
        states = {c.get("key"): c.get("state") for c in changes}
        hit = False
        for i, t in enumerate(self.targets):
            if t["key"] in states and t.get("state") != states[t["key"]]:
                self.targets[i] = {**t, "state": states[t["key"]]}
                hit = True
        if hit:
            self.rebuild()
        return hit

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.rebuild()

    def rebuild(self) -> None:
        ol = self.option_list
        keep = self.selected_key
        ol.clear_options()
        favs = set(self.favourites.keys()) if self.favourites else set()
        for n, (title, items) in enumerate(self.groups):
            ol.add_option(Option(Text(title, style="bold underline"), id=f"group:{n}:{title}", disabled=True))
            for t in items:
                line = Text("★ " if t["key"] in favs else "  ")
                line.append(f"{t.get('name', '')}", style="bold")
                line.append(f"  {t.get('number', '')}  ", style="dim")
                line.append(str(t.get("state", "")), style=STATE_STYLE.get(str(t.get("state")), ""))
                ol.add_option(Option(line, id=t["key"]))
        keys = self.shown_keys
        if keys:
            target = keep if keep in keys else keys[0]
            ol.highlighted = ol.get_option_index(target)

    @property
    def selected_key(self) -> str | None:
        ol = self.option_list
        if ol.highlighted is None or ol.option_count == 0:
            return None
        opt = ol.get_option_at_index(ol.highlighted)
        return None if opt.disabled else str(opt.id)

    @property
    def selected(self) -> dict[str, Any] | None:
        key = self.selected_key
        return next((t for t in self.targets if t["key"] == key), None)

    def toggle_favourite(self) -> bool | None:
        key = self.selected_key
        if key is None or self.favourites is None:
            return None
        now = self.favourites.toggle(key)
        self.rebuild()
        return now
