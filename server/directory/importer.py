"""Import of units and persons from CSV or JSON files (the mapping is in docs/directory.md).

Rules:

* A file that cannot be decoded in its declared encoding (UTF-8 unless told otherwise), or that is
  not CSV with an ``id`` column / not a JSON array of objects, is refused whole: nothing changes.
* Every other problem rejects just that row, with its line (CSV) or item number (JSON) and a
  reason: malformed row, missing id or name, duplicate id (every row with that id is rejected:
  we cannot know which one is right), unknown unit, unknown parent unit, a bad phone or e-mail.
* The valid rows are applied in one transaction, units and persons together.
* ``full=True``: the files are the whole truth for their tenants. Persons and units that are not
  in them are marked *gone*: they stay findable (the operator can name the successor) but show as
  gone. Rows that were rejected do not count as missing.
* Incremental (default): rows are added or updated; a row with ``status`` ``gone``/``deleted``
  marks that id gone. Such a row whose id the directory does not know is rejected (a typo in an
  id must not pass as done).
* What only we keep (operator notes, local attributes) is never touched.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .store import DirectoryStore

PERSON_FIELDS = ("id", "tenant", "name", "given_name", "family_name", "title", "unit", "desk", "mobile",
                 "switchboard", "email", "location", "subjects", "substitutes", "username", "status")
UNIT_FIELDS = ("id", "tenant", "name", "parent", "location", "phone", "status")
LIST_SEP = re.compile(r"\s*[;|]\s*")
PHONE_OK = re.compile(r"^\+?[0-9 ()./-]{2,32}$")
EMAIL_OK = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
ID_OK = re.compile(r"^[^\s:/]{1,128}$")
GONE_STATUS = {"gone", "deleted", "removed", "left"}


class ImportRefused(ValueError):
    """The whole file is refused (cannot be decoded or parsed): nothing was imported."""


@dataclass
class Rejected:
    where: str  # "line 7" (CSV) or "item 3" (JSON)
    line: int
    id: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"where": self.where, "line": self.line, "id": self.id, "reason": self.reason}


@dataclass
class KindReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "changed": self.changed, "unchanged": self.unchanged,
                "removed": self.removed, "rejected": [r.to_dict() for r in self.rejected]}

    def summary(self) -> str:
        return (f"{len(self.added)} added, {len(self.changed)} changed, {self.unchanged} unchanged, "
                f"{len(self.removed)} removed, {len(self.rejected)} rejected")


@dataclass
class ImportReport:
    full: bool
    tenants: list[str] = field(default_factory=list)
    units: KindReport = field(default_factory=KindReport)
    persons: KindReport = field(default_factory=KindReport)

    def to_dict(self) -> dict[str, Any]:
        return {"full": self.full, "tenants": self.tenants, "units": self.units.to_dict(),
                "persons": self.persons.to_dict()}

    def text(self, max_rejected: int = 50) -> str:
        lines = [f"units: {self.units.summary()}", f"persons: {self.persons.summary()}"]
        for kind, rep in (("units", self.units), ("persons", self.persons)):
            for r in rep.rejected[:max_rejected]:
                lines.append(f"  rejected {kind} {r.where}{' id ' + r.id if r.id else ''}: {r.reason}")
            if len(rep.rejected) > max_rejected:
                lines.append(f"  … and {len(rep.rejected) - max_rejected} more rejected {kind}")
        return "\n".join(lines)


# -- reading files ------------------------------------------------------------------------------------
def decode(raw: bytes, encoding: str = "utf-8", name: str = "file") -> str:
    """Decode strictly; a byte that does not fit refuses the whole file, saying where."""
    if encoding.lower().replace("_", "-") in ("utf-8", "utf8") and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode(encoding)
    except LookupError:
        raise ImportRefused(f"{name}: unknown encoding {encoding!r}") from None
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = raw[exc.start:exc.start + 4].hex(" ")
        hint = (" (it looks like Latin-1/Windows-1252: pass --encoding cp1252)"
                if encoding.lower().startswith("utf") else "")
        raise ImportRefused(f"{name}: not valid {encoding} at line {line}, column {col} (bytes {bad}){hint}; "
                            "nothing was imported") from None


def read_rows(raw: bytes, *, fmt: str | None, name: str,
              encoding: str = "utf-8") -> list[tuple[str, int, dict[str, Any] | str]]:
    """(where, number, row) for each row; row is a str (the reason) when the row is malformed."""
    text = decode(raw, encoding, name)
    fmt = fmt or ("json" if name.lower().endswith(".json") or text.lstrip().startswith(("[", "{")) else "csv")
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ImportRefused(f"{name}: not valid JSON: {exc}; nothing was imported") from None
        if isinstance(data, dict):
            items = data.get("persons", data.get("units", data.get("items")))
            data = items
        if not isinstance(data, list):
            raise ImportRefused(f"{name}: JSON must be an array of objects (or {{\"persons\"|\"units\": [...]}}); "
                                "nothing was imported")
        return [(f"item {i}", i, item if isinstance(item, dict) else f"not an object but {type(item).__name__}")
                for i, item in enumerate(data, start=1)]
    if fmt != "csv":
        raise ImportRefused(f"{name}: unknown format {fmt!r} (csv or json)")
    sample = text[:4096]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRefused(f"{name}: empty file; nothing was imported") from None
    except csv.Error as exc:
        raise ImportRefused(f"{name}: unreadable CSV header: {exc}") from None
    header = [h.strip().lower() for h in header]
    if "id" not in header:
        raise ImportRefused(f"{name}: the header has no 'id' column (got {', '.join(header)}); nothing was imported")
    rows: list[tuple[str, int, dict[str, Any] | str]] = []
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            rows.append((f"line {start}", start, f"malformed CSV: {exc}"))
            continue
        if not values or all(not v.strip() for v in values):
            continue
        if len(values) != len(header):
            rows.append((f"line {start}", start,
                         f"malformed row: {len(values)} fields where the header has {len(header)}"))
            continue
        rows.append((f"line {start}", start, dict(zip(header, (v.strip() for v in values)))))
    return rows


def _list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v for v in LIST_SEP.split(str(value).strip()) if v]


def _str(row: dict[str, Any], key: str) -> str:
    v = row.get(key)
    if v is None:
        return ""
    if isinstance(v, (dict, list)):
        raise ValueError(f"{key!r} must be text")
    return str(v).strip()


def clean_unit(row: dict[str, Any], tenant: str | None) -> dict[str, Any]:
    uid, name = _str(row, "id"), _str(row, "name")
    t = _str(row, "tenant") or tenant or ""
    if not uid:
        raise ValueError("missing id")
    if not ID_OK.match(uid):
        raise ValueError(f"bad id {uid!r} (no spaces, ':' or '/')")
    if not t:
        raise ValueError("no tenant (a 'tenant' column or --tenant)")
    if not name and _str(row, "status").lower() not in GONE_STATUS:
        raise ValueError("missing name")
    unit: dict[str, Any] = {"tenant": t, "id": uid, "name": name, "parent": _str(row, "parent"),
                            "status": "gone" if _str(row, "status").lower() in GONE_STATUS else ""}
    for k in ("location", "phone"):
        if _str(row, k):
            unit[k] = _str(row, k)
    extra = {k: v for k, v in row.items() if k not in UNIT_FIELDS and v not in (None, "")}
    if extra:
        unit["extra"] = extra
    return unit


def clean_person(row: dict[str, Any], tenant: str | None) -> dict[str, Any]:
    pid = _str(row, "id")
    t = _str(row, "tenant") or tenant or ""
    if not pid:
        raise ValueError("missing id")
    if not ID_OK.match(pid):
        raise ValueError(f"bad id {pid!r} (no spaces, ':' or '/')")
    if not t:
        raise ValueError("no tenant (a 'tenant' column or --tenant)")
    given, family = _str(row, "given_name"), _str(row, "family_name")
    name = _str(row, "name") or " ".join(x for x in (given, family) if x)
    status = _str(row, "status").lower()
    if not name and status not in GONE_STATUS:
        raise ValueError("missing name (name, or given_name/family_name)")
    raw_phones = row.get("phones")
    phones = raw_phones if isinstance(raw_phones, dict) else {}
    p: dict[str, Any] = {"tenant": t, "id": pid, "name": name, "given_name": given, "family_name": family,
                         "title": _str(row, "title"), "unit": _str(row, "unit"),
                         "email": _str(row, "email"), "location": _str(row, "location"),
                         "username": _str(row, "username"), "status": "gone" if status in GONE_STATUS else "",
                         "subjects": _list(row.get("subjects")), "substitutes": _list(row.get("substitutes"))}
    for kind in ("desk", "mobile", "switchboard"):
        number = _str(row, kind) or str(phones.get(kind) or "").strip()
        if number and not PHONE_OK.match(number):
            raise ValueError(f"malformed {kind} number {number!r}")
        p[kind] = number
    if p["email"] and not EMAIL_OK.match(p["email"]):
        raise ValueError(f"malformed e-mail {p['email']!r}")
    extra = {k: v for k, v in row.items() if k not in PERSON_FIELDS and k != "phones" and v not in (None, "")}
    if extra:
        p["extra"] = extra
    return p


# -- applying -------------------------------------------------------------------------------------------
def _dedupe(cleaned: list[tuple[str, int, dict[str, Any]]], rep: KindReport) -> list[tuple[str, int, dict[str, Any]]]:
    seen: dict[tuple[str, str], list[tuple[str, int, dict[str, Any]]]] = {}
    for item in cleaned:
        seen.setdefault((item[2]["tenant"], item[2]["id"]), []).append(item)
    out = []
    for _key, items in seen.items():
        if len(items) == 1:
            out.append(items[0])
            continue
        places = ", ".join(w for w, _, _ in items)
        for where, num, row in items:
            rep.rejected.append(Rejected(where, num, row["id"], f"duplicate id {row['id']!r} ({places})"))
    out.sort(key=lambda x: x[1])
    return out


def _strip(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("gone", "local", "status")}


def import_files(store: DirectoryStore, *, persons: bytes | None = None, units: bytes | None = None,
                 persons_name: str = "persons", units_name: str = "units", tenant: str | None = None,
                 full: bool = False, encoding: str = "utf-8", fmt: str | None = None,
                 now: float) -> ImportReport:
    """Import one persons file and/or one units file; see the module doc for the rules."""
    report = ImportReport(full=full)
    # Parse both files before touching anything: a refused file refuses the import.
    unit_rows = read_rows(units, fmt=fmt, name=units_name, encoding=encoding) if units is not None else []
    person_rows = read_rows(persons, fmt=fmt, name=persons_name, encoding=encoding) if persons is not None else []

    # -- units
    ur = report.units
    ucleaned: list[tuple[str, int, dict[str, Any]]] = []
    for where, num, row in unit_rows:
        if isinstance(row, str):
            ur.rejected.append(Rejected(where, num, "", row))
            continue
        try:
            ucleaned.append((where, num, clean_unit(row, tenant)))
        except ValueError as exc:
            ur.rejected.append(Rejected(where, num, str(row.get("id") or ""), str(exc)))
    ucleaned = _dedupe(ucleaned, ur)

    pr = report.persons
    pcleaned: list[tuple[str, int, dict[str, Any]]] = []
    for where, num, row in person_rows:
        if isinstance(row, str):
            pr.rejected.append(Rejected(where, num, "", row))
            continue
        try:
            pcleaned.append((where, num, clean_person(row, tenant)))
        except ValueError as exc:
            pr.rejected.append(Rejected(where, num, str(row.get("id") or ""), str(exc)))
    pcleaned = _dedupe(pcleaned, pr)

    tenants = sorted({tenant} if tenant else {r["tenant"] for _, _, r in ucleaned + pcleaned})
    report.tenants = tenants
    existing_units = {(u["tenant"], u["id"]): u for t in tenants for u in store.units(t)}
    existing_persons = {(p["tenant"], p["id"]): p for t in tenants for p in store.persons(t)}
    rejected_unit_ids = {r.id for r in ur.rejected if r.id}
    rejected_person_ids = {r.id for r in pr.rejected if r.id}

    # Which units exist after this import (for parent and person checks).
    gone_in_file = {(u["tenant"], u["id"]) for _, _, u in ucleaned if u["status"]}
    if units is not None and full:
        live_units = {(u["tenant"], u["id"]) for _, _, u in ucleaned} - gone_in_file
    else:
        live_units = ({k for k, u in existing_units.items() if not u["gone"]}
                      | {(u["tenant"], u["id"]) for _, _, u in ucleaned}) - gone_in_file
    # Parents must exist, and the hierarchy must not loop.
    parents = {(u["tenant"], u["id"]): u["parent"] for _, _, u in ucleaned}
    for k, u in existing_units.items():
        parents.setdefault(k, u["parent"])
    valid_units = []
    for where, num, u in ucleaned:
        key = (u["tenant"], u["id"])
        if u["status"] and key not in existing_units:
            ur.rejected.append(Rejected(where, num, u["id"], "marked gone, but the directory has no unit with this id"))
            continue
        if u["parent"] and (u["tenant"], u["parent"]) not in live_units:
            ur.rejected.append(Rejected(where, num, u["id"], f"unknown parent unit {u['parent']!r}"))
            live_units.discard(key)
            continue
        seen, cur = {u["id"]}, u["parent"]
        loop = False
        while cur:
            if cur in seen:
                loop = True
                break
            seen.add(cur)
            cur = parents.get((u["tenant"], cur), "")
        if loop:
            ur.rejected.append(Rejected(where, num, u["id"], f"parent {u['parent']!r} makes the hierarchy a loop"))
            live_units.discard(key)
            continue
        valid_units.append(u)
    ur.rejected.sort(key=lambda r: r.line)

    valid_persons = []
    for where, num, p in pcleaned:
        if p["status"] and (p["tenant"], p["id"]) not in existing_persons:
            pr.rejected.append(Rejected(where, num, p["id"],
                                        "marked gone, but the directory has no person with this id"))
            continue
        if p["unit"] and (p["tenant"], p["unit"]) not in live_units and not p["status"]:
            pr.rejected.append(Rejected(where, num, p["id"], f"unknown unit {p['unit']!r}"))
            continue
        valid_persons.append((num, p))
    pr.rejected.sort(key=lambda r: r.line)

    with store.transaction() as db:
        # units
        upserts, gone = [], []
        for u in valid_units:
            key = (u["tenant"], u["id"])
            old = existing_units.get(key)
            if key in gone_in_file:
                if old and not old["gone"]:
                    gone.append(u)
                continue
            if old is None:
                ur.added.append(u["id"])
            elif old["gone"] or _strip(old) != _strip({**u, "parent": u["parent"] or ""}):
                ur.changed.append(u["id"])
            else:
                ur.unchanged += 1
                continue
            upserts.append(u)
        if full and units is not None:
            in_file = ({(u["tenant"], u["id"]) for u in valid_units}
                       | {(t, i) for t in tenants for i in rejected_unit_ids})
            gone += [u for k, u in existing_units.items() if k not in in_file and not u["gone"]]
        store.upsert_units(db, upserts, now)
        for t in tenants:
            ids = [u["id"] for u in gone if u["tenant"] == t]
            store.mark_units_gone(db, t, ids, now)
            ur.removed += ids
        # persons
        upserts, gone = [], []
        for _num, p in valid_persons:
            key = (p["tenant"], p["id"])
            old = existing_persons.get(key)
            if p["status"]:
                if old and not old["gone"]:
                    gone.append(p)
                continue
            if old is None:
                pr.added.append(p["id"])
            elif old["gone"] or _strip(old) != _strip(p):
                pr.changed.append(p["id"])
            else:
                pr.unchanged += 1
                continue
            upserts.append(p)
        if full and persons is not None:
            in_file = ({(p["tenant"], p["id"]) for _, p in valid_persons}
                       | {(t, i) for t in tenants for i in rejected_person_ids})
            gone += [p for k, p in existing_persons.items() if k not in in_file and not p["gone"]]
        store.upsert_persons(db, upserts, now)
        for t in tenants:
            ids = [p["id"] for p in gone if p["tenant"] == t]
            store.mark_persons_gone(db, t, ids, now)
            pr.removed += ids
        for t in tenants:
            store.log_import(db, t, "full" if full else "incremental", report.to_dict(), now)
    return report


def import_paths(store: DirectoryStore, *, persons: Path | None = None, units: Path | None = None,
                 **kwargs: Any) -> ImportReport:
    return import_files(store, persons=persons.read_bytes() if persons else None,
                        units=units.read_bytes() if units else None,
                        persons_name=str(persons) if persons else "persons",
                        units_name=str(units) if units else "units", **kwargs)
