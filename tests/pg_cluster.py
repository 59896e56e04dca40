"""A real PostgreSQL cluster for the tests, from Debian's own binaries (the `postgresql` package:
scripts/debian-packages.d/postgresql.txt): initdb and pg_ctl from /usr/lib/postgresql/<version>/bin,
a data folder in a fresh temporary folder, a free TCP port on 127.0.0.1, the unix socket in that
folder, trust authentication, no system service involved.

initdb refuses to run as root, and CI and the developers' machines run the suite as root: then the
cluster runs as the unprivileged system user ``nobody`` (present on every Debian), through
``runuser -u nobody``; the temporary folder is handed to ``nobody`` for that (and made in /tmp when
TMPDIR is a folder ``nobody`` cannot enter). Run as an ordinary
user, the cluster simply runs as that user.
"""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port

RUN_AS = "nobody"


def pg_bin() -> Path:
    """The newest installed PostgreSQL's bin folder; a clear failure when there is none."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    if not found:
        raise RuntimeError("Debian's PostgreSQL is missing (no /usr/lib/postgresql/*/bin/initdb): "
                           "run ./scripts/setup (scripts/debian-packages.d/postgresql.txt)")
    return Path(found[-1]).parent


@dataclass
class PgCluster:
    folder: Path
    port: int
    bin: Path
    as_user: str | None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def log(self) -> Path:
        return self.folder / "postgres.log"

    def dsn(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    @property
    def user(self) -> str:
        return "cc"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        cmd = [str(a) for a in args]
        if self.as_user:
            cmd = ["runuser", "-u", self.as_user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.folder)

    def start(self) -> None:
        r = self._run(self.bin / "initdb", "-D", self.data, "-U", self.user, "--auth=trust",
                      "--encoding=UTF8", "--locale=C", "--no-sync")
        if r.returncode != 0:
            raise RuntimeError(f"initdb failed: {r.stderr.strip() or r.stdout.strip()}")
        # fsync off: a test cluster is thrown away, and the shared machine's disk is slow.
        opts = (f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.folder} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                "-c shared_buffers=32MB")
        r = self._run(self.bin / "pg_ctl", "-D", self.data, "-l", self.log, "-o", opts, "-w", "-t", "60", "start")
        if r.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {r.stderr.strip()}\n{log}")

    def create_database(self, name: str) -> str:
        """A fresh, empty database in this cluster; its DSN."""
        import psycopg

        with psycopg.connect(self.dsn(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self.bin / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop", timeout=30)
        shutil.rmtree(self.folder, ignore_errors=True)


def _others_can_enter(path: Path) -> bool:
    """Whether every folder down to ``path`` lets other users through (x for others)."""
    p = path.resolve()
    return all(os.stat(d).st_mode & 0o001 for d in (p, *p.parents))


def start_cluster() -> PgCluster:
    """Start a cluster in a new temporary folder (the caller stops it)."""
    bin_dir = pg_bin()
    as_user = RUN_AS if os.geteuid() == 0 else None
    base = tempfile.gettempdir()
    if as_user and not _others_can_enter(Path(base)):
        base = "/tmp"  # a TMPDIR inside root's home: nobody could reach the cluster's folder
    folder = Path(tempfile.mkdtemp(prefix="cc-pg-", dir=base))
    if as_user:
        pw = pwd.getpwnam(RUN_AS)
        os.chown(folder, pw.pw_uid, pw.pw_gid)
        folder.chmod(0o700)
    cluster = PgCluster(folder=folder, port=free_port(), bin=bin_dir, as_user=as_user)
    try:
        cluster.start()
    except BaseException:
        cluster.stop()
        raise
    return cluster


def store_rows(store: object, sql: str) -> list[tuple[object, ...]]:
    """Rows of a query (no parameters) on a store's database, whichever backend it is on: tests
    that look at the tables themselves run on both."""
    base = getattr(store, "base", store)
    url = getattr(base, "url", None)
    if url:
        import psycopg

        with psycopg.connect(url) as db:
            return db.execute(sql).fetchall()  # type: ignore[arg-type]
    return [tuple(r) for r in base._db.execute(sql).fetchall()]  # type: ignore[attr-defined]


def cli_db_args(settings: object, db: str, folder: Path) -> list[str]:
    """How a test points the CLI at its server's data: ``--db FILE`` on SQLite; with the server on
    PostgreSQL (``[store] url``), a config file naming that database, as an installation's would."""
    url = getattr(settings, "sections", {}).get("store", {}).get("url", "")
    if not url:
        return ["--db", db]
    cfg = folder / "cli-config.toml"
    cfg.write_text(f'[server]\ndb_path = "{settings.server.db_path}"\n[store]\nurl = "{url}"\n')  # type: ignore[attr-defined]
    return ["-c", str(cfg)]
