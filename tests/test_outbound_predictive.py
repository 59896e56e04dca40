"""A predictive campaign on the real sandbox Asterisk: the contacts are called before any agent
(simulated callees in [cc-callees]); a callee who answers waits in the queue and gets a free agent,
or, with no agent free within the connect limit, hears the abandon message and is hung up. The
campaign runs to the end with every contact accounted for."""
from __future__ import annotations

import wave

import pytest

from cc_console.server.app import Server
from cc_console.server.tts import Tts

from .asterisk import channels_left, until
from .test_outbound_progressive import ALL_WEEK, add_agent

pytestmark = pytest.mark.asterisk


def _seconds(wav_path) -> float:
    with wave.open(str(wav_path)) as w:
        return w.getnframes() / w.getframerate()


SPOKEN = "This is the sandbox insurer. Sorry, no one is free; we will call you again."


@pytest.mark.parametrize("message", ["recorded", "spoken"])
async def test_predictive_campaign_dials_ahead_and_abandons_when_no_agent(settings, connect_to, pbx, sandbox,
                                                                         message):
    # min_samples 0: the pacer bets from the first round (answer rate 0.5 assumed: two calls for the
    # one agent), so that the second callee who answers finds the agent busy.
    settings.sections["outbound"] = {"tick": 0.2, "dial_template": "Local/{number}@cc-callees/n",
                                     "min_samples": 0, "connect_limit": 2.0, "abandon_media": "sound:im-sorry"}
    if message == "spoken":  # the abandon message made by espeak-ng when the server starts
        settings.sections["outbound"]["abandon_text"] = SPOKEN
        wav = Tts(settings.pbx.sounds_path, "").path(SPOKEN, "en")
    else:
        wav = sandbox.root_path / "usr/share/asterisk/sounds/en_US_f_Allison/im-sorry.wav"
    add_agent(settings, "pred1")
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        agent = await connect_to(srv, "pred1")
        await agent.call("agent.login")
        updates: list[dict] = []
        sup.add_listener(lambda kind, data: updates.append(data) if kind == "campaign.update" else None)
        cid = (await sup.call("campaign.create", {
            "name": "Predictive run", "queue": "support", "mode": "predictive", "caller_id": "5000",
            "record": False, "window": ALL_WEEK, "mapping": {"number": "Phone"},
            "retries": {"busy": {"delay": 0, "max_attempts": 2}, "no_answer": {"delay": 0, "max_attempts": 2},
                        "failed": {"delay": 0, "max_attempts": 1}}}))["campaign"]["id"]
        # 751/752 answer after 1 s / 2 s and talk 8 s: both are dialled at once, one gets the agent,
        # the other waits 2 s and is abandoned. 710 answers at once; 720 busy, 730 no answer, 740 fails.
        await sup.call("campaign.import", {"id": cid, "format": "csv",
                                           "data": "Phone\n751\n752\n710\n720\n730\n740\n"})
        await sup.call("campaign.start", {"id": cid})
        await until(sup, lambda: any(u["id"] == cid and u["state"] == "finished" for u in updates),
                    timeout=90, what="the predictive campaign finished by itself")
        contacts = {c["number"]: c for c in (await sup.call("campaign.contacts", {"id": cid}))["contacts"]}
        got = {n: (c["state"], c["outcome"], c["attempts"]) for n, c in contacts.items()}
        first = {got["751"], got["752"]}
        assert first == {("done", "answered", 1), ("closed", "abandoned", 1)}, got
        assert {n: got[n] for n in ("710", "720", "730", "740")} == {
            "710": ("done", "answered", 1), "720": ("closed", "busy", 2), "730": ("closed", "no_answer", 2),
            "740": ("closed", "failed", 1)}

        # The contact's leg was placed first, not the agent's: the call was answered by the callee
        # before the agent was offered it, and its agent leg came from the queue.
        answered = next(contacts[n] for n in ("751", "752") if contacts[n]["outcome"] == "answered")
        events = srv.store.events(call_id=answered["call_id"])
        kinds = [e.kind for e in events]
        assert kinds.index("call.outbound_answered") < kinds.index("call.offered") < kinds.index("call.connected")
        assert kinds[-1] == "call.completed"
        assert answered["agent"] == "pred1"
        placed = srv.store.call(answered["call_id"])
        assert placed is not None and placed["caller_id"] == "5000" and placed["direction"] == "outbound"

        # The abandoned one: waited the connect limit in the queue, heard the whole message, then ended.
        dropped = next(contacts[n] for n in ("751", "752") if contacts[n]["outcome"] == "abandoned")
        events = {e.kind: e for e in srv.store.events(call_id=dropped["call_id"])}
        waited = events["call.outbound_abandoned"].ts - events["call.outbound_answered"].ts
        assert 1.9 <= waited <= 3.5, waited
        assert events["call.ended"].data["outcome"] == "abandoned"
        assert events["call.ended"].ts - events["call.outbound_abandoned"].ts >= _seconds(wav) - 0.05
        qlog = (await _read(settings.server.queue_log_path)).splitlines()
        channel = srv.store.call(dropped["call_id"])["channel"]
        assert any(f"|{channel}|support|NONE|EXITWITHTIMEOUT|" in line for line in qlog), qlog

        # the queue's live figures are its callers': the campaign's contacts are not offered or abandoned there
        live = srv.engine.counters.get("support")
        assert live is None or (live.offered, live.abandoned) == (0, 0), live
        report = (await sup.call("campaign.report", {"id": cid}))["report"]
        # answered by a person: 751, 752, 710; one of them abandoned
        assert report["abandon_rate"] == pytest.approx(1 / 3)
        assert report["attempts"] == 8
        # occupancy: the agent's time on the campaign's calls over their staffed time while it ran
        talk = sum(e.data["talk"] for n in ("751", "752", "710") if contacts[n]["outcome"] == "answered"
                   for e in srv.store.events(call_id=contacts[n]["call_id"]) if e.kind == "call.completed")
        assert report["busy_seconds"] >= talk - 0.5 and report["staffed_seconds"] >= report["busy_seconds"]
        assert report["occupancy"] == pytest.approx(report["busy_seconds"] / report["staffed_seconds"])
        assert 0 < report["occupancy_by_agent"]["pred1"] <= 1
        await srv.engine.idle()
        assert srv.engine.transitions.off_table == []  # every move on the state tables
        assert await channels_left(pbx) == []
    finally:
        await srv.stop()


