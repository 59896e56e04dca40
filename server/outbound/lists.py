"""Contact lists from CSV or Excel through a column mapping: which column holds the number, the
name, the time zone and any extra fields. Every refused row is reported with its line number in the
file (the heading is line 1), so that the one who prepared the list can fix exactly those rows.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from cc_console.errors import Invalid

from .windows import WindowError, zone

# contact field -> required
FIELDS = {"number": True, "name": False, "timezone": False}
_NUMBER = re.compile(r"^\+?[0-9]{3,20}$")


class ListError(Invalid, ValueError):
    """The file as a whole cannot be read (wrong format, mapping names a missing column)."""


@dataclass
class Row:
    line: int
    number: str
    name: str = ""
    timezone: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass
class ImportResult:
    rows: list[Row]
    errors: list[tuple[int, str]]  # (line number in the file, what is wrong)

    def to_dict(self) -> dict[str, Any]:
        return {"imported": len(self.rows),
                "errors": [{"line": line, "message": msg} for line, msg in self.errors]}


def check_mapping(mapping: dict[str, Any]) -> dict[str, str]:
    if not isinstance(mapping, dict) or not all(isinstance(v, str) and v for v in mapping.values()):
        raise ListError("The column mapping names a column heading for each contact field")
    if "number" not in mapping:
        raise ListError("The column mapping must say which column holds the phone number")
    return {str(k): v for k, v in mapping.items()}


def normalise_number(raw: str) -> str:
    return re.sub(r"[\s\-().]", "", raw)


def is_number(normalised: str) -> bool:
    return bool(_NUMBER.match(normalised))


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("latin-1")  # lists saved from older spreadsheets
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    yield from csv.reader(io.StringIO(text), dialect)


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from openpyxl import load_workbook
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not a workbook
        raise ListError("The file is not an Excel workbook (.xlsx)") from exc
    try:
        for values in wb.worksheets[0].iter_rows(values_only=True):
            yield ["" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))
                   for v in values]
    finally:
        wb.close()


def read_list(data: bytes, fmt: str, mapping: dict[str, str]) -> ImportResult:
    """Read a list file (``fmt`` csv or xlsx) into rows, with line-numbered errors."""
    mapping = check_mapping(mapping)
    if fmt == "csv":
        rows = _csv_rows(data)
    elif fmt == "xlsx":
        rows = _xlsx_rows(data)
    else:
        raise ListError("Lists are imported from CSV or Excel (.xlsx) files")
    try:
        return _read(rows, mapping)
    except csv.Error as exc:
        raise ListError(f"The CSV file cannot be read: {exc}") from None


def _read(rows: Iterator[list[str]], mapping: dict[str, str]) -> ImportResult:
    heading = [h.strip() for h in next(rows, [])]
    if not any(heading):
        raise ListError("The file is empty: line 1 must hold the column headings")
    missing = [col for col in mapping.values() if col not in heading]
    if missing:
        raise ListError(f"Line 1 has no column {', '.join(repr(c) for c in missing)}")
    where = {f: heading.index(col) for f, col in mapping.items()}
    out: list[Row] = []
    errors: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for line, values in enumerate(rows, start=2):
        if not any(v.strip() for v in values):
            continue
        cell = {f: (values[i].strip() if i < len(values) else "") for f, i in where.items()}
        number = normalise_number(cell["number"])
        if not number:
            errors.append((line, "no phone number"))
            continue
        if not is_number(number):
            errors.append((line, f"not a phone number: {cell['number']}"))
            continue
        if number in seen:
            errors.append((line, f"the number is already on line {seen[number]}"))
            continue
        tz = cell.get("timezone", "")
        if tz:
            try:
                zone(tz)
            except WindowError:
                errors.append((line, f"unknown time zone: {tz}"))
                continue
        seen[number] = line
        extra = {f: v for f, v in cell.items() if f not in FIELDS}
        out.append(Row(line, number, cell.get("name", ""), tz, extra))
    return ImportResult(out, errors)
