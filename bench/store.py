"""The store on PostgreSQL against SQLite, side by side: appending events, and a year's report.

    python bench/store.py [--events 20000] [--singles 300] [--calls 100000] [--days 365] [--agents 60]
                          [--year-runs 5] [--pg postgresql://...]

Without --pg a PostgreSQL cluster of its own is started (tests/pg_cluster.py: Debian's initdb and
pg_ctl, a temporary folder, fsync off as the tests run it; with --pg, that server as it is).
For each backend:

  append_rate_*     events a second through the server's own path: `BufferedStore.record()` on the
                    loop, the writer thread committing in batches; --events back to back, timed until
                    every one is committed (`drained`)
  append_one_*      one event, one transaction, its own commit (`record()` of the synchronous store,
                    the CLI's and tools' path; and what a lone event costs the writer): p50 and p99
  year_*            the year of bench/reports.py's generator (--calls over --days) in each store
                    (PostgreSQL gets it through `migrate-store`'s copy, itself timed): the reports'
                    read model built from the store's events (first_build: reading and folding every
                    event through the store's event reader), then the year by month, p50 of --year-runs
                    (the read model is a local SQLite file on both: this one differs by noise alone)

Each figure pair is followed by its ratio (PostgreSQL / SQLite). The headline, last, is `p99: <value>
ms`: one event's commit on PostgreSQL (append_one_postgresql_p99).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from reports import QUEUES, Clock, generate, pct  # noqa: E402

from cc_console.server.acd.config import Queue, RoutingConfig  # noqa: E402
from cc_console.server.reports import params_from, run  # noqa: E402
from cc_console.server.reports.cache import ReportCache  # noqa: E402
from cc_console.server.store import BufferedStore, PostgresStore, SQLiteStore  # noqa: E402
from cc_console.server.store.copy import copy_store  # noqa: E402


def call(i: int, state: str) -> dict:
    return {"id": f"b{i:08d}", "queue": "support", "caller": "0611111111", "state": state, "agent": "agent007",
            "stage": "queue", "channel": f"ch-{i}", "bridge": f"cc-b{i:08d}", "skills": [], "priority": 0}


async def append_rate(folder: Path, url: str | None, n: int) -> float:
    store = BufferedStore(folder / "rate.sqlite3", url=url)
    store.start()
    t = time.perf_counter()
    for i in range(n):
        store.record("call.queued", ts=1e9 + i, call=call(i, "queued"), data={"position": 1})
    await store.drained()
    wall = time.perf_counter() - t
    await asyncio.to_thread(store.close)
    return n / wall


def append_one(store: SQLiteStore | PostgresStore, n: int) -> list[float]:
    walls = []
    for i in range(n):
        with Clock() as c:
            store.record("call.connected", ts=2e9 + i, call=call(i, "connected"), data={"wait": 7.0})
        walls.append(c.wall)
    return walls


def build(store: SQLiteStore | PostgresStore) -> tuple[ReportCache, float]:
    """A read model built from nothing over this store's events: (it, seconds)."""
    for suffix in ("", "-wal", "-shm"):
        Path(store.beside(".reports") + suffix).unlink(missing_ok=True)
    cache = ReportCache(store)
    with Clock() as c:
        cache.refresh()
    return cache, c.wall


def year_reports(caches: list[ReportCache], cfg: RoutingConfig, start: float, days: int,
                 runs: int) -> tuple[list[list[float]], list[int]]:
    """The year by month on each read model, the runs interleaved (a loaded machine's noise falls
    on both alike): the walls and the offered total of each."""
    walls: list[list[float]] = [[] for _ in caches]
    offered = [0] * len(caches)
    for _ in range(runs):
        for i, cache in enumerate(caches):
            with Clock() as c:
                r = run(cache, cfg, params_from("interval", start, start + days * 86400, tz="UTC", interval="month"))
            walls[i].append(c.wall)
            offered[i] = sum(row[r.columns.index("offered")] for row in r.rows)
    return walls, offered


