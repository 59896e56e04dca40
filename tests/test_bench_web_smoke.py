"""bench/web_consoles.py runs (one browser console, a few keys) and prints its headline."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_web_consoles_bench_prints_p99():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "web_consoles.py"), "--consoles", "1", "--keys", "4",
                        "--settle", "1"], capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "consoles: 1 (signed in: 1)" in r.stdout
    assert re.search(r"^console_pss_per_console: \d+\.\d MiB$", r.stdout, re.M)
    assert re.search(r"^p99: \d+\.\d ms$", r.stdout, re.M), r.stdout
