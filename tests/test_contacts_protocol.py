"""The contacts capability through the real server (no Asterisk): customer records and caller
identification, versioned notes, categories, history with a caller, the callback work list with
claims (two agents, one wins), reschedule and done, an agent's figures, transfer targets."""
from __future__ import annotations

import asyncio
import time

import pytest

from cc_console.errors import Conflict
from cc_console.protocol import ProtocolError
from cc_console.server.contacts import ContactsConfig, Line, parse_config

from .asterisk import until as pushed
from .contacts_synth import record_abandoned, record_answered, record_outbound


async def until(pred, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)


@pytest.fixture
def configured(server):
    server.contacts.configure(parse_config({
        "crm_url": "https://crm.example/customer/{crm_id}",
        "categories": ["Order", "Complaint", "Other"],
        "lines": [{"name": "Reception", "number": "1004", "group": "Internal"},
                  {"name": "Facility desk", "number": "+31201234567", "group": "External"}],
    }))
    return server


async def test_config_has_at_least_15_fields_and_the_crm_template(configured, connect):
    a = await connect("agent1")
    cfg = await a.call("contacts.config")
    names = [f["name"] for f in cfg["fields"]]
    assert len(names) >= 15
    assert {"id", "first_name", "last_name", "date_of_birth", "phone", "mobile", "email", "street", "postcode",
            "city", "country", "customer_number", "status", "segment", "language", "notes", "crm_id"} <= set(names)
    assert cfg["crm_url"] == "https://crm.example/customer/{crm_id}"
    assert cfg["categories"] == ["Order", "Complaint", "Other"]
    assert [ln["name"] for ln in cfg["lines"]] == ["Reception", "Facility desk"]


async def test_search_by_normalised_number_create_and_edit(configured, connect):
    a = await connect("agent1")
    one = (await a.call("contacts.save", {"contact": {
        "first_name": "Ann", "last_name": "Smith", "phone": "+44 20 7946 0001", "email": "ann@example.org",
        "date_of_birth": "1980-02-29", "crm_id": "C-77", "status": "active"}}))["contact"]
    assert one["id"] and one["crm_link"] == "https://crm.example/customer/C-77"
    two = (await a.call("contacts.save", {"contact": {"first_name": "Bob", "last_name": "Smith",
                                                      "mobile": "020 7946 0001"}}))["contact"]
    assert two["crm_link"] is None  # no CRM id: no link
    await a.call("contacts.save", {"contact": {"first_name": "Other", "phone": "0612345678"}})
    # The caller's number as the network gives it: every record with that number, however written.
    found = (await a.call("contacts.search", {"number": "00442079460001"}))["contacts"]
    assert {c["id"] for c in found} == {one["id"], two["id"]}
    by_name = (await a.call("contacts.search", {"q": "smith ann"}))["contacts"]
    assert [c["id"] for c in by_name] == [one["id"]]
    # Edit: a field changes, the rest stays; the phone index follows.
    edited = (await a.call("contacts.save", {"contact": {"id": two["id"], "mobile": "0612345678",
                                                         "city": "Leeds"}}))["contact"]
    assert edited["first_name"] == "Bob" and edited["city"] == "Leeds" and edited["_updated_by"] == "agent1"
    found = (await a.call("contacts.search", {"number": "+442079460001"}))["contacts"]
    assert [c["id"] for c in found] == [one["id"]]
    for bad in ({"shoe_size": "44"}, {"date_of_birth": "29.02.1980"}, {"email": "nope"}, {"status": "vip"},
                {"date_of_birth": "1981-02-29"}):
        with pytest.raises(ProtocolError) as exc:
            await a.call("contacts.save", {"contact": bad})
        assert exc.value.code == "bad_request"
    got = (await a.call("contacts.get", {"id": one["id"]}))["contact"]
    assert got["last_name"] == "Smith"


