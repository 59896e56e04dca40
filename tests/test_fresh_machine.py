"""`scripts/setup` on a stock Debian 12: a bookworm minbase chroot with nothing of ours in it.

The minbase is debootstrapped once and cached beside the sandbox chroot (built into a temporary
directory, renamed when complete). Each run copies it to a fresh root, so setup really starts from
nothing: no python3, no venv, no compiler. The host's pip configuration, local wheel folders,
resolver and extra CA certificates are lent read-only, so that apt and pip inside reach the
package registries the way they do on the host. Slow (minutes), hence one test.
"""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from cc_console.config import load_settings
from cc_console.server.pbx import sandbox

REPO = Path(__file__).resolve().parent.parent
SUITE = "bookworm"
CHECKOUT = "/srv/cc-console"  # where the checkout is copied inside the chroot
ENV_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("debootstrap") is None or shutil.which("git") is None,
    reason="needs root, debootstrap and git (CI has them)")


def _log(msg: str) -> None:
    print(msg, flush=True)


def cached_minbase() -> Path:
    """The debootstrapped bookworm minbase, built once beside the sandbox chroot."""
    base = load_settings(Path("/nonexistent/cc-console.toml")).pbx.root_path.parent / f"{SUITE}-minbase"
    if (base / "usr/bin/apt-get").exists():
        return base
    tmp = base.parent / f"{base.name}.building-{os.getpid()}"
    sandbox._safe_rmtree(tmp, _log)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    p = subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(tmp), sandbox.host_mirror()],
                       capture_output=True, text=True, timeout=1800)
    if p.returncode != 0:
        sandbox._safe_rmtree(tmp, _log)
        raise AssertionError(f"debootstrap {SUITE} failed:\n{(p.stdout + p.stderr)[-3000:]}")
    try:
        tmp.rename(base)
    except OSError:  # another run finished first: use theirs
        sandbox._safe_rmtree(tmp, _log)
    return base


def _pip_paths() -> list[Path]:
    """Config files and local folders the host's pip reads: pip.conf files, constraints, find-links
    and file:// indexes, whether named in a config file or a PIP_* variable."""
    home = Path(os.environ.get("HOME", "/root"))
    files = [Path("/etc/pip.conf"), Path("/etc/xdg/pip/pip.conf"), home / ".config/pip/pip.conf",
             home / ".pip/pip.conf"]
    if os.environ.get("PIP_CONFIG_FILE"):
        files.append(Path(os.environ["PIP_CONFIG_FILE"]))
    values = [v for k, v in os.environ.items() if k.startswith("PIP_")]
    found: list[Path] = []
    for f in files:
        if not f.is_file():
            continue
        found.append(f)
        cp = configparser.ConfigParser(interpolation=None)
        try:
            cp.read(f)
        except configparser.Error:
            continue
        values += [v for section in cp.sections() for v in cp[section].values()]
    for value in values:
        for word in value.split():
            path = word.removeprefix("file://")
            if not path.startswith("/") or not os.path.exists(path):
                continue
            if path.startswith("/etc/ssl/"):  # the CA bundle: ca-certificates builds it inside (see below)
                continue
            p = Path(path)
            if p.name == "simple":  # a PEP 503 index links to files beside it
                p = p.parent
            found.append(p)
    return found


def _bind_ro(src: Path, root: Path) -> None:
    """Lend a host file or folder read-only at the same path inside (a symlink: what it points to)."""
    dst = root / str(src).lstrip("/")
    real = src.resolve()
    if dst.is_symlink():
        dst.unlink()
    if real.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
    else:
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.touch()
    subprocess.run(["mount", "--bind", str(real), str(dst)], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", str(dst)], check=True)


def _copy_checkout(dst: Path) -> None:
    """The tracked files as they are in the working tree (not .venv, not build output)."""
    names = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z"], capture_output=True, check=True).stdout
    for name in filter(None, names.decode().split("\0")):
        src = REPO / name
        if not src.is_file():
            continue  # deleted in the working tree
        (dst / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / name)


@pytest.mark.timeout(3600)
def test_setup_on_stock_debian_12():
    base = cached_minbase()
    root = Path(tempfile.mkdtemp(prefix="cc-fresh-bookworm-", dir=base.parent))
    try:
        subprocess.run(["cp", "-a", f"{base}/.", str(root)], check=True)
        root.chmod(0o755)  # mkdtemp makes it 0700; apt drops to the _apt user inside
        assert not (root / "usr/bin/python3").exists(), "the minbase must start without python3"
        _copy_checkout(root / CHECKOUT.lstrip("/"))
        subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
        subprocess.run(["mount", "-t", "sysfs", "sysfs", str(root / "sys")], check=True)
        subprocess.run(["mount", "--bind", "/dev", str(root / "dev")], check=True)
        # The host's extra CAs go where Debian's ca-certificates takes them in when setup installs it
        # (the bundle itself cannot be lent: update-ca-certificates replaces it).
        lent = [Path("/etc/resolv.conf"), Path("/usr/local/share/ca-certificates"), *_pip_paths()]
        for src in dict.fromkeys(p for p in lent if p.exists()):
            _bind_ro(src, root)

        env = {"PATH": ENV_PATH, "HOME": "/root", "LANG": "C.UTF-8", "TERM": "dumb", "CC_CONSOLE_SETUP_PBX": "0",
               **{k: v for k, v in os.environ.items() if k.startswith("PIP_")}}

        def in_chroot(script: str, timeout: float) -> subprocess.CompletedProcess:
            return subprocess.run(["chroot", str(root), "/bin/bash", "-c", f"cd {CHECKOUT} && {script}"],
                                  env=env, capture_output=True, text=True, timeout=timeout,
                                  stdin=subprocess.DEVNULL)

        p = in_chroot("./scripts/setup", 3000)
        assert p.returncode == 0, f"scripts/setup failed ({p.returncode}):\n{(p.stdout + p.stderr)[-5000:]}"
        assert "setup: done" in p.stdout
        assert (root / CHECKOUT.lstrip("/") / ".venv/bin/python").exists()

        p = in_chroot(".venv/bin/cc-console --help", 120)
        assert p.returncode == 0, p.stdout + p.stderr
        for command in ("server", "agent", "supervisor", "demo", "pbx", "report", "directory"):
            assert command in p.stdout
        # The audio extras built (PyAudio compiles against portaudio) and the venv, not the system, has them.
        p = in_chroot(".venv/bin/python -c 'import pyaudio, vlc, cc_console; print(cc_console.__file__)'", 120)
        assert p.returncode == 0, p.stdout + p.stderr
        assert p.stdout.strip().startswith(CHECKOUT + "/")
        for module in ("cc_console", "textual"):
            p = in_chroot(f"cd / && /usr/bin/python3 -c 'import {module}'", 60)
            assert p.returncode != 0, f"setup must not install into the system python3 ({module} is there)"
        # Running setup again is quick and changes nothing.
        p = in_chroot("./scripts/setup", 300)
        assert p.returncode == 0 and "installing" not in p.stdout, p.stdout + p.stderr
    finally:
        sandbox._safe_rmtree(root, _log)  # kills what is left in the chroot, unmounts, deletes
