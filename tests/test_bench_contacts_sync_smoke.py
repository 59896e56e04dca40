"""bench/contacts_sync.py runs end to end with a small load (no timing assertions)."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_contacts_sync_bench_smoke():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "contacts_sync.py"), "--contacts", "3000",
                        "--lookups", "300"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    figures = dict(line.split(": ", 1) for line in r.stdout.splitlines() if ": " in line)
    assert figures["contacts"] == "3000" and figures["lookups"] == "300"
    for name in ("lookup_p50", "lookup_p99", "lookup_max"):
        assert re.fullmatch(r"[0-9.]+ ms", figures[name]), r.stdout
    assert re.fullmatch(r"[0-9]+ MiB", figures["server_peak_rss"]), r.stdout
    assert re.fullmatch(r"[0-9.]+ s", figures["load_seconds"]), r.stdout