async def test_notes_are_versioned_and_calls_are_owned(configured, connect):
    store = configured.store
    now = time.time()
    record_answered(store, "call-a", "+442079460001", "agent1", now - 100)
    a, b = await connect("agent1"), await connect("agent2")
    c = (await a.call("contacts.save", {"contact": {"first_name": "Ann", "phone": "+442079460001"}}))["contact"]
    info = await a.call("contacts.call", {"call_id": "call-a"})
    assert [m["id"] for m in info["matches"]] == [c["id"]] and info["contact"] is None
    await a.call("contacts.link", {"call_id": "call-a", "contact_id": c["id"]})
    r1 = await a.call("notes.add", {"call_id": "call-a", "text": "wants a new router"})
    r2 = await a.call("notes.add", {"call_id": "call-a", "text": "wants a new router; sent offer"})
    assert (r1["note"]["version"], r2["note"]["version"]) == (1, 2)
    hist = (await a.call("notes.history", {"call_id": "call-a"}))["notes"]
    assert [(n["version"], n["author"], n["text"]) for n in hist] == [
        (1, "agent1", "wants a new router"), (2, "agent1", "wants a new router; sent offer")]
    assert all(n["ts"] >= now - 5 for n in hist) and hist[0]["contact_id"] == c["id"]
    with pytest.raises(ProtocolError) as exc:
        await b.call("notes.add", {"call_id": "call-a", "text": "not mine"})
    assert exc.value.code == "forbidden"
    sup = await connect("sup1")
    await sup.call("notes.add", {"call_id": "call-a", "text": "checked by supervisor"})
    assert len((await a.call("notes.history", {"call_id": "call-a"}))["notes"]) == 3
    with pytest.raises(ProtocolError) as exc:
        await a.call("notes.add", {"call_id": "nope", "text": "x"})
    assert exc.value.code == "not_found"


async def test_categories_set_by_supervisor_and_recorded_for_reports(configured, connect):
    store = configured.store
    record_answered(store, "call-b", "+442079460001", "agent1", time.time() - 50)
    a, sup = await connect("agent1"), await connect("sup1")
    with pytest.raises(ProtocolError) as exc:
        await a.call("categories.set", {"categories": ["X"]})
    assert exc.value.code == "forbidden"
    seen: list[dict] = []
    a.add_listener(lambda kind, data: seen.append(data) if kind == "categories.update" else None)
    assert (await sup.call("categories.set", {"categories": ["Order", "Refund", "Order", "Other"]}))["categories"] == \
        ["Order", "Refund", "Other"]
    assert (await a.call("categories.list"))["categories"] == ["Order", "Refund", "Other"]
    await until(lambda: seen)
    with pytest.raises(ProtocolError) as exc:
        await a.call("call.category", {"call_id": "call-b", "category": "Complaint"})
    assert exc.value.code == "bad_request"
    await a.call("call.category", {"call_id": "call-b", "category": "Refund"})
    await a.call("call.category", {"call_id": "call-b", "category": "Order"})  # changed after the call
    evs = list(store.events(kinds=("call.category",), call_id="call-b"))
    assert [e.data["category"] for e in evs] == ["Refund", "Order"] and evs[-1].agent_id == "agent1"
    assert (await a.call("contacts.call", {"call_id": "call-b"}))["category"] == "Order"


async def test_history_with_a_caller_in_and_out(configured, connect):
    store = configured.store
    now = time.time()
    record_answered(store, "h1", "+44 20 7946 0001", "agent2", now - 3 * 86400, talk=120)
    record_abandoned(store, "h2", "02079460001", now - 2 * 86400)
    record_outbound(store, "h3", "00442079460001", "agent1", now - 86400)
    record_answered(store, "h4", "+31612345678", "agent1", now - 3600)  # someone else
    a, b = await connect("agent1"), await connect("agent2")
    await b.call("call.category", {"call_id": "h1", "category": "Complaint"})
    await b.call("notes.add", {"call_id": "h1", "text": "first version"})
    await b.call("notes.add", {"call_id": "h1", "text": "router broken, sent engineer"})
    rows = (await a.call("contacts.history", {"number": "+442079460001"}))["history"]
    assert [r["call_id"] for r in rows] == ["h3", "h2", "h1"]
    h3, h2, h1 = rows
    assert h3["direction"] == "outbound" and h3["agent"] == "agent1" and h3["outcome"] == "answered"
    assert h2["outcome"] == "abandoned (queue)" and h2["agent"] == ""
    assert (h1["agent"], h1["category"], h1["note"], h1["note_author"], h1["note_version"], h1["talk"]) == \
        ("agent2", "Complaint", "router broken, sent engineer", "agent2", 2, 120.0)
    assert abs(h1["ts"] - (now - 3 * 86400)) < 1
    rows = (await a.call("contacts.history", {"number": "+442079460001", "exclude": "h3"}))["history"]
    assert [r["call_id"] for r in rows] == ["h2", "h1"]


