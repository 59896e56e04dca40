"""A real call on the sandbox Asterisk driven and read through the REST API: the agent logs in,
answers and hangs up with REST commands (a real baresip phone answers), the call is seen in
GET /api/v1/calls in each state, and a note about it is added to a customer record."""
from __future__ import annotations

import aiohttp
import jsonschema_rs  # schemathesis's own JSON schema validator
import pytest

from cc_console.server.api.openapi import SCHEMAS
from cc_console.server.api.rest import PREFIX

from .asterisk import SandboxPbx, until
from .conftest import PASSWORD

pytestmark = pytest.mark.asterisk


async def test_call_answered_noted_and_hung_up_through_rest(server, connect, pbx: SandboxPbx, phone):
    p1 = await phone("1001", auto_answer=True)
    sup = await connect("sup1")  # the websocket view, to await the call's changes (REST has no events)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
        async with http.post(f"{PREFIX}/commands/login", json={"username": "agent1", "password": PASSWORD}) as r:
            h = {"Authorization": f"Bearer {(await r.json())['token']}"}
        crm = {"Authorization": f"Bearer {server.api_clients.add('crm', 'agent')}"}

        async def calls(headers, **q):
            async with http.get(f"{PREFIX}/calls", params=q, headers=headers) as r:
                assert r.status == 200, await r.text()
                return (await r.json())["items"]

        async with http.post(f"{PREFIX}/commands/agent.login", json={}, headers=h) as r:
            assert (await r.json())["agent"]["state"] == "ready"

        await pbx.place_call("5000", caller="0611111111")
        ringing = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["state"] == "ringing"),
                                                None), what="ringing")
        assert [c["id"] for c in await calls(h, state="ringing")] == [ringing["id"]]

        async with http.post(f"{PREFIX}/commands/call.answer", json={}, headers=h) as r:
            assert r.status == 200, await r.text()
        await until(sup, lambda: sup.state.calls.get(ringing["id"], {}).get("state") == "connected", what="connected")
        await p1.wait_call_state("ESTABLISHED", timeout=10)
        mine = await calls(h, state="connected")
        for c in mine:  # a live call as the OpenAPI document describes it
            jsonschema_rs.Draft202012Validator(SCHEMAS["Call"]).validate(c)
        assert [(c["id"], c["agent"], c["caller"]) for c in mine] == [(ringing["id"], "agent1", "0611111111")]
        # An API client acting as `api:crm` has no calls of its own.
        assert await calls(crm) == []

        async with http.post(f"{PREFIX}/contacts", json={"first_name": "Ina", "phone": "0611111111"},
                             headers=crm) as r:
            contact = (await r.json())["contact"]
        async with http.post(f"{PREFIX}/contacts/{contact['id']}/notes",
                             json={"call_id": ringing["id"], "text": "asked about her invoice"}, headers=h) as r:
            assert r.status == 201, await r.text()
            assert (await r.json())["note"]["author"] == "agent1"
        # The CRM (not the call's agent) may not write on the agent's call.
        async with http.post(f"{PREFIX}/contacts/{contact['id']}/notes",
                             json={"call_id": ringing["id"], "text": "x"}, headers=crm) as r:
            assert r.status == 403 and (await r.json())["code"] == "forbidden"

        async with http.post(f"{PREFIX}/commands/call.hangup", json={}, headers=h) as r:
            assert r.status == 200, await r.text()
        await until(sup, lambda: ringing["id"] not in sup.state.calls, what="call ended")
        await p1.wait_call_state("CLOSED", timeout=10)
        assert await calls(h) == []
        async with http.post(f"{PREFIX}/commands/notes.history", json={"call_id": ringing["id"]}, headers=h) as r:
            assert [n["text"] for n in (await r.json())["notes"]] == ["asked about her invoice"]
