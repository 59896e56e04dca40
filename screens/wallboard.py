"""The wallboard: big-figure tiles for the queues, coloured by thresholds, STALE banner when not live.

What it shows comes from a layout file (TOML, default ``<config_dir>/wallboard.toml``; another path
with ``WallboardScreen(layout_path=...)`` / ``cc-console wallboard --layout FILE``), re-read without
a restart when it changes (checked every 2 s) or on ``R``::

    title = "Support floor"
    theme = "cc-high-contrast"        # optional; ctrl+t toggles anyway
    tiles = ["sl", "waiting", "longest", "answered", "abandoned", "ready", "busy", "paused", "callbacks"]
    queues = ["support", "sales"]     # optional: one set of tiles for these queues (default: all)
    tenant = "acme"                   # optional: only this tenant's queues
    queue_table = true                # the per-queue table under the tiles, when there is room
    columns = 0                       # tiles per row; 0 picks what fills the screen best

    [[groups]]                        # optional, instead of `queues`: one set of tiles per group
    name = "Support"
    queues = ["support", "billing"]   # and/or tenant = "acme"

    [thresholds]                      # see Thresholds below
    longest_warn = 30
    longest_alert = 60
    sl_warn = 0.8

Tile kinds: sl, waiting, longest, answered (handled), abandoned, ready (agents free), busy, paused,
wrapup, callbacks (callbacks and voicemails waiting); for chats (docs/chat.md): chats_sl,
chats_waiting, chats_longest, chats_handled, chats_abandoned. The grid is recomputed on every resize, so
tiles grow with the terminal (80x24 up to 4K terminals), and each figure is drawn in block digits
as large as its tile allows (widgets/bigdigits.py).

Which queues one board aggregates: ``BoardFilter`` (queues, tenant, a layout group by name), from
``cc-console wallboard --queues/--tenant/--group`` or a URL's query (``BoardFilter.from_query``).

Ids: #tiles (Grid), tiles ``#tile-<kind>`` for the first group and ``#tile-<kind>-<n>`` for group n
>= 1 (Tile: ``.value``, ``.level``), #stale-banner (class ``-visible`` while disconnected or stale),
#wallboard-title, #wallboard-queues. The screen has class ``-stale`` while the figures are not live.
"""
from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid
from textual.widgets import Static

from cc_console.widgets.agents_table import AgentsTable
from cc_console.widgets.diff_table import DiffTable
from cc_console.widgets.fmt import duration, longest_wait, percent
from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader
from cc_console.widgets.tile import Tile

from .base import ConsoleScreen
from .supervisor import QUEUE_COLUMNS, open_callbacks, queue_row


@dataclass(frozen=True)
class Thresholds:
    """Levels for tile colours. 'High is bad' figures go warn at >= warn and alert at >= alert."""

    waiting_warn: int = 1
    waiting_alert: int = 5
    longest_warn: float = 30.0
    longest_alert: float = 60.0
    sl_warn: float = 0.80  # service level below this: warn
    sl_alert: float = 0.60  # below this: alert
    abandoned_warn: int = 1
    abandoned_alert: int = 10
    callbacks_warn: int = 1
    callbacks_alert: int = 10
    paused_warn: int = 0  # 0: no colour for paused agents
    paused_alert: int = 0


def level_high_bad(value: float, warn: float, alert: float) -> str:
    if alert and value >= alert:
        return "alert"
    if warn and value >= warn:
        return "warn"
    return "ok"


def level_low_bad(value: float | None, warn: float, alert: float) -> str:
    if value is None:
        return ""
    if value < alert:
        return "alert"
    if value < warn:
        return "warn"
    return "ok"


@dataclass(frozen=True)
class Totals:
    waiting: int
    longest_wait: float
    service_level: float | None
    answered: int
    abandoned: int
    ready: int
    busy: int
    paused: int
    wrapup: int = 0
    callbacks: int = 0
    # written channels (server/chat: chat.stats rows of channel chat)
    chats_waiting: int = 0
    chats_longest: float = 0.0
    chats_handled: int = 0
    chats_abandoned: int = 0
    chats_sl: float | None = None


