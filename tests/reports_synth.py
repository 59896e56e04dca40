"""A scripted day of store events with known figures (shared by the reports tests)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cc_console.server.acd.config import Queue, RoutingConfig


def T(hms: str) -> float:
    h, m, s = hms.split(":")
    return datetime(2024, 3, 4, int(h), int(m), tzinfo=UTC).timestamp() + float(s)


class Script:
    def __init__(self, store: Any) -> None:
        self.store = store

    def call(self, cid: str, queue: str, **extra: Any) -> dict[str, Any]:
        return {"id": cid, "queue": queue, "caller": "06" + cid, "state": "entering", "stage": "announcement",
                "agent": None, **extra}

    def ev(self, kind: str, ts: str, call: dict[str, Any], **data: Any) -> None:
        self.store.record(kind, ts=T(ts), call=dict(call), data=data or None, agent_id=call.get("agent"))

    def agent(self, aid: str, ts: str, state: str, reason: str = "", prev: str = "", **data: Any) -> None:
        self.store.record("agent.state", ts=T(ts), agent={"id": aid, "state": state, "reason": reason},
                          data={"from": prev, **data})


def routing() -> RoutingConfig:
    return RoutingConfig(queues={"q1": Queue("q1", tenant="acme", service_level=20.0),
                                 "q2": Queue("q2", tenant="globex", service_level=20.0)})


def write_day(store: Any) -> None:
    s = Script(store)
    s.agent("ag1", "07:50:00", "ready", prev="logged_out")
    s.agent("ag2", "08:00:00", "ready", prev="logged_out")
    # F: before the range
    f = s.call("F", "q1")
    s.ev("call.entered", "07:59:59", f, did="1")
    s.ev("call.abandoned", "08:00:01", f, by="caller", stage="announcement", wait=2.0)
    # A: offered 08:14:50, answered 08:15:05 (15 s), talk 300, wrap-up 30 by ag1
    a = s.call("A", "q1")
    s.ev("call.entered", "08:14:50", a, did="1")
    s.ev("call.queued", "08:14:50", a, stage="queue", position=1)
    s.ev("call.offered", "08:15:05", {**a, "agent": "ag1"}, agent="ag1")
    s.agent("ag1", "08:15:05", "on_call", prev="ready", call="A")
    s.ev("call.connected", "08:15:05", {**a, "agent": "ag1"}, agent="ag1", wait=15.0)
    s.ev("call.completed", "08:20:05", {**a, "agent": "ag1"}, by="caller", talk=300.0)
    s.agent("ag1", "08:20:05", "wrap_up", prev="on_call", call="A")
    s.agent("ag1", "08:20:35", "ready", prev="wrap_up")
    # B: 08:15:00 sharp, rings ag1 who misses it, abandoned in the queue after 3 s (short)
    b = s.call("B", "q1")
    s.ev("call.entered", "08:15:00", b, did="1")
    s.ev("call.queued", "08:15:00", b, stage="queue", position=1)
    s.ev("call.ringnoanswer", "08:15:01", b, agent="ag1", why="no answer")
    s.ev("call.abandoned", "08:15:03", b, by="caller", stage="queue", wait=3.0)
    # C: 08:29:59.9, abandoned while ringing at 08:30:40 (40.1 s)
    c = s.call("C", "q1")
    s.ev("call.entered", "08:29:59.9", c, did="1")
    s.ev("call.queued", "08:29:59.9", c, stage="queue", position=1)
    s.ev("call.offered", "08:30:30", {**c, "agent": "ag2"}, agent="ag2")
    s.ev("call.abandoned", "08:30:40", c, by="caller", stage="ringing", wait=40.1)
    # K: category billing, answered by ag2 after 5 s, talk 60
    k = s.call("K", "q1", category="billing")
    s.ev("call.entered", "08:16:00", k, did="1")
    s.ev("call.queued", "08:16:00", k, stage="queue", position=1)
    s.ev("call.connected", "08:16:05", {**k, "agent": "ag2"}, agent="ag2", wait=5.0)
    s.ev("call.completed", "08:17:05", {**k, "agent": "ag2"}, by="agent", talk=60.0)
    # D: 08:30:00 gone during the greeting after 2 s
    d = s.call("D", "q1")
    s.ev("call.entered", "08:30:00", d, did="1")
    s.ev("call.abandoned", "08:30:02", d, by="caller", stage="announcement", wait=2.0)
    # ag1 pauses for lunch 08:40-09:00
    s.agent("ag1", "08:40:00", "paused", reason="lunch", prev="ready", kind="private")
    s.agent("ag1", "09:00:00", "ready", prev="paused")
    # E: q1 08:44, max wait 120 s -> q2 at 08:46, answered there after 30 s, talk 210
    e = s.call("E", "q1")
    s.ev("call.entered", "08:44:00", e, did="1")
    s.ev("call.queued", "08:44:00", e, stage="queue", position=1)
    s.ev("call.overflow", "08:46:00", {**e, "stage": "queue"}, when="max_wait", to="queue:q2", wait=120.0)
    e2 = {**e, "queue": "q2", "stage": "overflowed"}
    s.ev("call.queued", "08:46:00", e2, stage="queue", position=1)
    s.ev("call.connected", "08:46:30", {**e2, "agent": "ag2"}, agent="ag2", wait=30.0)
    s.ev("call.completed", "08:50:00", {**e2, "agent": "ag2"}, by="caller", talk=210.0)
    # G: 08:50 outside opening hours, hung up after the closed message
    g = s.call("G", "q1")
    s.ev("call.entered", "08:50:00", g, did="1")
    s.ev("call.closed", "08:50:00", g)
    s.ev("call.overflow", "08:50:00", g, when="closed", to="hangup", wait=0.0)
    s.ev("call.ended", "08:50:05", g, by="system", outcome="closed")
    # H: callback by key at 09:00:20
    h = s.call("H", "q1")
    s.ev("call.entered", "09:00:10", h, did="1")
    s.ev("call.queued", "09:00:10", h, stage="queue", position=1)
    s.ev("call.callback_key", "09:00:15", {**h, "stage": "callback"}, key="1")
    s.ev("call.callback", "09:00:20", {**h, "stage": "callback"}, callback="cb1", preferred=None)
    s.ev("call.ended", "09:00:25", h, by="system", outcome="callback")
    # I: voicemail by key
    i = s.call("I", "q1")
    s.ev("call.entered", "09:05:00", i, did="1")
    s.ev("call.queued", "09:05:00", i, stage="queue", position=1)
    s.ev("call.voicemail_started", "09:05:30", {**i, "stage": "voicemail"})
    s.ev("call.voicemail", "09:06:00", i, by="caller", callback="vm1")
    # J: still waiting
    j = s.call("J", "q1")
    s.ev("call.entered", "09:10:00", j, did="1")
    s.ev("call.queued", "09:10:00", j, stage="queue", position=1)
    s.agent("ag1", "09:12:00", "logged_out", prev="ready")


# -- a random, seeded stretch of days with every kind of outcome (aggregate path == per-call path) ---------
def random_routing() -> RoutingConfig:
    return RoutingConfig(queues={"q1": Queue("q1", tenant="acme", service_level=20.0),
                                 "q2": Queue("q2", tenant="globex", service_level=30.0),
                                 "q3": Queue("q3", tenant="acme", service_level=10.0)})


def write_random(store: Any, seed: int = 7, days: int = 3, calls_per_day: int = 150,
                 day0: float | None = None) -> tuple[float, float]:
    """Calls over `days` (from 2024-03-30 UTC: across Europe's DST change) with closed calls, abandons at
    every stage, overflows within and between tenants, callbacks, voicemails, ring-no-answers and
    declines, categories, pauses (work / private), waits on whole seconds and over 600 s, calls offered on
    and just before 15-minute edges, a call still waiting, an open wrap-up and an open pause at the end.
    Returns (first, last) event time."""
    import random
    rnd = random.Random(seed)
    start = day0 if day0 is not None else datetime(2024, 3, 30, tzinfo=UTC).timestamp()
    evs: list[tuple[float, int, str, dict[str, Any]]] = []  # (ts, order, kind, kwargs)
    order = [0]

    def add(ts: float, kind: str, recorded: float | None = None, **kw: Any) -> None:
        """`recorded`: when the event reaches the store, if not at `ts` (a callback marked done later keeps
        its request time)."""
        order[0] += 1
        evs.append((ts if recorded is None else recorded, order[0], kind, {**kw, "ts": ts}))

    agents = [f"ag{i}" for i in range(1, 7)]
    free = dict.fromkeys(agents, 0.0)

    def agent(a: str, ts: float, state: str, prev: str, reason: str = "", **data: Any) -> None:
        add(ts, "agent.state", agent={"id": a, "state": state, "reason": reason}, data={"from": prev, **data})

    queues = ["q1", "q2", "q3"]
    cid_n = 0
    for d in range(days):
        d0 = start + d * 86400
        for a in agents:
            agent(a, d0 + 7 * 3600 + rnd.uniform(0, 600), "ready", "logged_out")
            free[a] = d0 + 7 * 3600 + 600
        arrivals = sorted(d0 + rnd.uniform(7.5 * 3600, 19.5 * 3600) for _ in range(calls_per_day))
        arrivals += [d0 + 9 * 3600, d0 + 10 * 3600 - 0.1, d0 + 10 * 3600 + 900, d0 + 12 * 3600 - 1e-3]
        for t in sorted(arrivals):
            cid_n += 1
            cid = f"r{cid_n:05d}"
            q = rnd.choice(queues)
            call: dict[str, Any] = {"id": cid, "queue": q, "caller": f"06{cid_n:08d}", "state": "entering",
                                    "stage": "announcement", "agent": None}
            if rnd.random() < 0.2:
                call["category"] = rnd.choice(["billing", "outage", "sales"])

            def ev(ts: float, kind: str, c: dict[str, Any] = call, **data: Any) -> None:
                add(ts, kind, call=dict(c), data=data or None, agent_id=c.get("agent"))
            ev(t, "call.entered", did="1")
            r = rnd.random()
            wait = rnd.choice([0.0, 5.0, 10.0, 20.0, 30.0, 4.999, 20.001, 700.0, 600.0, 601.5]) \
                if rnd.random() < 0.3 else rnd.expovariate(1 / 25)
            if r < 0.03:
                ev(t, "call.closed")
                ev(t, "call.overflow", when="closed", to="hangup", wait=0.0)
                if rnd.random() < 0.5:
                    ev(t + 20, "call.voicemail", by="caller", callback="vm")
                else:
                    ev(t + 5, "call.ended", by="system", outcome="closed")
                continue
            if r < 0.06:
                ev(t + 2.5, "call.abandoned", by="caller", stage="announcement", wait=rnd.choice([2.5, 5.0, 1.0]))
                continue
            ev(t, "call.queued", stage="queue", position=1)
            cur = call
            tq = t
            if r < 0.12:  # overflow to another queue (same tenant or not), then on there
                to = rnd.choice([x for x in queues if x != q])
                ev(tq + wait, "call.overflow", {**cur, "stage": "queue"}, when=rnd.choice(
                    ["max_wait", "no_agents", "max_length"]), to=f"queue:{to}", wait=wait)
                tq = tq + wait
                cur = {**cur, "queue": to, "stage": "overflowed"}
                ev(tq, "call.queued", cur, stage="queue", position=1)
                wait = rnd.expovariate(1 / 20)
                r = rnd.uniform(0.3, 1.0)
            if r < 0.2:
                ev(tq + wait, "call.abandoned", cur, by="caller", stage="queue", wait=wait)
            elif r < 0.22:
                ev(tq + wait, "call.abandoned", {**cur, "stage": "callback"}, by="caller", stage="callback", wait=wait)
            elif r < 0.25:
                a = rnd.choice(agents)
                ev(max(tq, tq + wait - 1), "call.ringnoanswer", cur, agent=a, why=rnd.choice(["no answer", "declined"]))
                ev(tq + wait, "call.abandoned", cur, by="caller", stage="ringing", wait=wait)
            elif r < 0.28:
                ev(tq + wait, "call.callback", {**cur, "stage": "callback"}, callback="cb")
                ev(tq + wait + 5, "call.ended", cur, by="system", outcome="callback")
                if rnd.random() < 0.5:  # worked later: the event keeps the request's time
                    item = {"id": f"cb{cid}", "kind": "callback", "call_id": cid, "queue": cur["queue"],
                            "requested": tq + wait, "state": "done"}
                    add(tq + wait, "callback.saved", recorded=tq + wait + rnd.uniform(60, 7200), call_id=cid,
                        queue=cur["queue"], data={"item": item})
            elif r < 0.31:
                ev(tq + wait, "call.voicemail_started", {**cur, "stage": "voicemail"})
                ev(tq + wait + 30, "call.voicemail", cur, by="caller", callback="vm")
            elif r < 0.33:
                ev(tq + wait, "call.ended", cur, by="system", outcome="error")
            else:
                a = min(agents, key=lambda x: free[x])
                ta = max(tq + wait, free[a])
                w = ta - tq
                if rnd.random() < 0.15:
                    other = rnd.choice([x for x in agents if x != a])
                    ev(tq + min(w, 1.0) / 2, "call.ringnoanswer", cur, agent=other,
                       why=rnd.choice(["no answer", "declined"]))
                c2 = {**cur, "agent": a}
                if rnd.random() < 0.3:
                    c2["category"] = rnd.choice(["billing", "outage"])  # set later: the last value wins
                talk = rnd.choice([60.0, 300.0]) if rnd.random() < 0.3 else rnd.expovariate(1 / 150)
                wrap = rnd.choice([0.0, 10.0, 30.0, rnd.uniform(0, 60)])
                hold = rnd.uniform(0, talk) if rnd.random() < 0.15 else 0.0
                ev(ta - rnd.choice([0.0, 2.0, 4.5]), "call.offered", c2, agent=a)
                ev(ta, "call.connected", c2, agent=a, wait=w)
                agent(a, ta, "on_call", "ready", call=cid)
                x = rnd.random()
                if x < 0.12:  # blind transfer to a queue or an agent, answered there by another agent
                    to_q = rnd.choice(queues)
                    b = min((y for y in agents if y != a), key=lambda y: free[y])
                    target = rnd.choice([f"queue:{to_q}", f"agent:{b}"])
                    ev(ta + talk, "call.transferred", c2, agent=a, to=target, mode="blind", talk=talk, hold=hold)
                    c3 = {**cur, "queue": to_q if target.startswith("queue:") else cur["queue"]}
                    ev(ta + talk, "call.queued", c3, stage="queue", position=1)
                    tb = max(ta + talk + rnd.expovariate(1 / 15), free[b])
                    talk2 = rnd.expovariate(1 / 100)
                    ev(tb, "call.connected", {**c3, "agent": b}, agent=b, wait=tb - ta - talk)
                    agent(b, tb, "on_call", "ready", call=cid)
                    ev(tb + talk2, "call.completed", {**c3, "agent": b}, by="caller", talk=talk2, hold=hold)
                    agent(b, tb + talk2, "wrap_up", "on_call", call=cid)
                    agent(b, tb + talk2 + 7.5, "ready", "wrap_up")
                    free[b] = tb + talk2 + 7.5
                elif x < 0.18:  # attended transfer to a number: the agent's part ends there
                    ev(ta + talk, "call.transferred", c2, agent=a, to="0612", mode="attended", talk=talk, hold=hold)
                    ev(ta + talk + 99, "call.completed", c2, by="caller", talk=talk + 99, hold=hold)
                else:
                    ev(ta + talk, "call.completed", c2, by="caller", talk=talk, hold=hold)
                if rnd.random() < 0.1:  # a category picked in the console after the call
                    add(ta + talk + 1, "call.category", call_id=cid, agent_id=a, queue=cur["queue"],
                        data={"category": rnd.choice(["billing", "complaint"])})
                agent(a, ta + talk, "wrap_up", "on_call", call=cid)
                agent(a, ta + talk + wrap, "ready", "wrap_up")
                free[a] = ta + talk + wrap
                if rnd.random() < 0.05:  # an outbound call after it (with a queue's caller id, or none)
                    o = {"id": f"{cid}o", "queue": rnd.choice(queues + [""]), "caller": "0699", "agent": a,
                         "direction": "outbound", "state": "ringing"}
                    add(free[a] + 1, "call.outbound", call=o, data={"agent": a, "number": "0699"}, agent_id=a)
                    add(free[a] + 20, "call.ended", call=o, data={"by": "system", "outcome": "not_reached"},
                        agent_id=a)
                if rnd.random() < 0.08:
                    p0, p1 = free[a], free[a] + rnd.uniform(60, 1500)
                    kind = rnd.choice(["work", "private"])
                    agent(a, p0, "paused", "ready", reason=rnd.choice(["lunch", "training", ""]), kind=kind)
                    agent(a, p1, "ready", "paused")
                    free[a] = p1
        for a in agents:
            agent(a, max(free[a], d0 + 20 * 3600) + rnd.uniform(0, 60), "logged_out", "ready")
            free[a] = 0.0
    # at the end: one call still waiting, one agent in an open wrap-up, one in an open pause
    end = start + days * 86400 - 3600
    j = {"id": "rJ", "queue": "q1", "caller": "0611", "state": "entering", "stage": "announcement", "agent": None}
    add(end, "call.entered", call=j, data={"did": "1"})
    add(end, "call.queued", call=j, data={"stage": "queue", "position": 1})
    k = {"id": "rK", "queue": "q2", "caller": "0612", "state": "entering", "stage": "announcement", "agent": None}
    add(end, "call.entered", call=k, data={"did": "1"})
    add(end, "call.queued", call=k, data={"stage": "queue", "position": 1})
    k2 = {**k, "agent": "ag1"}
    agent("ag1", end + 5, "ready", "logged_out")
    add(end + 10, "call.connected", call=k2, data={"agent": "ag1", "wait": 10.0}, agent_id="ag1")
    agent("ag1", end + 10, "on_call", "ready", call="rK")
    add(end + 70, "call.completed", call=k2, data={"by": "caller", "talk": 60.0}, agent_id="ag1")
    agent("ag1", end + 70, "wrap_up", "on_call", call="rK")
    agent("ag2", end + 20, "ready", "logged_out")
    agent("ag2", end + 30, "paused", "ready", reason="meeting", kind="work")
    evs.sort(key=lambda e: (e[0], e[1]))
    for _, _, kind, kw in evs:
        store.record(kind, **kw)
    return evs[0][3]["ts"], evs[-1][0]


def write_transfers_day(store: Any) -> None:
    """Transfers (blind to a queue, attended to an agent), hold, outbound calls, a callback worked later and
    a category set in the console after the call ended; figures in test_reports_numbers.py."""
    s = Script(store)
    s.agent("ag1", "09:50:00", "ready", prev="logged_out")
    s.agent("ag2", "09:50:00", "ready", prev="logged_out")
    # X1: answered by ag1 after 4 s (rang 2 s), 6 s on hold, blind transfer to q2 after 26 s; ag2 answers
    # there after 3 s, talks 60 s.
    x = s.call("X1", "q1")
    s.ev("call.entered", "10:00:00", x, did="1")
    s.ev("call.queued", "10:00:00", x, stage="queue", position=1)
    s.ev("call.offered", "10:00:02", {**x, "agent": "ag1"}, agent="ag1")
    s.agent("ag1", "10:00:02", "ringing", prev="ready", call="X1")
    s.agent("ag1", "10:00:04", "on_call", prev="ringing", call="X1")
    s.ev("call.connected", "10:00:04", {**x, "agent": "ag1"}, agent="ag1", wait=4.0)
    s.ev("call.hold", "10:00:10", {**x, "agent": "ag1"})
    s.ev("call.unhold", "10:00:16", {**x, "agent": "ag1"}, held=6.0)
    s.ev("call.transferred", "10:00:30", x, agent="ag1", to="queue:q2", mode="blind", talk=26.0, hold=6.0)
    s.agent("ag1", "10:00:30", "wrap_up", prev="on_call", call="X1")
    s.agent("ag1", "10:00:40", "ready", prev="wrap_up")
    x2 = {**x, "queue": "q2"}
    s.ev("call.queued", "10:00:30", x2, stage="queue", position=1)
    s.ev("call.offered", "10:00:31", {**x2, "agent": "ag2"}, agent="ag2")
    s.agent("ag2", "10:00:31", "ringing", prev="ready", call="X1")
    s.agent("ag2", "10:00:33", "on_call", prev="ringing", call="X1")
    s.ev("call.connected", "10:00:33", {**x2, "agent": "ag2"}, agent="ag2", wait=3.0)
    s.ev("call.completed", "10:01:33", {**x2, "agent": "ag2"}, by="caller", talk=60.0, hold=6.0)
    s.agent("ag2", "10:01:33", "wrap_up", prev="on_call", call="X1")
    s.agent("ag2", "10:01:38", "ready", prev="wrap_up")
    # X2: answered by ag1 after 10 s, attended transfer to ag2 after 50 s (20 s of it the caller on hold
    # during the consultation); ag2 talks on to 10:07.
    y = s.call("X2", "q1")
    s.ev("call.entered", "10:05:00", y, did="1")
    s.ev("call.queued", "10:05:00", y, stage="queue", position=1)
    s.ev("call.offered", "10:05:09", {**y, "agent": "ag1"}, agent="ag1")
    s.agent("ag1", "10:05:10", "on_call", prev="ready", call="X2")
    s.ev("call.connected", "10:05:10", {**y, "agent": "ag1"}, agent="ag1", wait=10.0)
    s.ev("call.transferred", "10:06:00", {**y, "agent": "ag2"}, agent="ag1", to="agent:ag2", mode="attended",
         talk=50.0, hold=20.0)
    s.agent("ag1", "10:06:00", "ready", prev="on_call")
    s.ev("call.completed", "10:07:00", {**y, "agent": "ag2"}, by="caller", talk=110.0, hold=20.0)
    # X3: outbound by ag1 with q1's caller id; X5: outbound by ag2 with no queue.
    o = {"id": "X3", "queue": "q1", "caller": "0655", "state": "ringing", "stage": "dialing", "agent": "ag1",
         "direction": "outbound"}
    s.ev("call.outbound", "10:10:00", o, agent="ag1", number="0655", caller_id="")
    s.ev("call.connected", "10:10:05", {**o, "state": "connected"}, agent="ag1", wait=5.0, outbound=True)
    s.ev("call.completed", "10:11:00", o, by="agent", talk=55.0, hold=0.0)
    o5 = {**o, "id": "X5", "queue": "", "agent": "ag2"}
    s.ev("call.outbound", "10:12:00", o5, agent="ag2", number="0656", caller_id="")
    s.ev("call.ended", "10:12:30", o5, by="system", outcome="not_reached")
    # X4: a callback by key, worked (done) later.
    h = s.call("X4", "q1")
    s.ev("call.entered", "10:15:00", h, did="1")
    s.ev("call.queued", "10:15:00", h, stage="queue", position=1)
    s.ev("call.callback_key", "10:15:15", {**h, "stage": "callback"}, key="1")
    s.ev("call.callback", "10:15:20", {**h, "stage": "callback"}, callback="cbX4", preferred=None)
    s.ev("call.ended", "10:15:25", h, by="system", outcome="callback")


def write_transfers_late(store: Any) -> None:
    """What comes after those calls ended: X1's category set in the console, X4's callback worked."""
    store.record("call.category", ts=T("10:20:00"), call_id="X1", agent_id="ag2", queue="q2",
                 data={"category": "billing", "by": "ag2"})
    item = {"id": "cbX4", "kind": "callback", "caller": "06X4", "queue": "q1", "call_id": "X4",
            "requested": T("10:15:20"), "state": "done", "agent": "ag1"}
    store.record("callback.saved", ts=T("10:15:20"), call_id="X4", agent_id="ag1", queue="q1", data={"item": item})
