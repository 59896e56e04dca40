"""bench/directory.py runs end to end with tiny parameters: the server in its own process, the
console's keystrokes, the CLI asking the server (no timing assertions)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_directory_bench_smoke():
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_CONSOLE_")}
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "directory.py"), "--persons", "300", "--orgs", "3",
                        "--absences", "2", "--queries", "100", "--tui-keystrokes", "8"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert figures["persons"] == "300" and figures["tui_keystrokes"] == "8", out
    for name in ("p99", "tui_p99"):
        assert re.match(r"[0-9.]+ ms", figures[name]), out
    for name in ("cli_search_server_s", "cli_search_local_s"):
        assert re.match(r"[0-9.]+ s", figures[name]), out
