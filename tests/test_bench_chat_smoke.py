"""bench/chat.py runs end to end with tiny parameters (no timing assertions): every chat is accepted,
every message echoed, the figures printed with the p99 headline last."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_chat_bench_smoke():
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "chat.py"), "--agents", "4", "--chats", "12",
                        "--capacity", "3", "--seconds", "1.5", "--interval", "0.5"],
                       capture_output=True, text=True, timeout=180, cwd=ROOT)
    out = r.stdout
    assert r.returncode == 0, out + r.stderr
    figures = dict(line.split(": ", 1) for line in out.splitlines() if ": " in line)
    assert figures["chats_accepted"] == "12", out
    assert int(figures["messages"]) >= 36 and figures["echoed"] == figures["messages"], out
    assert figures["lost"] == "0", out
    assert re.fullmatch(r"[0-9.]+ MiB", figures["server_rss_peak"]), out
    assert out.splitlines()[-1].startswith("p99: ") and re.fullmatch(r"[0-9.]+ ms", figures["p99"]), out
