"""Helpers for tests that drive the real sandbox Asterisk.

Callers are Local channels: we originate Local/<DID>@cc-inbound/n whose other half runs a tone in
[cc-test-caller]; the half in cc-inbound enters our Stasis app exactly as a trunk call would.
Hanging up the test's half is the caller hanging up.
"""
from __future__ import annotations

import asyncio
import textwrap
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from cc_console.client import ConsoleClient
from cc_console.config import PbxSettings


@dataclass
class PlacedCall:
    outer: str  # the test's half: hang it up to make the caller hang up
    inner: str  # the half our server sees as the caller's channel


class SandboxPbx:
    def __init__(self, s: PbxSettings) -> None:
        self.s = s
        self.http = httpx.AsyncClient(base_url=s.ari_url, auth=(s.ari_user, s.ari_password), timeout=10)

    async def close(self) -> None:
        await self.http.aclose()

    async def place_call(self, did: str = "5000", caller: str = "0612345678", exten: str = "tone") -> PlacedCall:
        tag = uuid.uuid4().hex[:10]
        outer, inner = f"test-{tag};1", f"test-{tag};2"
        r = await self.http.post(f"/channels/{outer}", params={
            "endpoint": f"Local/{did}@{self.s.inbound_context}/n", "context": "cc-test-caller",
            "extension": exten, "priority": 1, "callerId": f'"Caller" <{caller}>', "otherChannelId": inner,
            "timeout": 30})
        r.raise_for_status()
        return PlacedCall(outer, inner)

    async def hangup(self, channel_id: str) -> None:
        r = await self.http.delete(f"/channels/{channel_id}")
        assert r.status_code in (204, 404), r.text

    async def channel_ids(self) -> set[str]:
        r = await self.http.get("/channels")
        r.raise_for_status()
        return {c["id"] for c in r.json()}

    async def bridge(self, bridge_id: str) -> dict[str, Any] | None:
        r = await self.http.get(f"/bridges/{bridge_id}")
        return r.json() if r.status_code == 200 else None


async def until(client: ConsoleClient, pred: Callable[[], Any], timeout: float = 15.0, what: str = "") -> Any:
    """Await the first pushed event after which pred() is true (checked at once, too)."""
    value = pred()
    if value:
        return value
    fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def listener(kind: str, data: dict[str, Any]) -> None:
        if fut.done():
            return
        try:
            v = pred()
        except Exception as exc:  # pragma: no cover - a broken predicate should fail loudly
            fut.set_exception(exc)
            return
        if v:
            fut.set_result(v)

    client.add_listener(listener)
    try:
        return await asyncio.wait_for(fut, timeout)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what or pred}; state: agents={client.state.agents} "
                             f"calls={client.state.calls}") from None
    finally:
        client._listeners.remove(listener)


async def connected_call(agent: ConsoleClient, caller_phone: Any, did: str = "5000") -> dict[str, Any]:
    """A real phone calls the DID; the agent answers from the console; returns the connected call."""
    await caller_phone.dial(did)
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
    await agent.call("call.answer")
    c = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected" and c, what="connected")
    await caller_phone.wait_call_state("ESTABLISHED", timeout=10)
    return c


async def channels_left(pbx: SandboxPbx, prefix: str = "cc-", timeout: float = 5.0) -> list[str]:
    """Our channels still in Asterisk once it has had `timeout` to act on our hang-ups (it destroys
    a channel shortly after answering the DELETE). Empty is what tests want."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = [c for c in await pbx.channel_ids() if c.startswith(prefix)]
        if not left or loop.time() > deadline:
            return left
        await asyncio.sleep(0.05)


async def still_there(pbx: SandboxPbx, ids: set[str], timeout: float = 5.0) -> set[str]:
    """Which of these channels Asterisk still lists once it has had `timeout` to destroy them
    (a hang-up is answered before the channel is gone). Empty is what tests want."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        left = ids & await pbx.channel_ids()
        if not left or loop.time() > deadline:
            return left
        await asyncio.sleep(0.05)


async def start_routed(settings: Any, routing_toml: str, path: Path) -> Any:
    """A started Server whose routing file (written to `path`) is `routing_toml`, connected to ARI."""
    from cc_console.server.app import Server

    path.write_text(textwrap.dedent(routing_toml))
    settings.server.routing_file = str(path)
    srv = Server(settings)
    await srv.start()
    await asyncio.wait_for(srv.ari.connected.wait(), 10)
    return srv
