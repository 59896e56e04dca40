"""The recordings screen against a real server (search, play into a file, pin a note, jump to it),
the `recordings fetch` command, and the search bench with tiny parameters."""
from __future__ import annotations

import asyncio
import hashlib
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import DataTable

from .test_recordings import add, tone_bytes

ROOT = Path(__file__).resolve().parents[1]


async def test_screen_search_play_mark_and_jump(server, connect, tmp_path):
    pytest.importorskip("vlc")
    from cc_console.screens.recordings import RecordingsScreen
    data = tone_bytes(tmp_path, 1000, 8.0)
    rec = add(server.recordings, data, agent_id="agent1", category="billing")
    add(server.recordings, data, agent_id="agent2", call_id="c2", category="sales")
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
            assert time.monotonic() < deadline
            await pilot.pause(0.05)

    async with A().run_test() as pilot:
        screen.query_one("#category").value = "billing"
        screen.query_one("#results").focus()
        await pilot.press("s")
        await until(lambda: screen.rows)
        assert [r["id"] for r in screen.rows] == [rec["id"]]
        assert screen.query_one("#results", DataTable).row_count == 1
        await pilot.press("enter")
        await until(lambda: screen.bar.player is not None and screen.bar.player.position > 1.0)
        assert "/ 0:08" in str(screen.bar.render())
        screen.query_one("#note").value = "here"
        screen.query_one("#results").focus()
        await pilot.press("m")
        await until(lambda: screen.marks)
        at = screen.marks[0]["at"]
        assert 1.0 <= at <= 3.0
        await pilot.press("f")                        # +5 s
        await until(lambda: screen.bar.player.position > at + 4)
        screen.query_one("#marks").focus()
        await pilot.press("j")                        # back to the pinned moment
        await until(lambda: abs(screen.bar.player.position - at) < 1.0)
        await pilot.press("right_square_bracket")
        assert screen.bar.player.speed == 1.25
        screen.query_one("#results").focus()
        await pilot.press("d")
        await until(lambda: list(tmp_path.glob("recording-*.wav")))
        assert list(tmp_path.glob("recording-*.wav"))[0].read_bytes() == data


async def test_cli_fetch_wav_and_mp3_with_the_token(server, connect, tmp_path):
    rec = add(server.recordings, tone_bytes(tmp_path, 1000, 2.0), agent_id="agent1")
    sup = await connect("sup1")
    agent = await connect("agent1")
    url = f"ws://127.0.0.1:{server.port}/ws"

    def run(*args: str, token: str) -> subprocess.CompletedProcess:
        code = "from cc_console.cli_recordings import recordings_app; recordings_app()"
        return subprocess.run([sys.executable, "-c", code, "fetch", *args, "--url", url, "--token", token],
                              capture_output=True, text=True, timeout=60)

    r = await asyncio.to_thread(run, rec["id"], "--out", str(tmp_path / "x.wav"), token=sup.token)
    assert r.returncode == 0, r.stderr
    assert hashlib.sha256((tmp_path / "x.wav").read_bytes()).hexdigest() == rec["sha256"]
    r = await asyncio.to_thread(run, rec["id"], "--out", str(tmp_path / "x.mp3"), token=sup.token)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.mp3").stat().st_size > 500
    r = await asyncio.to_thread(run, rec["id"], "--out", str(tmp_path / "y.wav"), token=agent.token)
    assert r.returncode == 2 and "may not download" in r.stderr and not (tmp_path / "y.wav").exists()
    actions = [(a["username"], a["action"], a["outcome"], a["detail"])
               for a in server.recordings.store.audit_rows(rec_id=rec["id"])]
    assert ("sup1", "download", "ok", "wav") in actions and ("sup1", "download", "ok", "mp3") in actions
    assert ("agent1", "download", "forbidden", "wav") in actions


def test_search_bench_smoke():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "recordings_search.py"), "--recordings", "3000",
                        "--queries", "60"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert re.match(r"p99: [0-9.]+ ms$", r.stdout.splitlines()[0])
    figures = dict(line.split(": ", 1) for line in r.stdout.splitlines())
    assert figures["recordings"] == "3000" and figures["queries"] == "60"
