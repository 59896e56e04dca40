"""The design card, checked: the core never imports the UI; installed, everything is cc_console.*."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# `installed` (a real, non-editable install of the repo) comes from conftest.py; test_lint.py uses it too.


def test_one_namespace_no_bare_packages(installed):
    top = {p.name for p in installed.iterdir() if not p.name.endswith((".dist-info", ".egg-info"))} - {"bin"}
    assert top == {"cc_console"}, top
    for sub in ("server", "screens", "widgets", "themes"):
        assert (installed / "cc_console" / sub / "__init__.py").exists()
    assert list((installed / "cc_console" / "themes").glob("*.tcss"))
    assert list((installed / "cc_console" / "server" / "pbx" / "templates").glob("*.conf"))


def test_import_linter_contracts_hold(installed):
    # grimp reads packages from disk, so it checks the installed tree, where server/ really is
    # cc_console/server/.
    env = {**os.environ, "PYTHONPATH": str(installed)}
    # The console script beside this interpreter (a pyenv shim may not know it yet).
    exe = Path(sys.executable).parent / "lint-imports"
    r = subprocess.run([str(exe) if exe.exists() else "lint-imports", "--config", str(ROOT / "pyproject.toml")],
                       cwd=installed, env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # one contract per rule (pyproject.toml [tool.importlinter]), each checked
    for rule in ("The core and the server never import the UI", "Capabilities are independent of each other",
                 "Adapters -> services -> domain, never back", "Inside a capability: plugin -> service -> store"):
        assert f"{rule} KEPT" in r.stdout, rule


def test_server_and_core_run_without_textual():
    code = ("import sys; import cc_console.server.app, cc_console.client, cc_console.protocol, cc_console.cli;"
            "bad=[m for m in sys.modules if m == 'textual' or "
            "m.startswith(('textual.','cc_console.screens','cc_console.widgets'))];"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_authorization_headers_are_read_in_one_place():
    """Every HTTP route takes its principal from server/api/bearer.py; no other module of the server
    reads an Authorization header (the ARI client only sends one)."""
    readers = []
    for path in sorted((ROOT / "server").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in ("server/api/bearer.py", "server/ari/__init__.py"):
            continue
        text = path.read_text()
        if "bearer_token(" in text or '"Authorization"' in text or "'Authorization'" in text:
            readers.append(rel)
    assert readers == [], readers