def side(name: str, sqlite: float, postgres: float, unit: str, fmt: str = ".1f") -> None:
    print(f"{name}_sqlite: {sqlite:{fmt}} {unit}")
    print(f"{name}_postgresql: {postgres:{fmt}} {unit}")
    print(f"{name}_ratio_postgresql_to_sqlite: {postgres / sqlite:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=20_000, help="events for the append rate")
    ap.add_argument("--singles", type=int, default=300, help="single-event commits timed")
    ap.add_argument("--calls", type=int, default=100_000, help="calls in the generated year")
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--year-runs", type=int, default=5)
    ap.add_argument("--pg", default=None, help="an empty PostgreSQL database to use (default: a cluster of our own)")
    a = ap.parse_args()
    tmp = tempfile.TemporaryDirectory()
    folder = Path(tmp.name)
    cluster = None
    if a.pg:
        base_url = a.pg

        def new_db(name: str) -> str:
            import psycopg
            with psycopg.connect(base_url, autocommit=True) as db:
                db.execute(f'DROP DATABASE IF EXISTS "{name}"')
                db.execute(f'CREATE DATABASE "{name}"')
            return base_url.rsplit("/", 1)[0] + "/" + name
    else:
        from tests.pg_cluster import start_cluster
        cluster = start_cluster()
        new_db = cluster.create_database
    try:
        print(f"cpu_count: {os.cpu_count()}")
        print(f"load_average: {os.getloadavg()[0]:.1f}")
        # -- appending ----------------------------------------------------------------------------
        rate_sq = asyncio.run(append_rate(folder, None, a.events))
        rate_pg = asyncio.run(append_rate(folder, new_db("bench_rate"), a.events))
        side("append_rate", rate_sq, rate_pg, "events/s", ".0f")
        sq = SQLiteStore(folder / "one.sqlite3")
        pg = PostgresStore(new_db("bench_one"), local=str(folder / "one-pg.sqlite3"))
        one_sq, one_pg = append_one(sq, a.singles), append_one(pg, a.singles)
        sq.close()
        pg.close()
        side("append_one_p50", pct(one_sq, 50) * 1000, pct(one_pg, 50) * 1000, "ms", ".3f")
        side("append_one_p99", pct(one_sq, 99) * 1000, pct(one_pg, 99) * 1000, "ms", ".3f")
        # -- a year's report --------------------------------------------------------------------------
        db = folder / "year.sqlite3"
        with Clock() as c:
            n_events, start = generate(db, a.calls, a.days, a.agents, a.seed)
        print(f"year_events: {n_events} ({a.calls} calls over {a.days} days; generated in {c.wall:.1f} s)")
        url = new_db("bench_year")
        with Clock() as c:
            copy_store(db, url)
        print(f"migrate_store_copy: {c.wall:.1f} s wall ({n_events / c.wall:.0f} events/s)")
        cfg = RoutingConfig(queues={q: Queue(q, tenant=t) for q, t in QUEUES})
        sq = SQLiteStore(db)
        pg = PostgresStore(url, local=str(folder / "year-pg.sqlite3"))
        cache_sq, build_sq = build(sq)
        cache_pg, build_pg = build(pg)
        (walls_sq, walls_pg), (offered_sq, offered_pg) = year_reports([cache_sq, cache_pg], cfg, start, a.days,
                                                                      a.year_runs)
        cache_sq.close()
        cache_pg.close()
        sq.close()
        pg.close()
        if offered_sq != offered_pg:
            raise SystemExit(f"the year's figures differ: {offered_sq} offered on SQLite, {offered_pg} on PostgreSQL")
        print(f"year_offered: {offered_pg} (the same on both)")
        side("year_first_build", build_sq, build_pg, "s", ".2f")
        side("year_by_month_p50", pct(walls_sq, 50) * 1000, pct(walls_pg, 50) * 1000, "ms", ".1f")
        print(f"load_average_end: {os.getloadavg()[0]:.1f}")
        print(f"p99: {pct(one_pg, 99) * 1000:.2f} ms")
    finally:
        if cluster:
            cluster.stop()
        tmp.cleanup()


if __name__ == "__main__":
    main()
