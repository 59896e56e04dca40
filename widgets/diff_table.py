"""A DataTable kept in step with a dict of rows by diffing: only changed cells are touched.

``sync(rows, order=keys)`` adds new rows, removes gone ones and calls ``update_cell`` (never with
``update_width``) for cells whose value changed; with ``order`` the rows are shown in that order
(re-indexed only when the order changed; the cursor stays on its row). Column widths are fixed up front so hot paths
never measure. Cell values may be str or rich Text (Text compares by text and style).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textual._two_way_dict import TwoWayDict
from textual.cache import LRUCache
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


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
        self.reorders = 0
        self._order: list[str] = []
        # DataTable keys its render caches on a table-wide update counter, so one changed cell
        # re-renders every visible cell. We key rendered cells on their own version instead.
        self._versions: dict[tuple[Any, Any], int] = {}
        self._row_versions: dict[str | None, int] = {}
        self._cell_cache: LRUCache[tuple[Any, ...], Any] = LRUCache(20_000)
        self._strip_cache: LRUCache[tuple[Any, ...], Any] = LRUCache(4_000)
        self._paint_style: Any = None  # the widget's rich style, taken once per paint
        self._row_styles: dict[tuple[int, Any], Any] | None = None  # zebra styles, within one paint

    def on_mount(self) -> None:
        for key, label, width in self._columns_spec:
            self.add_column(label, key=key, width=width)

    def sync(self, rows: Mapping[str, Sequence[Any]], order: Sequence[str] | None = None) -> None:
        column_keys = [c[0] for c in self._columns_spec]
        added = False
        gone = [k for k in self._cells if k not in rows]
        selected = self.selected_key if (gone or order is not None) else None
        for key in gone:
            self.remove_row(key)
            del self._cells[key]
        for key, cells in rows.items():
            if not isinstance(cells, tuple):
                cells = tuple(cells)
            old = self._cells.get(key)
            if old is cells:
                continue
            if old is None:
                self.add_row(*cells, key=key)
                self.row_adds += 1
                added = True
            elif old != cells:
                self._update_changed(key, old, cells, column_keys)
            self._cells[key] = cells
        if order is not None:
            self._apply_order(list(order), selected)
        elif added and self._sort_column and len(self._cells) > 1:
            self.sort(self._sort_column, key=lambda v: str(getattr(v, "plain", v)))
        elif gone and selected in self._cells:
            self._select(selected)

    def _update_changed(self, key: str, old: tuple[Any, ...], cells: tuple[Any, ...],
                        column_keys: list[str]) -> None:
        for col, before, after in zip(column_keys, old, cells):
            if before != after:
                self.update_cell(key, col, after)
                self.cell_updates += 1

    def sync_rows(self, rows: Mapping[str, Sequence[Any]]) -> None:
        """Only these rows, all of them already in the table: their changed cells are updated; no
        row is added, removed or moved (``sync`` walks every row to know that)."""
        column_keys = [c[0] for c in self._columns_spec]
        for key, cells in rows.items():
            if not isinstance(cells, tuple):
                cells = tuple(cells)
            old = self._cells.get(key)
            if old is cells:
                continue
            if old is None:
                raise KeyError(f"sync_rows: no row {key!r} in the table")
            if old != cells:
                self._update_changed(key, old, cells, column_keys)
            self._cells[key] = cells

    def _apply_order(self, order: list[str], selected: str | None) -> None:
        if order == self._order and len(order) == len(self._row_locations):
            return
        self._order = order
        self.reorders += 1
        self._row_locations = TwoWayDict({RowKey(k): i for i, k in enumerate(order)})
        self._update_count += 1
        self.refresh()
        if selected is not None and selected in self._cells:
            self._select(selected)

    def _select(self, key: str) -> None:
        try:
            index = self.get_row_index(key)
        except Exception:
            return
        if index != self.cursor_row:
            self.move_cursor(row=index, animate=False, scroll=False)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        super().update_cell(row_key, column_key, value, update_width=update_width)
        k = (str(getattr(row_key, "value", row_key)), str(getattr(column_key, "value", column_key)))
        self._versions[k] = self._versions.get(k, 0) + 1
        self._row_versions[k[0]] = self._row_versions.get(k[0], 0) + 1

    def render_lines(self, crop: Any) -> Any:
        # DataTable.render_line asks for self.rich_style on every line, which walks the styles of
        # every ancestor: a tenth of a millisecond a line, even for a line served from the cache.
        self._paint_style = self.rich_style
        self._row_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._paint_style = None
            self._row_styles = None

    def _get_row_style(self, row_index: int, base_style: Any) -> Any:
        # The zebra style of a row walks the styles of every ancestor too, for each line painted:
        # taken once per paint for the odd rows and once for the even.
        cache = self._row_styles
        if cache is None or row_index < self.fixed_rows:
            return super()._get_row_style(row_index, base_style)
        key = (row_index % 2, base_style)
        style = cache.get(key)
        if style is None:
            style = cache[key] = super()._get_row_style(row_index, base_style)
        return style

    def render_line(self, y: int) -> Any:
        base_style = self._paint_style
        if base_style is None or self.fixed_rows:
            return super().render_line(y)
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, base_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Any) -> Any:
        """Whole lines cached per row version (DataTable's own line cache empties on any update)."""
        try:
            row_key, y_in_row = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        if row_key is self._header_row_key:  # labels never change after mount
            key: tuple[Any, ...] = ("header", y_in_row, x1, x2, self.size.width, base_style, self.cursor_type,
                   self._pseudo_class_state, self._sort_column)
            strip = self._strip_cache.get(key)
            if strip is None:
                strip = super()._render_line(y, x1, x2, base_style)
                self._strip_cache[key] = strip
            return strip
        row_index = self._row_locations.get(row_key)
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        key = (row_key, y_in_row, row_index, self._row_versions.get(row_key.value, 0), x1, x2,
               self.size.width, base_style, cursor if cursor.row == row_index else None,
               hover if hover.row == row_index else None, self.cursor_type, self.show_cursor,
               self._show_hover_cursor, self._pseudo_class_state)
        strip = self._strip_cache.get(key)
        if strip is None:
            strip = super()._render_line(y, x1, x2, base_style)
            self._strip_cache[key] = strip
        return strip

    def _render_cell(self, row_index: int, column_index: int, base_style: Any, width: int,
                     cursor: bool = False, hover: bool = False) -> Any:
        if row_index < 0 or column_index < 0:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        version = self._versions.get((row_key.value, column_key.value), 0)
        key = (row_key, column_key, version, row_index, base_style, width, cursor, hover,
               self._show_hover_cursor, self._pseudo_class_state)
        lines = self._cell_cache.get(key)
        if lines is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            self._cell_cache[key] = lines
        return lines

    def clear_rows(self) -> None:
        self.clear()
        self._cells.clear()
        self._order = []

    @property
    def row_keys(self) -> list[str]:
        """Row keys in display order."""
        locations = self._row_locations
        return [str(k.value) for k in sorted(self.rows, key=lambda k: locations.get(k) or 0)]

    def cells(self, key: str) -> tuple[Any, ...] | None:
        return self._cells.get(key)

    @property
    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:
            return None
