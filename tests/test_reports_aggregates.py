"""The read model's per-15-minute aggregates give exactly the per-call figures: every report kind,
interval, service-level formula, time zone, range edge and filter, on the scripted day and on seeded
random days; parameters the aggregates cannot answer fall back to the per-call rows."""
from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from cc_console.server.reports import compute, config_maps, fold, params_from, run
from cc_console.server.reports.aggregate import NotAggregable
from cc_console.server.reports.cache import ReportCache
from cc_console.server.reports.levels import BLOCK_DAYS, day_pieces
from cc_console.server.store import SQLiteStore

from .reports_synth import T, random_routing, routing, write_day, write_random

FORMULAS = ("answered", "offered", "offered_minus_short")


def same(cache, cfg, kind, start, end, **kw):
    p = params_from(kind, start, end, **kw)
    ref = run(cache, cfg, p, refresh=False, path="calls")
    agg = run(cache, cfg, p, refresh=False, path="aggregates")
    assert agg.columns == ref.columns
    for r1, r2 in zip(agg.rows, ref.rows):
        assert r1 == r2, (kind, kw, dict(zip(ref.columns, r2)), dict(zip(agg.columns, r1)))
    assert len(agg.rows) == len(ref.rows), (kind, kw)
    return ref


@pytest.fixture
def day(tmp_path):
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    write_day(store)
    cache = ReportCache(tmp_path / "cc.sqlite3")
    cache.refresh()
    yield store, cache
    cache.close()
    store.close()


# ranges over the scripted day: whole slots, partial slots at either end, inside one slot, on the edges
DAY_RANGES = [("08:00:00", "09:15:00"), ("07:00:00", "10:00:00"), ("08:14:50", "08:30:00"),
              ("08:15:00", "08:30:00"), ("08:07:13.5", "09:03:10"), ("08:29:59.9", "08:30:40"),
              ("08:20:00", "08:25:00"), ("08:15:00.001", "08:44:59.999")]


@pytest.mark.parametrize("rng", DAY_RANGES)
def test_scripted_day_every_report(day, rng):
    _, cache = day
    cfg = routing()
    a, b = T(rng[0]), T(rng[1])
    for formula in FORMULAS:
        same(cache, cfg, "queue", a, b, sl_formula=formula)
        same(cache, cfg, "tenant", a, b, sl_formula=formula)
    for iv in ("15", "30", "60", "hour", "day", "week", "month", "total"):
        same(cache, cfg, "interval", a, b, interval=iv)
    same(cache, cfg, "agent", a, b)
    same(cache, cfg, "agent", a, b, queues=["q1"], agents=["ag1"])
    same(cache, cfg, "category", a, b)
    same(cache, cfg, "busiest", a, b, top=3)
    same(cache, cfg, "erlang", a, b, interval="15")
    same(cache, cfg, "queue", a, b, sl_threshold=10.0, buckets=[5, 15], short_abandon=3.0, queues=["q1"])
    same(cache, cfg, "tenant", a, b, tenants=["globex"])


def test_interval_edges_and_formulas_match_the_known_figures(day):
    """The aggregate path on its own (no fallback) gives the documented figures of the scripted day."""
    _, cache = day
    cfg = routing()
    iv = run(cache, cfg, params_from("interval", T("08:00:00"), T("09:15:00"), interval="15"), path="aggregates")
    assert [r["offered"] for r in iv.records()] == [1, 3, 2, 1, 3]
    for formula, pct in (("answered", 100.0), ("offered", 22.22), ("offered_minus_short", 28.57)):
        q = run(cache, cfg, params_from("queue", T("08:00:00"), T("09:15:00"), queues=["q1"], sl_formula=formula),
                path="aggregates")
        assert q.records()[0]["service_level_pct"] == pct


def test_what_the_aggregates_cannot_answer_falls_back(day):
    _, cache = day
    cfg = routing()
    a, b = T("08:00:00"), T("09:15:00")
    for kw in (dict(sl_threshold=20.5), dict(short_abandon=2.5), dict(buckets=[5.5, 20]), dict(sl_threshold=900.0)):
        p = params_from("queue", a, b, **kw)
        with pytest.raises(NotAggregable):
            run(cache, cfg, p, path="aggregates")
        assert run(cache, cfg, p).rows == run(cache, cfg, p, path="calls").rows
    assert by_q(run(cache, cfg, params_from("queue", a, b, queues=["q1"], short_abandon=2.5)))["short_abandons"] == 1
    # a whole threshold over the histogram's range is fine up to 600 s
    same(cache, cfg, "queue", a, b, sl_threshold=600.0, buckets=[0, 600], short_abandon=600.0)


