"""Reports exact to the call: a scripted day of store events, interval edges, Erlang C, exports,
the CLI, scopes, the protocol command and the e-mailed schedule."""
from __future__ import annotations

import asyncio
import io
import time
from datetime import UTC, datetime

import pytest

from cc_console.protocol import ProtocolError
from cc_console.server.reports import compute, config_maps, erlang, fold, last_complete_interval_end, params_from, run
from cc_console.server.reports.cache import ReportCache
from cc_console.server.reports.export import render
from cc_console.server.reports.scope import ScopeError, apply_scope, scope_for
from cc_console.server.store import PostgresStore, SQLiteStore, open_store

from .reports_synth import T, routing, write_day


@pytest.fixture
def day(tmp_path, store_target):
    """The scripted day in a store of each backend, and the read model over it."""
    store = open_store(store_target, local=tmp_path / "cc.sqlite3")
    write_day(store)
    cache = ReportCache(store)
    yield store, cache
    cache.close()
    store.close()


def rep(cache, kind, start="08:00:00", end="09:15:00", **kw):
    return run(cache, routing(), params_from(kind, T(start), T(end), **kw))


def by(report, col=None):
    return {r[report.columns[0]]: r for r in report.records()}


def test_queue_figures_exact(day):
    _, cache = day
    q = by(rep(cache, "queue"))
    q1 = q["q1"]
    expect = dict(received=10, closed=1, offered=9, overflow_in=0, queued=8, answered=2, answered_within=2,
                  abandoned=3, abandoned_announcement=1, abandoned_queue=1, abandoned_ringing=1, short_abandons=2,
                  overflowed=1, overflowed_max_wait=1, overflowed_no_agents=0, callbacks_requested=1,
                  callbacks_completed=0, voicemails=1, in_progress=1, transferred_in=0, transferred_out=0,
                  outbound=0, missed=1, service_level_pct=100.0, asa_s=10.0, longest_wait_s=120.0,
                  talk_s=360.0, hold_s=0.0, wrapup_s=30.0, aht_s=195.0)
    assert {k: q1[k] for k in expect} == expect
    assert (q1["wait_0-10s"], q1["wait_10-20s"], q1["wait_20-30s"], q1["wait_over_120s"]) == (1, 1, 0, 0)
    # the identity: every offered call has exactly one outcome
    assert q1["offered"] == sum(q1[k] for k in ("answered", "abandoned", "overflowed", "callbacks_requested",
                                                "voicemails", "ended_other", "in_progress"))
    q2 = q["q2"]
    assert (q2["received"], q2["overflow_in"], q2["answered"], q2["answered_within"], q2["service_level_pct"],
            q2["asa_s"], q2["talk_s"]) == (1, 1, 1, 0, 0.0, 30.0, 210.0)
    assert q["all"]["offered"] == 10 and q["all"]["answered"] == 3


@pytest.mark.parametrize("formula, pct", [("answered", 100.0), ("offered", 22.22), ("offered_minus_short", 28.57)])
def test_service_level_formulas(day, formula, pct):
    _, cache = day
    assert by(rep(cache, "queue", queues=["q1"], sl_formula=formula))["q1"]["service_level_pct"] == pct


def test_service_level_threshold_and_buckets_configurable(day):
    _, cache = day
    q1 = by(rep(cache, "queue", queues=["q1"], sl_threshold=10.0, buckets=[5, 15]))["q1"]
    assert q1["answered_within"] == 1 and q1["service_level_pct"] == 50.0
    assert (q1["wait_0-5s"], q1["wait_5-15s"], q1["wait_over_15s"]) == (1, 1, 0)
    assert by(rep(cache, "queue", queues=["q1"], short_abandon=2.5))["q1"]["short_abandons"] == 1


def test_interval_edges_count_where_offered(day):
    _, cache = day
    iv = by(rep(cache, "interval", interval="15"))
    assert list(iv) == ["2024-03-04 08:00", "2024-03-04 08:15", "2024-03-04 08:30", "2024-03-04 08:45",
                        "2024-03-04 09:00"]
    # A was offered at 08:14:50 and answered at 08:15:05: it counts at 08:00; B at 08:15:00 sharp at 08:15;
    # C offered 08:29:59.9 and abandoned at 08:30:40 counts at 08:15.
    assert [iv[k]["offered"] for k in iv] == [1, 3, 2, 1, 3]
    assert iv["2024-03-04 08:00"]["answered"] == 1 and iv["2024-03-04 08:15"]["abandoned_ringing"] == 1
    assert iv["2024-03-04 08:45"]["closed"] == 1 and iv["2024-03-04 08:45"]["overflow_in"] == 1
    # Coarser intervals sum the finer ones, exactly.
    hours = by(rep(cache, "interval", interval="hour"))
    assert [hours[k]["offered"] for k in hours] == [7, 3]
    assert by(rep(cache, "interval", interval="day"))["2024-03-04"]["offered"] == 10
    assert by(rep(cache, "interval", interval="month"))["2024-03"]["answered"] == 3
    assert list(by(rep(cache, "interval", interval="week"))) == ["2024-W10"]
    busiest = rep(cache, "busiest", top=1).records()
    assert busiest[0]["hour"] == "2024-03-04 08:00" and busiest[0]["offered"] == 7


