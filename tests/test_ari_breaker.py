"""The ARI circuit breaker and what counts as Asterisk failing (server/ari/breaker.py). No Asterisk:
a closed port is a PBX that does not answer."""
from __future__ import annotations

import socket

import pytest

from cc_console.server.ari import AriClient, AriError
from cc_console.server.ari.breaker import CircuitBreaker, transient, worth_retrying


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_opens_after_failures_in_a_row_and_closes_after_cooldown_and_answers() -> None:
    clock = Clock()
    changes: list[bool] = []
    b = CircuitBreaker(threshold=3, cooldown=5.0, close_after=2, clock=clock)
    b.on_change = changes.append
    b.failure()
    b.failure()
    b.success()  # an answer in between: the count starts again
    b.failure()
    b.failure()
    assert not b.is_open
    b.failure()
    assert b.is_open and changes == [True]
    b.success()
    b.success()  # answers, but too soon after it opened: no flapping
    assert b.is_open
    clock.t += 5
    b.failure()  # a failure again, then one answer: still open
    b.success()
    assert b.is_open
    b.success()  # two answers in a row after the cooldown
    assert not b.is_open and changes == [True, False] and b.opened == 1


async def test_partial_failure_does_not_keep_it_open_forever() -> None:
    """One request in three lost after it opened: answers in a row still come, and close it."""
    clock = Clock()
    b = CircuitBreaker(threshold=3, cooldown=1.0, close_after=2, clock=clock)
    for _ in range(3):
        b.failure()
    assert b.is_open
    for i in range(12):
        clock.t += 0.25
        b.success() if i % 3 else b.failure()
        if not b.is_open:
            break
    assert not b.is_open


def test_answers_are_not_failures() -> None:
    """A 500 "Allocation failed" (an unreachable device) or a 404 is Asterisk answering."""
    assert transient(AriError(0, "ReadTimeout")) and transient(AriError(503, "unavailable"))
    assert not transient(AriError(500, "Allocation failed")) and not transient(AriError(404, "not found"))
    b = CircuitBreaker(threshold=1)
    b.record(AriError(500, "Allocation failed"))
    assert not b.is_open
    b.record(AriError(0, "ConnectError"))
    assert b.is_open


def test_no_retry_after_a_read_timeout() -> None:
    """Asterisk has that request and works on it; a retry only holds one more of its sessions."""
    assert worth_retrying(AriError(0, "ConnectError")) and worth_retrying(AriError(0, "RemoteProtocolError"))
    assert worth_retrying(AriError(503, "unavailable"))
    assert not worth_retrying(AriError(0, "ReadTimeout")) and not worth_retrying(AriError(500, "Allocation failed"))
    assert transient(AriError(0, "ReadTimeout"))  # still a failure for the breaker


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_client_requests_that_get_no_answer_open_it() -> None:
    ari = AriClient(f"http://127.0.0.1:{_closed_port()}/ari", "u", "p", "app", timeout=0.5)
    ari.breaker.threshold = 2
    try:
        for _ in range(2):
            with pytest.raises(AriError) as err:
                await ari.channels()
            assert err.value.status == 0
        assert ari.breaker.is_open and ari.breaker.opened == 1
    finally:
        await ari.stop()


async def _attempts(outcomes: list[Exception | None], attempts: int = 3) -> tuple[int, object]:
    """Run retrying() over a request that fails or answers as `outcomes` says, in turn."""
    from cc_console.server.ari.breaker import retrying
    calls = [0]

    async def request() -> str:
        calls[0] += 1
        exc = outcomes[calls[0] - 1]
        if exc is not None:
            raise exc
        return "answer"
    try:
        async for attempt in retrying(attempts=attempts):
            with attempt:
                answer = await request()
                return calls[0], answer
    except AriError as exc:
        return calls[0], exc
    return calls[0], None


async def test_a_request_answered_at_once_builds_no_retry_context(monkeypatch):
    """Nearly every ARI request is answered at once: stamina's retry context (about 50 us to set up,
    on every request of every call) is only built once a first attempt failed and is worth retrying."""
    import stamina
    built = []
    real = stamina.retry_context
    monkeypatch.setattr(stamina, "retry_context", lambda **kw: built.append(kw) or real(**kw))
    assert await _attempts([None]) == (1, "answer")
    assert built == []
    stamina.set_testing(True, attempts=3, cap=True)  # no waits, the attempts asked for
    try:
        assert await _attempts([AriError(0, "ConnectError"), None]) == (2, "answer")
        assert len(built) == 1 and built[0]["attempts"] == 2  # the first attempt counts
        n, exc = await _attempts([AriError(503, "unavailable")] * 3)
        assert n == 3 and isinstance(exc, AriError) and exc.status == 503
        n, exc = await _attempts([AriError(0, "ReadTimeout"), None])  # Asterisk has it: never again
        assert n == 1 and isinstance(exc, AriError) and exc.message == "ReadTimeout"
        n, exc = await _attempts([AriError(500, "Allocation failed"), None])
        assert n == 1 and exc.status == 500
        n, exc = await _attempts([AriError(0, "ConnectError"), None], attempts=1)
        assert n == 1 and exc.message == "ConnectError"
    finally:
        stamina.set_testing(False)
