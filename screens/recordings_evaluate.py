"""The evaluation form of one recording (supervisors: `e` on the recordings screen, docs/recordings.md):
a score per criterion, comments pinned to moments of the call, the total; the recording plays
beside it and every comment is a place to jump to.

Keys: ctrl+s save the evaluation (`recordings.evaluate`: scores and the overall comment), `m` a
comment at the current moment (`recordings.mark`), enter (or `j`) on a comment jumps there, `n` /
`N` jump to the next / previous comment, space play or pause, `b` / `f` ∓5 s, esc back. Scores are
typed in the form (tab moves); the total follows as you type. My earlier evaluation of this
recording fills the form. Criteria come from ``<config_dir>/evaluation.toml`` (``[[criteria]]``
with ``name`` and ``max``), else DEFAULT_CRITERIA.

Ids: #eval-info (Static), #eval-form with an Input #score-<i> per criterion, #eval-total (Static),
#eval-comment (Input), #eval-marks (DataTable, one row per comment, by time), #player (PlayerBar).
"""
from __future__ import annotations

import logging
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.validation import Number
from textual.widgets import DataTable, Input, Label, Static

from cc_console.config import config_dir
from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader
from cc_console.widgets.player import PlayerBar, RecordingPlayer, fmt_time

from .base import ConsoleScreen

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Criterion:
    name: str
    max: float = 5.0


DEFAULT_CRITERIA = (Criterion("Greeting"), Criterion("Identification"), Criterion("Listening"),
                    Criterion("Solution"), Criterion("Closing"))


def load_criteria() -> tuple[Criterion, ...]:
    """The criteria of ``<config_dir>/evaluation.toml``; the defaults without one (or with a broken one,
    logged)."""
    path = config_dir() / "evaluation.toml"
    try:
        data = tomllib.loads(path.read_text())
        found = tuple(Criterion(str(c["name"]), float(c.get("max", 5))) for c in data.get("criteria") or [])
    except FileNotFoundError:
        return DEFAULT_CRITERIA
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s ignored: %s", path, exc)
        return DEFAULT_CRITERIA
    return found or DEFAULT_CRITERIA


def total_of(values: dict[str, str], criteria: tuple[Criterion, ...]) -> tuple[float, list[str]]:
    """The sum of the scores typed, and the criteria whose text is not a score in 0..max."""
    total, bad = 0.0, []
    for c in criteria:
        text = (values.get(c.name) or "").strip()
        if not text:
            continue
        try:
            v = float(text)
        except ValueError:
            bad.append(c.name)
            continue
        if 0 <= v <= c.max:
            total += v
        else:
            bad.append(c.name)
    return total, bad