def chat_totals(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The chat figures of several queues (chat.stats rows): sums, the longest wait, the service
    level weighted by the chats it counts (handled + abandoned)."""
    rs = [r for r in rows if r.get("channel", "chat") == "chat"]
    weighted = [(r["service_level"] / 100, int(r.get("handled", 0)) + int(r.get("abandoned", 0))) for r in rs
                if r.get("service_level") is not None]
    total = sum(w for _, w in weighted)
    return {"chats_waiting": sum(int(r.get("waiting", 0)) for r in rs),
            "chats_longest": max((float(r.get("longest_wait", 0)) for r in rs), default=0.0),
            "chats_handled": sum(int(r.get("handled", 0)) for r in rs),
            "chats_abandoned": sum(int(r.get("abandoned", 0)) for r in rs),
            "chats_sl": sum(v * w for v, w in weighted) / total if total else None}


def totals(queues: Iterable[dict[str, Any]], agents: Iterable[dict[str, Any]], now: float,
           callbacks: int = 0, chats: Iterable[dict[str, Any]] = ()) -> Totals:
    qs = list(queues)
    weighted = [(q["service_level"], max(int(q.get("answered") or q.get("offered") or 0), 1)) for q in qs
                if q.get("service_level") is not None]
    sl = (sum(v * w for v, w in weighted) / sum(w for _, w in weighted)) if weighted else None
    states = [a.get("state") for a in agents]
    return Totals(
        waiting=sum(int(q.get("waiting") or 0) for q in qs),
        longest_wait=max((longest_wait(q, now) for q in qs), default=0.0),
        service_level=sl,
        answered=sum(int(q.get("answered") or 0) for q in qs),
        abandoned=sum(int(q.get("abandoned") or 0) for q in qs),
        ready=states.count("ready"),
        busy=states.count("on_call") + states.count("ringing"),
        paused=states.count("paused"),
        wrapup=states.count("wrap_up"),
        callbacks=callbacks,
        **chat_totals(chats),
    )


TILE_CAPTIONS = {
    "sl": "Service level",
    "waiting": "Calls waiting",
    "longest": "Longest wait",
    "answered": "Handled",
    "abandoned": "Abandoned",
    "ready": "Agents free",
    "busy": "Agents busy",
    "paused": "Agents paused",
    "wrapup": "Agents in wrap-up",
    "callbacks": "Callbacks waiting",
    "chats_sl": "Chat service level",
    "chats_waiting": "Chats waiting",
    "chats_longest": "Longest chat wait",
    "chats_handled": "Chats handled",
    "chats_abandoned": "Chats abandoned",
}
DEFAULT_TILES = ("sl", "waiting", "longest", "answered", "abandoned", "ready", "busy", "paused", "callbacks")


def tile_figure(kind: str, t: Totals, th: Thresholds) -> tuple[str, str]:
    """(value shown, level) of one tile."""
    if kind == "sl":
        value = percent(t.service_level)
        return (value if value == "--" else f"{value}%"), level_low_bad(t.service_level, th.sl_warn, th.sl_alert)
    if kind == "waiting":
        return str(t.waiting), level_high_bad(t.waiting, th.waiting_warn, th.waiting_alert)
    if kind == "longest":
        return duration(t.longest_wait), level_high_bad(t.longest_wait, th.longest_warn, th.longest_alert)
    if kind == "answered":
        return str(t.answered), ""
    if kind == "abandoned":
        return str(t.abandoned), level_high_bad(t.abandoned, th.abandoned_warn, th.abandoned_alert)
    if kind == "ready":
        return str(t.ready), "ok" if t.ready else ("alert" if t.waiting else "warn")
    if kind == "busy":
        return str(t.busy), ""
    if kind == "paused":
        lvl = level_high_bad(t.paused, th.paused_warn, th.paused_alert) if (th.paused_warn or th.paused_alert) else ""
        return str(t.paused), lvl
    if kind == "wrapup":
        return str(t.wrapup), ""
    if kind == "callbacks":
        return str(t.callbacks), level_high_bad(t.callbacks, th.callbacks_warn, th.callbacks_alert)
    # chats: the calls' thresholds apply (a wait is a wait, whatever the channel)
    if kind == "chats_sl":
        value = percent(t.chats_sl)
        return (value if value == "--" else f"{value}%"), level_low_bad(t.chats_sl, th.sl_warn, th.sl_alert)
    if kind == "chats_waiting":
        return str(t.chats_waiting), level_high_bad(t.chats_waiting, th.waiting_warn, th.waiting_alert)
    if kind == "chats_longest":
        return duration(t.chats_longest), level_high_bad(t.chats_longest, th.longest_warn, th.longest_alert)
    if kind == "chats_handled":
        return str(t.chats_handled), ""
    if kind == "chats_abandoned":
        return str(t.chats_abandoned), level_high_bad(t.chats_abandoned, th.abandoned_warn, th.abandoned_alert)
    return "", ""


@dataclass(frozen=True)
class Group:
    name: str
    queues: tuple[str, ...] | None  # None: all queues
    tenant: str | None = None  # only this tenant's queues (and the agents who serve them)

    def has(self, name: str, queue: dict[str, Any]) -> bool:
        return (self.queues is None or name in self.queues) and \
            (self.tenant is None or str(queue.get("tenant") or "") == self.tenant)

    @property
    def everything(self) -> bool:
        return self.queues is None and self.tenant is None


@dataclass(frozen=True)
class BoardFilter:
    """Which figures one wallboard aggregates: these queues, this tenant's, or a group named in the
    layout file. From ``cc-console wallboard --queues a,b --tenant X --group NAME``, or from a URL's
    query (``?queues=a,b&tenant=X&group=NAME``) through :meth:`from_query`."""

    queues: tuple[str, ...] | None = None
    tenant: str | None = None
    group: str | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> BoardFilter:
        queues = [q.strip() for q in (query.get("queues") or "").split(",") if q.strip()]
        return cls(queues=tuple(queues) or None, tenant=(query.get("tenant") or "").strip() or None,
                   group=(query.get("group") or "").strip() or None)

    def __bool__(self) -> bool:
        return bool(self.queues or self.tenant or self.group)

    def describe(self) -> str:
        """What the board shows, for its title when the layout has none."""
        parts = [self.group or "", f"tenant {self.tenant}" if self.tenant else "",
                 ", ".join(self.queues or ())]
        return " · ".join(p for p in parts if p)

    def apply(self, layout: WallboardLayout) -> tuple[WallboardLayout, str]:
        """The layout narrowed to this filter, and a problem to tell the user ("" if none)."""
        problem = ""
        groups = layout.groups
        if self.group:
            groups = tuple(g for g in groups if g.name.casefold() == self.group.casefold())
            if not groups:
                named = ", ".join(g.name for g in layout.groups if g.name) or "none"
                problem = f"The wallboard layout has no group called {self.group!r} (groups: {named})."
                groups = (Group(self.group, ()),)  # nothing rather than every queue's figures
        if self.queues is not None:
            narrowed = tuple(replace(g, queues=tuple(q for q in self.queues if g.queues is None or q in g.queues))
                             for g in groups)
            groups = tuple(g for g in narrowed if g.queues) or (replace(groups[0], queues=()),)
        if self.tenant is not None:
            groups = tuple(replace(g, tenant=self.tenant) for g in groups)
        if len(groups) == 1 and not self.group:
            groups = (replace(groups[0], name=""),)
        title = layout.title or self.describe()
        return replace(layout, groups=groups, title=title), problem


@dataclass(frozen=True)
class WallboardLayout:
    title: str = ""
    theme: str = ""
    tiles: tuple[str, ...] = DEFAULT_TILES
    groups: tuple[Group, ...] = (Group("", None),)
    queue_table: bool = True
    columns: int = 0
    thresholds: Thresholds = field(default_factory=Thresholds)

    @property
    def queue_names(self) -> set[str] | None:
        if any(g.queues is None for g in self.groups):
            return None
        return {q for g in self.groups for q in (g.queues or ())}


def default_layout_path() -> Path:
    from cc_console.config import config_dir

    return config_dir() / "wallboard.toml"


def parse_layout(data: dict[str, Any], source: str = "wallboard.toml") -> WallboardLayout:
    """A layout from parsed TOML; ValueError on anything unknown or wrongly typed."""
    known = {"title", "theme", "tiles", "queues", "tenant", "groups", "queue_table", "columns", "thresholds"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{source}: unknown key(s): {', '.join(unknown)}")
    tiles = data.get("tiles", list(DEFAULT_TILES))
    if not isinstance(tiles, list) or not tiles or any(t not in TILE_CAPTIONS for t in tiles):
        raise ValueError(f"{source}: tiles must be a list of {', '.join(TILE_CAPTIONS)}")
    groups: list[Group] = []
    for i, g in enumerate(data.get("groups") or []):
        queues, tenant = (g.get("queues"), g.get("tenant")) if isinstance(g, dict) else (None, None)
        if (queues is None and tenant is None) or (queues is not None and not isinstance(queues, list)) \
                or (tenant is not None and not isinstance(tenant, str)):
            raise ValueError(f"{source}: [[groups]] #{i + 1} needs queues = [...] or tenant = \"...\"")
        qs = tuple(str(q) for q in queues) if queues is not None else None
        groups.append(Group(str(g.get("name") or tenant or ", ".join(qs or ())), qs, tenant))
    tenant = data.get("tenant")
    if tenant is not None and not isinstance(tenant, str):
        raise ValueError(f"{source}: tenant must be a tenant name")
    if not groups:
        queues = data.get("queues")
        if queues is not None and not isinstance(queues, list):
            raise ValueError(f"{source}: queues must be a list of queue names")
        groups = [Group("", tuple(str(q) for q in queues) if queues is not None else None, tenant)]
    elif tenant is not None:
        groups = [g if g.tenant is not None else replace(g, tenant=tenant) for g in groups]
    th_data = data.get("thresholds") or {}
    th_known = {f.name for f in fields(Thresholds)}
    bad = sorted(set(th_data) - th_known)
    if bad:
        raise ValueError(f"{source}: unknown [thresholds] key(s): {', '.join(bad)}")
    for k, v in th_data.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ValueError(f"{source}: [thresholds] {k} must be a number")
    columns = data.get("columns", 0)
    if isinstance(columns, bool) or not isinstance(columns, int) or columns < 0:
        raise ValueError(f"{source}: columns must be a whole number >= 0")
    return WallboardLayout(
        title=str(data.get("title", "")), theme=str(data.get("theme", "")), tiles=tuple(tiles),
        groups=tuple(groups), queue_table=bool(data.get("queue_table", True)), columns=columns,
        thresholds=replace(Thresholds(), **th_data),
    )


def load_layout(path: Path) -> WallboardLayout:
    """A missing file means the default layout; raises ValueError on a bad one."""
    if not path.exists():
        return WallboardLayout()
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: {exc}") from None
    return parse_layout(data, str(path))


MIN_TILE_W, MIN_TILE_H = 20, 6  # a caption, 3 rows of digits, a border


def grid_shape(n: int, width: int, height: int, columns: int = 0, *, min_w: int = MIN_TILE_W,
               min_h: int = MIN_TILE_H, aspect: float = 3.0) -> tuple[int, int, bool]:
    """(columns, rows, fits) for n tiles in width x height cells: tiles at least min_w x min_h where
    possible (``fits``), shaped closest to ``aspect`` (width/height in cells), few empty cells."""
    if n <= 0:
        return 1, 1, True
    if columns:
        cols = min(columns, n)
        rows = math.ceil(n / cols)
        return cols, rows, width / cols >= min_w and height / rows >= min_h
    best: tuple[float, int, int, bool] | None = None
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        w, h = width / cols, max(height, 1) / rows
        fits = w >= min_w and h >= min_h
        score = abs(math.log(max(w, 1) / max(h, 1) / aspect)) + 0.15 * (cols * rows - n) + (0 if fits else 100)
        if best is None or score < best[0]:
            best = (score, cols, rows, fits)
    assert best is not None
    return best[1], best[2], best[3]


class WallboardScreen(ConsoleScreen):
    BINDINGS = [
        Binding("R", "reload_layout", "Reload layout", id="wallboard.reload",
                tooltip="Re-read the wallboard layout file"),
        Binding("escape", "back", "Back", show=False, id="screen.back"),
    ]

    # A change shows within MIN_GAP (across a room the figures must follow the calls), while a
    # burst of events still costs one redraw per gap.
    BATCH_SECONDS = 1.0
    MIN_GAP = 0.1
    # A queue's new figures show within QUEUE_GAP: only the figures that come from the queues are
    # recomputed then (a few queues' rows, no pass over the agents), cheap enough to do at once,
    # while the agents' counts (a pass over every agent) keep MIN_GAP's pace. A queue's change
    # waited up to MIN_GAP behind the agents' events, most of the wallboard's own part of 250 ms.
    QUEUE_GAP = 0.02
    WATCH_SECONDS = 2.0

    def __init__(self, client: Any = None, *, queues: Iterable[str] | None = None, tenant: str | None = None,
                 group: str | None = None, board_filter: BoardFilter | None = None,
                 thresholds: Thresholds | None = None, layout: WallboardLayout | None = None,
                 layout_path: str | Path | None = None, now: Callable[[], float] | None = None,
                 **kwargs: Any) -> None:
        """``queues``, ``tenant`` and ``group`` (or a ready ``board_filter``, e.g. from a URL's
        query) narrow what the tiles aggregate; see :class:`BoardFilter`."""
        super().__init__(client, id="wallboard", now=now, **kwargs)
        self._fixed_layout = layout
        self.board_filter = board_filter or BoardFilter(
            queues=tuple(queues) if queues is not None else None, tenant=tenant or None, group=group or None)
        self._thresholds = thresholds
        self.layout_path = Path(layout_path) if layout_path else (None if layout else default_layout_path())
        self._layout_mtime: float | None = None
        self.chat_rows: list[dict[str, Any]] = []  # the last chat.stats per queue (chat tiles)
        self._layout_error = ""
        self.board = self._read_layout()
        self.reloads = 0
        self._shape: tuple[int, int] = (0, 0)
        self._banner_text: str | None = None
        self._queues_changed = False
        self._queues_scheduled = False
        self._group_totals: dict[int, Totals] = {}  # the last full refresh's totals per group
        self.queue_refreshes = 0  # refreshes of the queue figures alone (tests and benchmarks)

    # -- layout file ---------------------------------------------------------------------------------
    def _mtime(self) -> float | None:
        try:
            return self.layout_path.stat().st_mtime if self.layout_path else None
        except OSError:
            return None

    def _read_layout(self) -> WallboardLayout:
        layout = self._fixed_layout
        self._layout_error = ""
        if layout is None:
            self._layout_mtime = self._mtime()
            try:
                layout = load_layout(self.layout_path) if self.layout_path else WallboardLayout()
            except (ValueError, OSError) as exc:
                self._layout_error = str(exc)
                layout = getattr(self, "board", None) or WallboardLayout()
        self._filter_problem = ""
        if self.board_filter:
            layout, self._filter_problem = self.board_filter.apply(layout)
        if self._thresholds is not None:
            layout = replace(layout, thresholds=self._thresholds)
        return layout

    @property
    def thresholds(self) -> Thresholds:
        return self.board.thresholds

    def shows_queue(self, name: str, queue: dict[str, Any]) -> bool:
        return any(g.has(name, queue) for g in self.board.groups)

    def _tiles(self) -> list[Tile]:
        out: list[Tile] = []
        named = len(self.board.groups) > 1 or bool(self.board.groups[0].name)
        for gi, group in enumerate(self.board.groups):
            for kind in self.board.tiles:
                caption = TILE_CAPTIONS[kind]
                if named:
                    caption = f"{group.name}: {caption}"
                tile_id = f"tile-{kind}" if gi == 0 else f"tile-{kind}-{gi}"
                value = {"longest": "00:00", "sl": "--"}.get(kind, "0")
                out.append(Tile(caption, value, id=tile_id, classes=f"-kind-{kind}"))
        return out

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="☎")
        yield Static("", id="stale-banner")
        yield Static(self.board.title, id="wallboard-title")
        with Grid(id="tiles"):
            yield from self._tiles()
        # An AgentsTable (as the supervisor's queues table): a queue's new figures repaint its line,
        # where a plain DiffTable repaints itself whole, now up to 20 times a second per busy queue.
        yield AgentsTable(QUEUE_COLUMNS, sort_column="name", id="wallboard-queues")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.query_one("#wallboard-title", Static).display = bool(self.board.title)
        super().on_mount()
        self._apply_theme()
        self.set_interval(self.WATCH_SECONDS, self.check_layout, name="layout-watch")
        if self._layout_error:
            self.notify(self._layout_error, title="Wallboard layout ignored", severity="warning", timeout=10)
        self._tell_filter_problem()
        if any(k.startswith("chats_") for k in self.board.tiles):
            self.run_worker(self._fetch_chats(), group="chats", exit_on_error=False)

    async def _fetch_chats(self) -> None:
        """The chat figures until the next chat.stats event (a server without chats: none)."""
        try:
            self.chat_rows = list((await self.client.call("chat.stats", {})).get("queues", []))
        except Exception:
            return
        self.mark_dirty()

    def state_changed(self, kind: str, data: dict[str, Any]) -> None:
        if kind == "chat.stats":
            self.chat_rows = list(data.get("queues", []))
        if kind == "queue.stats" and self._group_totals:
            self._queues_changed = True
            if not self._queues_scheduled and self.is_mounted:
                self._queues_scheduled = True
                self.set_timer(self.QUEUE_GAP, self._flush_queues, name="queues")
            return
        super().state_changed(kind, data)

    def _flush_queues(self) -> None:
        self._queues_scheduled = False
        if self._queues_changed and not self.going:
            self._queues_changed = False
            self.queue_refreshes += 1
            self._show_figures(agents=False)

    def _tell_filter_problem(self) -> None:
        if self._filter_problem:
            self.notify(self._filter_problem, title="Wallboard shows nothing", severity="warning", timeout=30)

    def _apply_theme(self) -> None:
        theme = self.board.theme
        if theme and theme in self.app.available_themes and self.app.theme != theme:
            self.app.theme = theme

    async def check_layout(self) -> None:
        """The timer: reload when the layout file's mtime changed (or it appeared or went)."""
        if self._fixed_layout is None and self._mtime() != self._layout_mtime:
            await self.reload_layout()

    async def action_reload_layout(self) -> None:
        await self.reload_layout(notify=True)

    async def reload_layout(self, notify: bool = False) -> None:
        old = self.board
        self.board = self._read_layout()
        self._group_totals = {}  # other groups: the next full refresh counts them
        self.reloads += 1
        if self._layout_error:
            self.notify(self._layout_error, title="Wallboard layout not reloaded", severity="warning", timeout=10)
            return
        if (old.tiles, old.groups) != (self.board.tiles, self.board.groups):
            grid = self.query_one("#tiles", Grid)
            await grid.remove_children()
            await grid.mount_all(self._tiles())
        self._tell_filter_problem()
        title = self.query_one("#wallboard-title", Static)
        title.update(self.board.title)
        title.display = bool(self.board.title)
        self._apply_theme()
        self._shape = (0, 0)
        self._refresh()
        if notify:
            self.notify(f"layout reloaded from {self.layout_path}" if self.layout_path else "layout reloaded",
                        timeout=3)

    # -- sizing --------------------------------------------------------------------------------------
    def on_resize(self) -> None:
        self._shape = (0, 0)
        self._fit()

    def _fit(self) -> None:
        """Size the grid to the screen: the queue table only where the tiles keep their minimum."""
        width, height = self.size.width, self.size.height
        if not width or not height:
            return
        table = self.query_one("#wallboard-queues", DiffTable)
        n = len(self.board.tiles) * len(self.board.groups)
        chrome = 2 + (3 if self.has_class("-stale") else 0) + (1 if self.board.title else 0)
        table_h = min(table.row_count + 1, max(4, height // 4))
        show_table = self.board.queue_table
        if show_table:
            cols, rows, fits = grid_shape(n, width, height - chrome - table_h, self.board.columns)
            show_table = fits
        if not show_table:
            cols, rows, _ = grid_shape(n, width, height - chrome, self.board.columns)
        shape = (cols, rows)
        table.display = show_table
        table.styles.height = table_h if show_table else 0
        if shape != self._shape:
            self._shape = shape
            grid = self.query_one("#tiles", Grid)
            grid.styles.grid_size_columns = cols
            grid.styles.grid_size_rows = rows

    # -- figures ---------------------------------------------------------------------------------------
    def refresh_state(self) -> None:
        with self.app.batch_update():
            self._banner()
            self._show_figures(agents=True)
            self._fit()

    def _show_figures(self, *, agents: bool) -> None:
        """The tiles and the queue table; without `agents`, the agents' counts of the last full
        refresh are kept (only the queues' figures changed)."""
        state = self.state
        now = self.now()
        th = self.thresholds
        callbacks = open_callbacks(state.callbacks)
        table = self.query_one("#wallboard-queues", DiffTable)
        rows_before = table.row_count
        for gi, group in enumerate(self.board.groups):
            names = {name for name, q in state.queues.items() if group.has(name, q)}
            if group.queues is not None and group.tenant is None:
                names |= set(group.queues)  # callbacks and agents of a queue with no stats yet
            queues = [q for name, q in sorted(state.queues.items()) if name in names]
            cbs = sum(n for q, n in callbacks.items() if group.everything or q in names)
            chats = [r for r in self.chat_rows if group.everything or r.get("queue") in names]
            last = self._group_totals.get(gi)
            if agents or last is None:
                members = [a for a in state.agents.values()
                           if group.everything or set(a.get("queues") or []) & names]
                t = self._group_totals[gi] = totals(queues, members, now, cbs, chats)
            else:
                t = replace(totals(queues, (), now, cbs, chats), ready=last.ready, busy=last.busy,
                            paused=last.paused, wrapup=last.wrapup)
            for kind in self.board.tiles:
                value, level = tile_figure(kind, t, th)
                self._tile(f"#tile-{kind}" if gi == 0 else f"#tile-{kind}-{gi}", value, level)
        table.sync({q["name"]: queue_row(q, now, callbacks=callbacks.get(q["name"], 0))
                    for name, q in sorted(state.queues.items()) if self.shows_queue(name, q)})
        if not agents and table.row_count != rows_before:
            self._fit()  # a new queue: the table's height

    def _tile(self, selector: str, value: str, level: str) -> None:
        try:
            self.query_one(selector, Tile).show(value, level)
        except Exception:  # mid-reload: the tiles are being replaced
            pass

    def _banner(self) -> None:
        banner = self.query_one("#stale-banner", Static)
        ari_down = self.state.server.get("ari") == "down"
        stale = not self.connected or self.stale
        if not self.connected:
            text = "⚠ STALE ⚠  disconnected from the server, reconnecting: figures are out of date"
        elif self.stale:
            text = "⚠ STALE ⚠  waiting for fresh data from the server: figures may be out of date"
        elif ari_down:
            text = "PBX DOWN: the telephony server is unreachable"
        else:
            text = ""
        if text != self._banner_text:  # an update lays the screen out again: only on a change
            self._banner_text = text
            banner.update(text)
        banner.set_class(bool(text), "-visible")
        if stale != self.has_class("-stale"):
            self.set_class(stale, "-stale")
            self._shape = (0, 0)