async def _read(path: str) -> str:
    import asyncio
    from pathlib import Path
    return await asyncio.to_thread(Path(path).read_text)


async def test_answering_machine_detected_gets_the_message_and_its_retry_rule(settings, connect_to, pbx, sandbox):
    # A progressive campaign with AMD calls the contact first too (one call per free agent): AMD()
    # runs in the callee's dialplan path (the sandbox's cc-outbound-amd), before an agent is offered.
    settings.sections["outbound"] = {"tick": 0.2, "dial_template": "Local/{number}@cc-callees/n",
                                     "amd_dial_template": "Local/{number}@cc-outbound-amd/n"}
    add_agent(settings, "amd1")
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        await (await connect_to(srv, "amd1")).call("agent.login")
        updates: list[dict] = []
        sup.add_listener(lambda kind, data: updates.append(data) if kind == "campaign.update" else None)
        cid = (await sup.call("campaign.create", {
            "name": "Machines", "queue": "support", "mode": "progressive", "amd": True,
            "machine_message": "sound:goodbye", "record": False, "window": ALL_WEEK, "mapping": {"number": "Phone"},
            "retries": {"machine": {"delay": 0, "max_attempts": 2}}}))["campaign"]["id"]
        # 760: a machine with a long greeting; 770: a person who says "hello" and waits.
        await sup.call("campaign.import", {"id": cid, "format": "csv", "data": "Phone\n760\n770\n"})
        await sup.call("campaign.start", {"id": cid})
        await until(sup, lambda: any(u["id"] == cid and u["state"] == "finished" for u in updates),
                    timeout=90, what="the AMD campaign finished by itself")
        contacts = {c["number"]: c for c in (await sup.call("campaign.contacts", {"id": cid}))["contacts"]}
        got = {n: (c["state"], c["outcome"], c["attempts"]) for n, c in contacts.items()}
        assert got == {"760": ("closed", "machine", 2), "770": ("done", "answered", 1)}

        machine = {e.kind: e for e in srv.store.events(call_id=contacts["760"]["call_id"])}
        assert machine["call.outbound_answered"].data["amd"] == "MACHINE"
        assert "call.offered" not in machine  # no agent heard the machine
        assert machine["call.ended"].data["outcome"] == "machine"
        message = sandbox.root_path / "usr/share/asterisk/sounds/en_US_f_Allison/goodbye.wav"
        assert machine["call.ended"].ts - machine["call.outbound_answered"].ts >= _seconds(message) - 0.05

        person = [e.kind for e in srv.store.events(call_id=contacts["770"]["call_id"])]
        assert "call.connected" in person and person[-1] == "call.completed"
        answered = next(e for e in srv.store.events(call_id=contacts["770"]["call_id"])
                        if e.kind == "call.outbound_answered")
        assert answered.data["amd"] == "HUMAN"
        report = (await sup.call("campaign.report", {"id": cid}))["report"]
        assert report["outcomes"] == {"machine": 2, "answered": 1}
        # the campaign is not recorded: its connected call says so
        rows = srv.recordings.store.for_call(contacts["770"]["call_id"])
        assert rows and all(r["status"] == "not_recorded" for r in rows), rows
        await srv.engine.idle()
        assert srv.engine.transitions.off_table == []  # every move on the state tables
        assert await channels_left(pbx) == []
    finally:
        await srv.stop()


