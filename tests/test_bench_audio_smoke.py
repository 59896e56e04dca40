"""bench/audio.py runs on the sandbox Asterisk and prints mouth-to-ear figures with its headline."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.asterisk


def test_audio_bench_prints_p99(sandbox):
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "audio.py"), "--seconds", "2"],
                       capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^impaired_heard: [1-9]\d*$", r.stdout, re.M), r.stdout
    assert re.search(r"^p99: \d+\.\d ms$", r.stdout, re.M), r.stdout
