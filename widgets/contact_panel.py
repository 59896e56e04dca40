"""The caller-identification and registration panel of the agent screen (``#contact-panel``).

Shows, for the current call (or the call in wrap-up), every customer record matching the caller's
number, the one picked, the category and the latest note. ``panel.reg`` is the registration dict
(``call_id``, ``caller``, ``matches``, ``contact``, ``category``, ``notes``); ``panel.summary`` the
plain text tests read. In wrap-up the panel gets the class ``-wrapup`` (the registration form).
"""
from __future__ import annotations

from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


def contact_name(c: dict[str, Any] | None) -> str:
    if not c:
        return ""
    name = " ".join(str(c.get(k) or "") for k in ("first_name", "last_name")).strip()
    return name or str(c.get("name") or c.get("customer_number") or c.get("id") or "")


def contact_line(c: dict[str, Any]) -> str:
    bits = [contact_name(c)]
    for k in ("customer_number", "city", "status"):
        if c.get(k):
            bits.append(str(c[k]))
    return " · ".join(b for b in bits if b)


class ContactPanel(Widget):
    DEFAULT_CSS = """
    ContactPanel {
        height: 1fr;
        border: round $secondary;
        border-title-color: $foreground;
        padding: 0 1;
    }
    ContactPanel.-wrapup { border: heavy $primary; border-title-color: $primary; border-title-style: bold; }
    """

    reg: reactive[dict[str, Any] | None] = reactive(None)
    wrapup: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.border_title = "Customer"

    def show(self, reg: dict[str, Any] | None, wrapup: bool) -> None:
        with self.app.batch_update():
            self.reg = dict(reg) if reg else None
            self.wrapup = wrapup

    def watch_wrapup(self, wrapup: bool) -> None:
        self.set_class(wrapup, "-wrapup")
        self.border_title = "Wrap-up: register the call" if wrapup else "Customer"

    @property
    def matches(self) -> list[dict[str, Any]]:
        return list((self.reg or {}).get("matches") or [])

    @property
    def contact(self) -> dict[str, Any] | None:
        return (self.reg or {}).get("contact")

    @property
    def category(self) -> str:
        return str((self.reg or {}).get("category") or "")

    @property
    def note(self) -> str:
        notes = (self.reg or {}).get("notes") or []
        return str(notes[-1]["text"]) if notes else ""

    @property
    def summary(self) -> str:
        reg = self.reg
        if not reg:
            return "No call"
        picked = contact_name(self.contact) or "-"
        return (f"caller={reg.get('caller', '')} matches={len(self.matches)} contact={picked} "
                f"category={self.category or '-'} note={self.note or '-'}")

    def render(self) -> Group | Table | Text:
        reg = self.reg
        if not reg:
            return Text("No call. The caller's customer records show here.", style="italic")
        grid = Table.grid(padding=(0, 1), expand=True)
        grid.add_column(style="bold", no_wrap=True, width=8)
        grid.add_column(overflow="ellipsis", no_wrap=True, ratio=1)
        contact = self.contact
        if contact:
            picked = Text(contact_line(contact), style="bold")
            if contact.get("crm_link"):
                picked.append("  [u: CRM]", style="dim")
        else:
            picked = Text("none picked (i: identify, e: enter by hand)", style="italic")
        grid.add_row("Contact", picked)
        matches = self.matches
        if not contact or len(matches) > 1:
            if matches:
                label = f"{len(matches)} found"
                suggested = reg.get("suggested")
                for m in matches[:6]:
                    grid.add_row(label, Text(("▸ " if m.get("id") == suggested else "· ") + contact_line(m)))
                    label = ""
                if len(matches) > 6:
                    grid.add_row("", Text(f"… and {len(matches) - 6} more (i)", style="dim"))
            else:
                grid.add_row("Matches", Text(f"no record for {reg.get('caller') or 'this caller'}", style="italic"))
        grid.add_row("Category", Text(self.category or "- (g)", style="" if self.category else "dim"))
        notes = reg.get("notes") or []
        if notes:
            last = notes[-1]
            grid.add_row("Note", Text(f"{last['text']}  (v{last['version']}, {last.get('author', '')})"))
        else:
            grid.add_row("Note", Text("- (n)", style="dim"))
        if self.wrapup:
            return Group(grid, Text("w: registration form · r: ready (ends wrap-up)", style="bold"))
        return grid
