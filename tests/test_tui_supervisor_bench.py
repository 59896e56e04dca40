"""bench/supervisor_tui.py runs end to end with tiny parameters (no timing assertions)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_supervisor_tui_bench_smoke():
    r = subprocess.run([sys.executable, "-m", "bench.supervisor_tui", "--agents", "40", "--queues", "5",
                        "--rate", "40", "--seconds", "1"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    first = r.stdout.splitlines()[0]
    assert re.fullmatch(r"p99: [0-9.]+ ms", first), r.stdout
    assert re.search(r"^cpu: [0-9.]+ % of one core$", r.stdout, re.M), r.stdout
