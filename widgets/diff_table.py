"""A DataTable kept in step with a dict of rows by diffing: only changed cells are touched.

``sync(rows)`` adds new rows, removes gone ones and calls ``update_cell`` (never with
``update_width``) for cells whose value changed. Column widths are fixed up front so hot paths
never measure. Cell values may be str or rich Text (Text compares by text and style).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual.widgets import DataTable


class DiffTable(DataTable):
    def __init__(self, columns: Sequence[tuple[str, str, int]], *, sort_column: str | None = None,
                 id: str | None = None, classes: str | None = None) -> None:
        """columns: (key, label, width)."""
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=True)
        self._columns_spec = list(columns)
        self._sort_column = sort_column
        self._cells: dict[str, tuple[Any, ...]] = {}
        self.cell_updates = 0  # counters for tests and benchmarks
        self.row_adds = 0

    def on_mount(self) -> None:
        for key, label, width in self._columns_spec:
            self.add_column(label, key=key, width=width)

    def sync(self, rows: Mapping[str, Sequence[Any]]) -> None:
        column_keys = [c[0] for c in self._columns_spec]
        added = False
        for key in [k for k in self._cells if k not in rows]:
            self.remove_row(key)
            del self._cells[key]
        for key, cells in rows.items():
            cells = tuple(cells)
            old = self._cells.get(key)
            if old is None:
                self.add_row(*cells, key=key)
                self.row_adds += 1
                added = True
            elif old != cells:
                for col, before, after in zip(column_keys, old, cells):
                    if before != after:
                        self.update_cell(key, col, after)
                        self.cell_updates += 1
            self._cells[key] = cells
        if added and self._sort_column and len(self._cells) > 1:
            self.sort(self._sort_column, key=lambda v: str(getattr(v, "plain", v)))

    def clear_rows(self) -> None:
        self.clear()
        self._cells.clear()

    @property
    def row_keys(self) -> list[str]:
        return [str(k.value) for k in self.rows]

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:
            return None
