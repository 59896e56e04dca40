"""Shared fixtures: a real server on a free port with seeded users, and console clients.

Users are hashed once per session into a template database that each test copies: argon2 is
slow on purpose, and the suite should not pay for it per test.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from cc_console.client import ConsoleClient
from cc_console.config import QueueSettings, Settings, load_settings
from cc_console.server import registry
from cc_console.server.app import Server
from cc_console.server.auth import Auth
from cc_console.server.store import SQLiteStore

# The capabilities' commands join cc_console.protocol.COMMANDS as a server does at start-up, so the
# tests that walk the command table (fuzzers, parity, docs) see every command from the start.
registry.load_commands()

# Hermetic: a developer's own ~/.config/cc-console (routing.toml, keymap, reports.toml) must not
# leak into the tests. The data dir (where the sandbox chroot lives) is kept.
os.environ["CC_CONSOLE_CONFIG_DIR"] = tempfile.mkdtemp(prefix="cc-test-config-")

PASSWORD = "secret-pass"
USERS = [
    # username, role, device, answer mode
    ("agent1", "agent", "PJSIP/1001", "console"),
    ("agent2", "agent", "PJSIP/1002", "console"),
    ("agent3", "agent", "PJSIP/1003", "phone"),
    ("sup1", "supervisor", "PJSIP/1008", "console"),
    ("wall1", "wallboard", "", "console"),
    ("admin1", "admin", "", "console"),
]


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (non-editable) install of the repo, as a user would have it: there server/ really is
    cc_console/server/, which import-linter and mypy need to resolve the package's own imports."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(Path(__file__).resolve().parents[1])],
                   check=True, capture_output=True)
    return target


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "cc.sqlite3"
    store = SQLiteStore(path)
    _seed_users(Auth(store))
    store.close()
    return path


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--store", choices=("sqlite", "postgresql"),
                     default=os.environ.get("CC_CONSOLE_TEST_STORE", "sqlite"),
                     help="the backend of the servers' store in the tests (docs/storage.md); postgresql "
                          "starts a test cluster (tests/pg_cluster.py) and gives each test a database of its own")
    parser.addoption("--stored-only", action="store_true",
                     help="only the tests whose server keeps a store (those that use the settings fixture): "
                          "the test command's second pass, on PostgreSQL, runs these (the others do not "
                          "depend on the backend, and ran in the first pass)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("--stored-only"):
        return
    keep = [i for i in items if "settings" in getattr(i, "fixturenames", ())
            and not i.get_closest_marker("sqlite_only")]
    kept = set(map(id, keep))
    config.hook.pytest_deselected(items=[i for i in items if id(i) not in kept])
    items[:] = keep


# -- PostgreSQL: one test cluster per session, a fresh database per test -----------------------------
@pytest.fixture(scope="session")
def pg_cluster():
    from .pg_cluster import start_cluster
    cluster = start_cluster()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def pg_dsn(pg_cluster) -> str:
    """The test cluster's maintenance database (create your own in it, or use `pg_url`)."""
    dsn: str = pg_cluster.dsn()
    return dsn


_pg_databases = iter(range(1, 10**9))


