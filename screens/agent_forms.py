"""The agent screen's modal forms: pick the caller's contact, edit a customer record, write the
call's note (versioned), pick the category, the wrap-up registration form, the caller's history.

Every form is keyboard-only: Enter picks, ctrl+s saves, esc cancels.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, OptionList, Select, Static, TextArea
from textual.widgets.option_list import Option

from cc_console.widgets.contact_panel import contact_line, contact_name

# The server's default fields (server/contacts/config.py); used until contacts.config answered.
DEFAULT_FIELDS: list[dict[str, Any]] = [
    {"name": n, "label": lbl, "type": t, "choices": []} for n, lbl, t in [
        ("id", "Id", "text"), ("first_name", "First name", "text"), ("last_name", "Last name", "text"),
        ("date_of_birth", "Date of birth", "date"), ("phone", "Phone", "phone"), ("mobile", "Mobile", "phone"),
        ("email", "E-mail", "email"), ("street", "Street", "text"), ("postcode", "Postcode", "text"),
        ("city", "City", "text"), ("country", "Country", "text"), ("customer_number", "Customer number", "text"),
        ("status", "Status", "choice"), ("segment", "Segment", "text"), ("language", "Language", "text"),
        ("notes", "Notes", "longtext"), ("crm_id", "External CRM id", "text")]]

NEW = "__new__"
NONE = "__none__"

# The "nothing selected" value of Select (Select.NULL in Textual ≥ 2; Select.BLANK before).
_NOTHING: Any = getattr(Select, "NULL", None) or Select.BLANK

_MODAL_CSS = """
    {name} {{ align: center middle; }}
    {name} > Vertical {{ width: 76; max-width: 96%; height: auto; max-height: 92%; border: thick $primary;
        background: $surface; padding: 0 1; }}
    {name} .form-hint {{ color: $text-muted; }}
