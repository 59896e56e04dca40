"""The contacts capability's configuration: customer-record fields, the CRM link, call categories
and the transfer panel's lines.

Read from ``<config_dir>/contacts.toml`` when it exists (docs/agent.md)::

    crm_url = "https://crm.example/customer/{crm_id}"
    match_digits = 9                 # phone numbers match on their last 9 digits
    categories = ["Order", "Complaint", "Information", "Other"]

    [[fields]]                       # replaces the default list when given
    name = "first_name"
    label = "First name"
    type = "text"                    # text, date, email, phone, choice, longtext
    choices = []                     # for type = "choice"

    [[lines]]
    name = "Reception"
    number = "1004"
    group = "Internal"
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cc_console.config import config_dir

FIELD_TYPES = ("text", "date", "email", "phone", "choice", "longtext")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: str = "text"
    choices: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, "type": self.type, "choices": list(self.choices)}


DEFAULT_FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "Id"),
    FieldSpec("first_name", "First name"),
    FieldSpec("last_name", "Last name"),
    FieldSpec("date_of_birth", "Date of birth", "date"),
    FieldSpec("phone", "Phone", "phone"),
    FieldSpec("mobile", "Mobile", "phone"),
    FieldSpec("email", "E-mail", "email"),
    FieldSpec("street", "Street"),
    FieldSpec("postcode", "Postcode"),
    FieldSpec("city", "City"),
    FieldSpec("country", "Country"),
    FieldSpec("customer_number", "Customer number"),
    FieldSpec("status", "Status", "choice", ("active", "prospect", "inactive", "blocked")),
    FieldSpec("segment", "Segment"),
    FieldSpec("language", "Language"),
    FieldSpec("notes", "Notes", "longtext"),
    FieldSpec("crm_id", "External CRM id"),
)

DEFAULT_CATEGORIES = ("Order", "Complaint", "Information", "Technical problem", "Billing", "Other")


@dataclass(frozen=True)
class Line:
    name: str
    number: str
    group: str = "Lines"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "number": self.number, "group": self.group}


@dataclass
class ContactsConfig:
    fields: tuple[FieldSpec, ...] = DEFAULT_FIELDS
    crm_url: str = ""
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    lines: tuple[Line, ...] = ()
    match_digits: int = 9
    source: str = ""

    def field(self, name: str) -> FieldSpec | None:
        # A dict, built again only when the field list is replaced: a bulk load asks a million times.
        cached = self.__dict__.get("_by_name")
        if cached is None or cached[0] is not self.fields:
            cached = (self.fields, {f.name: f for f in self.fields})
            self.__dict__["_by_name"] = cached
        found: FieldSpec | None = cached[1].get(name)
        return found

    @property
    def phone_fields(self) -> list[str]:
        return [f.name for f in self.fields if f.type == "phone"]

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [f.to_dict() for f in self.fields], "crm_url": self.crm_url,
                "categories": list(self.categories), "lines": [ln.to_dict() for ln in self.lines],
                "match_digits": self.match_digits}


def default_config_path() -> Path:
    return config_dir() / "contacts.toml"


def parse_config(data: dict[str, Any], source: str = "") -> ContactsConfig:
    known = {"fields", "crm_url", "categories", "lines", "match_digits"}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"{source or 'contacts config'}: unknown setting(s) {', '.join(sorted(unknown))}")
    cfg = ContactsConfig(source=source)
    if "fields" in data:
        specs = []
        for i, f in enumerate(data["fields"]):
            if not isinstance(f, dict) or not f.get("name"):
                raise ValueError(f"{source}: fields[{i}] needs a name")
            ftype = f.get("type", "text")
            if ftype not in FIELD_TYPES:
                raise ValueError(f"{source}: fields[{i}] ({f['name']}): type must be one of {', '.join(FIELD_TYPES)}")
            specs.append(FieldSpec(str(f["name"]), str(f.get("label") or f["name"]), ftype,
                                   tuple(str(c) for c in f.get("choices", []))))
        if not any(s.name == "id" for s in specs):
            specs.insert(0, FieldSpec("id", "Id"))
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"{source}: field names must be unique")
        cfg.fields = tuple(specs)
    if "crm_url" in data:
        cfg.crm_url = str(data["crm_url"])
    if "categories" in data:
        cfg.categories = tuple(str(c) for c in data["categories"])
    if "lines" in data:
        cfg.lines = tuple(Line(str(ln["name"]), str(ln["number"]), str(ln.get("group") or "Lines"))
                          for ln in data["lines"])
    if "match_digits" in data:
        cfg.match_digits = int(data["match_digits"])
    return cfg


def load_config(path: Path | None = None) -> ContactsConfig:
    """The contacts config from ``path`` (default <config_dir>/contacts.toml); missing: defaults."""
    path = path or default_config_path()
    if not path.exists():
        return ContactsConfig()
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: {exc}") from None
    return parse_config(data, str(path))
