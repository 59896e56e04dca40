"""The pure functions over events, fed synthetic events directly (no store, no server)."""
from __future__ import annotations

from cc_console.server.contacts import agent_figures, missed_calls, phone_digits, phone_key

from .contacts_synth import Ev

NOW = 1_700_000_000.0


def call(cid: str, caller: str, queue: str = "support", agent: str | None = None, direction: str = "inbound"):
    return {"id": cid, "caller": caller, "queue": queue, "agent": agent, "direction": direction}


def test_phone_normalisation():
    assert phone_digits("+44 (0)20 7946-0001") == "440207946 0001".replace(" ", "")
    assert phone_digits("0044 20 7946 0001") == "442079460001"
    assert phone_key("+44 20 7946 0001") == phone_key("020 7946 0001") == "079460001"[-9:]
    assert phone_key("") == ""


def test_agent_figures_windows_queues_and_service_level():
    evs = [
        Ev(NOW - 100, "call.connected", "a", "me", "support", {"agent": "me", "wait": 10, "call": call("a", "1")}),
        Ev(NOW - 90, "call.completed", "a", "me", "support", {"talk": 80, "call": call("a", "1", agent="me")}),
        Ev(NOW - 200, "call.connected", "b", "me", "sales",
           {"agent": "me", "wait": 30, "call": call("b", "2", "sales")}),
        Ev(NOW - 300, "call.ringnoanswer", "c", None, "support", {"agent": "me", "call": call("c", "3")}),
        Ev(NOW - 400, "call.connected", "d", "you", "support", {"agent": "you", "wait": 1, "call": call("d", "4")}),
        Ev(NOW - 8 * 86400, "call.connected", "e", "me", "support", {"agent": "me", "wait": 1, "call": call("e", "5")}),
        Ev(NOW - 500, "call.connected", "f", "me", "", {"agent": "me", "wait": 2, "outbound": True,
                                                         "call": call("f", "6", "", "me", "outbound")}),
    ]
    fig = agent_figures(evs, "me", NOW, queues=["support", "sales"], sl_threshold={"support": 20, "sales": 20})
    day = fig["windows"]["24h"]
    assert day["all"] == {"handled": 2, "lost": 1, "outbound": 1, "service_level": 1 / 3}
    assert day["queues"]["support"] == {"handled": 1, "lost": 1, "outbound": 0, "service_level": 0.5}
    assert day["queues"]["sales"]["service_level"] == 0.0
    assert fig["windows"]["7d"]["all"]["handled"] == 2 and fig["windows"]["14d"]["all"]["handled"] == 3
    assert [r["call_id"] for r in fig["recent"]] == ["a", "c"]
    empty = agent_figures([], "me", NOW, queues=["support"])
    assert empty["windows"]["30d"]["queues"]["support"]["service_level"] is None


def test_missed_calls_drop_once_the_number_was_answered():
    key = phone_key
    evs = [
        Ev(NOW - 100, "call.entered", "x", None, "support", {"call": call("x", "+31201112222")}),
        Ev(NOW - 90, "call.abandoned", "x", None, "support", {"stage": "queue", "call": call("x", "+31201112222")}),
        Ev(NOW - 80, "call.entered", "y", None, "support", {"call": call("y", "+31203334444")}),
        Ev(NOW - 70, "call.abandoned", "y", None, "support", {"stage": "queue", "call": call("y", "+31203334444")}),
        Ev(NOW - 60, "call.outbound", "z", "me", "", {"number": "0203334444", "call": call("z", "0203334444")}),
        Ev(NOW - 50, "call.connected", "z", "me", "", {"agent": "me", "call": call("z", "0203334444")}),
    ]
    assert [m["id"] for m in missed_calls(evs, key)] == ["m-x"]
    assert missed_calls(evs, key, since=NOW - 10) == []