"""


def fmt_ts(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else ""


class ContactPickScreen(ModalScreen[str | None]):
    """Every record matching the caller; Enter picks; the last rows enter a new customer or none."""

    DEFAULT_CSS = _MODAL_CSS.format(name="ContactPickScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="contact_pick.cancel")]

    def __init__(self, matches: list[dict[str, Any]], caller: str = "", picked: str | None = None) -> None:
        super().__init__(id="contact-pick")
        self.matches = matches
        self.caller = caller
        self.picked = picked

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Who is calling? {len(self.matches)} record(s) for {self.caller or 'this caller'}",
                        classes="section-title")
            options = [Option(("● " if m.get("id") == self.picked else "  ") + contact_line(m), id=str(m["id"]))
                       for m in self.matches]
            options += [Option("+ Enter a new customer by hand…", id=NEW), Option("  No customer record", id=NONE)]
            yield OptionList(*options, id="contact-matches")
            yield Label("Enter picks · esc cancels", classes="form-hint")

    @on(OptionList.OptionSelected)
    def picked_one(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ContactFormScreen(ModalScreen[dict[str, Any] | None]):
    """All configured fields of one customer record; ctrl+s saves (returns the changed fields)."""

    DEFAULT_CSS = _MODAL_CSS.format(name="ContactFormScreen") + """
    ContactFormScreen VerticalScroll { height: auto; max-height: 30; }
    ContactFormScreen .field-label { text-style: bold; padding: 1 0 0 0; height: 2; }
    ContactFormScreen Input { height: 3; }
    """
    BINDINGS = [Binding("ctrl+s", "save", "Save", id="contact_form.save"),
                Binding("escape", "cancel", "Cancel", id="contact_form.cancel")]

    def __init__(self, fields: list[dict[str, Any]], contact: dict[str, Any] | None = None,
                 title: str = "Customer record") -> None:
        super().__init__(id="contact-form")
        self.fields = [f for f in fields if f["name"] != "id"]
        self.contact = dict(contact or {})
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text + (f" ({self.contact['id']})" if self.contact.get("id") else ""),
                        classes="section-title")
            with VerticalScroll():
                for f in self.fields:
                    hint = {"date": "YYYY-MM-DD", "choice": " / ".join(f.get("choices") or [])}.get(f["type"], "")
                    yield Label(f["label"] + (f"  ({hint})" if hint else ""), classes="field-label")
                    yield Input(str(self.contact.get(f["name"]) or ""), placeholder=f["label"],
                                id=f"field-{f['name']}")
            yield Label("tab/shift+tab move · ctrl+s saves · esc cancels", classes="form-hint")

    def values(self) -> dict[str, Any]:
        out = {f["name"]: self.query_one(f"#field-{f['name']}", Input).value.strip() for f in self.fields}
        if self.contact.get("id"):
            changed = {k: v for k, v in out.items() if v != str(self.contact.get(k) or "")}
            return {"id": self.contact["id"], **changed}
        return {k: v for k, v in out.items() if v}

    def action_save(self) -> None:
        self.dismiss(self.values())

    def action_cancel(self) -> None:
        self.dismiss(None)


class NoteScreen(ModalScreen[str | None]):
    """The call's note: edit the latest version; ctrl+s saves a new version. Earlier versions below."""

    DEFAULT_CSS = _MODAL_CSS.format(name="NoteScreen") + """
    NoteScreen TextArea { height: 8; }
    NoteScreen #note-versions { height: auto; max-height: 10; color: $text-muted; }
    """
    BINDINGS = [Binding("ctrl+s", "save", "Save note", id="note.save"),
                Binding("escape", "cancel", "Cancel", id="note.cancel")]

    def __init__(self, notes: list[dict[str, Any]], caller: str = "") -> None:
        super().__init__(id="note")
        self.notes = notes
        self.caller = caller

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(f"Note on the call with {self.caller or 'the caller'}", classes="section-title")
            yield TextArea(self.notes[-1]["text"] if self.notes else "", id="note-text")
            lines = [f"v{n['version']} {fmt_ts(n.get('ts'))} {n.get('author', '')}: {n['text']}"
                     for n in reversed(self.notes)]
            yield Static("\n".join(lines) or "No earlier versions.", id="note-versions", markup=False)
            yield Label("ctrl+s saves a new version · esc cancels", classes="form-hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CategoryScreen(ModalScreen[str | None]):
    DEFAULT_CSS = _MODAL_CSS.format(name="CategoryScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="category.cancel")]

    def __init__(self, categories: list[str], current: str = "") -> None:
        super().__init__(id="category")
        self.categories = categories
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label("Category of the call", classes="section-title")
            yield OptionList(*[Option(("● " if c == self.current else "  ") + c, id=c) for c in self.categories],
                             id="categories")
            yield Label("Enter picks · esc cancels", classes="form-hint")

    @on(OptionList.OptionSelected)
    def picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(str(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)


class WrapUpScreen(ModalScreen[dict[str, Any] | None]):
    """The registration form: contact, category and note together. ctrl+s saves; ctrl+r saves and
    makes me ready (ends wrap-up)."""

    DEFAULT_CSS = _MODAL_CSS.format(name="WrapUpScreen") + """
    WrapUpScreen TextArea { height: 6; }
    WrapUpScreen Select { margin-bottom: 1; }
    """
    BINDINGS = [Binding("ctrl+s", "save", "Save", id="wrapup.save"),
                Binding("ctrl+r", "save_ready", "Save and ready", id="wrapup.save_ready"),
                Binding("escape", "cancel", "Cancel", id="wrapup.cancel")]

    def __init__(self, reg: dict[str, Any], categories: list[str]) -> None:
        super().__init__(id="wrapup")
        self.reg = reg
        self.categories = categories

    def compose(self) -> ComposeResult:
        reg = self.reg
        contact = reg.get("contact") or {}
        matches = list(reg.get("matches") or [])
        if contact and all(m.get("id") != contact.get("id") for m in matches):
            matches.insert(0, contact)
        notes = reg.get("notes") or []
        with Vertical():
            yield Label(f"Register the call with {reg.get('caller') or 'the caller'}", classes="section-title")
            yield Label("Contact")
            yield Select([(contact_line(m), str(m["id"])) for m in matches], value=contact.get("id") or _NOTHING,
                         prompt="no customer record", id="wrapup-contact")
            yield Label("Category")
            cat = reg.get("category") or ""
            yield Select([(c, c) for c in self.categories], value=cat if cat in self.categories else _NOTHING,
                         prompt="pick a category", id="wrapup-category")
            yield Label("Note")
            yield TextArea(notes[-1]["text"] if notes else "", id="wrapup-note")
            yield Label("tab moves · ctrl+s saves · ctrl+r saves and ready · esc cancels", classes="form-hint")

    def values(self) -> dict[str, Any]:
        contact = self.query_one("#wrapup-contact", Select).value
        category = self.query_one("#wrapup-category", Select).value
        return {"contact_id": None if contact is _NOTHING or contact == Select.BLANK else str(contact),
                "category": None if category is _NOTHING or category == Select.BLANK else str(category),
                "note": self.query_one("#wrapup-note", TextArea).text}

    def action_save(self) -> None:
        self.dismiss({**self.values(), "ready": False})

    def action_save_ready(self) -> None:
        self.dismiss({**self.values(), "ready": True})

    def action_cancel(self) -> None:
        self.dismiss(None)


class HistoryScreen(ModalScreen[None]):
    """Earlier calls with this caller, in and out, and the customer's chats: date, time, channel,
    agent, category, outcome, note."""

    DEFAULT_CSS = _MODAL_CSS.format(name="HistoryScreen") + """
    HistoryScreen > Vertical { width: 110; }
    HistoryScreen DataTable { height: auto; max-height: 24; }
    """
    BINDINGS = [Binding("escape,q", "close", "Close", id="history.close")]

    def __init__(self, rows: list[dict[str, Any]], caller: str = "") -> None:
        super().__init__(id="history")
        self.rows = rows
        self.caller = caller

    def compose(self) -> ComposeResult:
        with Vertical():
            chats = sum(1 for r in self.rows if r.get("channel", "call") != "call")
            yield Label(f"History with {self.caller or 'this caller'}: {len(self.rows) - chats} earlier call(s)"
                        + (f", {chats} chat(s)" if chats else ""), classes="section-title")
            yield DataTable(id="history-table", cursor_type="row", zebra_stripes=True)
            yield Label("esc closes", classes="form-hint")

    def on_mount(self) -> None:
        t = self.query_one(DataTable)
        t.add_columns("Date", "Time", "Channel", "Dir", "Agent", "Category", "Outcome", "Note")
        for r in self.rows:
            ts = datetime.fromtimestamp(r["ts"])
            # a chat has its conversation id where a call has its call id
            t.add_row(ts.strftime("%Y-%m-%d"), ts.strftime("%H:%M"), r.get("channel", "call"),
                      "in" if r["direction"] == "inbound" else "out",
                      r.get("agent") or "-", r.get("category") or "-", r.get("outcome") or "",
                      (r.get("note") or "")[:60], key=r.get("call_id") or r.get("id"))

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["CategoryScreen", "ContactFormScreen", "ContactPickScreen", "DEFAULT_FIELDS", "HistoryScreen", "NEW",
           "NONE", "NoteScreen", "WrapUpScreen", "contact_name"]
