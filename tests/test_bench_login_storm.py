"""The login-storm benchmark runs end to end with tiny parameters (no timing assertions)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_login_storm_bench_smoke():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "login_storm.py"), "--logins", "12", "--addresses", "3"],
                       capture_output=True, text=True, timeout=180, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    figures = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert figures["logins"] == "12" and figures["failed"] == "0"
    assert re.fullmatch(r"[0-9]+ ms", figures["p99"]), r.stdout
