"""A queue's figures reach the consoles at once on its first change and at most once per interval
after that, the last state always (server/calls/pacing.py, the engine's `stats_interval`); the
interval as short as its floor while the pushes are cheap, longer as they cost more. Fast: no
Asterisk (the engine on tests/test_call_states.py's floor)."""
from __future__ import annotations

import asyncio
import heapq
import itertools

from cc_console.server.calls.pacing import LeadingEdgePacer

from .floor import Floor


class FakeLoop:
    """A clock and a timer queue that move only when the test says so."""

    def __init__(self) -> None:
        self.t = 0.0
        self._timers: list[tuple[float, int, object]] = []
        self._n = itertools.count()

    def now(self) -> float:
        return self.t

    def later(self, delay, fn, *args):
        entry = [self.t + delay, next(self._n), fn, args, False]
        heapq.heappush(self._timers, entry)

        class Handle:
            def cancel(self) -> None:
                entry[4] = True
        return Handle()

    def advance(self, to: float) -> None:
        while self._timers and self._timers[0][0] <= to:
            when, _, fn, args, cancelled = heapq.heappop(self._timers)
            self.t = max(self.t, when)
            if not cancelled:
                fn(*args)
        self.t = to


def test_first_change_at_once_then_at_most_one_send_per_interval():
    loop = FakeLoop()
    value = {"support": 0}
    sent: list[tuple[float, int]] = []
    pacer = LeadingEdgePacer(0.25, lambda q: sent.append((loop.t, value[q])), now=loop.now, later=loop.later)
    # A quiet queue's first change: sent at the end of this tick, not an interval later.
    value["support"] = 1
    pacer.changed("support")
    loop.advance(0.0)
    assert sent == [(0.0, 1)]
    # A burst within the interval: one more send, at the interval's end, with the last value.
    for i in range(2, 40):
        loop.advance(i * 0.005)
        value["support"] = i
        pacer.changed("support")
    loop.advance(0.3)
    assert sent == [(0.0, 1), (0.25, 39)]
    # A steady stream: never two sends within one interval, each with the value of its moment.
    for i in range(100):
        loop.advance(0.3 + i * 0.01)
        value["support"] = 100 + i
        pacer.changed("support")
    loop.advance(2.0)
    times = [t for t, _ in sent]
    assert all(b - a >= 0.25 - 1e-9 for a, b in zip(times, times[1:])), times
    assert sent[-1][1] == 199
    # After a quiet spell longer than the interval: at once again.
    value["support"] = 500
    pacer.changed("support")
    loop.advance(2.0)
    assert sent[-1] == (2.0, 500)


def test_queues_are_paced_each_on_its_own():
    loop = FakeLoop()
    sent: list[tuple[float, str]] = []
    pacer = LeadingEdgePacer(0.25, lambda q: sent.append((loop.t, q)), now=loop.now, later=loop.later)
    pacer.changed("support")
    loop.advance(0.1)
    pacer.changed("sales")  # sales was quiet: no waiting for support's interval
    pacer.changed("support")
    loop.advance(0.1)
    assert sent == [(0.0, "support"), (0.1, "sales")]
    loop.advance(1.0)
    assert sent == [(0.0, "support"), (0.1, "sales"), (0.25, "support")]


def test_flush_sends_what_is_due_and_cancel_drops_it():
    loop = FakeLoop()
    sent: list[str] = []
    pacer = LeadingEdgePacer(0.25, sent.append, now=loop.now, later=loop.later)
    pacer.changed("support")
    loop.advance(0.0)
    pacer.changed("support")
    pacer.flush()
    assert sent == ["support", "support"]
    loop.advance(1.0)
    assert sent == ["support", "support"]  # the timer of the flushed send does not send it again
    pacer.changed("support")
    pacer.cancel()
    loop.advance(5.0)
    assert sent == ["support", "support"]


