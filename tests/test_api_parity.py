"""Every console command, for every role, through the websocket and through REST: the same result
and the same permission decision (one dispatch behind both front doors, server/commands.py).

Each command runs once per door on the same server state (agents reset in between); arguments are
of the declared types, chosen so that a command either succeeds repeatably or is refused the same
way each time (unknown ids, a queue that does not exist for dialling).
"""
from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from cc_console.models import ROLE_PERMISSIONS, AgentState, Role
from cc_console.protocol import COMMANDS, ErrorCode, ProtocolError
from cc_console.server.api.problems import STATUS
from cc_console.server.api.rest import PREFIX

from .conftest import PASSWORD

ROLE_USERS = {Role.AGENT: "agent1", Role.SUPERVISOR: "sup1", Role.WALLBOARD: "wall1", Role.ADMIN: "admin1"}

SAMPLE = {str: "nope", bool: False, int: 5, float: 1.5, list: [], dict: {}}
OVERRIDES: dict[str, dict[str, Any]] = {
    "agent.set_state": {"agent": "agent2", "state": "paused", "reason": "break"},
    "agent.set_queues": {"agent": "agent2", "queues": ["support"]},
    "agent.login": {"queues": ["support"]},
    "monitor.start": {"agent": "agent2"},
    "queue.problem": {"queue": "support", "on": False},
    "report.run": {"kind": "queue", "from": "2026-01-01", "to": "2026-01-02"},
    "directory.search": {"q": "smith"},
    "call.dial": {"number": "1234", "queue": "nope"},  # refused before anything is dialled
    "categories.set": {"categories": ["billing", "other"]},
    "contacts.save": {"contact": {"first_name": "Parity"}},
    "contacts.history": {"number": "0612345678"},
    "callback.reschedule": {"id": "nope", "preferred": "+30m"},
    "absence.add": {"person_id": "t:nope", "type": "holiday", "from": "2026-01-01"},
    "recordings.evaluate": {"id": "nope", "scores": {"tone": 3}},
    "recordings.mark": {"id": "nope", "at": 1, "text": "x"},
}
VOLATILE = {"token", "id", "ident_id", "password", "time", "created", "updated", "ts", "requested", "state_since",
            "logged_in_since", "generated", "last_call_end", "contact_id"}


@pytest.fixture(autouse=True)
def no_rate_limit(settings):
    """One REST request per command per role: more commands than the default burst (the rate limit
    has its own tests; this one compares the front doors)."""
    settings.server.api_burst = 10_000


def args_for(cmd: str, user: str, token: str) -> dict[str, Any]:
    if cmd == "login":
        return {"username": user, "password": PASSWORD}
    if cmd == "resume":
        return {"token": token}
    spec = COMMANDS[cmd]
    out = {k: SAMPLE[a.type if isinstance(a.type, type) else a.type[-1]] for k, a in spec.args.items() if a.required}
    return {**out, **OVERRIDES.get(cmd, {})}


def normal(v: Any) -> Any:
    """Results without what differs between two runs of the same command (fresh ids, times, tokens)."""
    if isinstance(v, dict):
        return {k: "*" if k in VOLATILE else normal(x) for k, x in v.items()}
    if isinstance(v, list):
        return [normal(x) for x in v]
    if isinstance(v, float):
        return 0.0
    return v


@pytest.fixture
def settings(settings):
    """Every command of every capability, twice per role, is more than one client's burst of requests:
    the rate limit is not what this test compares."""
    settings.server.api_burst = 100_000
    settings.server.api_rate = 100_000.0
    return settings


def reset(server) -> None:
    for a in list(server.engine.agents.values()):
        if a.state is not AgentState.LOGGED_OUT:
            server.engine.agent_logout(a.id, by_self=False)


async def test_every_command_every_role_same_through_websocket_and_rest(server, connect):
    order = sorted(COMMANDS, key=lambda c: (c == "logout", c))  # logout ends the session: last
    compared = succeeded = 0
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
        for role, user in ROLE_USERS.items():
            ws = await connect(user)
            async with http.post(f"{PREFIX}/commands/login", json={"username": user, "password": PASSWORD}) as r:
                rest_token = (await r.json())["token"]
            for cmd in order:
                reset(server)
                ws_msg = ""
                try:
                    ws_out: Any = ("ok", normal(await ws.call(cmd, args_for(cmd, user, ws.token))))
                except ProtocolError as exc:
                    ws_out, ws_msg = ("error", str(exc.code)), exc.message
                reset(server)
                async with http.post(f"{PREFIX}/commands/{cmd}", json=args_for(cmd, user, rest_token),
                                     headers={"Authorization": f"Bearer {rest_token}"}) as r:
                    body = await r.json(content_type=None)
                    if r.status == 200:
                        rest_out: Any = ("ok", normal(body))
                    else:
                        assert r.content_type == "application/problem+json"
                        assert r.status == STATUS[ErrorCode(body["code"])], (cmd, role, r.status, body)
                        rest_out = ("error", body["code"])
                assert ws_out == rest_out, (cmd, role)
                succeeded += ws_out[0] == "ok"
                # And the permission decision is the role's (a handler may still refuse on ownership).
                perm = COMMANDS[cmd].permission
                refused = ws_out[1] == "forbidden" and "may not use this command" in ws_msg
                assert refused == (perm is not None and perm not in ROLE_PERMISSIONS[role]), (cmd, role, ws_msg)
                compared += 1
    assert compared == len(COMMANDS) * len(ROLE_USERS)
    assert succeeded >= 60  # not only refusals compared: most allowed commands ran to a result