def by_q(r):
    return r.records()[0]


@pytest.fixture(scope="module")
def rnd(tmp_path_factory):
    d = tmp_path_factory.mktemp("rnd")
    store = SQLiteStore(d / "cc.sqlite3")
    first, last = write_random(store, seed=7, days=3, calls_per_day=150)
    cache = ReportCache(d / "cc.sqlite3")
    cache.refresh()
    yield store, cache, first, last
    cache.close()
    store.close()


D0 = datetime(2024, 3, 30, tzinfo=UTC).timestamp()
RANDOM_RANGES = [(D0 - 3600, D0 + 4 * 86400), (D0 + 8 * 3600 + 433.25, D0 + 2 * 86400 + 15 * 3600 + 61.5),
                 (D0 + 86400 + 9 * 3600, D0 + 86400 + 9 * 3600 + 900), (D0 + 10 * 3600 - 5, D0 + 10 * 3600 + 5)]


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "Asia/Kolkata", "America/St_Johns"])
def test_random_days_every_report(rnd, tz):
    _, cache, first, last = rnd
    cfg = random_routing()
    now = last + 600  # the open wrap-up and pause count up to now
    for a, b in RANDOM_RANGES:
        kw = dict(tz=tz, now=now)
        for formula in FORMULAS:
            same(cache, cfg, "queue", a, b, sl_formula=formula, **kw)
        same(cache, cfg, "tenant", a, b, **kw)
        same(cache, cfg, "tenant", a, b, tenants=["acme"], **kw)
        same(cache, cfg, "category", a, b, **kw)
        same(cache, cfg, "busiest", a, b, top=5, **kw)
        same(cache, cfg, "agent", a, b, **kw)
        same(cache, cfg, "agent", a, b, queues=["q2"], agents=["ag1", "ag2", "ag5"], **kw)
        for iv in ("15", "60", "day", "week", "month"):
            same(cache, cfg, "interval", a, b, interval=iv, **kw)
        same(cache, cfg, "erlang", a, b, interval="30", **kw)
        same(cache, cfg, "queue", a, b, sl_threshold=15.0, short_abandon=10.0, buckets=[30, 5, 600, 0], **kw)
        same(cache, cfg, "interval", a, b, interval="hour", queues=["q1", "q3"], sl_formula="offered_minus_short",
             **kw)


def test_random_days_totals_add_up_and_match_a_pure_fold(rnd):
    store, cache, first, last = rnd
    cfg = random_routing()
    sl_of, tenant_of = config_maps(cfg)
    a, b = D0 - 3600, D0 + 4 * 86400
    p = params_from("interval", a, b, interval="day", tz="Europe/Paris", now=last + 600)
    pure = compute(fold(store.events()), p, sl_of, tenant_of)
    assert run(cache, cfg, p, path="aggregates").rows == pure.rows
    total = run(cache, cfg, params_from("queue", a, b, tz="Europe/Paris", now=last + 600), path="aggregates")
    days = pure.records()
    for col in ("received", "offered", "answered", "answered_within", "abandoned", "short_abandons", "overflowed"):
        assert sum(r[col] for r in days) == total.records()[-1][col], col
    assert total.records()[-1]["overflow_in"] > 0 and total.records()[-1]["closed"] > 0


def test_incremental_refresh_keeps_the_aggregates_exact(tmp_path):
    """Events arriving refresh after refresh (calls finishing later, wrap-ups closing later, chunk edges)
    leave the aggregates equal to the per-call figures, and to a read model rebuilt from scratch."""
    import cc_console.server.reports.cache as cache_mod
    src = SQLiteStore(tmp_path / "src.sqlite3")
    write_random(src, seed=11, days=2, calls_per_day=80)
    events = list(src.events())
    src.close()
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    cache = ReportCache(tmp_path / "cc.sqlite3")
    cfg = random_routing()
    old_chunk = cache_mod.CHUNK
    cache_mod.CHUNK = 97  # several chunks per refresh too
    try:
        step = 173
        for i in range(0, len(events), step):
            for e in events[i:i + step]:
                store.record(e.kind, ts=e.ts, data=e.data, call_id=e.call_id, agent_id=e.agent_id, queue=e.queue)
            cache.refresh()
            if i // step % 4 == 0:
                same(cache, cfg, "queue", D0, D0 + 3 * 86400)
    finally:
        cache_mod.CHUNK = old_chunk
    last = events[-1].ts
    for kind, iv in itertools.product(("interval", "agent", "tenant", "category"), ("15", "day")):
        same(cache, cfg, kind, D0, D0 + 3 * 86400, interval=iv, now=last + 60)
    fresh = ReportCache(tmp_path / "cc.sqlite3", tmp_path / "fresh.reports")
    fresh.refresh()
    for t in ("qagg", "qhist", "atime", "acalls", "amiss", "ahist", "hcum"):
        q = f"SELECT * FROM {t} ORDER BY 1, 2, 3, 4" + (", 5, 6" if t in ("qhist", "ahist") else "") + \
            (", 5" if t == "hcum" else "")
        assert cache.db.execute(q).fetchall() == fresh.db.execute(q).fetchall(), t
    fresh.close()
    cache.close()
    store.close()