def test_intraday_up_to_last_completed_interval():
    now = datetime(2024, 3, 4, 12, 40, tzinfo=UTC).timestamp()
    assert last_complete_interval_end(now, "30", "UTC") == datetime(2024, 3, 4, 12, 30, tzinfo=UTC).timestamp()
    p = params_from("interval", "2024-03-04T08:00", None, tz="UTC", intraday=True, now=now, interval="30")
    assert datetime.fromtimestamp(p.end, UTC).strftime("%H:%M") == "12:30"


def test_agent_figures(day):
    _, cache = day
    a = by(rep(cache, "agent"))
    ag1 = a["ag1"]
    assert (ag1["logged_in_s"], ag1["ready_s"], ag1["talk_s"], ag1["wrapup_s"], ag1["paused_s"], ag1["hold_s"]) == \
        (4320.0, 2790.0, 300.0, 30.0, 1200.0, 0.0)
    assert (ag1["handled"], ag1["missed"], ag1["aht_s"], ag1["occupancy_pct"], ag1["transfers"]) == \
        (1, 1, 330.0, 10.58, 0)
    assert ag1["pauses"] == "lunch 1200s"
    assert a["ag2"]["handled"] == 2 and a["ag2"]["logged_in_s"] == 4500.0


def test_tenant_and_category(day):
    _, cache = day
    t = by(rep(cache, "tenant"))
    assert (t["acme"]["calls"], t["acme"]["closed"], t["acme"]["offered"], t["acme"]["answered"],
            t["acme"]["talk_min_billable"]) == (10, 1, 9, 2, 6)
    assert (t["globex"]["calls"], t["globex"]["answered"], t["globex"]["talk_min_billable"]) == (1, 1, 4)
    assert by(rep(cache, "tenant", tenants=["globex"])).keys() == {"globex"}
    c = by(rep(cache, "category"))
    assert c["billing"]["offered"] == 1 and c["billing"]["answered"] == 1 and c["(none)"]["offered"] == 9


def test_cache_equals_a_pure_fold_and_refreshes_incrementally(tmp_path, store_target):
    store = open_store(store_target, local=tmp_path / "cc.sqlite3")
    cache = ReportCache(store)
    cache.refresh()  # empty
    write_day(store)
    sl_of, tenant_of = config_maps(routing())
    for kind in ("queue", "interval", "agent", "tenant"):
        p = params_from(kind, T("08:00:00"), T("09:15:00"), interval="15")
        pure = compute(fold(store.events()), p, sl_of, tenant_of)
        assert run(cache, routing(), p).rows == pure.rows, kind
    # J (still waiting) ends later: the next refresh re-folds it from its own events.
    # noise without entered
    store.record("call.queued", ts=T("09:10:00"), call={"id": "J2", "queue": "q1", "state": "queued"})
    store.record("call.abandoned", ts=T("09:11:00"),
                 call={"id": "J", "queue": "q1", "stage": "queue", "state": "ended"},
                 data={"by": "caller", "stage": "queue", "wait": 60.0})
    q1 = by(rep(cache, "queue"))["q1"]
    assert q1["in_progress"] == 0 and q1["abandoned_queue"] == 2 and q1["offered"] == 9


def test_erlang_c_textbook():
    r = erlang.evaluate(14, 100, 1800, 180, 20)
    assert (round(r.p_wait, 4), round(r.service_level, 4), round(r.asa, 2)) == (0.1741, 0.8884, 7.84)
    assert erlang.agents_needed(100, 1800, 180, 20, 0.8).agents == 14
    assert erlang.agents_needed(100, 1800, 180, 20, 0.9).agents == 15


def test_erlang_report_from_store(day):
    _, cache = day
    r = rep(cache, "erlang", interval="30")
    first = r.records()[0]
    assert first["calls"] == 4 and first["agents_needed"] >= 1


