"""The wallboard: big-figure tiles for the queues, coloured by thresholds, STALE banner when not live.

Fits 80x24 (4x2 tiles of 6 rows, a per-queue table below when there is room).
Ids: #tile-waiting, #tile-longest, #tile-sl, #tile-answered, #tile-abandoned, #tile-ready,
#tile-busy, #tile-paused (Tile: ``.value``, ``.level``), #stale-banner (shown with class
``-visible`` while disconnected or stale), #wallboard-queues.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from textual.app import ComposeResult
from textual.containers import Grid
from textual.widgets import Footer, Header, Static

from cc_console.widgets.diff_table import DiffTable
from cc_console.widgets.fmt import duration, longest_wait, percent
from cc_console.widgets.tile import Tile

from .base import ConsoleScreen
from .supervisor import QUEUE_COLUMNS, queue_row


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


def level_high_bad(value: float, warn: float, alert: float) -> str:
    if value >= alert:
        return "alert"
    if value >= warn:
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


def totals(queues: Iterable[dict[str, Any]], agents: Iterable[dict[str, Any]], now: float) -> Totals:
    qs = list(queues)
    weighted = [(q["service_level"], max(int(q.get("offered") or 0), 1)) for q in qs
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
    )


class WallboardScreen(ConsoleScreen):
    BATCH_SECONDS = 0.25

    def __init__(self, client: Any = None, *, queues: list[str] | None = None,
                 thresholds: Thresholds | None = None, **kwargs: Any) -> None:
        super().__init__(client, id="wallboard", **kwargs)
        self.queue_names = queues
        self.thresholds = thresholds or Thresholds()

    def compose(self) -> ComposeResult:
        yield Header(icon="☎")
        yield Static("", id="stale-banner")
        with Grid(id="tiles"):
            yield Tile("Calls waiting", id="tile-waiting")
            yield Tile("Longest wait", "00:00", id="tile-longest")
            yield Tile("Service level %", "--", id="tile-sl")
            yield Tile("Answered", id="tile-answered")
            yield Tile("Abandoned", id="tile-abandoned")
            yield Tile("Agents ready", id="tile-ready")
            yield Tile("Agents busy", id="tile-busy")
            yield Tile("Agents paused", id="tile-paused")
        yield DiffTable(QUEUE_COLUMNS, sort_column="name", id="wallboard-queues")
        yield Footer()

    def refresh_state(self) -> None:
        state = self.state
        queues = [q for name, q in sorted(state.queues.items())
                  if self.queue_names is None or name in self.queue_names]
        agents = [a for a in state.agents.values()
                  if self.queue_names is None or set(a.get("queues") or []) & set(self.queue_names)]
        now = self.now()
        t = totals(queues, agents, now)
        th = self.thresholds
        with self.app.batch_update():
            self._banner()
            self._tile("#tile-waiting", str(t.waiting), level_high_bad(t.waiting, th.waiting_warn, th.waiting_alert))
            self._tile("#tile-longest", duration(t.longest_wait),
                       level_high_bad(t.longest_wait, th.longest_warn, th.longest_alert))
            self._tile("#tile-sl", percent(t.service_level), level_low_bad(t.service_level, th.sl_warn, th.sl_alert))
            self._tile("#tile-answered", str(t.answered), "")
            self._tile("#tile-abandoned", str(t.abandoned),
                       level_high_bad(t.abandoned, th.abandoned_warn, th.abandoned_alert))
            self._tile("#tile-ready", str(t.ready), "ok" if t.ready else ("alert" if t.waiting else "warn"))
            self._tile("#tile-busy", str(t.busy), "")
            self._tile("#tile-paused", str(t.paused), "")
            self.query_one("#wallboard-queues", DiffTable).sync({q["name"]: queue_row(q, now) for q in queues})

    def _tile(self, selector: str, value: str, level: str) -> None:
        self.query_one(selector, Tile).show(value, level)

    def _banner(self) -> None:
        banner = self.query_one("#stale-banner", Static)
        ari_down = self.state.server.get("ari") == "down"
        if not self.connected:
            text = "STALE: disconnected from the server, reconnecting. Figures are out of date."
        elif self.stale:
            text = "STALE: waiting for fresh data from the server. Figures may be out of date."
        elif ari_down:
            text = "PBX DOWN: the telephony server is unreachable."
        else:
            text = ""
        banner.update(text)
        banner.set_class(bool(text), "-visible")
        self.set_class(bool(text), "-stale")
