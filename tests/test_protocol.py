"""Bad input on the console protocol: each case gets a clear error and the connection stays up."""
from __future__ import annotations

import json

import pytest
import websockets

from cc_console.protocol import ErrorCode, ProtocolError, parse_request

from .conftest import PASSWORD


async def _rpc(ws, frame) -> dict:
    await ws.send(frame if isinstance(frame, (str, bytes)) else json.dumps(frame))
    while True:
        msg = json.loads(await ws.recv())
        if msg["type"] == "res":
            return msg


async def _alive(ws) -> None:
    res = await _rpc(ws, {"v": 1, "type": "req", "id": "alive", "cmd": "ping"})
    assert res["ok"] and res["id"] == "alive"


BAD_FRAMES = [
    ("{not json", ErrorCode.MALFORMED, None),
    ("[1,2,3]", ErrorCode.MALFORMED, None),
    ('"just a string"', ErrorCode.MALFORMED, None),
    ({"v": 99, "type": "req", "id": "a", "cmd": "ping"}, ErrorCode.BAD_VERSION, "a"),
    ({"type": "req", "id": "b", "cmd": "ping"}, ErrorCode.BAD_VERSION, "b"),
    ({"v": 1, "type": "res", "id": "c", "cmd": "ping"}, ErrorCode.BAD_REQUEST, "c"),
    ({"v": 1, "type": "req", "id": 7, "cmd": "ping"}, ErrorCode.BAD_REQUEST, 7),
    ({"v": 1, "type": "req", "id": "d", "cmd": "fly.to.moon"}, ErrorCode.UNKNOWN_COMMAND, "d"),
    ({"v": 1, "type": "req", "id": "e", "cmd": 12}, ErrorCode.BAD_REQUEST, "e"),
    ({"v": 1, "type": "req", "id": "f", "cmd": "login", "args": []}, ErrorCode.BAD_REQUEST, "f"),
    ({"v": 1, "type": "req", "id": "g", "cmd": "login", "args": {"username": 5, "password": "x"}},
     ErrorCode.BAD_REQUEST, "g"),
    ({"v": 1, "type": "req", "id": "h", "cmd": "login", "args": {"username": "agent1"}}, ErrorCode.BAD_REQUEST, "h"),
    ({"v": 1, "type": "req", "id": "i", "cmd": "login",
      "args": {"username": "agent1", "password": "x", "colour": "red"}}, ErrorCode.BAD_REQUEST, "i"),
    ({"v": 1, "type": "req", "id": "j", "cmd": "call.answer", "args": {"call_id": True}},
     ErrorCode.BAD_REQUEST, "j"),
    ({"v": 1, "type": "req", "id": "k", "cmd": "agent.ready"}, ErrorCode.UNAUTHENTICATED, "k"),
]


@pytest.mark.parametrize("frame,code,rid", BAD_FRAMES)
async def test_bad_frame_gets_clear_error_and_connection_stays(server, frame, code, rid):
    async with websockets.connect(server.url) as ws:
        res = await _rpc(ws, frame)
        assert res["ok"] is False
        assert res["error"]["code"] == code
        assert res["error"]["message"]
        assert res["id"] == rid
        await _alive(ws)


async def test_binary_frame_refused_connection_stays(server):
    async with websockets.connect(server.url) as ws:
        await ws.send(b"\x00\x01")
        res = json.loads(await ws.recv())
        assert res["error"]["code"] == ErrorCode.MALFORMED
        await _alive(ws)