async def test_callback_claim_race_two_agents_one_wins(configured, connect):
    store = configured.store
    now = time.time()
    store.save_callback({"id": "cb1", "kind": "callback", "caller": "+442079460009", "queue": "support",
                         "tenant": "default", "call_id": "x1", "requested": now - 60, "enqueued": now - 90,
                         "preferred": None, "state": "open", "agent": None})
    a, b = await connect("agent1"), await connect("agent2")
    updates: list[dict] = []
    b.add_listener(lambda kind, data: updates.append(data) if kind == "callback.update" else None)
    results = await asyncio.gather(a.call("callback.claim", {"id": "cb1"}), b.call("callback.claim", {"id": "cb1"}),
                                   return_exceptions=True)
    wins = [r for r in results if isinstance(r, dict)]
    losses = [r for r in results if isinstance(r, ProtocolError)]
    assert len(wins) == 1 and len(losses) == 1 and losses[0].code == "conflict"
    winner = wins[0]["item"]["agent"]
    assert winner in ("agent1", "agent2") and store.callbacks("all")[0]["agent"] == winner
    await until(lambda: any(u.get("state") == "taken" for u in updates))
    assert b.state.callbacks["cb1"]["agent"] == winner  # ConsoleState follows callback.update
    # The winner claiming again is fine; the loser cannot reschedule or finish it.
    loser = a if winner == "agent2" else b
    win_c = b if winner == "agent2" else a
    await win_c.call("callback.claim", {"id": "cb1"})
    for cmd, args in (("callback.done", {}), ("callback.reschedule", {"preferred": "+30m"})):
        with pytest.raises(ProtocolError) as exc:
            await loser.call(cmd, {"id": "cb1", **args})
        assert exc.value.code == "conflict"


