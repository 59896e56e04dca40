"""The engine forgets what ended calls leave behind: in a long-running server, per-call state that
outlives its call is a leak (bench/soak.py checks the same at scale). Fast: no Asterisk; the ARI
client points at a closed port and is never connected."""
from __future__ import annotations

import asyncio

from cc_console.models import Agent, AgentState, Call, CallState
from cc_console.server.acd.config import parse_routing
from cc_console.server.ari import AriClient
from cc_console.server.calls.engine import CallEngine
from cc_console.server.store import SQLiteStore


def _engine(tmp_path, sticky: float, clock) -> CallEngine:
    routing = parse_routing({"sticky_seconds": sticky, "queues": {"support": {"dids": ["5000"], "wrapup": 0}},
                             "agents": {"a1": {"queues": {"support": 0}}}})
    ari = AriClient("http://127.0.0.1:9", "u", "p", "app")
    return CallEngine(ari, SQLiteStore(tmp_path / "e.sqlite3"), routing, clock=clock)


async def _complete_calls(eng: CallEngine, now: list[float], n: int) -> None:
    agent = Agent(id="a1", name="a1", state=AgentState.READY, queues=["support"])
    eng.agents["a1"] = agent
    for i in range(n):
        now[0] += 1.0
        call = Call(id=f"c{i}", caller=f"06{i:06d}", did="5000", queue="support", channel=f"ch{i}",
                    bridge=f"br{i}", state=CallState.CONNECTED, enqueued=now[0] - 1, agent="a1",
                    agent_channel=f"leg{i}")
        agent.state, agent.call_id = AgentState.ON_CALL, call.id
        eng.calls[call.id] = call
        eng._end(call, by="caller")
        await asyncio.sleep(0)
    for t in list(eng._tasks):  # the teardowns talk to an ARI that is not there
        t.cancel()
    await asyncio.gather(*eng._tasks, return_exceptions=True)


async def test_last_agents_are_forgotten_after_the_sticky_window(tmp_path):
    now = [1000.0]
    eng = _engine(tmp_path, 30, lambda: now[0])
    await _complete_calls(eng, now, 200)  # one call a second, each from a new caller
    assert not eng.calls
    # only the callers of the last 30 s can still be routed to their last agent
    assert 25 <= len(eng.last_agent) <= 31, len(eng.last_agent)
    assert eng.last_agent["06000199"][0] == "a1"
    assert "06000000" not in eng.last_agent


async def test_no_last_agent_kept_without_sticky_routing(tmp_path):
    now = [1000.0]
    eng = _engine(tmp_path, 0, lambda: now[0])
    await _complete_calls(eng, now, 50)
    assert eng.last_agent == {}
