"""A call engine on a floor of two agents, fed the ARI events Asterisk would send, with an ARI
client whose REST calls are instant no-ops recorded in order: the fast tests of the call flows
(test_call_states and the services' tests) share it; the `floor` fixture is in conftest.py."""
from __future__ import annotations

import asyncio
from typing import Any

from cc_console.models import AgentState, CallState
from cc_console.server.acd.config import parse_routing
from cc_console.server.ari import AriClient, AriEvent, Channel
from cc_console.server.calls.engine import CallEngine
from cc_console.server.store import SQLiteStore

C = CallState


def _stub(ari: AriClient) -> list[tuple[str, tuple[Any, ...]]]:
    sent: list[tuple[str, tuple[Any, ...]]] = []

    def rec(name: str, result: Any = None) -> Any:
        async def call(*a: Any, **k: Any) -> Any:
            sent.append((name, a))
            return result
        return call
    for name in ("answer", "hangup", "originate", "create_bridge", "destroy_bridge", "add_channel", "start_moh",
                 "stop_moh", "play_on_bridge", "record_bridge"):
        setattr(ari, name, rec(name))
    for name in ("request", "channels", "bridges"):
        setattr(ari, name, rec(name, []))
    return sent


class Floor:
    def __init__(self, tmp_path, mode: str = "phone") -> None:
        routing = parse_routing({"queues": {"support": {"dids": ["5000"], "wrapup": 0, "callback_key": "1",
                                                        "voicemail_key": "2"},
                                            "sales": {"dids": ["5001"], "wrapup": 0}},
                                 "agents": {"a1": {"queues": {"support": 0, "sales": 0}},
                                            "a2": {"queues": {"support": 0, "sales": 0}}}})
        self.ari = AriClient("http://127.0.0.1:9", "u", "p", "app")
        self.sent = _stub(self.ari)
        self.eng = CallEngine(self.ari, SQLiteStore(tmp_path / "e.sqlite3"), routing, ring_timeout=30)
        self.eng.load([{"username": a, "name": a, "device": f"PJSIP/10{i}", "role": "agent", "answer_mode": mode,
                        "queues": ["support"]} for i, a in enumerate(("a1", "a2"))])
        self.moves: list[tuple[str, str, str]] = []  # (call or agent id, from, to)
        check_call, check_agent = self.eng.transitions.check_call, self.eng.transitions.check_agent

        def spy_call(cid: str, old: CallState, new: CallState) -> bool:
            if old is not new:
                self.moves.append((cid, str(old), str(new)))
            return check_call(cid, old, new)

        def spy_agent(aid: str, old: AgentState, new: AgentState) -> bool:
            if old is not new:
                self.moves.append((aid, str(old), str(new)))
            return check_agent(aid, old, new)
        self.eng.transitions.check_call = spy_call  # type: ignore[method-assign]
        self.eng.transitions.check_agent = spy_agent  # type: ignore[method-assign]

    async def event(self, kind: str, channel: str, *args: str, cause: int | None = None, digit: str = "") -> None:
        await self.eng.on_event(AriEvent(kind, channel=Channel(channel, channel, "Up", "0612345678", "", "5000"),
                                         args=tuple(args), cause=cause, digit=digit))
        await asyncio.sleep(0)

    async def inbound(self, ch: str = "caller-1", did: str = "5000") -> str:
        await self.event("StasisStart", ch, "inbound", did)
        return self.eng.by_channel[ch]

    def path(self, who: str) -> list[str]:
        out: list[str] = []
        for w, old, new in self.moves:
            if w == who:
                out += [old, new] if not out else [new]
        return out

    async def idle(self) -> None:
        await self.eng.idle()

    def close(self) -> None:
        self.eng.shutdown()
        self.eng.store.close()


async def _connected(f: Floor, agent: str = "a1", ch: str = "caller-1") -> str:
    f.eng.agent_login(agent, ["support"])
    cid = await f.inbound(ch)
    call = f.eng.calls[cid]
    assert call.state is C.RINGING and call.agent == agent
    await f.event("StasisStart", call.agent_channel, "agentleg", cid)
    assert call.state is C.CONNECTED
    return cid
