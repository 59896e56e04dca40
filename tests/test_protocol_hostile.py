"""Hostile input on the console protocol (issue 12, item 9): every case is a clear `bad_request`
(or `bad_version`), never `internal`, and the connection stays up."""
from __future__ import annotations

import json

import pytest
import websockets

from cc_console.protocol import ErrorCode

from .conftest import PASSWORD


async def _rpc(ws, frame) -> dict:
    await ws.send(frame if isinstance(frame, str) else json.dumps(frame))
    while True:
        msg = json.loads(await ws.recv())
        if msg["type"] == "res":
            return msg


async def _login(ws, user: str) -> None:
    res = await _rpc(ws, {"v": 1, "type": "req", "id": "login", "cmd": "login",
                          "args": {"username": user, "password": PASSWORD}})
    assert res["ok"], res


async def _alive(ws) -> None:
    res = await _rpc(ws, {"v": 1, "type": "req", "id": "alive", "cmd": "ping"})
    assert res["ok"] and res["id"] == "alive"


def _req(rid: str, cmd: str, args_json: str) -> str:
    """A frame written by hand, so it can hold what json.dumps would never produce."""
    return f'{{"v":1,"type":"req","id":"{rid}","cmd":"{cmd}","args":{args_json}}}'


HOSTILE = [
    # JSON nested 100,000 deep: the parser's recursion limit, not a traceback.
    ("sup1", "deep", "[" * 100_000 + "]" * 100_000, None),
    ("sup1", "deep-arg", _req("deep-arg", "contacts.save", '{"contact":{"x":' + "[" * 50 + "]" * 50 + "}}"),
     "deep-arg"),
    # Lone surrogates are valid JSON escapes but not text; SQLite refuses them.
    ("agent1", "sur1", _req("sur1", "contacts.save", '{"contact":{"name":"\\ud800"}}'), "sur1"),
    ("agent1", "sur2", _req("sur2", "contacts.search", '{"q":"a\\udfffb"}'), "sur2"),
    ("agent1", "sur3", _req("sur3", "notes.add", '{"call_id":"\\ud800","text":"x"}'), "sur3"),
    ("agent1", "sur4", _req("sur4", "contacts.save", '{"contact":{"\\ud800":"x"}}'), "sur4"),
    # NUL: PostgreSQL refuses it in text; in a chat search it broke SQLite's full-text query.
    ("sup1", "nul1", _req("nul1", "chat.search", '{"q":"\\u0000"}'), "nul1"),
    ("agent1", "nul2", _req("nul2", "contacts.save", '{"contact":{"name":"a\\u0000b"}}'), "nul2"),
    # Integers SQLite cannot hold (int64).
    ("agent1", "big1", _req("big1", "contacts.search", '{"q":"a","limit":9223372036854775808}'), "big1"),
    ("agent1", "big2", _req("big2", "recordings.search", '{"offset":-9223372036854775809}'), "big2"),
    ("agent1", "big3", _req("big3", "contacts.save", '{"contact":{"name":"x","n":99999999999999999999}}'),
     "big3"),
    ("agent1", "huge", _req("huge", "contacts.search", '{"q":"a","limit":' + "9" * 5000 + "}"), None),
    # A list inside report.run's queues.
    ("sup1", "list", _req("list", "report.run", '{"kind":"queue","queues":[["support"]]}'), "list"),
    ("sup1", "list2", _req("list2", "agent.set_queues", '{"agent":"agent1","queues":[{"a":1}]}'), "list2"),
    ("sup1", "score", _req("score", "recordings.evaluate", '{"id":"r","scores":{"a":"high"}}'), "score"),
    # Not finite.
    ("sup1", "nan", _req("nan", "recordings.mark", '{"id":"r","at":NaN,"text":"x"}'), "nan"),
    ("sup1", "inf", _req("inf", "recordings.mark", '{"id":"r","at":1e999,"text":"x"}'), "inf"),
]


@pytest.mark.parametrize("user,name,frame,rid", HOSTILE, ids=[h[1] for h in HOSTILE])
async def test_hostile_input_is_a_clear_bad_request(server, user, name, frame, rid):
    async with websockets.connect(server.url, max_size=None) as ws:
        await _login(ws, user)
        res = await _rpc(ws, frame)
        assert res["ok"] is False
        assert res["error"]["code"] == ErrorCode.BAD_REQUEST, res
        assert res["id"] == rid
        msg = res["error"]["message"]
        assert msg and "Traceback" not in msg and len(msg) < 300
        await _alive(ws)


@pytest.mark.parametrize("v", ["true", "1.0", "1e0", '"1"', "[1]"])
async def test_version_must_be_exactly_the_integer_1(server, v):
    async with websockets.connect(server.url) as ws:
        res = await _rpc(ws, f'{{"v":{v},"type":"req","id":"v","cmd":"ping"}}')
        assert res["ok"] is False and res["error"]["code"] == ErrorCode.BAD_VERSION
        assert res["id"] == "v"
        await _alive(ws)


async def test_agent_may_ask_for_own_figures_by_id(connect):
    a = await connect("agent1")
    mine = (await a.call("agent.figures", {"agent": "agent1"}))["figures"]
    default = (await a.call("agent.figures"))["figures"]
    assert mine["agent"] == default["agent"] == "agent1"
    assert mine["windows"] == default["windows"]