def test_exports_read_back(day, tmp_path):
    _, cache = day
    r = rep(cache, "queue")
    csv_text = render(r, "csv").decode()
    assert "# from,2024-03-04 08:00" in csv_text and "q1,10,1,9," in csv_text
    from openpyxl import load_workbook
    wb = load_workbook(io.BytesIO(render(r, "xlsx")))
    ws = wb.active
    cells = [[c.value for c in row] for row in ws.iter_rows()]
    assert cells[0][0] == "Queues"
    assert ["from", "2024-03-04 08:00"] in [row[:2] for row in cells]
    header = next(i for i, row in enumerate(cells) if row[0] == "queue")
    q1 = dict(zip(cells[header], cells[header + 1]))
    assert q1["queue"] == "q1" and q1["offered"] == 9 and q1["answered"] == 2 and q1["asa_s"] == 10.0
    from pypdf import PdfReader
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(render(r, "pdf"))).pages)
    assert "Queues" in text and "from: 2024-03-04 08:00" in text and "q1" in text and "offered" in text


def test_cli_writes_files(day, tmp_path):
    from typer.testing import CliRunner

    from cc_console.cli_reports import report_app
    store, _ = day
    routing_file = tmp_path / "routing.toml"
    routing_file.write_text('[queues.q1]\ntenant = "acme"\n[queues.q2]\ntenant = "globex"\n')
    cfg = tmp_path / "config.toml"
    if isinstance(store, PostgresStore):  # the CLI finds the events where [store] url says
        cfg.write_text(f'[server]\nrouting_file = "{routing_file}"\ndb_path = "{tmp_path / "cli.sqlite3"}"\n'
                       f'[store]\nurl = "{store.url}"\n')
    else:
        cfg.write_text(f'[server]\nrouting_file = "{routing_file}"\ndb_path = "{store.path}"\n')
    out = tmp_path / "q.xlsx"
    res = CliRunner().invoke(report_app, ["queue", "-c", str(cfg), "--from", "2024-03-04T08:00", "--to",
                                          "2024-03-04T09:15", "--tz", "UTC", "--queue", "q1", "--format", "xlsx",
                                          "--out", str(out)])
    assert res.exit_code == 0, res.output
    from openpyxl import load_workbook
    assert load_workbook(out).active["A1"].value == "Queues"
    res = CliRunner().invoke(report_app, ["erlang", "--calls", "100", "--aht", "180", "--sl", "20", "--interval", "30"])
    assert res.exit_code == 0 and "14 agents *,100.0,180.0,10.0,14,0.1741,88.84,7.84" in res.output


def test_scope_rule():
    qt = {"q1": "acme", "q2": "globex"}
    everyone = scope_for({"username": "sup1"}, qt)
    assert apply_scope(everyone, [], [], qt) == []  # all
    acme = scope_for({"report_scope": {"tenants": ["acme"]}}, qt)
    assert apply_scope(acme, [], [], qt) == ["q1"]
    with pytest.raises(ScopeError):
        apply_scope(acme, ["q2"], [], qt)
    with pytest.raises(ScopeError):
        apply_scope(acme, [], ["globex"], qt)


async def test_report_run_over_the_protocol(connect, server):
    write_day(server.store)
    sup = await connect("sup1")
    res = await sup.call("report.run", {"kind": "queue", "from": str(T("08:00:00")), "to": str(T("09:15:00")),
                                        "options": {"tz": "UTC"}})
    rows = {r[0]: dict(zip(res["report"]["columns"], r)) for r in res["report"]["rows"]}
    assert rows["all"]["received"] == 11
    agent = await connect("agent1")
    with pytest.raises(Exception) as exc:
        await agent.call("report.run", {"kind": "queue"})
    assert "may not" in str(exc.value)
    with pytest.raises(Exception) as exc:
        await sup.call("report.run", {"kind": "queue", "options": {"bogus": 1}})
    assert "unknown option" in str(exc.value)
    for tz in ("Nowhere/Here", "../../etc/passwd", "x" * 3000):  # the last: too long for a file name
        with pytest.raises(ProtocolError) as exc:
            await sup.call("report.run", {"kind": "queue", "options": {"tz": tz}})
        assert exc.value.code == "bad_request" and "unknown time zone" in exc.value.message


