"""The reference scenario: scripted calls through the real sandbox Asterisk with known outcomes,
every figure asserted; the same figures recomputed from the queue_log by a small reader here, which
agrees with the reports under the documented rule (docs/reports.md, "Reports and the queue_log")."""
from __future__ import annotations

import asyncio
import math
import time
from collections import Counter, defaultdict

import pytest

from cc_console.server.reports import params_from, run
from cc_console.server.reports.cache import ReportCache

from .asterisk import start_routed, until

pytestmark = pytest.mark.asterisk

ROUTING = """
[queues.support]
dids = ["5000"]
tenant = "acme"
service_level = 2
ring_timeout = 4
wrapup = 1

[queues.greet]
dids = ["5002"]
tenant = "acme"
announcements = { greeting = "sound:queue-periodic-announce" }

[queues.tiny]
dids = ["5005"]
tenant = "globex"
max_wait = 1
overflow = { max_wait = "queue:sales" }

[queues.sales]
dids = ["5001"]
tenant = "globex"
callback_key = "1"

[agents.agent1]
queues = { support = 0 }

[agents.agent2]
queues = { sales = 0 }
"""


@pytest.fixture
async def srv(settings, tmp_path, clean_asterisk, sandbox):
    s = await start_routed(settings, ROUTING, tmp_path / "routing.toml")
    yield s
    await s.stop()


def read_qlog(path):
    """An independent reader: time|callid|queue|agent|event|data..."""
    out = []
    for line in open(path, encoding="utf-8"):
        f = line.rstrip("\n").split("|")
        if len(f) >= 5:
            out.append((int(f[0]), f[1], f[2], f[3], f[4], f[5:]))
    return out


def qlog_figures(lines, sl_of):
    fig = defaultdict(Counter)
    hold = defaultdict(list)
    for _, _, q, _agent, ev, data in lines:
        c = fig[q]
        if ev == "ENTERQUEUE":
            c["queued"] += 1
        elif ev == "CONNECT":
            c["answered"] += 1
            h = int(data[0])
            hold[q].append(h)
            if h <= sl_of.get(q, 20):
                c["answered_within"] += 1
        elif ev == "ABANDON":
            c["abandoned_in_queue_or_ringing"] += 1
        elif ev == "EXITWITHTIMEOUT":
            c["overflowed_max_wait"] += 1
        elif ev == "EXITWITHKEY":
            c["left_with_key"] += 1
        elif ev == "RINGNOANSWER":
            c["missed"] += 1
        elif ev in ("COMPLETECALLER", "COMPLETEAGENT"):
            c["talk_s"] += int(data[1])
    return fig, hold


