"""A person's details for the operator: numbers, unit path, absence and cover, subjects, notes."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from .directory_results import cover_text, status_text, when


def detail_text(p: dict[str, Any] | None, now: float) -> Text:
    if not p:
        return Text("Type a name, unit, subject or number.", style="italic dim")
    t = Text()
    t.append(p.get("name", ""), style="bold")
    if p.get("title"):
        t.append(f"\n{p['title']}")
    path = p.get("unit_path") or ([p["unit"]] if p.get("unit") else [])
    if path:
        t.append("\n" + " › ".join(reversed(path)), style="dim")
    t.append("\n\n")
    t.append_text(status_text(p, now))
    a = p.get("absence")
    if a and a.get("message"):
        t.append(f"\n“{a['message']}”", style="italic")
    cover = cover_text(p)
    if cover:
        sub = p.get("substitute") or {}
        t.append(f"\nCover: {cover}", style="bold")
        if sub.get("desk"):
            t.append(f"  {sub['desk']}")
    t.append(f"\nLine: {p.get('line', 'unknown')}\n")
    for label, key in (("Desk", "desk"), ("Mobile", "mobile"), ("Switchboard only", "switchboard"),
                       ("E-mail", "email"), ("Location", "location")):
        if p.get(key):
            t.append(f"\n{label}: ", style="bold")
            t.append(str(p[key]))
    if p.get("subjects"):
        t.append("\nSubjects: ", style="bold")
        t.append(", ".join(p["subjects"]))
    subs = p.get("substitutes")
    if subs:
        t.append("\nSubstitutes: ", style="bold")
        t.append(", ".join(s.get("name", "") for s in subs))
    coming = [x for x in p.get("absences") or [] if x.get("from", 0) > now][:3]
    if coming:
        t.append("\nComing: ", style="bold")
        t.append("; ".join(f"{x['type']} {when(x['from'], now)}–{when(x['until'], now)}" for x in coming))
    if p.get("notes"):
        t.append("\n\nNotes: ", style="bold")
        t.append(p["notes"])
    return t


class DirectoryDetail(Static):
    DEFAULT_CSS = """
    DirectoryDetail { width: 44; height: 1fr; border: round $primary; padding: 0 1; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.person: dict[str, Any] | None = None

    def show(self, person: dict[str, Any] | None, now: float) -> None:
        if person == self.person and person is not None:
            return  # typing on often keeps the same first row: no new layout for the same text
        self.person = person
        # its size is fixed by its CSS, whatever the text: no layout of the whole screen per keystroke
        self.update(detail_text(person, now), layout=False)
