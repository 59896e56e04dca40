"""The call engine's services answer typed results (the Call, the Agent, a queue's QueueStats), never
the wire's dicts; the front doors turn them to dicts (to_dict). No Asterisk: the engine's ARI
requests go to a stub (tests/test_call_states.py's floor)."""
from __future__ import annotations

import dataclasses

import pytest

from cc_console.errors import Conflict, Forbidden, NotFound
from cc_console.models import Agent, AgentState, Call, CallState, QueueStats

from .floor import _connected


async def test_agent_services_answer_the_agent(floor):
    eng = floor.eng
    for agent in (eng.agent_login("a1", ["support"]), eng.agent_pause("a1", "break"), eng.agent_ready("a1"),
                  eng.set_agent_state("a1", "paused", "break"), eng.agent_ready("a1"), eng.agent_logout("a1")):
        assert isinstance(agent, Agent) and agent is eng.agents["a1"]
    assert eng.agents["a1"].state is AgentState.LOGGED_OUT


async def test_call_control_answers_the_call_it_acted_on(floor):
    cid = await _connected(floor)
    eng = floor.eng
    held = eng.hold("a1", True)
    assert isinstance(held, Call) and held.id == cid and held.held
    assert eng.hold("a1", False, cid).held is False
    assert eng.mute("a1", True).muted is True
    assert eng.send_dtmf("a1", "12#").id == cid
    moved = eng.transfer("a1", "queue:sales", cid)
    assert isinstance(moved, Call) and moved.queue == "sales" and moved.agent is None
    await floor.idle()


async def test_refusals_are_domain_errors_for_the_agent_to_read(floor):
    eng = floor.eng
    with pytest.raises(NotFound, match="no agent 'nobody'"):
        eng.agent_ready("nobody")
    cid = await _connected(floor, agent="a2", ch="caller-2")
    eng.agent_login("a1", ["support"])
    with pytest.raises(Conflict, match="no call for this agent right now"):
        eng.hangup("a1")
    with pytest.raises(Forbidden, match="that call is not yours"):
        eng.hold("a1", True, cid)
    assert eng.calls[cid].state is CallState.CONNECTED and not eng.calls[cid].held


async def test_queue_problem_answers_the_queues_figures(floor):
    eng = floor.eng
    stats = eng.set_problem("support", True, "sound:tt-monkeys")
    assert isinstance(stats, QueueStats) and stats.name == "support" and stats.problem is True
    # the wire's shape is the typed record's, field for field, as the queue.stats event carries it
    assert stats.to_dict() == dataclasses.asdict(stats) == eng.queue_stats("support")
    assert eng.set_problem("support", False).problem is False


# -- the capabilities' services: typed results, the protocol's dicts made by the front doors ----------------


async def test_a_dial_back_answers_the_item_and_the_call(floor, tmp_path):
    from cc_console.server.contacts.results import DialBack
    from cc_console.server.contacts.service import ContactsService
    from cc_console.server.contacts.store import ContactsStore
    eng = floor.eng
    eng.agent_login("a1", ["support"])
    eng.store.save_callback({"id": "cb1", "kind": "callback", "caller": "0612345678", "queue": "support",
                             "tenant": "", "call_id": None, "requested": 1.0, "enqueued": 1.0, "state": "open",
                             "agent": None})
    svc = ContactsService(eng, ContactsStore(str(tmp_path / "contacts.sqlite3")))
    out = svc.dial("a1", "cb1")
    assert isinstance(out, DialBack) and isinstance(out.call, Call)
    assert out.item["state"] == "taken" and out.item["attempts"] == 1 and out.item["last_call"] == out.call.id
    # the wire's answer, as callback.dial always sent it (claiming one's own item again is fine)
    from types import SimpleNamespace
    me = SimpleNamespace(principal=SimpleNamespace(username="a1", permissions=frozenset()))
    eng.hangup("a1", out.call.id)
    wire = svc.handlers()["callback.dial"](me, SimpleNamespace(args={"id": "cb1"}))
    assert set(wire) == {"item", "call"} and wire["item"]["attempts"] == 2
    assert wire["call"]["id"] == wire["item"]["last_call"] != out.call.id and isinstance(wire["call"], dict)
    svc.store.close()


async def test_a_chat_taken_to_the_phone_answers_the_call_or_the_callback(floor, tmp_path):
    from cc_console.server.chat.results import Escalation
    from cc_console.server.chat.service import ChatService
    from cc_console.server.chat.settings import ChatSettings
    from cc_console.server.chat.store import ChatStore
    eng = floor.eng
    eng.agent_login("a1", ["support"])
    store = ChatStore(str(tmp_path / "chat.sqlite3"))
    svc = ChatService(ChatSettings(queue="support"), store, eng, lambda *a: None)
    try:
        c, _token = svc.start_conversation("Visitor", queue="support")
        c.agent = "a1"
        booked = svc.escalate("a1", c.id, "callback", "+4712345678", 1900000000)
        assert isinstance(booked, Escalation) and booked.call is None
        assert booked.to_dict() == {"callback": booked.callback} and booked.callback["caller"] == "+4712345678"
        assert booked.callback["preferred"] == 1900000000 and booked.callback["queue"] == "support"
        called = svc.escalate("a1", c.id, "call", "0201234567")
        assert isinstance(called.call, Call) and called.callback is None
        assert called.to_dict() == {"call": called.call.to_dict()}
    finally:
        await floor.idle()
        store.close()


def test_the_directorys_changes_answer_typed_records(tmp_path):
    from cc_console.server.directory import DirectoryService, DirectoryStore
    from cc_console.server.directory.results import Absence, AbsenceDeleted, LocalFields, MessageSent

    from .test_directory_import import NOW, PERSONS_CSV, UNITS_CSV
    svc = DirectoryService(DirectoryStore(tmp_path / "dir.sqlite3"), clock=lambda: NOW)
    svc.import_files(units=UNITS_CSV.encode(), persons=PERSONS_CSV.encode(), tenant="oslo", full=True)
    a = svc.add_absence("ops", "oslo:p1", "meeting", NOW + 60, NOW + 3600, "back at three")
    assert isinstance(a, Absence) and a.person_id == "oslo:p1" and a.start == NOW + 60
    # the wire's absence is the one the person's record lists, key for key
    assert a.to_dict() == svc.person("oslo:p1")["absences"][0]
    assert set(a.to_dict()) == {"id", "person_id", "type", "from", "until", "message", "substitute", "source"}
    moved = svc.update_absence(a.id, until=NOW + 7200)
    assert isinstance(moved, Absence) and moved.until == NOW + 7200 and moved.id == a.id
    assert svc.delete_absence(a.id) == AbsenceDeleted(a.id) and AbsenceDeleted(a.id).to_dict() == {"deleted": a.id}
    notes = svc.set_notes("oslo:p1", "Prefers e-mail")
    assert notes == LocalFields("oslo:p1", "Prefers e-mail") and notes.to_dict() == {"id": "oslo:p1",
                                                                                       "notes": "Prefers e-mail"}
    both = svc.set_local_fields("oslo:p1", notes="n", attributes={"room": "12"})
    assert both.to_dict() == {"id": "oslo:p1", "notes": "n", "attributes": {"room": "12"}}
    assert MessageSent("a@b", "<x@b>").to_dict() == {"sent": True, "to": "a@b", "message_id": "<x@b>"}
    svc.store.close()
