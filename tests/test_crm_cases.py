"""Cases on real phones: opened when an inbound call is first offered, pre-filled with the caller's
number and matched contact, edited by the level-1 agent, carried along when the call is transferred
to a level-2 queue (the level-2 agent is sent it while the call rings), closed with an outcome and
handed to the records system (a real HTTP receiver) through the outbox; history per contact."""
from __future__ import annotations

import json

import aiohttp
import pytest

from cc_console.protocol import ProtocolError

from .asterisk import connected_call, until
from .crm_receiver import Receiver

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def rx():
    r = await Receiver().start()
    yield r
    await r.stop()


@pytest.fixture
def settings(settings, rx):
    settings.sections["crm"] = {"retry_min": 0.05, "retry_max": 0.4, "poll": 0.2, "level2_queues": ["sales"],
                                "records_url": rx.url + "/records", "records_token": "tok-records-123",
                                "cti": [{"url": rx.url + "/cti"}]}
    from cc_console.server.store import open_configured
    store = open_configured(settings)  # the test's store, on whichever backend --store chose
    store.update_user("agent2", queues=["sales"])  # agent2 works level 2
    store.close()
    return settings


def collect(client):
    seen: list[dict] = []
    client.add_listener(lambda kind, data: seen.append(data["case"]) if kind == "case.update" else None)
    return seen


async def test_a_case_follows_the_call_from_level_1_to_level_2(server, connect, pbx, phone, rx):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    await phone("1002", auto_answer=True)
    server.contacts.save_contact({"id": "ext-77", "first_name": "Ada", "last_name": "Lovelace", "phone": "1005"},
                                 "test")
    a1, a2 = await connect("agent1"), await connect("agent2")
    seen1, seen2 = collect(a1), collect(a2)
    await server.capabilities["crm"].service.subscribe(rx.url + "/hooks", ["call.offered", "call.connected",
                                                                          "call.ended"])
    await server.capabilities["crm"].service.subscribe(rx.url + "/rec", ["recording.ready"])
    await a1.call("agent.login")
    await a2.call("agent.login")
    c = await connected_call(a1, caller)
    case = (await until(a1, lambda: [x for x in seen1 if x.get("contact_id")], what="the matched case"))[-1]
    assert case["call_id"] == c["id"] and case["caller"] == c["caller"] and case["level"] == 1
    assert case["contact_id"] == "ext-77" and case["contact"]["last_name"] == "Lovelace"
    got = await a1.call("case.get", {"call_id": c["id"]})
    assert got["case"]["id"] == case["id"]
    await a1.call("case.update", {"id": case["id"], "subject": "Invoice question", "notes": "Asked about May"})
    with pytest.raises(ProtocolError) as exc:
        await a2.call("case.update", {"id": case["id"], "notes": "not mine"})
    assert exc.value.code == "forbidden" and "another agent" in exc.value.message

    await a1.call("call.transfer", {"target": "queue:sales"})
    # While it rings agent2, agent2 already has the case, with agent1's edits and level 2.
    ringing = await until(a2, lambda: (m := a2.state.my_call) and m["state"] == "ringing" and m, what="ringing l2")
    l2 = await until(a2, lambda: [x for x in seen2 if x["call_id"] == c["id"]], what="the case at level 2")
    assert ringing["id"] == c["id"]
    assert l2[-1]["id"] == case["id"] and l2[-1]["level"] == 2 and l2[-1]["queue"] == "sales"
    assert l2[-1]["subject"] == "Invoice question" and l2[-1]["notes"] == "Asked about May"
    await a2.call("call.answer")
    await until(a2, lambda: (m := a2.state.my_call) and m["state"] == "connected", what="l2 connected")
    await a2.call("case.update", {"id": case["id"], "notes": "Asked about May; refund agreed"})
    await caller.hangup()
    closed = (await a2.call("case.close", {"id": case["id"], "outcome": "refund"}))["case"]
    assert closed["state"] == "closed" and closed["outcome"] == "refund"
    assert [h["what"] for h in closed["history"]] == ["opened", "edited", "to level 2", "edited", "closed"]

    await rx.until(lambda: [g for g in rx.got if g.path == "/records"], what="the hand-off to the records system")
    sent = [g for g in rx.got if g.path == "/records"][0]
    assert sent.path == "/records" and sent.headers["Authorization"] == "Bearer tok-records-123"
    body = json.loads(sent.body)
    assert body["case"]["id"] == case["id"] and body["case"]["outcome"] == "refund"
    assert body["contact"]["id"] == "ext-77"
    hist = await a1.call("case.history", {"contact_id": "ext-77"})
    assert [x["id"] for x in hist["cases"]] == [case["id"]] and hist["cases"][0]["state"] == "closed"
    with pytest.raises(ProtocolError) as exc:
        await a2.call("case.update", {"id": case["id"], "notes": "late"})
    assert exc.value.code == "conflict"
    # The same call as webhooks: offered and connected at each level, then ended once.
    await rx.until(lambda: len([g for g in rx.got if g.path == "/hooks"]) == 5, what="the call's webhooks")
    hooks = [json.loads(g.body) for g in rx.got if g.path == "/hooks"]
    assert [(h["event"], h["data"].get("agent")) for h in hooks] == [
        ("call.offered", "agent1"), ("call.connected", "agent1"), ("call.offered", "agent2"),
        ("call.connected", "agent2"), ("call.ended", None)]
    assert all(h["data"]["call"]["id"] == c["id"] for h in hooks) and hooks[-1]["data"]["kind"] == "call.completed"
    # The blind transfer to the level-2 queue: agent1's contact stops, agent2's starts when it answers.
    await rx.until(lambda: len([g for g in rx.got if g.path == "/cti"]) == 4, what="the CTI pairs")
    cti = [(g.query["userid"], g.query["action"]) for g in rx.got if g.path == "/cti"]
    assert [a for u, a in cti if u == "agent1"] == ["CTIEventStartContact", "CTIEventStopContact"]
    assert [a for u, a in cti if u == "agent2"] == ["CTIEventStartContact", "CTIEventStopContact"]
    assert cti.index(("agent1", "CTIEventStopContact")) < cti.index(("agent2", "CTIEventStartContact"))

    # Each leg's recording is announced once stored, and the nightly export refers to the same ones.
    legs = await rx.until(lambda: (r := [json.loads(g.body) for g in rx.got if g.path == "/rec"]) and len(r) == 2
                          and r, what="recording.ready for both legs")
    rec_ids = {r["data"]["recording"]["id"] for r in legs}
    assert {r["data"]["recording"]["call_id"] for r in legs} == {c["id"]}
    assert all(r["data"]["audio"] == f"/api/recordings/{r['data']['recording']['id']}/audio" for r in legs)
    token = server.api_clients.add("insurer", "admin")
    async with aiohttp.ClientSession() as http, http.get(
            f"http://127.0.0.1:{server.port}/api/v1/crm/export", headers={"Authorization": f"Bearer {token}"}) as r:
        rows = [json.loads(x) for x in (await r.text()).splitlines()]
    [row] = [x for x in rows if x["call_id"] == c["id"]]
    assert set(row["recordings"]) == rec_ids and row["agent"] == "agent2" and row["outcome"] == "completed"
