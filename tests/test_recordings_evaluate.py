"""The evaluation form of a recording (issue 26): scores per criterion with their total, comments
pinned to moments of the call, and playback that jumps to each commented moment. Against a real
server, playing through libvlc into a file (as tests/test_recordings_ui.py); snapshots of the form
from fixed data at 80x24 and 160x48."""
from __future__ import annotations

import time
from typing import Any

import pytest
from textual.app import App
from textual.widgets import DataTable, Input

from cc_console.screens.recordings_evaluate import Criterion, EvaluationScreen, total_of

from .test_recordings import add, tone_bytes


def _need_libvlc() -> None:
    """Playback is the point of this test: without libvlc it fails and says so (never skips)."""
    try:
        import vlc
        vlc.Instance("--aout=dummy").release()
    except Exception as exc:
        pytest.fail(f"libvlc is needed to play recordings (./scripts/setup installs python-vlc and libvlc5): {exc}")


async def test_evaluate_a_recording_with_comments_and_jumps(server, connect, tmp_path):
    _need_libvlc()
    from cc_console.screens.agent import AskScreen
    from cc_console.screens.recordings import RecordingsScreen
    rec = add(server.recordings, tone_bytes(tmp_path, 1000, 12.0), agent_id="agent1", category="billing")
    server.recordings.store.add_mark(rec["id"], 2.0, "sup1", "greets by name")
    server.recordings.store.add_mark(rec["id"], 8.0, "sup1", "no summary at the end")
    sup = await connect("sup1")
    out = tmp_path / "out.wav"
    screen = RecordingsScreen(sup, vlc_args=("--aout=afile", f"--audiofile-file={out}", "--audiofile-format=s16"),
                              download_dir=tmp_path)

    class A(App):
        def on_mount(self) -> None:
            self.push_screen(screen)

    async def until(pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while not pred():
            assert time.monotonic() < deadline, "condition not reached"
            await pilot.pause(0.05)

    async with A().run_test(size=(120, 36)) as pilot:
        screen.query_one("#results").focus()
        await pilot.press("s")
        await until(lambda: screen.rows)
        await pilot.press("e")
        await until(lambda: isinstance(pilot.app.screen, EvaluationScreen))
        ev = pilot.app.screen
        await until(lambda: ev.marks and ev.player is not None and ev.player.position > 0.5)
        assert [(m["at"], m["text"]) for m in ev.marks] == [(2.0, "greets by name"), (8.0, "no summary at the end")]
        assert ev.query_one("#eval-marks", DataTable).row_count == 2

        # Jump to each commented moment: next, next (stays on the last), previous, enter on a row.
        ev.query_one("#eval-marks").focus()
        await pilot.press("n")
        await until(lambda: abs(ev.player.position - 2.0) < 1.0)
        await pilot.press("n")
        await until(lambda: abs(ev.player.position - 8.0) < 1.0)
        await pilot.press("N")
        await until(lambda: abs(ev.player.position - 2.0) < 1.0)
        ev.query_one("#eval-marks", DataTable).move_cursor(row=1)
        await pilot.press("enter")
        await until(lambda: abs(ev.player.position - 8.0) < 1.0)

        # A comment at the current moment.
        await pilot.press("m")
        await until(lambda: isinstance(pilot.app.screen, AskScreen))
        await pilot.press(*"talks over the caller", "enter")
        await until(lambda: len(ev.marks) == 3)
        new = next(m for m in ev.marks if m["text"] == "talks over the caller")
        assert 8.0 <= new["at"] <= 11.0
        assert [m["text"] for m in server.recordings.store.marks(rec["id"])][-1] == "talks over the caller"

        # Scores: the total follows the typing; a score above its maximum is refused, not sent.
        ev.query_one("#score-0", Input).focus()
        await pilot.press("4", "tab", "5", "tab", "7")
        await pilot.pause()
        assert "Total 9 / 25" in str(ev.query_one("#eval-total").render())
        assert "not a score: Listening" in str(ev.query_one("#eval-total").render())
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert server.recordings.store.evaluations(rec["id"]) == []
        await pilot.press("backspace", "3")
        ev.query_one("#eval-comment", Input).value = "friendly, no summary"
        await pilot.press("ctrl+s")
        await until(lambda: ev.saved)
        [saved] = server.recordings.store.evaluations(rec["id"])
        assert saved["scores"] == {"Greeting": 4.0, "Identification": 5.0, "Listening": 3.0}
        assert saved["total"] == 12.0 and saved["comment"] == "friendly, no summary" and saved["evaluator"] == "sup1"
        assert "Total 12 / 25" in str(ev.query_one("#eval-total").render())

        # Opened again, my evaluation fills the form.
        await pilot.press("escape")
        await until(lambda: pilot.app.screen is screen)
        await pilot.press("e")
        await until(lambda: isinstance(pilot.app.screen, EvaluationScreen) and pilot.app.screen is not ev)
        again = pilot.app.screen
        await until(lambda: again.query_one("#score-2", Input).value == "3")
        assert again.query_one("#eval-comment", Input).value == "friendly, no summary"


def test_total_of_sums_valid_scores_and_names_the_rest() -> None:
    crit = (Criterion("a", 5), Criterion("b", 10), Criterion("c", 5))
    assert total_of({"a": "4", "b": "9.5", "c": ""}, crit) == (13.5, [])
    assert total_of({"a": "6", "b": "x", "c": "-1"}, crit) == (0.0, ["a", "b", "c"])


# -- snapshots ------------------------------------------------------------------------------------------
DETAIL = {"recording": {"id": "r1", "status": "stored", "agent_id": "agent1", "agent_name": "Alice Archer",
                        "queue_name": "support", "caller": "+442079460001", "talk": 312.0},
          "rights": ["evaluate", "listen"],
          "evaluations": [{"evaluator": "sup1", "scores": {"Greeting": 4.0, "Identification": 5.0, "Solution": 3.0},
                           "total": 12.0, "comment": "friendly; no summary at the end"},
                          {"evaluator": "sup2", "scores": {"Greeting": 3.0}, "total": 3.0, "comment": ""}],
          "marks": [{"at": 185.0, "author": "sup1", "text": "no summary at the end"},
                    {"at": 4.0, "author": "sup1", "text": "greets the caller by name"},
                    {"at": 62.5, "author": "sup2", "text": "long silence while searching"}]}


class FixedClient:
    def __init__(self) -> None:
        from cc_console.client import ConsoleState
        self.state = ConsoleState()
        self.state.load({"me": {"user": "sup1", "role": "supervisor", "name": "Sue"}, "agents": [], "calls": [],
                         "queues": []})
        self.url, self.token, self.connected, self.stale = "ws://demo.invalid", "t", True, False

    async def call(self, cmd: str, args: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
        return DETAIL if cmd == "recordings.get" else {}


def _form_app() -> App:
    from cc_console.themes import CONSOLE_CSS, DEFAULT_THEME

    class A(App):
        CSS_PATH = str(CONSOLE_CSS)
        TITLE = "cc-console"

        def on_mount(self) -> None:
            self.register_theme(DEFAULT_THEME)
            self.theme = DEFAULT_THEME.name
            self.push_screen(EvaluationScreen(FixedClient(), recording_id="r1", player_factory=lambda rec: None,
                                              criteria=(Criterion("Greeting"), Criterion("Identification"),
                                                        Criterion("Listening"), Criterion("Solution"),
                                                        Criterion("Closing"))))
    return A()


async def _loaded(pilot) -> None:
    await pilot.pause()
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
def test_evaluation_form_snapshot(snap_compare, size) -> None:
    assert snap_compare(_form_app(), terminal_size=size, run_before=_loaded)