async def test_reference_scenario(srv, connect_to, pbx, phone):
    t0 = time.time() - 1
    await phone("1001", auto_answer=True)
    sup, a1 = [await connect_to(srv, u) for u in ("sup1", "agent1")]
    await a1.call("agent.login", {"queues": ["support"]})

    def by_caller(num):
        return next((c for c in sup.state.calls.values() if c["caller"] == num), None)

    # c1: answered at once (within the 2 s service level); the caller hangs up after a second.
    c1 = await pbx.place_call("5000", caller="0611000101")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="c1 rings")
    await a1.call("call.answer")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="c1 talk")
    await asyncio.sleep(1)
    await pbx.hangup(c1.outer)
    await until(a1, lambda: a1.state.my_agent["state"] == "ready", timeout=10, what="after wrap-up")

    # c2: waits 3.5 s (agent paused), answered late; the agent hangs up.
    await a1.call("agent.pause", {"reason": "break"})
    await pbx.place_call("5000", caller="0611000102")
    await until(sup, lambda: (c := by_caller("0611000102")) and c["state"] == "queued", what="c2 queued")
    await asyncio.sleep(3.5)
    await a1.call("agent.ready")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="c2 rings")
    await a1.call("call.answer")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="c2 talk")
    await asyncio.sleep(0.5)
    await a1.call("call.hangup")
    await until(a1, lambda: a1.state.my_agent["state"] == "ready", timeout=10, what="after wrap-up 2")

    # c3: abandoned in the queue (agent paused).
    await a1.call("agent.pause", {"reason": "lunch"})
    c3 = await pbx.place_call("5000", caller="0611000103")
    await until(sup, lambda: (c := by_caller("0611000103")) and c["state"] == "queued", what="c3 queued")
    await asyncio.sleep(0.5)
    await pbx.hangup(c3.outer)
    await until(sup, lambda: not by_caller("0611000103"), what="c3 gone")

    # c4: abandoned while ringing the agent.
    await a1.call("agent.ready")
    c4 = await pbx.place_call("5000", caller="0611000104")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="c4 rings")
    await asyncio.sleep(0.5)
    await pbx.hangup(c4.outer)
    await until(sup, lambda: not by_caller("0611000104"), what="c4 gone")

    # c5: gone during the greeting (before the queue).
    c5 = await pbx.place_call("5002", caller="0611000105")
    await until(sup, lambda: (c := by_caller("0611000105")) and c["stage"] == "announcement", what="c5 greeting")
    await pbx.hangup(c5.outer)
    await until(sup, lambda: not by_caller("0611000105"), what="c5 gone")

    # c6: overflowed by max wait from tiny to sales, abandoned there.
    c6 = await pbx.place_call("5005", caller="0611000106")
    await until(sup, lambda: (c := by_caller("0611000106")) and c["queue"] == "sales", timeout=10, what="c6 -> sales")
    await pbx.hangup(c6.outer)
    await until(sup, lambda: not by_caller("0611000106"), what="c6 gone")

    # c7: asks for a callback with key 1 in sales.
    await pbx.place_call("5001", caller="0611000107", exten="dtmf-1#")
    await until(sup, lambda: any(e.kind == "call.callback" for e in srv.store.events(kinds=("call.callback",))),
                timeout=15, what="callback saved")
    await until(sup, lambda: not by_caller("0611000107"), timeout=15, what="c7 thanked and gone")
    await srv.engine.idle()
    await asyncio.sleep(0.2)

    await srv.store.drained()  # the read model reads what the writer committed
    cache = ReportCache(srv.store)  # its events, on whichever backend the store is
    end = time.time() + 1

    def rep(kind, **kw):
        r = run(cache, srv.engine.cfg, params_from(kind, t0, end, tz="UTC", **kw))
        return {row[r.columns[0]]: row for row in r.records()}

    q = rep("queue")
    zero = dict.fromkeys(["closed", "callbacks_completed", "transferred_in", "transferred_out", "outbound",
                          "ended_other", "in_progress", "overflowed_no_agents", "overflowed_max_length"], 0)
    want = {
        "support": dict(received=4, offered=4, overflow_in=0, queued=4, answered=2, answered_within=1, abandoned=2,
                        abandoned_announcement=0, abandoned_queue=1, abandoned_ringing=1, short_abandons=2,
                        overflowed=0, overflowed_max_wait=0, callbacks_requested=0, voicemails=0, missed=0,
                        service_level_pct=50.0),
        "greet": dict(received=1, offered=1, overflow_in=0, queued=0, answered=0, answered_within=0, abandoned=1,
                      abandoned_announcement=1, abandoned_queue=0, abandoned_ringing=0, short_abandons=1,
                      overflowed=0, overflowed_max_wait=0, callbacks_requested=0, voicemails=0, missed=0,
                      service_level_pct=None),
        "tiny": dict(received=1, offered=1, overflow_in=0, queued=1, answered=0, answered_within=0, abandoned=0,
                     abandoned_announcement=0, abandoned_queue=0, abandoned_ringing=0, short_abandons=0,
                     overflowed=1, overflowed_max_wait=1, callbacks_requested=0, voicemails=0, missed=0,
                     service_level_pct=None),
        "sales": dict(received=2, offered=2, overflow_in=1, queued=2, answered=0, answered_within=0, abandoned=1,
                      abandoned_announcement=0, abandoned_queue=1, abandoned_ringing=0, short_abandons=1,
                      overflowed=0, overflowed_max_wait=0, callbacks_requested=1, voicemails=0, missed=0,
                      service_level_pct=None),
    }
    for name, w in want.items():
        got = {k: q[name][k] for k in {**w, **zero}}
        assert got == {**w, **zero}, name

    # The time figures, exactly the store's own numbers.
    events = list(srv.store.events())
    waits = [e.data["wait"] for e in events if e.kind == "call.connected"]
    talks = [e.data["talk"] for e in events if e.kind == "call.completed"]
    assert waits[0] < 2 < 3 < waits[1]
    assert q["support"]["asa_s"] == round(sum(waits) / 2, 2)
    assert q["support"]["talk_s"] == round(sum(talks), 2)
    assert q["support"]["longest_wait_s"] == round(max(waits + [e.data["wait"] for e in events
                                                                 if e.kind == "call.abandoned"
                                                                 and e.queue == "support"]), 2)
    wrap = 0.0
    states = [e for e in events if e.kind == "agent.state" and e.agent_id == "agent1"]
    for a, b in zip(states, states[1:]):
        if a.data["agent"]["state"] == "wrap_up":
            wrap += b.ts - a.ts
    assert 1.5 < wrap < 3.5 and q["support"]["wrapup_s"] == round(wrap, 2)
    assert q["support"]["aht_s"] == round((sum(talks) + wrap) / 2, 2)

    t = rep("tenant")
    assert (t["acme"]["calls"], t["acme"]["offered"], t["acme"]["answered"], t["acme"]["abandoned"]) == (5, 5, 2, 3)
    assert (t["globex"]["calls"], t["globex"]["received"], t["globex"]["overflowed"],
            t["globex"]["callbacks_requested"]) == (2, 3, 1, 1)
    a = rep("agent")["agent1"]
    assert (a["handled"], a["missed"], a["transfers"], a["hold_s"]) == (2, 0, 0, 0.0)
    assert a["pauses"].startswith("break ") and "lunch " in a["pauses"]

    # The queue_log, read independently, agrees.
    lines = read_qlog(srv.settings.server.queue_log_file)
    sl_of = {n: qq.service_level for n, qq in srv.engine.cfg.queues.items()}
    fig, hold = qlog_figures(lines, sl_of)
    for name in want:
        f, s = fig[name], q[name]
        assert f["queued"] == s["queued"], name
        assert f["answered"] == s["answered"] and f["answered_within"] == s["answered_within"], name
        assert f["abandoned_in_queue_or_ringing"] == s["abandoned_queue"] + s["abandoned_ringing"], name
        assert f["overflowed_max_wait"] == s["overflowed_max_wait"], name
        assert f["left_with_key"] == s["callbacks_requested"] + s["voicemails"], name
        assert f["missed"] == s["missed"], name
        # queue_log durations are whole seconds (differences of clock readings): within a second a call
        assert abs(s["talk_s"] - f["talk_s"]) < max(1, s["answered"]), name
        if hold[name]:
            assert abs(s["asa_s"] - sum(hold[name]) / len(hold[name])) < 1, name
    assert qlog_rule_check(lines, events) == 2
    cache.close()


