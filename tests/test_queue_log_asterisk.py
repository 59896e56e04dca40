"""queue_log field meanings against app_queue.c, on real calls through the sandbox Asterisk.

* ENTERQUEUE's position and ABANDON's position count every caller in the queue's list, the ones
  being rung included (app_queue keeps a caller in the list until a member answers); ABANDON's
  position is the caller's position when it hung up, origposition the one it entered at.
* Durations are differences of whole-second clock readings (``time(NULL) - qe->start``), not
  truncated exact durations: the engine's clock is set here to readings that tell them apart.
"""
from __future__ import annotations

import math
import time

import pytest

from cc_console.server.acd.queue_log import read_queue_log

from .asterisk import start_routed, until

pytestmark = pytest.mark.asterisk

ROUTING = """
[queues.support]
dids = ["5000"]
ring_timeout = 30
wrapup = 0

[agents.agent1]
queues = { support = 0 }
"""


@pytest.fixture
async def srv(settings, tmp_path, clean_asterisk, sandbox):
    s = await start_routed(settings, ROUTING, tmp_path / "routing.toml")
    yield s
    await s.stop()


def lines_of(srv, channel):
    return [(r.event, r.data) for r in read_queue_log(srv.qlog.path) if r.callid == channel]


async def test_positions_count_the_callers_being_rung(srv, connect_to, pbx):
    sup, a1 = [await connect_to(srv, u) for u in ("sup1", "agent1")]
    await a1.call("agent.login", {"queues": ["support"]})

    def by_caller(num):
        return next((c for c in srv.engine.calls.values() if c.caller == num), None)

    # A rings agent1 (not answered: the ring timeout is long); B and C queue behind it.
    ca = await pbx.place_call("5000", caller="0611000201")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="A rings")
    cb = await pbx.place_call("5000", caller="0611000202")
    await until(sup, lambda: (c := by_caller("0611000202")) and c.state == "queued", what="B queued")
    cc = await pbx.place_call("5000", caller="0611000203")
    await until(sup, lambda: (c := by_caller("0611000203")) and c.state == "queued", what="C queued")
    a, b, c = (by_caller(n) for n in ("0611000201", "0611000202", "0611000203"))
    # B hangs up, then C (now second, behind A that still rings), then A.
    for placed, call in ((cb, b), (cc, c), (ca, a)):
        await pbx.hangup(placed.outer)
        await until(sup, lambda call=call: call.id not in srv.engine.calls, what=f"{call.caller} gone")
    await srv.engine.idle()

    enter = {x.caller: next(d for e, d in lines_of(srv, x.channel) if e == "ENTERQUEUE") for x in (a, b, c)}
    assert [enter[x.caller][2] for x in (a, b, c)] == ["1", "2", "3"]  # origposition, A (ringing) counted
    aband = {x.caller: next(d for e, d in lines_of(srv, x.channel) if e == "ABANDON") for x in (a, b, c)}
    # position | origposition | waittime
    assert aband[b.caller][:2] == ["2", "2"]
    assert aband[c.caller][:2] == ["2", "3"]  # moved up when B left; A, being rung, still ahead
    assert aband[a.caller][:2] == ["1", "1"]
    assert [e for e, _ in lines_of(srv, a.channel)] == ["ENTERQUEUE", "RINGCANCELED", "ABANDON"]


class SetClock:
    """The engine's clock, set by the test to chosen readings (timers run on the event loop)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


async def test_durations_are_differences_of_whole_second_clock_readings(srv, connect_to, pbx, phone):
    await phone("1001", auto_answer=True)
    sup, a1 = [await connect_to(srv, u) for u in ("sup1", "agent1")]
    await a1.call("agent.login", {"queues": ["support"]})
    await a1.call("agent.pause", {"reason": "break"})
    base = float(math.floor(time.time()))
    clock = SetClock(base + 0.9)
    srv.engine.clock = clock

    def by_caller(num):
        return next((c for c in srv.engine.calls.values() if c.caller == num), None)

    # Entered at .9, answered 10.2 s later (reading +11), caller hangs up 2.95 s after that (+14.05).
    placed = await pbx.place_call("5000", caller="0611000301")
    call = await until(sup, lambda: (c := by_caller("0611000301")) and c.state == "queued" and c, what="queued")
    assert call.enqueued == base + 0.9
    clock.t = base + 11.1
    await a1.call("agent.ready")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="rings")
    await a1.call("call.answer")
    await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="talk")
    clock.t = base + 14.05
    await pbx.hangup(placed.outer)
    await until(sup, lambda: call.id not in srv.engine.calls, what="ended")
    await srv.engine.idle()

    lines = dict(lines_of(srv, call.channel))
    assert lines["CONNECT"][0] == "11"  # floor(+11.1) - floor(+0.9); a truncated 10.2 would say 10
    assert lines["COMPLETECALLER"][:3] == ["11", "3", "1"]  # talk floor(+14.05) - floor(+11.1); truncated: 2
    # The store keeps the exact durations (what the reports use), at the same moments.
    ev = {e.kind: e for e in srv.store.events(call_id=call.id)}
    assert ev["call.connected"].data["wait"] == pytest.approx(10.2)
    assert ev["call.completed"].data["talk"] == pytest.approx(2.95)
    assert (ev["call.queued"].ts, ev["call.connected"].ts, ev["call.completed"].ts) == \
        (base + 0.9, base + 11.1, base + 14.05)


async def test_a_caller_without_a_number_enters_as_unknown(srv, connect_to, pbx):
    sup = await connect_to(srv, "sup1")
    placed = await pbx.place_call("5000", caller="")
    call = await until(sup, lambda: next((c for c in srv.engine.calls.values() if c.state == "queued"), None),
                       what="queued")
    assert call.caller == ""
    await pbx.hangup(placed.outer)
    await until(sup, lambda: call.id not in srv.engine.calls, what="gone")
    enter = next(d for e, d in lines_of(srv, call.channel) if e == "ENTERQUEUE")
    assert enter[:3] == ["", "unknown", "1"]  # app_queue: S_OR(caller number, "unknown")
