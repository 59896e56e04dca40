"""A queue's figures reach the consoles at once on its first change and at most once per interval
after that, the last state always (server/calls/pacing.py, the engine's `stats_interval`). Fast:
no Asterisk (the engine on tests/test_call_states.py's floor)."""
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
