"""One service level: the live queue figures, an agent's own figures and the reports count the
same calls as within the same queue's threshold (cc_console/service_level.py). Fast: no Asterisk."""
from __future__ import annotations

import time

from cc_console import service_level
from cc_console.config import QueueSettings
from cc_console.server.acd.config import Queue, RoutingConfig, parse_routing
from cc_console.server.ari import AriClient
from cc_console.server.calls.engine import CallEngine
from cc_console.server.contacts.figures import agent_figures
from cc_console.server.reports import params_from, run
from cc_console.server.reports.cache import ReportCache
from cc_console.server.store import SQLiteStore

# waits in seconds: the queue's threshold is 30 s; 30.0 is within (inclusive), 31.0 is not
WAITS = {"support": [5.0, 30.0, 31.0], "sales": [5.0, 19.0, 21.0]}  # sales: no threshold of its own -> 20 s


def _day(store: SQLiteStore, t0: float) -> None:
    t = t0
    for queue, waits in WAITS.items():
        for i, wait in enumerate(waits):
            cid = f"{queue}-{i}"
            call = {"id": cid, "queue": queue, "caller": f"06{i}", "state": "queued", "agent": None, "did": "5000",
                    "channel": f"ch-{cid}", "bridge": f"br-{cid}"}
            store.record("call.entered", ts=t, call=dict(call), data={"did": "5000"})
            store.record("call.queued", ts=t, call=dict(call), data={"stage": "queue", "position": 1})
            on = {**call, "agent": "ag1", "state": "connected"}
            store.record("call.offered", ts=t + wait, call=dict(on), data={"agent": "ag1"}, agent_id="ag1")
            store.record("call.connected", ts=t + wait, call=dict(on), data={"agent": "ag1", "wait": wait},
                         agent_id="ag1")
            store.record("call.completed", ts=t + wait + 60, call={**on, "state": "ended"},
                         data={"by": "caller", "talk": 60.0}, agent_id="ag1")
            t += 120


def test_live_agent_and_report_figures_share_one_service_level(tmp_path):
    now = time.time()
    t0 = now - 3600
    if time.localtime(t0).tm_mday != time.localtime(now).tm_mday:  # just after midnight: stay within today
        t0 = time.mktime(time.localtime(now)[:3] + (0, 0, 1, 0, 0, -1))
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    _day(store, t0)
    routing = parse_routing({"queues": {"support": {"dids": ["5000"], "service_level": 30},
                                        "sales": {"dids": ["5001"]}}})
    assert routing.thresholds["sales"] == service_level.DEFAULT_THRESHOLD
    # live: the engine's counters since midnight, rebuilt from the store as after a restart
    engine = CallEngine(AriClient("http://127.0.0.1:9", "u", "p", "app"), store, routing, clock=lambda: now)
    engine.load([])
    live = {q: engine.queue_stats(q)["service_level"] for q in WAITS}
    # the agent's own figures
    fig = agent_figures(store.events(), "ag1", now, queues=list(WAITS), sl_threshold=routing.thresholds)
    mine = {q: fig["windows"]["24h"]["queues"][q]["service_level"] for q in WAITS}
    # the reports, call by call and from the aggregates
    cache = ReportCache(tmp_path / "cc.sqlite3")
    p = params_from("queue", t0 - 60, now)
    reports = {path: {r["queue"]: r["service_level_pct"] for r in run(cache, routing, p, path=path).records()}
               for path in ("calls", "aggregates")}
    assert live == mine == {"support": 2 / 3, "sales": 2 / 3}
    assert reports["calls"] == reports["aggregates"] == {"support": 66.67, "sales": 66.67, "all": 66.67}
    cache.close()
    store.close()


def test_the_default_threshold_is_declared_once():
    assert QueueSettings().service_level == Queue("q").service_level == service_level.DEFAULT_THRESHOLD
    assert RoutingConfig(queues={"q": Queue("q", service_level=12)}).thresholds == {"q": 12}
    assert service_level.threshold("nope", {}) == service_level.DEFAULT_THRESHOLD
    assert service_level.threshold("q", {"q": 12}, override=40) == 40
    assert service_level.ratio(0, 0) is None and service_level.percent(2, 3) == 66.67