def test_a_change_without_a_loop_is_sent_once_a_loop_runs():
    sent: list[str] = []
    pacer = LeadingEdgePacer(0.25, sent.append)
    pacer.changed("support")  # a synchronous caller (start-up, a tool): nothing to schedule on
    assert sent == [] and pacer.pending() == ["support"]

    async def later() -> None:
        pacer.changed("support")
        for _ in range(3):
            await asyncio.sleep(0)
    asyncio.run(later())
    assert sent == ["support"] and pacer.pending() == []


class CostClock:
    """What a send costs, on a clock of its own that only sends move."""

    def __init__(self, per_send: float) -> None:
        self.t = 0.0
        self.per_send = per_send

    def __call__(self) -> float:
        return self.t

    def spend(self) -> None:
        self.t += self.per_send


def _stream(pacer: LeadingEdgePacer, loop: FakeLoop, keys: tuple[str, ...], every: float, until: float,
            value: dict[str, int]) -> list[tuple[float, str, int]]:
    """Each key changes every `every` seconds until `until`; what was asked, when."""
    asked: list[tuple[float, str, int]] = []
    i = 0
    while i * every <= until:
        loop.advance(i * every)
        for k in keys:
            value[k] = i
            pacer.changed(k)
            asked.append((loop.t, k, i))
        i += 1
    loop.advance(until + 1.0)
    return asked


def _paced(cost: float, keys: tuple[str, ...] = ("support",)):
    loop = FakeLoop()
    spent = CostClock(cost)
    value = dict.fromkeys(keys, 0)
    sent: list[tuple[float, str, int]] = []

    def send(k: str) -> None:
        spent.spend()
        sent.append((loop.t, k, value[k]))
    pacer = LeadingEdgePacer(0.25, send, floor=0.05, budget=0.02, now=loop.now, later=loop.later, cost=spent)
    return pacer, loop, value, sent


def _held_longest(asked, sent) -> float:
    """The longest a change waited for a send that carried it (or a later value)."""
    worst = 0.0
    for t, k, v in asked:
        after = [s for s in sent if s[1] == k and s[0] >= t and s[2] >= v]
        assert after, (t, k, v)
        worst = max(worst, after[0][0] - t)
    return worst


def test_cheap_sends_run_at_the_floor_never_held_longer_and_bursts_coalesced():
    pacer, loop, value, sent = _paced(cost=0.0001)  # 0.1 ms a send: 2 % of a core at 200 a second
    asked = _stream(pacer, loop, ("support",), every=0.01, until=2.0, value=value)
    times = [t for t, _, _ in sent]
    assert all(b - a >= 0.05 - 1e-9 for a, b in zip(times, times[1:])), times  # a burst: one per floor
    assert len(sent) < len(asked) / 4  # coalesced: 201 changes, about 41 sends
    assert _held_longest(asked, sent) <= 0.05 + 1e-9  # not the 0.25 s of the fixed interval
    assert sent[-1][2] == 200  # the last state goes out
    assert pacer.current_interval(loop.t) == 0.05


def test_costly_sends_go_back_to_the_interval():
    pacer, loop, value, sent = _paced(cost=0.01)  # 10 ms a send (a fan-out to many consoles)
    asked = _stream(pacer, loop, ("support",), every=0.01, until=2.0, value=value)
    times = [t for t, _, _ in sent]
    # The first send is at once and measures the cost; from then on the fixed interval's pace.
    assert all(b - a >= 0.25 - 1e-9 for a, b in zip(times[1:], times[2:])), times
    assert _held_longest(asked, sent) <= 0.25 + 1e-9
    assert pacer.current_interval(loop.t) == 0.25
    assert sent[-1][2] == 200


def test_the_budget_is_shared_by_the_busy_queues():
    # 0.4 ms a send, three busy queues: 3 x 0.4 ms / 2 % = 60 ms each, so the three together stay
    # within the budget; one queue alone would run at the floor.
    pacer, loop, value, sent = _paced(cost=0.0004, keys=("a", "b", "c"))
    _stream(pacer, loop, ("a", "b", "c"), every=0.01, until=2.0, value=value)
    assert abs(pacer.current_interval(1.5) - 0.06) < 1e-6
    spent_per_second = sum(1 for t, _, _ in sent if 1.0 <= t < 2.0) * 0.0004
    assert spent_per_second <= 0.02 + 0.0004 * 3
    alone, loop2, value2, sent2 = _paced(cost=0.0004)
    _stream(alone, loop2, ("a",), every=0.01, until=2.0, value=value2)
    assert alone.current_interval(1.5) == 0.05


