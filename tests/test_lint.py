"""The team's code style and typing, checked: ruff over the repo, mypy over the installed package.

Both read their settings from pyproject.toml ([tool.ruff], [tool.mypy]). mypy runs on a real
install because the repo maps server/, screens/, widgets/ and themes/ into cc_console.* only when
installed; on the checkout it would not find cc_console.server.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    # The console script beside this interpreter (a pyenv shim or the system may not have it).
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else (shutil.which(name) or name)


def test_ruff_clean():
    r = subprocess.run([_tool("ruff"), "check", "--no-cache", "--output-format", "concise", str(ROOT)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_clean(installed, tmp_path):
    # The cache goes to a temporary directory: not into the checkout, nor into the shared install,
    # whose top level test_architecture.py checks.
    r = subprocess.run([_tool("mypy"), "--config-file", str(ROOT / "pyproject.toml"),
                        "--cache-dir", str(tmp_path / "mypy_cache"), "-p", "cc_console"],
                       cwd=installed, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
