"""The reports benchmark runs end to end with tiny parameters (no timing assertions): the read model
is built in a child process (split across worker processes), every figure is printed with its floor,
the aggregate path gives the per-call figures, and the p99 headline is last."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_reports_bench_smoke():
    r = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "reports.py"), "--calls", "3000", "--days", "40", "--agents", "8",
         "--runs", "3", "--year-runs", "2", "--reference", "--split-min", "0"],
        capture_output=True, text=True, timeout=600, cwd=ROOT)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert re.fullmatch(r"[0-9.]+ s wall, [0-9.]+ s cpu \(load [0-9.]+\)", figures["first_build"]), out
    assert re.fullmatch(r"[0-9.]+ MiB", figures["first_build_peak_rss"]), out
    assert re.fullmatch(r"[0-9.]+", figures["first_build_seconds"]), out
    # split across worker processes (forced here: a small store): their number, each one's peak and the sum
    assert re.fullmatch(r"[0-9]+ \([0-9]+ parts\)", figures["first_build_workers"]), out
    assert int(figures["first_build_workers"].split()[0]) >= 2 or os.cpu_count() == 1, out
    assert re.fullmatch(r"[0-9]+ MiB \(parent [0-9]+, workers [0-9]+(, [0-9]+)*\)",
                        figures["first_build_peak_rss_sum"]), out
    # the floor beside the build: DuckDB's pass over the raw events when it is installed (the dev extra)
    if "floor_duckdb_events" in figures:
        assert re.fullmatch(r"[0-9.]+", figures["first_build_wall_ratio_to_duckdb"]), out
    else:
        assert figures["floor_duckdb"].startswith("not installed"), out
    assert re.fullmatch(r"[0-9.]+", figures["first_build_cpu_ratio_to_floor"]), out
    for name in ("year_by_month", "year_tenant", "year_agents"):
        assert re.fullmatch(r"[0-9.]+ ms wall, [0-9.]+ ms cpu", figures[f"{name}_p50"]), out
        assert re.fullmatch(r"[0-9.]+", figures[f"{name}_ratio_to_floor"]), out
    assert re.fullmatch(r"[0-9.]+ ms wall, [0-9.]+ ms cpu", figures["floor_sql_daily_rows_by_month_p50"]), out
    assert int(figures["year_by_month_offered"]) > 2500, out
    assert int(figures["rows_hcum"]) > 0, out
    assert figures["reference_identical"] == "True", out
    assert out.splitlines()[-1].startswith("p99: "), out