async def test_announcement_caller_id_and_recording_per_campaign(settings, connect_to, pbx, sandbox):
    settings.sections["outbound"] = {"tick": 0.2, "dial_template": "Local/{number}@cc-callees/n"}
    add_agent(settings, "ann1")
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        await (await connect_to(srv, "ann1")).call("agent.login")
        updates: list[dict] = []
        sup.add_listener(lambda kind, data: updates.append(data) if kind == "campaign.update" else None)
        cid = (await sup.call("campaign.create", {
            "name": "Announced", "queue": "support", "mode": "progressive", "caller_id": "5000",
            "announcement": "sound:goodbye", "record": True, "window": ALL_WEEK, "mapping": {"number": "Phone"},
            "retries": {"busy": {"delay": 0, "max_attempts": 1}}}))["campaign"]["id"]
        # 85000 answers only when it is shown caller ID 5000, 85001 only when shown 5001 (busy here).
        await sup.call("campaign.import", {"id": cid, "format": "csv", "data": "Phone\n85000\n85001\n"})
        await sup.call("campaign.start", {"id": cid})
        await until(sup, lambda: any(u["id"] == cid and u["state"] == "finished" for u in updates),
                    timeout=60, what="the announced campaign finished by itself")
        contacts = {c["number"]: c for c in (await sup.call("campaign.contacts", {"id": cid}))["contacts"]}
        got = {n: (c["state"], c["outcome"]) for n, c in contacts.items()}
        assert got == {"85000": ("done", "answered"), "85001": ("closed", "busy")}

        events = {e.kind: e for e in srv.store.events(call_id=contacts["85000"]["call_id"])}
        # the whole announcement before the agent was offered the call
        message = sandbox.root_path / "usr/share/asterisk/sounds/en_US_f_Allison/goodbye.wav"
        assert events["call.offered"].ts - events["call.outbound_answered"].ts >= _seconds(message) - 0.05
        assert events["call.connected"].data["agent"] == "ann1"
        await srv.engine.idle()
        assert srv.engine.transitions.off_table == []  # every move on the state tables
        rows = srv.recordings.store.for_call(contacts["85000"]["call_id"])
        assert [r["status"] for r in rows] != [] and all(r["status"] != "not_recorded" for r in rows), rows
        assert await channels_left(pbx) == []
    finally:
        await srv.stop()


