"""The soak benchmark runs end to end against the sandbox Asterisk for about 20 s at a low rate
(the 10-minute run is done by hand): consoles see every call's end once and in sequence, nothing
is left stuck after the burst, and the figures are printed."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.asterisk


def test_soak_bench_smoke(sandbox):
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--consoles", "10", "--agents", "3", "--rate", "1",
         "--seconds", "8", "--burst-rate", "2", "--burst-seconds", "3", "--settle", "30", "--talk", "0.5",
         "--patience", "20", "--rss-every", "1"],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=dict(os.environ))
    out = r.stdout
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert figures.get("sustained_rate") == "1 calls/s", out + r.stderr
    assert figures["consoles"] == "10", out
    for name in ("steady_lost_events", "burst_lost_events", "stuck_calls", "stuck_agents", "stuck_channels",
                 "console_drops", "seq_gaps", "events_lost", "events_duplicated"):
        assert figures[name] == "0", f"{name}\n{out}{r.stderr}"
    assert int(figures["steady_calls"]) == 8 and int(figures["burst_calls"]) == 6, out
    assert int(figures["calls_ended"]) == 14, out
    assert re.search(r"^memory_flat: (yes|no)$", out, re.M), out
    # the server's own state: measured, and nothing an ended call left behind
    assert "engine.agents=" in figures["server_state_first"] and "engine.agents=" in figures["server_state_last"], out
    assert int(figures["calls_between_quiet_points"]) == 8, out  # the steady phase's
    assert figures["state_leaks"] == "none", out
    assert re.search(r"^p99: [0-9.]+ ms$", out, re.M), out