def _pg_database(cluster, template: str | None = None) -> str:
    import psycopg
    name = f"t{next(_pg_databases)}"
    with psycopg.connect(cluster.dsn(), autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    url: str = cluster.dsn(name)
    return url


@pytest.fixture
def pg_url(pg_cluster) -> str:
    """A fresh, empty PostgreSQL database for this test."""
    return _pg_database(pg_cluster)


@pytest.fixture(scope="session")
def pg_template(pg_cluster) -> str:
    """A database with the seeded users (as template_db), copied per test by CREATE DATABASE ... TEMPLATE."""
    import psycopg

    from cc_console.server.store import PostgresStore
    with psycopg.connect(pg_cluster.dsn(), autocommit=True) as db:
        db.execute('CREATE DATABASE "cc_template"')
    store = PostgresStore(pg_cluster.dsn("cc_template"), local="/nonexistent")
    _seed_users(Auth(store))
    store.close()
    return "cc_template"


@pytest.fixture
def pg_seeded_url(pg_cluster, pg_template) -> str:
    """A fresh PostgreSQL database with the seeded users (as template_db), for servers a test starts."""
    return _pg_database(pg_cluster, pg_template)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives, once per backend: an SQLite file, then a fresh PostgreSQL database."""
    if request.param == "postgresql":
        return _pg_database(request.getfixturevalue("pg_cluster"))
    return str(tmp_path / "cc.sqlite3")


def _seed_users(auth: Auth) -> None:
    for name, role, device, mode in USERS:
        auth.add_user(name, PASSWORD, role, name=name.title(), device=device, answer_mode=mode,
                      queues=["support"] if role in ("agent", "supervisor") else [])


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path, template_db: Path) -> Settings:
    db = tmp_path / "cc.sqlite3"
    shutil.copy(template_db, db)
    base = load_settings(tmp_path / "none.toml")
    s = Settings(pbx=base.pbx, server=base.server,
                 queues=[QueueSettings(name="support", dids=["5000"], service_level=20.0),
                         QueueSettings(name="sales", dids=["5001"])])
    s.server.port = 0
    s.server.db_path = str(db)
    s.server.ring_timeout = 4.0
    s.server.login_max_failures = 3
    s.server.ari_reconnect_min = 0.1
    s.server.ari_reconnect_max = 0.5
    s.server.queue_log_path = str(tmp_path / "queue_log")
    s.server.callback_digit_timeout = 1.5
    s.pbx.moh_class = "cc-tone"  # a steady 350 Hz: music would put energy at every test tone's frequency
    if "sandbox" not in request.fixturenames:
        # Tests that do not ask for Asterisk get none: ARI points at a closed port.
        s.pbx.http_port = 9
    pg = request.config.getoption("--store") == "postgresql" and not request.node.get_closest_marker("sqlite_only")
    if pg or "on_postgresql" in request.fixturenames:
        template = request.getfixturevalue("pg_template")
        s.sections["store"] = {"url": _pg_database(request.getfixturevalue("pg_cluster"), template)}
    return s


@pytest.fixture
def on_postgresql() -> None:
    """Asked for by a test: its server keeps its store in PostgreSQL whatever --store says."""


@pytest.fixture
async def server(settings: Settings, clean_asterisk: None) -> AsyncIterator[Server]:
    srv = Server(settings)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


@pytest.fixture
async def connect(server: Server):
    """connect(user=None) -> a connected ConsoleClient, logged in when a user is given."""
    clients: list[ConsoleClient] = []

    async def make(user: str | None = None, *, reconnect: bool = False) -> ConsoleClient:
        c = ConsoleClient(server.url, reconnect=reconnect)
        await c.connect()
        clients.append(c)
        if user:
            await c.login(user, PASSWORD)
        return c

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
async def connect_to():
    """connect_to(server, user) for tests that run more than one server in turn."""
    clients: list[ConsoleClient] = []

    async def make(srv: Server, user: str) -> ConsoleClient:
        c = ConsoleClient(srv.url, reconnect=False)
        await c.connect()
        clients.append(c)
        await c.login(user, PASSWORD)
        return c

    yield make
    for c in clients:
        await c.close()


# -- the real sandbox Asterisk ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def sandbox():
    """Bring the sandbox Asterisk up once per session (idempotent: reuses a running one)."""
    from cc_console.server.pbx import sandbox as sb
    s = load_settings(Path("/nonexistent/cc-console.toml")).pbx
    sb.up(s, log=lambda m: None)
    return s


@pytest.fixture
def clean_asterisk(request: pytest.FixtureRequest, settings: Settings) -> None:
    """Tests on the sandbox start with no channel in Asterisk: a stray caller left by an earlier
    test would be found by our server's first resync and routed."""
    if "sandbox" not in request.fixturenames:
        return
    import httpx
    p = settings.pbx
    with httpx.Client(base_url=p.ari_url, auth=(p.ari_user, p.ari_password), timeout=10) as http:
        for ch in http.get("/channels").json():
            http.delete(f"/channels/{ch['id']}")


@pytest.fixture
async def pbx(sandbox):
    from .asterisk import SandboxPbx
    t = SandboxPbx(sandbox)
    # Each test starts and ends with no channel in Asterisk: a stray caller from an earlier test
    # would be found by the resync and routed.
    for ch in await t.channel_ids():
        await t.hangup(ch)
    yield t
    for ch in await t.channel_ids():
        await t.hangup(ch)
    await t.close()


@pytest.fixture
async def phone(sandbox):
    """phone(number, auto_answer=True) -> a registered real baresip phone, stopped after the test."""
    from cc_console.server.pbx.phones import Phone
    phones: list[Phone] = []

    async def make(number: str, auto_answer: bool = True) -> Phone:
        p = Phone(sandbox, int(number), answermode="auto" if auto_answer else "manual")
        await p.start()
        phones.append(p)
        await p.wait_registered(timeout=15)
        return p

    yield make
    for p in phones:
        await p.stop()


@pytest.fixture
async def floor(tmp_path: Path):
    """A call engine fed ARI events, no Asterisk (tests/floor.py)."""
    from .floor import Floor
    f = Floor(tmp_path)
    yield f
    await f.idle()
    f.close()
