"""The directory through the real server: search, person, absence rules, e-mail (real SMTP), REST."""
from __future__ import annotations

import asyncio
from email import message_from_bytes
from email.policy import default as email_policy

import aiohttp
import pytest
from aiosmtpd.controller import Controller

from cc_console.protocol import ErrorCode, ProtocolError
from tests.ports import free_port

from .test_directory_fixtures import load_sample


@pytest.fixture
def directory(server):
    load_sample(server.directory)
    return server.directory


async def test_search_and_person(directory, connect):
    c = await connect("agent1")
    res = await c.call("directory.search", {"q": "dvorak"})
    assert res["q"] == "dvorak" and [r["name"] for r in res["results"]] == ["Antonín Dvořák"]
    row = res["results"][0]
    assert row["id"] == "oslo:p3" and row["unit"] == "Plan- og bygningsetaten" and row["status"] == "in"
    res = await c.call("directory.search", {"q": "Øyvind", "tenant": "bergen", "limit": 5})
    assert [r["id"] for r in res["results"]] == ["bergen:b1"]
    p = (await c.call("directory.person", {"id": "oslo:p1"}))["person"]
    assert p["name"] == "Øyvind Hansen" and p["unit_path"] == ["Byggesak", "Plan- og bygningsetaten", "Oslo kommune"]
    assert [s["name"] for s in p["substitutes"]] == ["Kari Nordmann"]
    with pytest.raises(ProtocolError) as exc:
        await c.call("directory.person", {"id": "oslo:nobody"})
    assert exc.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ProtocolError) as exc:
        await c.call("directory.search", {"q": "x", "limit": "5"})
    assert exc.value.code == ErrorCode.BAD_REQUEST
    anon = await connect()
    with pytest.raises(ProtocolError) as exc:
        await anon.call("directory.search", {"q": "x"})
    assert exc.value.code == ErrorCode.UNAUTHENTICATED


async def test_line_state_follows_the_agent_on_the_desk_number(directory, connect):
    c = await connect("agent1")  # agent1's device is PJSIP/1001, Øyvind Hansen's desk number
    assert (await c.call("directory.search", {"q": "hansen"}))["results"][0]["line"] == "logged out"
    await c.call("agent.login")
    assert (await c.call("directory.search", {"q": "hansen"}))["results"][0]["line"] == "free"
    assert (await c.call("directory.search", {"q": "kari"}))["results"][0]["line"] == "unknown"


async def test_own_absence_anyone_others_only_supervisors(directory, connect):
    a1, a2, sup, wall, admin = (await connect("agent1"), await connect("agent2"), await connect("sup1"),
                                await connect("wall1"), await connect("admin1"))
    now = directory.clock()
    # agent1 is Øyvind Hansen (username agent1): their own absence, no person_id needed
    mine = (await a1.call("absence.add", {"type": "lunch", "from": now - 60, "until": now + 1800,
                                           "message": "Back at half past"}))["absence"]
    assert mine["person_id"] == "oslo:p1" and mine["type"] == "lunch"
    row = (await a2.call("directory.search", {"q": "hansen"}))["results"][0]
    assert row["status"] == "absent" and row["absence"]["message"] == "Back at half past"
    assert row["substitute"]["name"] == "Kari Nordmann"
    upd = (await a1.call("absence.update", {"id": mine["id"], "until": now + 3600}))["absence"]
    assert upd["until"] == now + 3600

    async def refused(client, cmd, args, code=ErrorCode.FORBIDDEN):
        with pytest.raises(ProtocolError) as exc:
            await client.call(cmd, args)
        assert exc.value.code == code, exc.value.message

    # an agent may not add, change or delete someone else's absence
    await refused(a2, "absence.add", {"person_id": "oslo:p1", "type": "sick", "from": now})
    await refused(a2, "absence.update", {"id": mine["id"], "type": "sick"})
    await refused(a2, "absence.delete", {"id": mine["id"]})
    await refused(wall, "absence.add", {"type": "sick", "from": now})  # no agent.self at all
    # the organisation's supervisor may (sup1 is Anneke IJsselmeer, oslo)
    other = (await sup.call("absence.add", {"person_id": "oslo:p1", "type": "meeting",
                                             "from": "2030-01-07T09:00", "until": "2030-01-07T10:00",
                                             "substitute": "p5"}))["absence"]
    assert other["substitute"] == "p5" and other["until"] - other["from"] == 3600
    await sup.call("absence.update", {"id": mine["id"], "type": "sick"})
    await sup.call("absence.delete", {"id": other["id"]})
    # …but not in another organisation; an admin may
    await refused(sup, "absence.add", {"person_id": "bergen:b1", "type": "sick", "from": now})
    b = (await admin.call("absence.add", {"person_id": "bergen:b1", "type": "sick", "from": now}))["absence"]
    assert b["person_id"] == "bergen:b1"
    # bad input
    await refused(a1, "absence.add", {"type": "holiday", "from": now}, ErrorCode.BAD_REQUEST)
    await refused(a1, "absence.add", {"type": "sick", "from": now, "until": now - 5}, ErrorCode.BAD_REQUEST)
    await refused(a1, "absence.add", {"type": "sick", "from": "next tuesday"}, ErrorCode.BAD_REQUEST)
    await refused(a1, "absence.delete", {"id": "nope"}, ErrorCode.NOT_FOUND)
    # agent3 has no person in the directory
    a3 = await connect("agent3")
    await refused(a3, "absence.add", {"type": "sick", "from": now}, ErrorCode.NOT_FOUND)
    # own delete works
    await a1.call("absence.delete", {"id": mine["id"]})
    assert (await a2.call("directory.search", {"q": "hansen"}))["results"][0]["status"] == "in"
    # persisted: a fresh service over the same database sees the supervisor-made change gone too
    assert [a["id"] for a in directory.store.absences(tenant="oslo", person="p1")] == []


