"""The load benchmark runs end to end against the sandbox Asterisk with tiny parameters (no timing
assertions): calls go in, agents answer and hang up, nothing is lost or left behind."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.asterisk


def test_routing_load_bench_smoke(sandbox):
    # The bench reads the sandbox's address through load_settings(), like the `sandbox` fixture:
    # the environment (CC_CONSOLE_ARI_PORT etc.) is passed on as it is.
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "routing_load.py"), "--agents", "3", "--rate", "2",
         "--seconds", "3", "--talk", "0.5", "--patience", "20", "--drain", "60"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, env=dict(os.environ))
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert figures["rate_offered"] == "2/s", out
    assert figures["lost_events"] == "0", out + r.stderr
    assert figures["leftover_channels"] == "0", out + r.stderr
    assert figures["active_calls_left"] == "0", out + r.stderr
    assert figures["stuck_agents"] == "0", out + r.stderr
    assert int(figures["calls"]) == 6, out
    assert int(figures["completed"]) + int(figures["abandoned"]) + int(figures["ended_other"]) == 6, out
    assert re.search(r"^p99: [0-9.]+ ms$", out, re.M), out
    assert re.search(r"^max_clean_rate: 2 calls/s$", out, re.M), out