def test_claim_compare_and_set_under_threads(configured):
    """The same race on the service itself, from many threads at once: exactly one claim wins."""
    import threading
    svc, store = configured.contacts, configured.store
    store.save_callback({"id": "cb-t", "kind": "voicemail", "caller": "100", "queue": "support", "tenant": "",
                         "call_id": "y", "requested": time.time(), "enqueued": time.time(), "preferred": None,
                         "state": "open", "agent": None})
    outcome: list[str] = []
    barrier = threading.Barrier(8)

    def go(i: int) -> None:
        barrier.wait()
        try:
            svc.claim(f"agent{i}", "cb-t")
            outcome.append(f"agent{i}")
        except Conflict as exc:
            outcome.append(str(exc.code))
    threads = [threading.Thread(target=go, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcome.count("conflict") == 7
    assert store.callbacks("all")[0]["agent"] in outcome


async def test_worklist_reschedule_done_and_missed_calls(configured, connect):
    store = configured.store
    now = time.time()
    store.save_callback({"id": "cb2", "kind": "callback", "caller": "+442079460001", "queue": "support",
                         "tenant": "default", "call_id": "x2", "requested": now - 600, "enqueued": now - 700,
                         "preferred": None, "state": "open", "agent": None})
    store.save_callback({"id": "vm1", "kind": "voicemail", "caller": "0612345678", "queue": "sales",
                         "tenant": "default", "call_id": "x3", "requested": now - 500, "enqueued": now - 520,
                         "preferred": None, "state": "open", "agent": None, "recording": "vm-x3"})
    record_answered(store, "old", "+442079460001", "agent2", now - 86400)
    record_abandoned(store, "lost1", "+31201112222", now - 300)
    record_abandoned(store, "lost2", "+31203334444", now - 200)
    record_outbound(store, "back", "0031203334444", "agent2", now - 100)  # lost2 was called back already
    a = await connect("agent1")
    items = (await a.call("callbacks.worklist"))["items"]
    assert [(i["id"], i["kind"]) for i in items] == [("cb2", "callback"), ("vm1", "voicemail"), ("m-lost1", "missed")]
    assert [h["call_id"] for h in items[0]["history"]] == ["old"]
    assert items[2]["caller"] == "+31201112222" and items[2]["queue"] == "support"
    # Reschedule: a new preferred time; the list orders by it.
    r = (await a.call("callback.reschedule", {"id": "cb2", "preferred": now + 3600}))["item"]
    assert r["preferred"] == now + 3600 and r["state"] == "open"
    r = (await a.call("callback.reschedule", {"id": "m-lost1", "preferred": "+2h"}))["item"]
    assert abs(r["preferred"] - (now + 7200)) < 5
    with pytest.raises(ProtocolError):
        await a.call("callback.reschedule", {"id": "vm1", "preferred": "tomorrowish"})
    items = (await a.call("callbacks.worklist"))["items"]
    assert [i["id"] for i in items] == ["vm1", "cb2", "m-lost1"]
    # Claim and done, missed calls too; done items leave the open list.
    assert (await a.call("callback.claim", {"id": "m-lost1"}))["item"]["agent"] == "agent1"
    b = await connect("agent2")
    with pytest.raises(ProtocolError) as exc:
        await b.call("callback.claim", {"id": "m-lost1"})
    assert exc.value.code == "conflict"
    assert (await a.call("callback.done", {"id": "m-lost1"}))["item"]["state"] == "done"
    assert (await a.call("callback.done", {"id": "vm1"}))["item"]["state"] == "done"
    assert [i["id"] for i in (await a.call("callbacks.worklist"))["items"]] == ["cb2"]
    assert {i["id"]: i["state"] for i in store.callbacks("all")} == {"cb2": "open", "vm1": "done"}
    with pytest.raises(ProtocolError) as exc:
        await b.call("callback.claim", {"id": "vm1"})
    assert exc.value.code == "conflict"


async def test_callback_dial_without_asterisk_gives_the_claim_back(configured, connect):
    """dial claims, then engine.dial_out; refused (agent1 is on no device here? it has one, but is
    busy on another call) -> the claim is released. A real dial is in test_contacts_asterisk."""
    store = configured.store
    store.save_callback({"id": "cb3", "kind": "callback", "caller": "1004", "queue": "support", "tenant": "default",
                         "call_id": "x4", "requested": time.time(), "enqueued": time.time(), "preferred": None,
                         "state": "open", "agent": None})
    a = await connect("agent1")
    configured.engine.agents["agent1"].call_id = "busy"  # on a call
    with pytest.raises(ProtocolError) as exc:
        await a.call("callback.dial", {"id": "cb3"})
    assert exc.value.code == "conflict"
    assert store.callbacks("all")[0]["state"] == "open"
    configured.engine.agents["agent1"].call_id = None


async def test_agent_figures_from_synthetic_events(configured, connect):
    store = configured.store
    now = time.time()
    record_answered(store, "f1", "1", "agent1", now - 3600, wait=5)  # 24h, within SL (20 s)
    record_answered(store, "f2", "2", "agent1", now - 2 * 86400, wait=45)  # 7d, outside SL
    record_answered(store, "f3", "3", "agent1", now - 10 * 86400, wait=2, queue="sales")  # 14d
    record_answered(store, "f4", "4", "agent1", now - 20 * 86400, wait=2)  # 30d
    record_answered(store, "f5", "5", "agent1", now - 40 * 86400, wait=2)  # too old
    record_answered(store, "f6", "6", "agent2", now - 1800, wait=2)  # not mine
    record_abandoned(store, "f7", "7", now - 7200, agent="agent1")  # rang at me, not answered (lost)
    record_outbound(store, "f8", "8", "agent1", now - 600)
    a = await connect("agent1")
    await a.call("agent.login")  # agent1 works support only
    fig = (await a.call("agent.figures"))["figures"]
    w = fig["windows"]
    assert (w["24h"]["all"]["handled"], w["24h"]["all"]["lost"], w["24h"]["all"]["outbound"]) == (1, 1, 1)
    assert w["24h"]["all"]["service_level"] == 0.5
    assert (w["7d"]["all"]["handled"], w["14d"]["all"]["handled"], w["30d"]["all"]["handled"]) == (2, 3, 4)
    assert set(w["30d"]["queues"]) == {"support"}  # per queue: the queues I am logged into
    assert w["30d"]["all"]["handled"] == 4 and w["30d"]["queues"]["support"]["handled"] == 3
    assert w["30d"]["queues"]["support"]["service_level"] == pytest.approx(2 / 4)
    assert fig["waiting"] == {"support": 0}
    assert [r["call_id"] for r in fig["recent"]][:3] == ["f8", "f1", "f7"]
    with pytest.raises(ProtocolError) as exc:
        await a.call("agent.figures", {"agent": "agent2"})
    assert exc.value.code == "forbidden"
    sup = await connect("sup1")
    assert (await sup.call("agent.figures", {"agent": "agent2"}))["figures"]["windows"]["24h"]["all"]["handled"] == 1


async def test_transfer_targets_with_live_state(configured, connect):
    a = await connect("agent1")
    await a.call("agent.login")
    b = await connect("agent2")
    await b.call("agent.login")
    targets = {t["key"]: t for t in (await a.call("transfer.targets"))["targets"]}
    assert targets["agent:agent1"]["state"] == "free" and targets["agent:agent3"]["state"] == "logged out"
    assert targets["agent:sup1"]["group"] == "Supervisors" and targets["agent:agent2"]["group"] == "Agents"
    assert "agent:wall1" not in targets
    assert targets["line:1004"] == {"key": "line:1004", "kind": "line", "name": "Reception", "id": "1004",
                                    "number": "1004", "group": "Internal", "target": "1004", "state": "free"}
    configured.engine.set_agent_state("agent2", "paused", "")
    targets = {t["key"]: t for t in (await a.call("transfer.targets"))["targets"]}
    assert targets["agent:agent2"]["state"] == "paused"


def test_contacts_config_file(tmp_path):
    from cc_console.server.contacts import load_config
    p = tmp_path / "contacts.toml"
    p.write_text('crm_url = "https://crm/{crm_id}"\ncategories = ["A"]\n[[fields]]\nname = "name"\nlabel = "Name"\n'
                 '[[fields]]\nname = "tel"\nlabel = "Phone"\ntype = "phone"\n[[lines]]\nname = "X"\nnumber = "1"\n')
    cfg = load_config(p)
    assert [f.name for f in cfg.fields] == ["id", "name", "tel"] and cfg.phone_fields == ["tel"]
    assert cfg.lines == (Line("X", "1", "Lines"),) and cfg.categories == ("A",)
    p.write_text('[[fields]]\nname = "x"\ntype = "colour"\n')
    with pytest.raises(ValueError, match="type must be"):
        load_config(p)
    assert load_config(tmp_path / "missing.toml") == ContactsConfig()


async def test_transfer_panel_states_are_pushed_to_its_watchers_only(configured, connect):
    """issue 26: the panel is pushed (transfer.update), not polled; consoles without it open get nothing."""
    a = await connect("agent1")
    other = await connect("agent3")
    got: list[dict] = []
    elsewhere: list[dict] = []
    a.add_listener(lambda kind, data: got.append(data) if kind == "transfer.update" else None)
    other.add_listener(lambda kind, data: elsewhere.append(data) if kind == "transfer.update" else None)
    targets = {t["key"]: t for t in (await a.call("transfer.watch", {"on": True}))["targets"]}
    assert targets["agent:agent2"]["state"] == "logged out" and targets["line:1004"]["state"] == "free"
    b = await connect("agent2")
    await b.call("agent.login")
    await pushed(a, lambda: any({"key": "agent:agent2", "state": "free"} in d["targets"] for d in got),
                what="agent2 free pushed")
    configured.engine.set_agent_state("agent2", "paused", "")
    await pushed(a, lambda: any({"key": "agent:agent2", "state": "paused"} in d["targets"] for d in got),
                what="agent2 paused pushed")
    assert elsewhere == []
    assert await a.call("transfer.watch", {"on": False}) == {"targets": []}
    n = len(got)
    configured.engine.set_agent_state("agent2", "ready", "")
    await pushed(b, lambda: b.state.my_agent["state"] == "ready", what="agent2 ready")
    await a.call("transfer.targets")  # a round trip: anything pushed before it has arrived
    assert len(got) == n
