"""A Report to CSV, Excel (xlsx, openpyxl) or PDF (fpdf2), each with the report's parameters on top."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from .figures import Report

FORMATS = ("csv", "xlsx", "pdf")


def _cell(v: Any) -> Any:
    return "" if v is None else v


def to_csv(r: Report) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([f"# {r.title}"])
    for k, v in r.params.items():
        w.writerow([f"# {k}", v])
    w.writerow([])
    w.writerow(r.columns)
    for row in r.rows:
        w.writerow([_cell(v) for v in row])
    if r.notes:
        w.writerow([])
        for n in r.notes:
            w.writerow([f"# {n}"])
    return buf.getvalue().encode("utf-8")


def to_xlsx(r: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None  # a new workbook always has its first sheet
    ws.title = r.title[:31].replace("(", "").replace(")", "") or "Report"
    ws.append([r.title])
    ws["A1"].font = Font(bold=True, size=14)
    for k, v in r.params.items():
        ws.append([k, v])
    ws.append([])
    ws.append(r.columns)
    header_row = ws.max_row
    for c in ws[header_row]:
        c.font = Font(bold=True)
    for row in r.rows:
        ws.append([_cell(v) for v in row])
    ws.freeze_panes = ws.cell(row=header_row + 1, column=2).coordinate
    if r.notes:
        notes = wb.create_sheet("Notes")
        for n in r.notes:
            notes.append([n])
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def to_pdf(r: Report) -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(True, margin=10)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.cell(0, 8, r.title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 8)
    for k, v in r.params.items():
        pdf.cell(0, 4.5, f"{k}: {v}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    # Wide reports: the table is split into column groups, each repeating the first column.
    width = pdf.w - pdf.l_margin - pdf.r_margin
    first_w, col_w = 34.0, 20.0
    per_page = max(1, int((width - first_w) // col_w))
    groups = [list(range(1, len(r.columns)))[i:i + per_page] for i in range(0, max(1, len(r.columns) - 1), per_page)]
    for g in groups or [[]]:
        pdf.set_font("Helvetica", "B", 6)
        pdf.cell(first_w, 5, r.columns[0], border=1)
        for i in g:
            pdf.cell(col_w, 5, r.columns[i][:16], border=1)
        pdf.ln()
        pdf.set_font("Helvetica", "", 6.5)
        for row in r.rows:
            pdf.cell(first_w, 4.5, str(_cell(row[0]))[:26], border=1)
            for i in g:
                v = row[i]
                pdf.cell(col_w, 4.5, (f"{v:g}" if isinstance(v, float) else str(_cell(v)))[:16], border=1, align="R")
            pdf.ln()
        pdf.ln(3)
    if r.notes:
        pdf.set_font("Helvetica", "I", 7)
        for n in r.notes:
            pdf.multi_cell(0, 3.8, n.encode("latin-1", "replace").decode("latin-1"), new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def render(r: Report, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(r)
    if fmt == "xlsx":
        return to_xlsx(r)
    if fmt == "pdf":
        return to_pdf(r)
    raise ValueError(f"format must be one of {', '.join(FORMATS)}")


def write(r: Report, fmt: str, path: str | Path) -> Path:
    p = Path(path)
    p.write_bytes(render(r, fmt))
    return p
