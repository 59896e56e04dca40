"""The fan-out benchmark runs end to end with tiny parameters (no timing assertions)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_fanout_bench_smoke():
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "fanout.py"), "--clients", "20", "--events", "20",
         "--rate", "50", "--warmup", "0.2", "--drain", "20", "--timeout", "60"],
        capture_output=True, text=True, timeout=180, cwd=ROOT)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert re.fullmatch(r"[0-9.]+ ms", figures["p99"]), out
    assert figures["clients"] == "20"
    assert figures["events"] == "20"
    assert figures["expected_frames"] == "400"
    assert figures["frames"] == "400"
    assert figures["lost_frames"] == "0", out
    assert figures["disconnects"] == "0", out
    assert re.search(r"^server_rss: [0-9.]+ MiB$", out, re.M), out
    # The floor ran on the same frames and consoles, and the ratios are printed beside ours.
    assert figures["floor_lost_frames"] == "0", out
    assert re.fullmatch(r"[0-9.]+ ms", figures["floor_p99"]), out
    assert re.fullmatch(r"[0-9.]+", figures["p99_ratio"]), out
    assert re.fullmatch(r"-?[0-9.]+ ms", figures["cpu_per_call_over_floor"]), out
    assert out.splitlines()[-1].startswith("p99: "), out


def test_e2e_screens_bench_smoke():
    """The real supervisor and wallboard apps against a real server: every published change they
    should show is seen painted, and each figure is printed, the p99 headline last."""
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "e2e_screens.py"), "--agents", "5", "--agent-rate", "10",
         "--call-rate", "4", "--seconds", "1.5", "--drain", "60", "--timeout", "120"],
        capture_output=True, text=True, timeout=300, cwd=ROOT)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    for kind in ("supervisor", "wallboard"):
        seen, total = figures[f"{kind}_measured"].split(" of ")
        assert seen == total and int(total) > 0, out
        assert re.fullmatch(r"[0-9.]+ ms", figures[f"{kind}_p99"]), out
        for hop in ("created_to_published", "published_to_written", "written_to_arrived", "arrived_to_read",
                    "read_to_client", "client_to_screen", "screen_to_held", "held_to_shown"):
            assert re.fullmatch(r"p50 -?[0-9.]+ ms, p99 -?[0-9.]+ ms \([0-9]+\)", figures[f"{kind}_{hop}"]), out
    assert out.splitlines()[-1].startswith("p99: "), out