def test_one_costly_send_does_not_hold_the_queues_back():
    """A garbage collection inside one send (50 ms) is not what a send costs: the interval stays at
    the floor (a running mean held every queue at 0.25 s for the next seconds)."""
    pacer, loop, value, sent = _paced(cost=0.0001)
    spent = pacer._cost_clock
    sends = [0]
    inner = pacer._send

    def send(k: str) -> None:
        sends[0] += 1
        if sends[0] == 5:
            spent.t += 0.05
        inner(k)
    pacer._send = send
    asked = _stream(pacer, loop, ("support",), every=0.01, until=2.0, value=value)
    assert _held_longest(asked, sent) <= 0.05 + 1e-9
    assert pacer.current_interval(loop.t) == 0.05


def test_without_a_floor_the_interval_is_fixed():
    loop = FakeLoop()
    spent = CostClock(0.0)
    pacer = LeadingEdgePacer(0.25, lambda k: spent.spend(), now=loop.now, later=loop.later, cost=spent)
    pacer.changed("support")
    loop.advance(0.0)
    assert pacer.current_interval(0.0) == 0.25


def _capture(floor: Floor) -> tuple[list[dict], asyncio.Event]:
    got: list[dict] = []
    arrived = asyncio.Event()

    def publish(event, data, audience):
        if event == "queue.stats" and data["name"] == "support":
            got.append(data)
            arrived.set()
    floor.eng.publish = publish
    return got, arrived


async def test_engine_publishes_a_queues_first_change_without_waiting_the_interval(floor):
    eng = floor.eng
    eng.stats_interval = 60.0  # before: the first change waited all of it
    got, arrived = _capture(floor)
    eng.agent_login("a1", ["support"])
    await asyncio.wait_for(arrived.wait(), 5)
    assert got[-1]["agents_logged_in"] == 1 and got[-1]["agents_ready"] == 1
    # Changes right after it wait for the interval, coalesced; the engine's flush sends the last.
    arrived.clear()
    eng.agent_pause("a1", "break")
    eng.agent_login("a2", ["support"])
    for _ in range(5):
        await asyncio.sleep(0)  # a few ticks: nothing goes out within the interval
    assert len(got) == 1
    eng.flush_queue_stats()
    assert len(got) == 2 and got[-1]["agents_logged_in"] == 2 and got[-1]["agents_paused"] == 1


async def test_engine_sends_the_last_state_of_a_burst_at_the_intervals_end(floor):
    eng = floor.eng
    eng.stats_interval = 0.2
    got, arrived = _capture(floor)
    eng.agent_login("a1", ["support"])
    await asyncio.wait_for(arrived.wait(), 5)
    arrived.clear()
    for reason in ("break", "lunch", "break"):
        eng.agent_pause("a1", reason)
        eng.agent_ready("a1")
        await asyncio.sleep(0)
    eng.agent_login("a2", ["support"])
    await asyncio.wait_for(arrived.wait(), 5)
    assert len(got) == 2
    assert got[-1]["agents_logged_in"] == 2 and got[-1]["agents_ready"] == 2


async def test_engine_pushes_a_busy_queue_within_the_short_interval(floor):
    eng = floor.eng
    eng.stats_interval = 60.0  # the bound; cheap pushes on a floor of two agents go at the floor
    eng.stats_interval_min = 0.05
    got, arrived = _capture(floor)
    eng.agent_login("a1", ["support"])
    await asyncio.wait_for(arrived.wait(), 5)
    arrived.clear()
    eng.agent_pause("a1", "break")  # right after a push: before, held for the whole interval
    await asyncio.wait_for(arrived.wait(), 5)
    assert len(got) == 2 and got[-1]["agents_paused"] == 1