class Sink:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


async def test_message_by_email_through_a_real_smtp_server(directory, connect):
    sink = Sink()
    port = free_port()
    smtp = Controller(sink, hostname="127.0.0.1", port=port)
    smtp.start()
    try:
        directory.smtp_host, directory.smtp_port, directory.smtp_from = "127.0.0.1", port, "sentralbord@oslo.example"
        c = await connect("agent2")
        res = await c.call("directory.message", {"person_id": "oslo:p3",
                                                  "text": "Per Persen called about the noise complaint, "
                                                          "call back on 900 00 000"})
        assert res["sent"] and res["to"] == "antonin.dvorak@oslo.example"
        for _ in range(50):
            if sink.messages:
                break
            await asyncio.sleep(0.02)
        mail_from, rcpts, content = sink.messages[0]
        assert mail_from == "sentralbord@oslo.example" and rcpts == ["antonin.dvorak@oslo.example"]
        msg = message_from_bytes(content, policy=email_policy)
        assert msg["Subject"].startswith("Telephone message: Per Persen called")
        body = msg.get_content()
        assert "call back on 900 00 000" in body and "Taken by Agent2" in body
        with pytest.raises(ProtocolError) as exc:  # Oddvar Olanes has no e-mail address
            await c.call("directory.message", {"person_id": "oslo:p6", "text": "hello"})
        assert exc.value.code == ErrorCode.CONFLICT
    finally:
        smtp.stop()
    with pytest.raises(ProtocolError) as exc:  # the mail server is gone
        await c.call("directory.message", {"person_id": "oslo:p3", "text": "hello"})
    assert exc.value.code == ErrorCode.UNAVAILABLE and str(port) in exc.value.message


async def test_rest_api_with_bearer_token(server, directory, connect):
    c = await connect("agent1")
    base = f"http://{server.settings.server.host}:{server.port}"
    async with aiohttp.ClientSession() as http:
        auth = {"Authorization": f"Bearer {c.token}"}
        async with http.get(f"{base}/api/directory/search", params={"q": "ijssel"}, headers=auth) as r:
            assert r.status == 200
            assert [x["name"] for x in (await r.json())["results"]] == ["Anneke IJsselmeer"]
        async with http.get(f"{base}/api/directory/persons/oslo:p4", headers=auth) as r:
            assert r.status == 200 and (await r.json())["person"]["switchboard"] == "2200"
        async with http.get(f"{base}/api/directory/persons/oslo:zz", headers=auth) as r:
            assert r.status == 404
        async with http.get(f"{base}/api/directory/search", params={"q": "x"}) as r:
            assert r.status == 401 and "Bearer" in r.headers["WWW-Authenticate"]
        async with http.get(f"{base}/api/directory/search", params={"q": "x"},
                            headers={"Authorization": "Bearer not-a-token"}) as r:
            assert r.status == 401
        await c.call("logout")
        async with http.get(f"{base}/api/directory/search", params={"q": "x"}, headers=auth) as r:
            assert r.status == 401
