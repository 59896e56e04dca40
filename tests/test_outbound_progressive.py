"""A progressive campaign on the real sandbox Asterisk: two agents (Local-channel devices that pick
up at once), simulated callees in [cc-callees] that answer after a delay, are busy, do not answer or
fail; the campaign runs to the end with every contact accounted for and the retry rules applied."""
from __future__ import annotations

import pytest

from cc_console.protocol import ProtocolError
from cc_console.server.app import Server
from cc_console.server.auth import Auth
from cc_console.server.store import open_configured

from .asterisk import channels_left, until
from .conftest import PASSWORD

pytestmark = pytest.mark.asterisk

ANSWERS_AT_ONCE = "Local/silence@cc-test-caller/n"
ALL_WEEK = {"start": "00:00", "end": "23:59", "days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]}


def add_agent(settings, username: str) -> None:
    store = open_configured(settings)  # on whichever backend --store chose
    Auth(store).add_user(username, PASSWORD, "agent", name=username.title(), device=ANSWERS_AT_ONCE,
                         answer_mode="phone", queues=["support"])
    store.close()


async def test_progressive_campaign_runs_to_the_end(settings, connect_to, pbx, sandbox):
    settings.sections["outbound"] = {"tick": 0.2, "dial_template": "Local/{number}@cc-callees/n"}
    for name in ("dial1", "dial2"):
        add_agent(settings, name)
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        for name in ("dial1", "dial2"):
            await (await connect_to(srv, name)).call("agent.login")
        updates: list[dict] = []
        sup.add_listener(lambda kind, data: updates.append(data) if kind == "campaign.update" else None)
        created = await sup.call("campaign.create", {
            "name": "Sandbox run", "queue": "support", "mode": "progressive", "caller_id": "5000", "record": False,
            "window": ALL_WEEK, "mapping": {"number": "Phone", "name": "Name"},
            "retries": {"busy": {"delay": 0, "max_attempts": 2}, "no_answer": {"delay": 0, "max_attempts": 2},
                        "failed": {"delay": 0, "max_attempts": 1}}})
        cid = created["campaign"]["id"]
        # 710/712: answer at once / after 2 s; 720 busy; 730 no answer; 740 the network fails.
        imported = await sup.call("campaign.import", {"id": cid, "format": "csv", "data": (
            "Phone,Name\n710,Ann\n712,Bo\n720,Cy\n730,Di\n740,Ed\n")})
        assert imported == {"imported": 5, "errors": []}
        await sup.call("campaign.start", {"id": cid})
        await until(sup, lambda: any(u["id"] == cid and u["state"] == "finished" for u in updates),
                    timeout=60, what="the campaign finished by itself")
        contacts = {c["number"]: c for c in (await sup.call("campaign.contacts", {"id": cid}))["contacts"]}
        got = {n: (c["state"], c["outcome"], c["attempts"]) for n, c in contacts.items()}
        assert got == {"710": ("done", "answered", 1), "712": ("done", "answered", 1),
                       "720": ("closed", "busy", 2), "730": ("closed", "no_answer", 2),
                       "740": ("closed", "failed", 1)}
        assert {contacts["710"]["agent"], contacts["712"]["agent"]} <= {"dial1", "dial2"}
        progress = (await sup.call("campaign.get", {"id": cid}))["progress"]
        assert progress["settled"] and progress["attempts"] == 7 and progress["state"] == "finished"
        # The answered calls are the engine's outbound calls, connected to an agent.
        kinds = [e.kind for e in srv.store.events(call_id=contacts["712"]["call_id"])]
        assert "call.connected" in kinds and kinds[-1] == "call.completed"
        # placed with the campaign's caller ID and recording choice
        placed = srv.store.call(contacts["712"]["call_id"])
        assert placed is not None and placed["caller_id"] == "5000" and placed["record"] is False
        await srv.engine.idle()
        assert await channels_left(pbx) == []
    finally:
        await srv.stop()


async def test_preview_campaign_the_agent_sees_then_dials(settings, connect_to, pbx, sandbox):
    settings.sections["outbound"] = {"tick": 0.2, "dial_template": "Local/{number}@cc-callees/n"}
    add_agent(settings, "prev1")
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        agent = await connect_to(srv, "prev1")
        await agent.call("agent.login")
        updates: list[dict] = []
        sup.add_listener(lambda kind, data: updates.append(data) if kind == "campaign.update" else None)
        cid = (await sup.call("campaign.create", {
            "name": "Preview run", "queue": "support", "mode": "preview", "window": ALL_WEEK,
            "mapping": {"number": "Phone", "name": "Name"},
            "retries": {"busy": {"delay": 0, "max_attempts": 1}}}))["campaign"]["id"]
        await sup.call("campaign.import", {"id": cid, "format": "csv", "data": "Phone,Name\n710,Ann\n720,Bo\n"})
        await sup.call("campaign.start", {"id": cid})
        first = (await agent.call("campaign.preview"))["contact"]
        assert (first["number"], first["name"], first["campaign_name"]) == ("710", "Ann", "Preview run")
        await agent.call("campaign.preview_skip", {"contact": first["id"]})
        with pytest.raises(ProtocolError) as err:
            await agent.call("campaign.preview_dial", {"contact": first["id"]})
        assert err.value.message == "This contact is not in your preview"
        for number in ("710", "720"):
            contact = (await agent.call("campaign.preview"))["contact"]
            assert contact["number"] == number
            call = (await agent.call("campaign.preview_dial", {"contact": contact["id"]}))["call"]
            await until(agent, lambda cid_=call["id"]: cid_ not in agent.state.calls
                        and agent.state.my_agent["state"] == "ready", timeout=20, what=f"{number} over")
        await until(sup, lambda: any(u["id"] == cid and u["state"] == "finished" for u in updates),
                    timeout=20, what="the preview campaign finished")
        got = {c["number"]: (c["state"], c["outcome"], c["attempts"], c["agent"])
               for c in (await sup.call("campaign.contacts", {"id": cid}))["contacts"]}
        assert got == {"710": ("done", "answered", 1, "prev1"), "720": ("closed", "busy", 1, "prev1")}
        assert (await agent.call("campaign.preview"))["contact"] is None
        await srv.engine.idle()
        assert await channels_left(pbx) == []
    finally:
        await srv.stop()