async def test_scheduled_report_is_emailed(day, tmp_path):

    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Message

    from cc_console.server.reports.schedule import Scheduler, parse_schedule

    got: list = []

    class Keep(Message):
        def handle_message(self, message):
            got.append(message)

    from tests.ports import free_port
    port = free_port()
    ctl = Controller(Keep(), hostname="127.0.0.1", port=port)
    ctl.start()
    try:
        _, cache = day
        at = datetime.fromtimestamp(time.time() + 2, UTC).strftime("%H:%M:%S")
        smtp, jobs = parse_schedule({
            "smtp": {"host": "127.0.0.1", "port": port, "sender": "r@test"},
            "schedule": [{"name": "daily", "at": at, "tz": "UTC", "report": "queue", "range": "today",
                          "format": "xlsx", "to": ["boss@test"]}]})
        p0 = jobs[0].params(time.time())
        assert jobs[0].range_for(T("07:00:00"))[0] == T("00:00:00") - 0  # today starts at midnight
        # the job reports on the scripted day, whatever the date of the run
        sched = Scheduler(smtp, jobs, lambda p: run(cache, routing(), params_from(
            "queue", T("08:00:00"), T("09:15:00"))) if p.kind == "queue" else None)
        sched.start()
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.1)
        await sched.stop()
        assert got, "no mail"
        m = got[0]
        assert m["To"] == "boss@test" and "Queues" in m["Subject"]
        parts = [p for p in m.walk() if p.get_filename()]
        from openpyxl import load_workbook
        wb = load_workbook(io.BytesIO(parts[0].get_payload(decode=True)))
        assert wb.active["A1"].value == "Queues"
        assert p0.start <= time.time()
    finally:
        ctl.stop()


def test_ivr_abandon_stages_and_the_queue_the_ivr_chose():
    """A caller lost in an IVR tree's welcome or menus is counted as such in the tree's home queue;
    a call the IVR sends to another queue counts in that queue (not in the home queue)."""
    from types import SimpleNamespace

    from cc_console.server.reports.facts import fold
    from cc_console.server.reports.figures import COUNT_COLUMNS

    def ev(kind, ts, cid, queue, **data):
        call = {"id": cid, "queue": queue, "caller": "0611", "state": "entering", "stage": "ivr", "agent": None}
        return SimpleNamespace(seq=0, kind=kind, ts=ts, call_id=cid, agent_id=None, queue=queue,
                               data={"call": call, **data})
    events = [
        ev("call.entered", 1.0, "a", "home"), ev("call.abandoned", 3.0, "a", "home", stage="before_ivr", wait=2.0),
        ev("call.entered", 4.0, "b", "home"), ev("call.abandoned", 9.0, "b", "home", stage="ivr", wait=5.0),
        ev("call.entered", 10.0, "c", "home"), ev("call.queued", 14.0, "c", "sales"),
        ev("call.abandoned", 20.0, "c", "sales", stage="queue", wait=10.0),
    ]
    segs = {s.call_id: s for s in fold(events).segments}
    assert (segs["a"].queue, segs["a"].stage) == ("home", "before_ivr")
    assert (segs["b"].queue, segs["b"].stage) == ("home", "ivr")
    assert (segs["c"].queue, segs["c"].stage) == ("sales", "queue")
    assert {"abandoned_before_ivr", "abandoned_ivr"} <= set(COUNT_COLUMNS)


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/St_Johns", "Asia/Kolkata", "America/Santiago",
                                "Australia/Lord_Howe"])
def test_interval_starts_by_the_calendar_are_every_start_in_the_range(tz):
    """Days, weeks and months step by the calendar (not 15 minutes at a time): the same starts as
    every 15-minute block's own interval start, across DST changes, over a year."""
    from cc_console.server.reports.figures import Bucketer
    a = datetime(2024, 1, 3, 5, 0, tzinfo=UTC).timestamp()
    b = a + 370 * 86400
    for interval in ("day", "week", "month"):
        bk = Bucketer(interval, tz, a, b)
        every = sorted({bk.key(a)} | {bk.key(float(t)) for t in range(int(a // 900 + 1) * 900, int(b), 900)})
        assert bk.all_keys() == every, (tz, interval)


def test_a_call_id_used_again_later_does_not_stop_the_refresh(tmp_path):
    """A call id that comes back in a later batch (a replayed or duplicated arrival) replaces its rows;
    the refresh goes on instead of failing on the segments' key at every refresh from then on."""
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    cache = ReportCache(tmp_path / "cc.sqlite3")
    call = {"id": "dup", "queue": "q1", "caller": "0611", "state": "entering", "agent": None}
    for base in (T("08:00:00"), T("10:00:00")):
        store.record("call.entered", ts=base, call=call, data={"did": "1"})
        store.record("call.abandoned", ts=base + 3, call=call, data={"stage": "queue", "wait": 3.0})
        cache.refresh()
    store.record("call.entered", ts=T("11:00:00"), call=dict(call, id="next"), data={"did": "1"})
    cache.refresh()
    assert cache.db.execute("SELECT COUNT(*) FROM segs WHERE call_id = 'next'").fetchone()[0] == 1
    cache.close()
    store.close()