class EvaluationScreen(ConsoleScreen):
    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="evaluation.save", priority=True,
                tooltip="Save the scores and the comment"),
        Binding("m", "mark", "Comment here", id="evaluation.mark", tooltip="Pin a comment to this moment"),
        Binding("j", "jump", "Jump", id="evaluation.jump", show=False, tooltip="Play from the selected comment"),
        Binding("n", "step(1)", "Next comment", id="evaluation.next", tooltip="Play from the next comment"),
        Binding("N", "step(-1)", "Previous", id="evaluation.previous", show=False,
                tooltip="Play from the previous comment"),
        Binding("space", "toggle", "Play/pause", id="evaluation.pause"),
        Binding("b", "seek(-5)", "−5 s", id="evaluation.back", show=False),
        Binding("f", "seek(5)", "+5 s", id="evaluation.forward", show=False),
        Binding("escape", "back", "Back", id="evaluation.close", show=False),
    ]
    DEFAULT_CSS = """
    EvaluationScreen #eval-info { height: auto; padding: 0 1; background: $panel; }
    EvaluationScreen #eval-body { height: 1fr; }
    EvaluationScreen #eval-form { width: 1fr; min-width: 30; border: round $secondary; padding: 0 1; }
    EvaluationScreen #eval-form Horizontal { height: 1; margin-bottom: 1; }
    EvaluationScreen #eval-form Label { width: 1fr; height: 1; }
    /* One row per criterion (a bordered input takes three): the focused one is highlighted. */
    EvaluationScreen #eval-form Input { width: 10; height: 1; border: none; padding: 0 1; background: $boost; }
    EvaluationScreen #eval-form Input:focus { background: $accent 40%; }
    EvaluationScreen #eval-form Input.-invalid { background: $error 40%; }
    EvaluationScreen #eval-total { height: 1; text-style: bold; margin-bottom: 1; }
    EvaluationScreen #eval-form #eval-comment { width: 100%; }
    EvaluationScreen #eval-right { width: 1fr; }
    EvaluationScreen #eval-marks { height: 1fr; border: round $secondary; }
    """

    def __init__(self, client: Any = None, *, recording_id: str,
                 player_factory: Callable[[dict[str, Any]], Any] | None = None, vlc_args: tuple[str, ...] = (),
                 criteria: tuple[Criterion, ...] | None = None, **kw: Any) -> None:
        super().__init__(client, id="evaluation", **kw)
        self.recording_id = recording_id
        self.criteria = criteria or load_criteria()
        self.vlc_args = vlc_args
        self._player_factory = player_factory
        self.recording: dict[str, Any] | None = None
        self.marks: list[dict[str, Any]] = []
        self.saved: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(icon="☎")
        yield Static("Loading the recording…", id="eval-info")
        with Horizontal(id="eval-body"):
            with VerticalScroll(id="eval-form") as form:
                form.border_title = "Scores"
                for i, c in enumerate(self.criteria):
                    with Horizontal():
                        yield Label(f"{c.name} (0–{c.max:g})")
                        yield Input(placeholder="–", id=f"score-{i}", type="number",
                                    validators=[Number(minimum=0, maximum=c.max)])
                yield Static("", id="eval-total")
                yield Label("Overall comment", classes="section-title")
                yield Input(placeholder="what to keep, what to change", id="eval-comment")
            with Vertical(id="eval-right"):
                marks: DataTable[Any] = DataTable(id="eval-marks", cursor_type="row", zebra_stripes=True)
                marks.border_title = "Comments at moments of the call (enter: play from there)"
                yield marks
        yield PlayerBar(id="player")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#eval-marks", DataTable).add_columns("At", "By", "Comment")
        self._show_total()
        self.run_worker(self._load(), group="evaluation", exit_on_error=False)

    def refresh_state(self) -> None:
        pass

    # -- loading -------------------------------------------------------------------------------------
    async def _load(self) -> None:
        try:
            detail = await self.client.call("recordings.get", {"id": self.recording_id}) or {}
        except Exception as exc:
            self.notify_refusal("recordings.get", exc)
            return
        rec = detail.get("recording") or {}
        self.recording = rec
        me = self.state.me.get("user")
        mine = next((e for e in detail.get("evaluations") or [] if e.get("evaluator") == me), None)
        others = [e for e in detail.get("evaluations") or [] if e.get("evaluator") != me]
        info = (f"{rec.get('agent_name') or rec.get('agent_id') or '-'} · queue {rec.get('queue_name') or '-'} · "
                f"caller {rec.get('caller', '')} · {fmt_time(float(rec.get('talk') or 0))} talk")
        if others:
            info += " · also evaluated by " + ", ".join(f"{e['evaluator']} ({e['total']:g})" for e in others)
        self.query_one("#eval-info", Static).update(info)
        if mine:
            for i, c in enumerate(self.criteria):
                if c.name in (mine.get("scores") or {}):
                    self.query_one(f"#score-{i}", Input).value = f"{mine['scores'][c.name]:g}"
            self.query_one("#eval-comment", Input).value = mine.get("comment") or ""
        self.show_marks(detail.get("marks") or [])
        self._start_player(rec)

    def _start_player(self, rec: dict[str, Any]) -> None:
        if rec.get("status") != "stored":
            self.notify(f"No audio for this recording ({rec.get('status', 'unknown')}).", severity="warning")
            return
        try:
            if self._player_factory is not None:
                player = self._player_factory(rec)
                if player is None:  # the caller wants the form without sound (snapshots)
                    return
            else:
                from .recordings import http_base
                player = RecordingPlayer(http_base(self.client.url), self.client.token or "", rec["id"],
                                         vlc_args=self.vlc_args)
        except Exception as exc:  # no libvlc here: the form still works, without sound
            log.warning("no playback: %s", exc)
            self.notify("The recording cannot be played on this machine; the form still works.",
                        severity="warning")
            return
        self.query_one("#player", PlayerBar).load(player)
        player.play()

    @property
    def player(self) -> Any:
        return self.query_one("#player", PlayerBar).player

    # -- scores ---------------------------------------------------------------------------------------
    def values(self) -> dict[str, str]:
        return {c.name: self.query_one(f"#score-{i}", Input).value for i, c in enumerate(self.criteria)}

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if (event.input.id or "").startswith("score-"):
            self._show_total()

    def _show_total(self) -> None:
        total, bad = total_of(self.values(), self.criteria)
        best = sum(c.max for c in self.criteria)
        text = f"Total {total:g} / {best:g}"
        if bad:
            text += f"   (not a score: {', '.join(bad)})"
        self.query_one("#eval-total", Static).update(text)

    def action_save(self) -> None:
        values = self.values()
        total, bad = total_of(values, self.criteria)
        if bad:
            self.notify(f"Not a score: {', '.join(bad)}. Each is a number from 0 to its maximum.",
                        severity="error", timeout=6)
            return
        scores = {name: float(text) for name, text in values.items() if text.strip()}
        if not scores:
            self.notify("Score at least one criterion first.", severity="warning", timeout=4)
            return
        args = {"id": self.recording_id, "scores": scores,
                "comment": self.query_one("#eval-comment", Input).value.strip()}
        self.run_worker(self._save(args), group="evaluation-save", exit_on_error=False)

    async def _save(self, args: dict[str, Any]) -> None:
        try:
            result = await self.client.call("recordings.evaluate", args) or {}
        except Exception as exc:
            self.notify_refusal("recordings.evaluate", exc)
            return
        self.saved = result.get("evaluation") or {}
        self.notify(f"Evaluation saved: total {float(self.saved.get('total', 0)):g}.", timeout=4)

    # -- comments at moments --------------------------------------------------------------------------
    def show_marks(self, marks: list[dict[str, Any]]) -> None:
        self.marks = sorted(marks, key=lambda m: float(m.get("at") or 0))
        t = self.query_one("#eval-marks", DataTable)
        t.clear()
        for m in self.marks:
            t.add_row(fmt_time(float(m["at"])), m.get("author", ""), m.get("text", ""))

    def action_mark(self) -> None:
        from .agent import AskScreen
        at = round(self.player.position, 1) if self.player else 0.0

        def asked(text: str | None) -> None:
            if text and text.strip():
                self.run_worker(self._mark(at, text.strip()), group="evaluation-mark", exit_on_error=False)
        self.app.push_screen(AskScreen(f"Comment at {fmt_time(at)}"), asked)

    async def _mark(self, at: float, text: str) -> None:
        try:
            result = await self.client.call("recordings.mark", {"id": self.recording_id, "at": at, "text": text}) or {}
        except Exception as exc:
            self.notify_refusal("recordings.mark", exc)
            return
        self.show_marks(result.get("marks") or self.marks)

    def _jump_to(self, index: int) -> None:
        if not self.marks:
            self.notify("No comments yet: m pins one to the current moment.", severity="warning", timeout=3)
            return
        index = max(0, min(len(self.marks) - 1, index))
        self.query_one("#eval-marks", DataTable).move_cursor(row=index)
        if self.player:
            self.player.seek(float(self.marks[index]["at"]))

    @on(DataTable.RowSelected, "#eval-marks")
    def _mark_selected(self, event: DataTable.RowSelected) -> None:
        self._jump_to(event.cursor_row)

    def action_jump(self) -> None:
        self._jump_to(self.query_one("#eval-marks", DataTable).cursor_row or 0)

    def action_step(self, direction: int) -> None:
        """The next (or previous) comment after (before) where the playback is now."""
        pos = self.player.position if self.player else None
        if pos is None:
            current = self.query_one("#eval-marks", DataTable).cursor_row or 0
            self._jump_to(current + direction)
            return
        ats = [float(m["at"]) for m in self.marks]
        if direction > 0:
            later = [i for i, a in enumerate(ats) if a > pos + 0.5]
            self._jump_to(later[0] if later else len(ats) - 1)
        else:
            earlier = [i for i, a in enumerate(ats) if a < pos - 1.5]
            self._jump_to(earlier[-1] if earlier else 0)

    # -- playback --------------------------------------------------------------------------------------
    def action_toggle(self) -> None:  # type: ignore[override]  # play/pause; Textual's toggle(attr) unused here
        if self.player:
            self.player.toggle()

    def action_seek(self, delta: float) -> None:
        if self.player:
            self.player.skip(float(delta))
