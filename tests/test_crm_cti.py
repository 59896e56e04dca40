"""CTI contact start/stop (the KCC interface) on real phones against a real HTTP receiver: a
consultation that is cancelled and one that becomes an attended transfer give each agent its own
start/stop pairs, with the CRM's user ids, the caller's number and durations."""
from __future__ import annotations

import pytest

from cc_console.server.crm.settings import CrmSettings

from .asterisk import connected_call, until
from .crm_receiver import Receiver

pytestmark = pytest.mark.asterisk


@pytest.fixture
async def rx():
    r = await Receiver().start()
    yield r
    r.gate.set()
    await r.stop()


@pytest.fixture
def settings(settings, rx):
    settings.sections["crm"] = {
        "retry_min": 0.05, "retry_max": 0.4, "poll": 0.2,
        "users": {"agent1": "kcc-anna", "agent2": "kcc-ben"},
        "page_url": "https://crm.example/kcc/contact?callerid={callerid}&userid={userid}",
        "cti": [{"url": rx.url + "/cti/other", "method": "GET"},
                {"url": rx.url + "/cti/support?tenant=x", "method": "POST", "queues": ["support"],
                 "redirect": True}]}
    return settings


async def delivered(svc, timeout=10.0):
    await svc.until(lambda counts: not counts.get("pending"), timeout)


def cti(rx, userid):
    return [(g.fields["action"], g.fields.get("duration")) for g in rx.got if g.fields.get("userid") == userid]


async def test_consultation_and_attended_transfer_give_each_agent_its_pairs(server, connect, pbx, phone, rx):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    phone2 = await phone("1002", auto_answer=True)
    sup = await connect("sup1")
    a1, a2 = await connect("agent1"), await connect("agent2")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a2.call("agent.login")
    await rx.until(lambda: cti(rx, "kcc-anna") == [("CTIEventStartContact", None)], what="agent1's start")

    # A consultation agent1 cancels: agent2's own pair, agent1's contact goes on.
    await a1.call("call.consult", {"target": "agent:agent2"})
    await until(sup, lambda: ((sup.state.calls.get(c["id"]) or {}).get("consult") or {}).get("state") == "talking",
                what="consult answered")
    await rx.until(lambda: cti(rx, "kcc-ben") == [("CTIEventStartContact", None)], what="agent2's start")
    await a1.call("call.consult_cancel")
    await rx.until(lambda: len(cti(rx, "kcc-ben")) == 2, what="agent2's stop")
    await until(a2, lambda: a2.state.my_agent["state"] == "ready", what="agent2 free again")
    # and agent2's phone has let the cancelled leg go (on a loaded machine it may still hold it, and
    # a phone in a call keeps the next one waiting instead of answering it)
    await phone2.wait_call_state("CLOSED", timeout=10)

    # An attended transfer: agent2 starts again and keeps the contact; agent1 stops.
    await a1.call("call.consult", {"target": "agent:agent2"})
    await until(sup, lambda: ((sup.state.calls.get(c["id"]) or {}).get("consult") or {}).get("state") == "talking",
                what="consult answered")
    await a1.call("call.consult_complete")
    await until(sup, lambda: sup.state.calls[c["id"]]["agent"] == "agent2", what="handed over")
    await rx.until(lambda: len(cti(rx, "kcc-anna")) == 2 and len(cti(rx, "kcc-ben")) == 3, what="the hand-over")
    svc = server.capabilities["crm"].service
    await delivered(svc)
    # agent2's contact stays open through the hand-over: no stop until the caller hangs up.
    assert len(cti(rx, "kcc-ben")) == 3 and (c["id"], "agent2") in svc.cti.open
    assert (c["id"], "agent1") not in svc.cti.open
    await caller.hangup()
    await rx.until(lambda: len(cti(rx, "kcc-ben")) == 4, what="agent2's last stop")

    anna, ben = cti(rx, "kcc-anna"), cti(rx, "kcc-ben")
    assert [a for a, _ in anna] == ["CTIEventStartContact", "CTIEventStopContact"]
    assert [a for a, _ in ben] == ["CTIEventStartContact", "CTIEventStopContact"] * 2
    assert all(d is None for a, d in anna + ben if a == "CTIEventStartContact")
    assert all(d is not None and d.isdigit() for a, d in anna + ben if a == "CTIEventStopContact")
    for g in rx.got:  # the support queue's target: POST, form body, redirect=true, its own query kept
        assert g.method == "POST" and g.path == "/cti/support" and g.query == {"tenant": "x"}
        assert g.fields["callerid"] == c["caller"] and g.fields["redirect"] == "true"
        assert g.headers["X-CC-Event-Id"]
    assert len({g.headers["X-CC-Event-Id"] for g in rx.got}) == len(rx.got) == 6