def qlog_rule_check(lines, events):
    """The queue_log's seconds are differences of whole-second readings of the moments the reports use:
    ENTERQUEUE at the call.queued time, CONNECT at call.connected, COMPLETE*/ *TRANSFER at the end of the
    agent's part (call.completed / call.transferred). Returns how many answered calls it checked."""
    by_call = {}
    for e in events:
        if e.kind in ("call.queued", "call.connected", "call.completed", "call.transferred") \
                and not e.data.get("outbound") and e.data["call"].get("direction", "inbound") == "inbound":
            by_call.setdefault(e.data["call"]["channel"], []).append(e)
    checked = 0
    for channel, all_evs in by_call.items():
        evs, closed = [], False
        for e in all_evs:  # after an attended transfer the call goes on outside the queue: no line for its end
            if e.kind == "call.completed" and closed:
                continue
            closed = e.kind == "call.transferred" or (closed and e.kind != "call.queued")
            evs.append(e)
        mine = [x for x in lines if x[1] == channel and x[4] in (
            "ENTERQUEUE", "CONNECT", "COMPLETECALLER", "COMPLETEAGENT", "BLINDTRANSFER", "ATTENDEDTRANSFER")]
        kinds = {"ENTERQUEUE": "call.queued", "CONNECT": "call.connected"}
        # the lines and the events, in their own order, step for step
        assert [kinds.get(x[4], "end") for x in mine] == \
            [e.kind if e.kind in ("call.queued", "call.connected") else "end" for e in evs]
        for i, (line, e) in enumerate(zip(mine, evs)):
            assert line[0] == math.floor(e.ts)  # every line is written at the moment of its event
            if line[4] == "CONNECT":
                hold = int(line[5][0])
                assert hold == math.floor(e.ts) - math.floor(evs[i - 1].ts)  # answered - entered the queue
                assert abs(hold - e.data["wait"]) < 1  # the report's exact wait: less than a second apart
                checked += 1
            elif line[4] != "ENTERQUEUE":
                assert int(line[5][-3]) == int(mine[i - 1][5][0])  # holdtime, as in CONNECT
                assert int(line[5][-2]) == math.floor(e.ts) - math.floor(evs[i - 1].ts)  # calltime
    return checked