def test_day_pieces_cover_a_run_of_days_with_few_blocks():
    for dx in range(0, 300, 7):
        for n in (1, 3, 4, 15, 16, 17, 63, 64, 65, 200, 365, 700):
            got = day_pieces(dx, dx + n)
            days = [d for lvl, lo, hi in got for b in range(lo, hi)
                    for d in range(b * BLOCK_DAYS[lvl], (b + 1) * BLOCK_DAYS[lvl])]
            assert days == list(range(dx, dx + n)), (dx, n, got)
            assert all(hi - lo <= 6 for lvl, lo, hi in got if lvl < 5) and len(got) <= 2 * 5, (dx, n, got)


@pytest.fixture(scope="module")
def weeks(tmp_path_factory):
    """A hundred days of calls, folded in steps (chunk edges, calls finishing a refresh later)."""
    import cc_console.server.reports.cache as cache_mod
    d = tmp_path_factory.mktemp("weeks")
    src = SQLiteStore(d / "src.sqlite3")
    first, last = write_random(src, seed=5, days=100, calls_per_day=7)
    events = list(src.events())
    src.close()
    store = SQLiteStore(d / "cc.sqlite3")
    cache = ReportCache(d / "cc.sqlite3")
    old_chunk = cache_mod.CHUNK
    cache_mod.CHUNK = 211
    try:
        for i in range(0, len(events), 997):
            for e in events[i:i + 997]:
                store.record(e.kind, ts=e.ts, data=e.data, call_id=e.call_id, agent_id=e.agent_id, queue=e.queue)
            cache.refresh()
    finally:
        cache_mod.CHUNK = old_chunk
    yield store, cache, first, last
    cache.close()
    store.close()


def test_weeks_and_months_sum_blocks_of_days_exactly(weeks):
    """Ranges of weeks and months are summed from blocks of 4, 16 and 64 days and their cumulative wait
    histograms, and give exactly the per-call figures for any whole-second threshold and band."""
    store, cache, first, last = weeks
    cfg = random_routing()
    now = last + 600
    ranges = [(D0, D0 + 100 * 86400), (D0 + 86400 + 3 * 3600 + 17.5, D0 + 96 * 86400 + 5 * 3600),
              (D0 + 5 * 86400, D0 + 37 * 86400), (D0 - 86400, D0 + 120 * 86400)]
    assert max(lvl for lvl, _, _ in day_pieces(int(D0 // 86400), int(D0 // 86400) + 100)) >= 4
    for a, b in ranges:
        for tz in ("UTC", "Europe/Paris"):
            kw = dict(tz=tz, now=now)
            same(cache, cfg, "queue", a, b, **kw)
            same(cache, cfg, "queue", a, b, sl_threshold=15.0, short_abandon=0.0, buckets=[30, 5, 600, 0],
                 ring_buckets=[0, 3, 3, 1], sl_formula="offered_minus_short", **kw)
            same(cache, cfg, "tenant", a, b, **kw)
            same(cache, cfg, "category", a, b, short_abandon=10.0, **kw)
            for iv in ("day", "week", "month"):
                same(cache, cfg, "interval", a, b, interval=iv, **kw)
            same(cache, cfg, "agent", a, b, **kw)
            same(cache, cfg, "agent", a, b, sl_threshold=7.0, buckets=[600, 2], ring_buckets=[], queues=["q2"],
                 agents=["ag1", "ag3"], **kw)
    fresh = ReportCache(store.path, cache.cache_path.with_name("fresh.rep"))
    fresh.refresh()
    for t in ("qagg", "atime", "acalls", "amiss", "hcum"):
        q = f"SELECT * FROM {t} WHERE lvl >= 2 ORDER BY 1, 2, 3, 4" + (", 5" if t == "hcum" else "")
        assert cache.db.execute(q).fetchall() == fresh.db.execute(q).fetchall(), t
    fresh.close()