async def test_wrong_types_after_login(server):
    async with websockets.connect(server.url) as ws:
        res = await _rpc(ws, {"v": 1, "type": "req", "id": "l", "cmd": "login",
                              "args": {"username": "agent1", "password": PASSWORD}})
        assert res["ok"]
        snap = json.loads(await ws.recv())
        assert snap["type"] == "snapshot" and snap["seq"] == 1
        assert snap["data"]["me"]["user"] == "agent1"
        res = await _rpc(ws, {"v": 1, "type": "req", "id": "m", "cmd": "agent.login", "args": {"queues": "support"}})
        assert res["error"]["code"] == ErrorCode.BAD_REQUEST and "list" in res["error"]["message"]
        res = await _rpc(ws, {"v": 1, "type": "req", "id": "n", "cmd": "agent.login", "args": {"queues": ["nope"]}})
        assert res["error"]["code"] == ErrorCode.NOT_FOUND
        res = await _rpc(ws, {"v": 1, "type": "req", "id": "o", "cmd": "call.answer", "args": {"call_id": "zzz"}})
        assert res["error"]["code"] == ErrorCode.NOT_FOUND
        res = await _rpc(ws, {"v": 1, "type": "req", "id": "p", "cmd": "call.hangup"})
        assert res["error"]["code"] == ErrorCode.CONFLICT
        await _alive(ws)


@pytest.mark.parametrize("user,cmd,args", [
    ("wall1", "agent.ready", {}),
    ("wall1", "call.answer", {}),
    ("agent1", "agent.set_state", {"agent": "agent2", "state": "paused"}),
])
async def test_role_may_not_use_command(connect, user, cmd, args):
    c = await connect(user)
    with pytest.raises(ProtocolError) as exc:
        await c.call(cmd, args)
    assert exc.value.code == ErrorCode.FORBIDDEN
    assert "may not" in exc.value.message
    assert (await c.call("ping"))["pong"]


async def test_supervisor_sets_agent_state_and_agent_sees_it(connect):
    agent = await connect("agent1")
    sup = await connect("sup1")
    await agent.call("agent.login")
    with pytest.raises(ProtocolError) as exc:
        await sup.call("agent.set_state", {"agent": "agent1", "state": "paused", "reason": "coaching"})
    assert exc.value.code == ErrorCode.BAD_REQUEST and "training" in exc.value.message
    await sup.call("agent.set_state", {"agent": "agent1", "state": "paused", "reason": "training"})
    res = await agent.call("snapshot")
    assert res == {}
    await agent.call("ping")  # the snapshot frame precedes this response on the wire
    assert agent.state.my_agent["state"] == "paused"
    assert agent.state.my_agent["reason"] == "training"
    with pytest.raises(ProtocolError) as exc:
        await sup.call("agent.set_state", {"agent": "ghost", "state": "ready"})
    assert exc.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ProtocolError) as exc:
        await sup.call("agent.set_state", {"agent": "agent1", "state": "dancing"})
    assert exc.value.code == ErrorCode.BAD_REQUEST


async def test_events_carry_gapless_sequence(connect):
    agent = await connect("agent1")
    seqs: list[int] = []
    agent.add_listener(lambda kind, data: seqs.append(agent.last_seq))
    await agent.call("agent.login")
    await agent.call("agent.pause", {"reason": "lunch"})
    await agent.call("agent.ready")
    await agent.call("ping")
    assert seqs == list(range(2, 2 + len(seqs)))  # 1 was the snapshot after login
    assert agent.stale is False
    assert agent.state.my_agent["state"] == "ready"


async def test_agent_sees_only_itself_supervisor_sees_all(connect):
    a1 = await connect("agent1")
    sup = await connect("sup1")
    await a1.call("agent.login")
    a2 = await connect("agent2")
    assert set(a2.state.agents) == {"agent2"}
    await sup.call("ping")
    assert {"agent1", "agent2", "agent3", "sup1", "admin1"} <= set(sup.state.agents)
    assert sup.state.agents["agent1"]["state"] == "ready"


def test_every_command_documented():
    """Every command, the core's and every capability's (server/registry.py), is in docs/protocol.md."""
    from cc_console.server.registry import load_commands
    doc = (__import__("pathlib").Path(__file__).parents[1] / "docs" / "protocol.md").read_text()
    for name in load_commands():
        assert f"`{name}`" in doc, name


def test_parse_request_rejects_bool_for_string():
    with pytest.raises(ProtocolError):
        parse_request(json.dumps({"v": 1, "type": "req", "id": "x", "cmd": "resume", "args": {"token": True}}))
