"""A real PostgreSQL cluster for the high-availability tests: the lease is an advisory lock on it.

initdb and pg_ctl come from Debian's postgresql package (/usr/lib/postgresql/<version>/bin). The
cluster lives in a folder of its own under the system temp dir, listens on 127.0.0.1 on a free port
with its unix socket in that folder, trusts local connections and is stopped (and removed) by the test.
initdb refuses to run as root, so as root the cluster runs as `nobody`.

(The store's PostgreSQL backend brings tests/pg_cluster.py; the two are to be merged.)
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (initdb not found under /usr/lib/postgresql): "
                           "run ./scripts/setup, which installs the postgresql package")
    return Path(found[-1]).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    def __init__(self) -> None:
        self.bin = pg_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="cc-pg-lease-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_nobody = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self.as_nobody:
            cmd = ["runuser", "-u", "nobody", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=self.dir)

    def _check(self, what: str, done: subprocess.CompletedProcess[str]) -> None:
        if done.returncode:
            raise RuntimeError(f"PostgreSQL {what} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")

    def start(self) -> PgCluster:
        if self.as_nobody:
            shutil.chown(self.dir, "nobody")
        self._check("initdb", self._run(self.bin / "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres",
                                        "--no-sync", "-E", "UTF8"))
        opts = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._check("start", self._run(self.bin / "pg_ctl", "-D", str(self.data), "-o", opts, "-l",
                                       str(self.dir / "pg.log"), "-w", "-t", "60", "start"))
        return self

    def stop(self) -> None:
        if self.data.exists():
            self._run(self.bin / "pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