async def test_transfers_outbound_callbacks_hold_and_categories(srv, connect_to, pbx, phone):
    t0 = time.time() - 1
    await phone("1001", auto_answer=True)
    await phone("1002", auto_answer=True)
    sup, a1, a2 = [await connect_to(srv, u) for u in ("sup1", "agent1", "agent2")]
    await sup.call("categories.set", {"categories": ["Order", "Billing"]})
    await a1.call("agent.login", {"queues": ["support"]})
    await a2.call("agent.login", {"queues": ["sales"]})

    async def take(agent):
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
        await agent.call("call.answer")
        return await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected" and c,
                           what="connected")

    # c1: agent1 answers, holds the caller, takes it back, transfers it blind to sales; agent2 answers
    # there; the caller hangs up. agent1 sets the category after the call.
    c1 = await pbx.place_call("5000", caller="0611000201")
    call = await take(a1)
    await a1.call("call.hold", {"on": True})
    await asyncio.sleep(0.6)
    await a1.call("call.hold", {"on": False})
    await a1.call("call.transfer", {"target": "queue:sales"})
    await take(a2)
    await asyncio.sleep(0.3)
    await pbx.hangup(c1.outer)
    await until(sup, lambda: call["id"] not in sup.state.calls, what="c1 ended")
    await a1.call("call.category", {"call_id": call["id"], "category": "Billing"})

    # c2: agent1 answers, consults agent2 (the caller on hold meanwhile) and hands the call over.
    await until(a1, lambda: a1.state.my_agent["state"] == "ready", timeout=10, what="agent1 ready")
    await until(a2, lambda: a2.state.my_agent["state"] == "ready", timeout=10, what="agent2 ready")
    c2 = await pbx.place_call("5000", caller="0611000203")
    call2 = await take(a1)
    await a1.call("call.transfer", {"target": "agent:agent2", "mode": "announced"})
    await until(sup, lambda: ((sup.state.calls.get(call2["id"]) or {}).get("consult") or {}).get("state") == "talking",
                what="consult answered")
    await a1.call("call.consult_complete")
    await until(sup, lambda: (sup.state.calls.get(call2["id"]) or {}).get("agent") == "agent2", what="handed over")
    await pbx.hangup(c2.outer)
    await until(sup, lambda: call2["id"] not in sup.state.calls, what="c2 ended")

    # An outbound call by agent1 with support's caller id, to agent2's phone (it answers by itself).
    await until(a1, lambda: a1.state.my_agent["state"] == "ready", timeout=10, what="agent1 ready")
    out = (await a1.call("call.dial", {"number": "1002", "caller_id": "5000", "queue": "support"}))["call"]
    await until(a1, lambda: (c := a1.state.calls.get(out["id"])) and c["state"] == "connected", what="reached")
    await a1.call("call.hangup")
    await until(a1, lambda: a1.state.my_agent["call_id"] is None, what="outbound over")

    # A callback asked for in sales (agent2 paused, so it waits), worked by agent2.
    await a2.call("agent.pause", {"reason": "admin"})
    await pbx.place_call("5001", caller="0611000202", exten="dtmf-1#")
    item = await until(a2, lambda: next((i for i in srv.engine.callbacks("open") if i["caller"] == "0611000202"),
                                        None), timeout=15, what="callback saved")
    await a2.call("callback.done", {"id": item["id"]})
    await srv.engine.idle()

    await srv.store.drained()  # the read model reads what the writer committed
    cache = ReportCache(srv.store)  # its events, on whichever backend the store is
    end = time.time() + 1

    def rep(kind, **kw):
        r = run(cache, srv.engine.cfg, params_from(kind, t0, end, tz="UTC", **kw))
        return {row[r.columns[0]]: row for row in r.records()}

    events = list(srv.store.events())
    held = sum(e.data["held"] for e in events if e.kind == "call.unhold")
    assert held > 0.5
    transfers = [e for e in events if e.kind == "call.transferred"]
    assert [t.data["mode"] for t in transfers] == ["blind", "attended"]
    assert transfers[0].data["hold"] == pytest.approx(held) and transfers[1].data["hold"] > 0  # the consultation
    hold = sum(t.data["hold"] for t in transfers)
    q = rep("queue")
    assert {k: q["support"][k] for k in ("received", "answered", "transferred_in", "transferred_out", "outbound")} \
        == dict(received=2, answered=2, transferred_in=0, transferred_out=2, outbound=1)
    assert q["support"]["hold_s"] == round(hold, 2)
    assert {k: q["sales"][k] for k in ("received", "transferred_in", "answered", "callbacks_requested",
                                       "callbacks_completed")} == \
        dict(received=2, transferred_in=1, answered=1, callbacks_requested=1, callbacks_completed=1)
    a = rep("agent")
    assert (a["agent1"]["handled"], a["agent1"]["transfers"], a["agent1"]["hold_s"]) == (2, 2, round(hold, 2))
    assert (a["agent2"]["handled"], a["agent2"]["transfers"], a["agent2"]["hold_s"]) == (1, 0, 0.0)
    c = rep("category")
    assert c["Billing"]["received"] == 2  # in support, and transferred, in sales
    # ring-to-answer and the agent's service level, from the offer and the answer on the real call
    rings = []
    for conn in (e for e in events if e.kind == "call.connected" and e.data.get("agent") == "agent1"
                 and not e.data.get("outbound")):
        offer = [e for e in events if e.kind == "call.offered" and e.call_id == conn.call_id and e.seq < conn.seq]
        rings.append(conn.ts - offer[-1].ts)
    lo = math.floor(rings[0])
    bands = rep("agent", ring_buckets=[lo, lo + 1], sl_threshold=600)["agent1"]
    assert bands[f"ring_{lo}-{lo + 1}s"] == sum(1 for r in rings if lo < r <= lo + 1) >= 1
    assert bands["service_level_pct"] == 100.0 and bands["answered_within"] == 2
    assert sum(q["support"][k] for k in q["support"] if k.startswith("ring_")) == q["support"]["answered"]
    # agent1's talk ends at each transfer (hold apart); after the blind one agent2's runs from its answer
    assert q["support"]["talk_s"] == round(sum(t.data["talk"] - t.data["hold"] for t in transfers), 2)

    # The queue_log, read independently, agrees under the rule.
    lines = read_qlog(srv.settings.server.queue_log_file)
    assert qlog_rule_check(lines, events) == 3
    assert [x[4] for x in lines if x[1] == call["channel"] and x[4] in ("CONNECT", "BLINDTRANSFER", "COMPLETECALLER")] \
        == ["CONNECT", "BLINDTRANSFER", "CONNECT", "COMPLETECALLER"]
    cache.close()
