"""Domain errors (cc_console/errors.py): the services refuse in words for an agent or a supervisor;
each front door maps the refusal once. The websocket answers an error response with the same code
and message; REST answers problem details whose status is the code's and whose detail is the same
message (server/api/problems.py from_domain); the audit log counts it under its code.
"""
from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from cc_console.errors import Conflict, Damaged, DomainError, Forbidden, Invalid, NotFound, Unavailable
from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.api.problems import PROBLEM_TYPE, from_domain
from cc_console.server.api.rest import PREFIX
from cc_console.server.gateway import wire_error

from .conftest import PASSWORD

STATUSES = {NotFound: 404, Conflict: 409, Forbidden: 403, Invalid: 400, Unavailable: 503, Damaged: 500}


@pytest.mark.parametrize("kind", list(STATUSES), ids=lambda k: k.__name__)
def test_each_domain_error_maps_to_its_code_status_and_message(kind: type[DomainError]):
    exc = kind("that call is not yours", call="c-1")
    assert isinstance(exc, DomainError) and not isinstance(exc, ProtocolError)  # not a wire-level problem
    wire = wire_error(exc)
    assert wire.to_dict() == {"code": str(kind.code), "message": "that call is not yours", "details": {"call": "c-1"}}
    res = from_domain(exc, "/api/v1/commands/call.hangup")
    body = json.loads(res.text or "")
    assert res.status == STATUSES[kind] and res.content_type == PROBLEM_TYPE
    assert body["code"] == str(kind.code) and body["detail"] == "that call is not yours"
    assert body["instance"] == "/api/v1/commands/call.hangup" and body["details"] == {"call": "c-1"}


# (user, command, arguments, code, REST status, start of the message)
REFUSALS: list[tuple[str, str, dict[str, Any], ErrorCode, int, str]] = [
    ("agent1", "call.answer", {}, ErrorCode.CONFLICT, 409, "no call for this agent right now"),
    ("agent1", "call.hangup", {"call_id": "nope"}, ErrorCode.NOT_FOUND, 404, "no active call 'nope'"),
    ("agent1", "call.hold", {"on": True}, ErrorCode.CONFLICT, 409, "no call for this agent right now"),
    ("agent1", "agent.pause", {"reason": "nope"}, ErrorCode.BAD_REQUEST, 400, "unknown pause reason 'nope'"),
    ("agent1", "agent.login", {"queues": ["nope"]}, ErrorCode.NOT_FOUND, 404, "unknown queue(s)"),
    ("sup1", "monitor.stop", {}, ErrorCode.CONFLICT, 409, "you are not monitoring anyone"),
    ("sup1", "agent.set_state", {"agent": "agent2", "state": "dancing"}, ErrorCode.BAD_REQUEST, 400,
     "state must be ready, paused or logged_out"),
]


@pytest.fixture
def settings(settings):
    settings.server.api_burst = 1_000  # two front doors, many requests: the rate limit is tested elsewhere
    return settings


async def test_an_engine_refusal_reads_the_same_through_websocket_and_rest(server, connect):
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
        for user, cmd, args, code, status, start in REFUSALS:
            ws = await connect(user)
            with pytest.raises(ProtocolError) as err:
                await ws.call(cmd, args)
            assert err.value.code == code and err.value.message.startswith(start), (cmd, err.value.to_dict())
            async with http.post(f"{PREFIX}/commands/login", json={"username": user, "password": PASSWORD}) as r:
                token = (await r.json())["token"]
            async with http.post(f"{PREFIX}/commands/{cmd}", json=args,
                                 headers={"Authorization": f"Bearer {token}"}) as r:
                body = await r.json(content_type=None)
                assert r.status == status and r.content_type == PROBLEM_TYPE, (cmd, r.status, body)
                assert body["code"] == str(code) and body["detail"] == err.value.message, (cmd, body)


async def test_a_route_that_catches_a_services_refusal_answers_not_found(server):
    """The voicemail audio route asks its service for the file: an id that cannot be one is the
    service's NotFound, answered 404, not a server error."""
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
        async with http.post(f"{PREFIX}/commands/login", json={"username": "agent1", "password": PASSWORD}) as r:
            token = (await r.json())["token"]
        async with http.get("/api/voicemails/not-an-id/audio", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 404 and "no such voicemail" in await r.text()
