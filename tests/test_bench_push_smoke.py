"""bench/push.py runs end to end with a small push (no timing assertions): every SMS at the SMSC,
every delivery report counted, the figures printed with the headline last."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_push_bench_smoke():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "push.py"), "--subscribers", "50"],
                       capture_output=True, text=True, timeout=180, cwd=ROOT)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert figures["subscribers"] == "50", out
    assert re.fullmatch(r"[0-9.]+ s", figures["all_reports_counted"]), out
    assert out.splitlines()[-1].startswith("sms_per_s: ") and re.fullmatch(r"[0-9]+", figures["sms_per_s"]), out