@pytest.mark.parametrize("cmd", ["agent.ready", "report.run"])
async def test_rest_without_token_is_unauthenticated_like_a_websocket_without_login(server, connect, cmd):
    ws = await connect()
    with pytest.raises(ProtocolError) as err:
        await ws.call(cmd, OVERRIDES.get(cmd, {}))
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
        async with http.post(f"{PREFIX}/commands/{cmd}", json=OVERRIDES.get(cmd, {})) as r:
            assert r.status == 401 and (await r.json())["code"] == str(err.value.code) == "unauthenticated"


# A command that a REST resource serves (a route's `command`): how to ask the same through both doors,
# and the part of each answer that must be equal (a resource pages, adds a location, or answers CSV).
# (command args, method, path, query, body, the websocket answer's part, the resource's part)
def _csv(r: dict[str, Any]) -> str:
    from cc_console.server.sms.plugin import record_csv
    return record_csv(r["messages"])


ROUTE_CASES: dict[str, tuple[dict[str, Any], str, str, dict[str, str], Any, Any, Any]] = {
    "callbacks.list": ({"state": "all"}, "GET", "/callbacks", {"state": "all"}, None,
                       lambda r: r["items"][:50], lambda b: b["items"]),
    "contacts.search": ({"q": "parity", "limit": 51}, "GET", "/contacts", {"q": "parity"}, None,
                        lambda r: r["contacts"][:50], lambda b: b["items"]),
    "contacts.get": ({"id": "nope"}, "GET", "/contacts/nope", {}, None, lambda r: r, lambda b: b),
    "contacts.save": ({"contact": {"first_name": "Parity"}}, "POST", "/contacts", {}, {"first_name": "Parity"},
                      lambda r: r, lambda b: {k: v for k, v in b.items() if k != "location"}),
    "notes.add": ({"call_id": "nope", "text": "x", "contact_id": "nope"}, "POST", "/contacts/nope/notes", {},
                  {"call_id": "nope", "text": "x"}, lambda r: r, lambda b: b),
    "recordings.search": ({"limit": 50, "offset": 0}, "GET", "/recordings", {}, None,
                          lambda r: r["recordings"], lambda b: b["items"]),
    "report.run": ({"kind": "queue", "from": "2026-01-01", "to": "2026-01-02"}, "GET", "/reports/queue",
                   {"from": "2026-01-01", "to": "2026-01-02"}, None, lambda r: r, lambda b: b),
    "sms.record": ({"day": "2026-01-01"}, "GET", "/sms/record", {"day": "2026-01-01"}, None, _csv, lambda b: b),
}


async def test_every_command_with_a_rest_resource_same_through_websocket_and_the_resource(server, connect):
    """The resources that serve a command (GET /contacts, /reports/{kind}, /sms/record ...) give what
    the command gives over the websocket, and refuse whom it refuses, for every role; a new resource
    with a command and no case here fails the first assertion."""
    from cc_console.server.api.openapi import capability_routes
    from cc_console.server.api.rest import ROUTES
    routed = {r.command: r for r in [*ROUTES, *capability_routes()] if r.command}
    assert set(routed) == set(ROUTE_CASES), "add the new resource's command to ROUTE_CASES"
    compared = succeeded = 0
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
        for role, user in ROLE_USERS.items():
            ws = await connect(user)
            async with http.post(f"{PREFIX}/commands/login", json={"username": user, "password": PASSWORD}) as r:
                token = (await r.json())["token"]
            for cmd, (args, method, path, query, body, ws_part, rest_part) in ROUTE_CASES.items():
                route = routed[cmd]
                assert route.method == method and re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", route.path), path), cmd
                reset(server)
                ws_msg = ""
                try:
                    ws_out: Any = ("ok", normal(ws_part(await ws.call(cmd, dict(args)))))
                except ProtocolError as exc:
                    ws_out, ws_msg = ("error", str(exc.code)), exc.message
                reset(server)
                async with http.request(method, PREFIX + path, params=query, json=body,
                                        headers={"Authorization": f"Bearer {token}"}) as r:
                    if r.status in (200, 201):
                        got = await (r.text() if r.content_type == "text/csv" else r.json())
                        rest_out: Any = ("ok", normal(rest_part(got)))
                    else:
                        problem = await r.json(content_type=None)
                        assert r.content_type == "application/problem+json", (cmd, role, r.status)
                        rest_out = ("error", problem["code"])
                assert ws_out == rest_out, (cmd, role, ws_msg)
                perm = COMMANDS[cmd].permission
                refused = ws_out[1] == "forbidden" and "may not use this command" in ws_msg
                assert refused == (perm is not None and perm not in ROLE_PERMISSIONS[role]), (cmd, role, ws_msg)
                compared += 1
                succeeded += ws_out[0] == "ok"
    assert compared == len(ROUTE_CASES) * len(ROLE_USERS)
    assert succeeded >= 10  # answers compared, not only refusals
