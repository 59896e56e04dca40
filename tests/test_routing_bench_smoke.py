"""bench/routing.py runs end to end on a small floor (no timing assertions): both ways of deciding
give the same offers event by event (the bench exits non-zero otherwise), and it prints its figures."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_routing_bench_smoke():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "routing.py"), "--floors", "300x60,600x120",
                        "--events", "200", "--burst", "30", "--bursts", "3", "--queues", "10"],
                       capture_output=True, text=True, timeout=300, cwd=ROOT)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    for tag in ("300x60", "600x120"):
        assert figures[f"floor_{tag}_agents"] == tag.split("x")[0]
        assert figures[f"floor_{tag}_events"] == "200"
        for way in ("before", "after"):
            assert re.fullmatch(r"[0-9.]+ ms", figures[f"{way}_{tag}_p99"]), out
        assert re.fullmatch(r"[0-9]+", figures[f"ratio_{tag}_p99"]), out
    assert int(figures["floor_600x120_offers"]) > 0, out  # the stream did route calls
    lines = out.splitlines()
    assert lines[-2] == f"ratio: {figures['ratio_600x120_p99']}"
    assert lines[-1] == f"p99: {figures['after_600x120_p99']}"
