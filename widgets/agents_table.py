"""The supervisor's agents table, virtualised: a changed cell costs a dict write, a paint only when
its row is on screen.

A DiffTable already renders only the lines in view and touches only changed cells, but each
``update_cell`` of DataTable bumps its table-wide update counter, and every cache of DataTable is
keyed on that counter: the list of row offsets (one entry per row, rebuilt over all rows), the
ordered rows, the row renderables and the rendered lines. At 2,000 agents and 1,000 events a
second nearly every change is to a row nobody sees, yet each one made the next paint rebuild those
lists over the whole table and refresh the widget.

Here a changed cell is written into the table's data and its row's version is bumped (the
DiffTable caches its rendered cells and lines by those versions), without the counter: the row
layout stays cached. The widget is refreshed only when a changed row is in view; an off-screen row
holds its new value and is rendered fresh (by its new version) when it scrolls into view. Rows
added, removed or reordered still go through DataTable (the layout changes then).
"""
from __future__ import annotations

from typing import Any

from textual.geometry import Region
from textual.message import Message
from textual.widgets.data_table import ColumnKey, RowKey

from .diff_table import DiffTable


class AgentsTable(DiffTable):
    class ViewMoved(Message):
        """Other rows came into view (scrolled or resized): the screen may have kept their
        slow-moving cells (time in state) stale while they were out of view."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.offscreen_updates = 0  # cells changed while their row was out of view (for benchmarks)
        self._quiet_writes = False
        self._visible_changed = False
        self._dirty_rows: set[int] = set()  # indexes of rows in view that changed since the last paint request
        self._in_sync = False
        self._view = range(0)  # rows in view, taken once per sync (the geometry is not cheap to ask)

    @property
    def visible_row_range(self) -> range:
        """Row indexes in view now (rows are one line high)."""
        top = int(self.scroll_y)
        height = self.scrollable_content_region.height - (self.header_height if self.show_header else 0)
        return range(top, top + max(0, height))

    def visible_keys(self, order: list[str] | None = None) -> list[str]:
        """Keys of the rows in view; with ``order``, of the rows that would be in view in it."""
        view = self.visible_row_range
        if order is not None:
            return order[view.start:view.stop]
        get = self._row_locations.get_key
        return [str(k.value) for i in view if (k := get(i)) is not None]

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if int(old_value) != int(new_value):
            self.post_message(self.ViewMoved())

    def on_resize(self) -> None:
        self.post_message(self.ViewMoved())

    def is_row_visible(self, key: str) -> bool:
        index = self._row_locations.get(RowKey(key))
        return index is not None and index in self.visible_row_range

    def sync(self, rows: Any, order: Any = None) -> None:
        self._in_sync = True
        self._view = self.visible_row_range
        try:
            super().sync(rows, order)
        finally:
            self._in_sync = False
        self._settle()

    def sync_rows(self, rows: Any) -> None:
        self._in_sync = True
        self._view = self.visible_row_range
        try:
            super().sync_rows(rows)
        finally:
            self._in_sync = False
        self._settle()

    def _settle(self) -> None:
        if self._quiet_writes:
            # DataTable's own caches are keyed on its update counter, which quiet writes leave
            # alone: empty them so a line rendered next is built from the new data.
            self._row_render_cache.clear()
            self._cell_render_cache.clear()
            self._row_renderable_cache.clear()
            self._line_cache.clear()
        if self._visible_changed:
            rows = self._dirty_rows
            if len(rows) * 2 > len(self._view or self.visible_row_range):
                self.refresh()
            else:
                # Only the changed lines: a whole-table refresh made the compositor cut and write
                # every line in view again for a few changed rows (half the console's paint time).
                top = self.header_height if self.show_header else 0
                width = max(self.size.width, self.virtual_size.width)
                offset = self.scroll_offset
                self.refresh(*(Region(0, top + i, width, 1).translate(-offset) for i in rows))
        self._dirty_rows = set()
        self._quiet_writes = self._visible_changed = False

    def _update_changed(self, key: str, old: tuple[Any, ...], cells: tuple[Any, ...],
                        column_keys: list[str]) -> None:
        # A row's changed cells in one go: its keys, data and place looked up once, not per cell
        # (at 1,000 events a second that was a third of the table's share of a refresh).
        rk = RowKey(key)
        data = self._data.get(rk)
        locations = self._column_locations
        if data is None or len(locations) != len(column_keys):
            super()._update_changed(key, old, cells, column_keys)
            return
        versions = self._versions
        n = 0
        for col, before, after in zip(column_keys, old, cells):
            if before != after:
                data[ColumnKey(col)] = after
                versions[(key, col)] = versions.get((key, col), 0) + 1
                n += 1
        if not n:
            return
        self.cell_updates += n
        self._row_versions[key] = self._row_versions.get(key, 0) + n
        self._written(rk, n)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        rk = row_key if isinstance(row_key, RowKey) else RowKey(row_key)
        ck = column_key if isinstance(column_key, ColumnKey) else ColumnKey(column_key)
        data = self._data.get(rk)
        if update_width or data is None or ck not in self._column_locations:
            super().update_cell(row_key, column_key, value, update_width=update_width)
            return
        data[ck] = value
        k = (str(rk.value), str(ck.value))
        self._versions[k] = self._versions.get(k, 0) + 1
        self._row_versions[k[0]] = self._row_versions.get(k[0], 0) + 1
        self._written(rk, 1)

    def _written(self, rk: RowKey, n: int) -> None:
        """``n`` cells of a row were written: its line is repainted if it is in view, else counted."""
        self._quiet_writes = True
        index = self._row_locations.get(rk)
        if index is not None and index in (self._view if self._in_sync else self.visible_row_range):
            self._visible_changed = True
            self._dirty_rows.add(index)
        else:
            self.offscreen_updates += n
        if not self._in_sync:
            self._settle()