async def test_an_agent_whose_device_does_not_answer_in_time_stays_ready(settings, connect_to, pbx, sandbox):
    """The callee waits the connect limit while the offered agent's device rings: the leg is
    cancelled, the callee hears the message, and the agent is ready again, not paused (it was not
    their doing)."""
    from cc_console.server.auth import Auth
    from cc_console.server.store import open_configured

    from .conftest import PASSWORD

    settings.sections["outbound"] = {"tick": 0.2, "dial_template": "Local/{number}@cc-callees/n",
                                     "min_samples": 0, "abandon_media": "sound:beep"}
    store = open_configured(settings)  # on whichever backend --store chose
    Auth(store).add_user("slow1", PASSWORD, "agent", name="Slow", device="Local/ringing@cc-test-caller/n",
                         answer_mode="phone", queues=["support"])
    store.close()
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        await (await connect_to(srv, "slow1")).call("agent.login")
        updates: list[dict] = []
        sup.add_listener(lambda kind, data: updates.append(data) if kind == "campaign.update" else None)
        cid = (await sup.call("campaign.create", {
            "name": "Slow agent", "queue": "support", "mode": "predictive", "record": False, "window": ALL_WEEK,
            "mapping": {"number": "Phone"}}))["campaign"]["id"]
        await sup.call("campaign.import", {"id": cid, "format": "csv", "data": "Phone\n710\n"})
        await sup.call("campaign.start", {"id": cid})
        await until(sup, lambda: any(u["id"] == cid and u["state"] == "finished" for u in updates),
                    timeout=30, what="the campaign finished")
        contact = (await sup.call("campaign.contacts", {"id": cid}))["contacts"][0]
        assert (contact["state"], contact["outcome"]) == ("closed", "abandoned")
        kinds = [e.kind for e in srv.store.events(call_id=contact["call_id"])]
        assert kinds.index("call.offered") < kinds.index("call.outbound_abandoned")
        assert "call.ringnoanswer" not in kinds
        assert srv.engine.agents["slow1"].state.value == "ready"
        paused = [e for e in srv.store.events() if e.kind == "agent.state" and e.agent_id == "slow1"
                  and (e.data.get("agent") or {}).get("state") == "paused"]
        assert paused == []
        qlog = await _read(settings.server.queue_log_path)
        assert "|slow1|RINGCANCELED|" in qlog and "|EXITWITHTIMEOUT|" in qlog
        await srv.engine.idle()
        assert srv.engine.transitions.off_table == []
        assert await channels_left(pbx) == []
    finally:
        await srv.stop()


async def test_a_callee_who_hangs_up_while_waiting_is_abandoned_not_failed(settings, connect_to, pbx, sandbox):
    # 750 answers at once and talks 8 s with the one agent; 711 answers a second later, waits (the
    # connect limit is 5 s here) and hangs up after 2 s: abandoned by the callee, not "failed".
    settings.sections["outbound"] = {"tick": 0.2, "dial_template": "Local/{number}@cc-callees/n",
                                     "min_samples": 0, "connect_limit": 5.0}
    add_agent(settings, "wait1")
    srv = Server(settings)
    await srv.start()
    try:
        sup = await connect_to(srv, "sup1")
        await (await connect_to(srv, "wait1")).call("agent.login")
        updates: list[dict] = []
        sup.add_listener(lambda kind, data: updates.append(data) if kind == "campaign.update" else None)
        cid = (await sup.call("campaign.create", {
            "name": "Impatient", "queue": "support", "mode": "predictive", "record": False, "window": ALL_WEEK,
            "mapping": {"number": "Phone"}}))["campaign"]["id"]
        await sup.call("campaign.import", {"id": cid, "format": "csv", "data": "Phone\n750\n711\n"})
        await sup.call("campaign.start", {"id": cid})
        await until(sup, lambda: any(u["id"] == cid and u["state"] == "finished" for u in updates),
                    timeout=40, what="the campaign finished")
        contacts = {c["number"]: c for c in (await sup.call("campaign.contacts", {"id": cid}))["contacts"]}
        got = {n: (c["state"], c["outcome"]) for n, c in contacts.items()}
        assert got == {"750": ("done", "answered"), "711": ("closed", "abandoned")}
        events = {e.kind: e for e in srv.store.events(call_id=contacts["711"]["call_id"])}
        assert "call.outbound_abandoned" not in events and events["call.abandoned"].data["stage"] == "queue"
        live = srv.engine.counters.get("support")  # not one of the queue's callers who hung up
        assert live is None or (live.offered, live.abandoned) == (0, 0), live
        channel = srv.store.call(contacts["711"]["call_id"])["channel"]
        qlog = await _read(settings.server.queue_log_path)
        assert f"|{channel}|support|NONE|ABANDON|" in qlog
        await srv.engine.idle()
        assert srv.engine.transitions.off_table == []
        assert await channels_left(pbx) == []
    finally:
        await srv.stop()