def test_the_most_specific_target_wins_and_bad_tables_are_refused():
    s = CrmSettings(cti=[{"url": "http://a/"}, {"url": "http://t/", "tenant": "acme"},
                         {"url": "http://q/", "queues": ["l2"], "method": "post"}])
    assert s.target_for("", "sales").url == "http://a/"
    assert s.target_for("acme", "sales").url == "http://t/"
    assert s.target_for("acme", "l2").url == "http://q/" and s.target_for("acme", "l2").method == "POST"
    assert CrmSettings().target_for("", "x") is None
    with pytest.raises(ValueError, match="qeues"):
        CrmSettings(cti=[{"url": "http://a/", "qeues": []}]).targets()
    with pytest.raises(ValueError, match="GET or POST"):
        CrmSettings(cti=[{"url": "http://a/", "method": "PUT"}]).targets()


async def test_a_conference_keeps_both_contacts_until_each_leaves(server, connect, pbx, phone, rx):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    await phone("1002", auto_answer=True)
    a1, a2 = await connect("agent1"), await connect("agent2")
    pages: list[tuple[str, dict]] = []
    for who, client in (("agent1", a1), ("agent2", a2)):
        client.add_listener(lambda kind, data, who=who: pages.append((who, data)) if kind == "crm.open" else None)
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    await a2.call("agent.login")
    await a1.call("call.consult", {"target": "agent:agent2"})
    await until(a1, lambda: ((a1.state.calls.get(c["id"]) or {}).get("consult") or {}).get("state") == "talking",
                what="consult answered")
    await until(a2, lambda: [p for p in pages if p[0] == "agent2"], what="agent2's CRM page")
    from urllib.parse import quote
    assert pages == [(who, {"call_id": c["id"], "url": f"https://crm.example/kcc/contact?callerid="
                                                       f"{quote(c['caller'], safe='')}&userid={uid}"})
                     for who, uid in (("agent1", "kcc-anna"), ("agent2", "kcc-ben"))]
    await a1.call("call.conference")
    await until(a1, lambda: ((a1.state.calls.get(c["id"]) or {}).get("consult") or {}).get("state") == "conference",
                what="conference")
    svc = server.capabilities["crm"].service
    await rx.until(lambda: len(cti(rx, "kcc-ben")) == 1, what="agent2's start")
    await delivered(svc)
    assert cti(rx, "kcc-ben") == [("CTIEventStartContact", None)] and (c["id"], "agent2") in svc.cti.open
    await a1.call("call.hangup")  # agent1 leaves; the caller and agent2 go on
    await rx.until(lambda: len(cti(rx, "kcc-anna")) == 2, what="agent1's stop")
    await delivered(svc)
    assert len(cti(rx, "kcc-ben")) == 1
    await caller.hangup()
    await rx.until(lambda: len(cti(rx, "kcc-ben")) == 2, what="agent2's stop")
    assert [a for a, _ in cti(rx, "kcc-anna")] == [a for a, _ in cti(rx, "kcc-ben")] == [
        "CTIEventStartContact", "CTIEventStopContact"]


async def test_a_contact_open_across_our_restart_is_stopped_with_its_whole_duration(
        settings, clean_asterisk, connect_to, pbx, phone, rx):
    import time

    from cc_console.server.app import Server
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    first = Server(settings)
    await first.start()
    a1 = await connect_to(first, "agent1")
    await a1.call("agent.login")
    c = await connected_call(a1, caller)
    t0 = time.time()
    await rx.until(lambda: cti(rx, "kcc-anna") == [("CTIEventStartContact", None)], what="the start")
    await first.stop()
    second = Server(settings)
    await second.start()
    try:
        assert (c["id"], "agent1") in second.capabilities["crm"].service.cti.open
        a1 = await connect_to(second, "agent1")
        await until(a1, lambda: (m := a1.state.my_call) and m["state"] == "connected", what="the call goes on")
        await caller.hangup()
        await rx.until(lambda: len(cti(rx, "kcc-anna")) == 2, what="the stop after the restart")
        took = time.time() - t0
        (_, d), = [x for x in cti(rx, "kcc-anna") if x[0] == "CTIEventStopContact"]
        assert int(d) >= int(took) - 1, (d, took)  # counted from the start before the restart
    finally:
        await second.stop()
