"""Recordings: search, play (python-vlc over the server's authenticated stream), evaluate.

Keys: `s` search, `enter` play the selected recording, `space` pause/resume, `b`/`f`
(shift+left/right) seek ∓5 s, `[`/`]` slower/faster, `m` pin a note (the text in #note) at the current position, `j`
jump to the selected note, `d` download the WAV into the current folder (needs the download
right), `e` the evaluation form of the selected recording (screens/recordings_evaluate.py).
Ids: #agent, #from, #to, #category (Input), #results (DataTable), #detail (Label),
#marks (DataTable), #note (Input), #player (PlayerBar).
"""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.widgets import Button, DataTable, Input, Label

from cc_console.widgets.footer import ConsoleFooter
from cc_console.widgets.header import ConsoleHeader
from cc_console.widgets.player import PlayerBar, RecordingPlayer, fmt_time

from .base import CommandSucceeded, ConsoleScreen

COLUMNS = ("started", "type", "status", "agent", "number", "queue", "caller", "wait", "talk", "category")
SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def http_base(ws_url: str) -> str:
    scheme, rest = ws_url.split("://", 1)
    return ("https" if scheme == "wss" else "http") + "://" + rest.split("/", 1)[0]


class RecordingsScreen(ConsoleScreen):
    BINDINGS = [
        Binding("s", "search", "Search", id="recordings.search"),
        Binding("enter", "play", "Play", id="recordings.play"),
        Binding("space", "toggle", "Pause", id="recordings.pause"),
        Binding("shift+left,b", "seek(-5)", "−5 s", id="recordings.back"),
        Binding("shift+right,f", "seek(5)", "+5 s", id="recordings.forward"),
        Binding("left_square_bracket", "speed(-1)", "Slower", id="recordings.slower"),
        Binding("right_square_bracket", "speed(1)", "Faster", id="recordings.faster"),
        Binding("m", "mark", "Pin note", id="recordings.mark"),
        Binding("j", "jump", "Jump to note", id="recordings.jump"),
        Binding("d", "download", "Download", id="recordings.download"),
        Binding("e", "evaluate", "Evaluate", id="recordings.evaluate",
                tooltip="Score the selected recording, with comments at moments of the call"),
    ]
    DEFAULT_CSS = """
    RecordingsScreen Horizontal { height: auto; }
    RecordingsScreen Input { width: 20; }
    RecordingsScreen #results { height: 1fr; }
    RecordingsScreen #marks { height: 8; }
    RecordingsScreen #note { width: 1fr; }
    """

    def __init__(self, *args: Any, vlc_args: tuple[str, ...] = (), download_dir: Path | None = None,
                 **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.vlc_args = vlc_args
        self.download_dir = download_dir or Path.cwd()
        self.rows: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.marks: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield ConsoleHeader()
        with Horizontal():
            yield Input(placeholder="agent", id="agent")
            yield Input(placeholder="from (ISO)", id="from")
            yield Input(placeholder="to (ISO)", id="to")
            yield Input(placeholder="category", id="category")
            yield Button("Search", id="search")
        yield DataTable(id="results", zebra_stripes=True, cursor_type="row")
        yield Label("", id="detail")
        yield DataTable(id="marks", cursor_type="row")
        with Horizontal():
            yield Input(placeholder="note to pin at the current position", id="note")
        yield PlayerBar(id="player")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#results", DataTable).add_columns(*COLUMNS)
        self.query_one("#marks", DataTable).add_columns("at", "by", "note")

    # -- search ------------------------------------------------------------------------------------
    def search_args(self) -> dict[str, Any]:
        a: dict[str, Any] = {"limit": 200}
        for key in ("agent", "from", "to", "category"):
            v = self.query_one(f"#{key}", Input).value.strip()
            if v:
                a[key] = v
        return a

    @on(Button.Pressed, "#search")
    def _search_pressed(self) -> None:
        self.action_search()

    def action_search(self) -> None:
        self.send_command("recordings.search", self.search_args())

    @on(CommandSucceeded)
    def _got(self, msg: CommandSucceeded) -> None:
        if msg.cmd == "recordings.search":
            self.show_results(msg.result.get("recordings", []))
        elif msg.cmd == "recordings.get":
            self.show_detail(msg.result)
        elif msg.cmd == "recordings.mark":
            self.show_marks(msg.result.get("marks", []))

    def show_results(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        t = self.query_one("#results", DataTable)
        t.clear()
        for r in rows:
            t.add_row(datetime.fromtimestamp(r["started"]).strftime("%Y-%m-%d %H:%M"), r["call_type"], r["status"],
                      r["agent_name"] or r["agent_id"] or "-", r["agent_number"], f"{r['queue_number']} {r['queue']}",
                      r["caller"], f"{r['queue_time']:.0f}s", fmt_time(r["talk"]), r["category"], key=r["id"])

    @on(DataTable.RowSelected, "#results")
    def _row_selected(self) -> None:
        self.action_play()

    @on(DataTable.RowSelected, "#marks")
    def _mark_selected(self) -> None:
        self.action_jump()

    def selected(self) -> dict[str, Any] | None:
        t = self.query_one("#results", DataTable)
        if not self.rows or t.cursor_row is None or t.cursor_row >= len(self.rows):
            return None
        return self.rows[t.cursor_row]

    def show_detail(self, d: dict[str, Any]) -> None:
        r = d["recording"]
        ev = d.get("evaluations") or []
        score = "; ".join(f"{e['evaluator']}: {e['total']:g}" for e in ev) or "not evaluated"
        self.query_one("#detail", Label).update(
            f"{r['id'][:8]}  {r['agent_name'] or '-'} ({r['agent_number']})  queue {r['queue_name']}  "
            f"caller {r['caller']}  {r['notes']}  — {score}  — rights: {', '.join(d.get('rights', [])) or 'none'}")
        self.show_marks(d.get("marks", []))

    def show_marks(self, marks: list[dict[str, Any]]) -> None:
        self.marks = marks
        t = self.query_one("#marks", DataTable)
        t.clear()
        for m in marks:
            t.add_row(fmt_time(m["at"]), m["author"], m["text"])

    # -- playback ----------------------------------------------------------------------------------
    @property
    def bar(self) -> PlayerBar:
        return self.query_one("#player", PlayerBar)

    def action_play(self) -> None:
        rec = self.selected()
        if rec is None:
            return
        self.current = rec
        self.send_command("recordings.get", {"id": rec["id"]})
        if rec["status"] != "stored":
            self.bar.load(None)
            self.notify(f"no audio: {rec['status']} {rec.get('reason', '')}", severity="warning")
            return
        try:
            player = RecordingPlayer(http_base(self.client.url), self.client.token or "", rec["id"],
                                     vlc_args=self.vlc_args)
        except Exception as exc:  # no libvlc here: say so, `cc-console recordings fetch` still works
            self.notify(f"cannot play here ({exc}); use `cc-console recordings fetch {rec['id']} --out F`",
                        severity="error")
            return
        self.bar.load(player)
        player.play()

    def action_toggle(self) -> None:  # type: ignore[override]  # play/pause; Textual's toggle(attr) unused here
        if self.bar.player:
            self.bar.player.toggle()

    def action_seek(self, delta: float) -> None:
        if self.bar.player:
            self.bar.player.skip(float(delta))

    def action_speed(self, step: int) -> None:
        p = self.bar.player
        if p is None:
            return
        i = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - p.speed))
        p.set_speed(SPEEDS[max(0, min(len(SPEEDS) - 1, i + int(step)))])

    def action_mark(self) -> None:
        note = self.query_one("#note", Input)
        if not self.current or not note.value.strip():
            self.notify("play a recording and write the note first", severity="warning")
            return
        at = self.bar.player.position if self.bar.player else 0.0
        self.send_command("recordings.mark", {"id": self.current["id"], "at": round(at, 1), "text": note.value.strip()})
        note.value = ""

    def action_jump(self) -> None:
        t = self.query_one("#marks", DataTable)
        if self.bar.player and self.marks and t.cursor_row is not None and t.cursor_row < len(self.marks):
            self.bar.player.seek(self.marks[t.cursor_row]["at"])

    def action_evaluate(self) -> None:
        from .recordings_evaluate import EvaluationScreen
        rec = self.selected()
        if rec is None:
            self.notify("Search and select a recording first.", severity="warning", timeout=3)
            return
        if self.bar.player and self.bar.player.playing:
            self.bar.player.pause()  # one recording playing at a time
        self.app.push_screen(EvaluationScreen(self._client, recording_id=rec["id"], vlc_args=self.vlc_args))

    def action_download(self) -> None:
        rec = self.selected()
        if rec is None:
            return
        self.run_worker(self._download(rec), group="download", exit_on_error=False)

    async def _download(self, rec: dict[str, Any]) -> None:
        import httpx
        async with httpx.AsyncClient(timeout=60) as http:
            r = await http.get(f"{http_base(self.client.url)}/api/recordings/{rec['id']}/download",
                               headers={"Authorization": f"Bearer {self.client.token}"})
        if r.status_code != 200:
            self.notify(f"download refused: {r.text.strip()}", severity="error")
            return
        path = self.download_dir / f"recording-{rec['id'][:8]}.wav"
        path.write_bytes(r.content)
        self.notify(f"saved {path}", timeout=4)

    def refresh_state(self) -> None:
        pass
