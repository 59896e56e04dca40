"""The store benchmark runs end to end with tiny parameters on a real PostgreSQL cluster of its own
(no timing assertions): every figure on both backends with its ratio, the same year's figures from
both, and the p99 headline last."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_store_bench_smoke():
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "store.py"), "--events", "300", "--singles", "20", "--calls", "500",
         "--days", "10", "--agents", "5", "--year-runs", "2"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    for name in ("append_rate", "append_one_p50", "append_one_p99", "year_first_build", "year_by_month_p50"):
        for backend in ("sqlite", "postgresql"):
            assert re.fullmatch(r"[0-9.]+ (events/s|ms|s)", figures[f"{name}_{backend}"]), out
        assert re.fullmatch(r"[0-9.]+", figures[f"{name}_ratio_postgresql_to_sqlite"]), out
    assert int(figures["year_offered"].split()[0]) > 400, out
    assert out.splitlines()[-1].startswith("p99: ") and out.splitlines()[-1].endswith(" ms"), out
