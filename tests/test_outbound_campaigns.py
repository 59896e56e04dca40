"""Outbound campaigns without Asterisk: the state machine, list import through a column mapping,
the do-not-call list, calling windows in the contact's zone, retry rules, and the commands."""
from __future__ import annotations

import base64
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.outbound.campaigns import CampaignError, CampaignNotFound, CampaignState, transition
from cc_console.server.outbound.dialer import outcome_of
from cc_console.server.outbound.lists import ListError, read_list
from cc_console.server.outbound.retries import Outcome, RetryRules
from cc_console.server.outbound.service import OutboundService
from cc_console.server.outbound.store import OutboundStore
from cc_console.server.outbound.windows import Window, WindowError, may_call

MAPPING = {"number": "Phone", "name": "Customer", "timezone": "Zone", "policy": "Policy no"}


class Clock:
    def __init__(self, when: dt.datetime) -> None:
        self.t = when.timestamp()

    def __call__(self) -> float:
        return self.t


# A Wednesday, 10:00 in Copenhagen.
WED_10_CPH = dt.datetime(2026, 11, 25, 10, 0, tzinfo=ZoneInfo("Europe/Copenhagen"))


@pytest.fixture
def svc() -> OutboundService:
    return OutboundService(OutboundStore(":memory:"), clock=Clock(WED_10_CPH))


def test_state_machine_allows_only_the_named_transitions() -> None:
    S = CampaignState
    assert transition(S.DRAFT, "start") is S.RUNNING
    assert transition(S.RUNNING, "pause") is S.PAUSED
    assert transition(S.PAUSED, "start") is S.RUNNING
    assert transition(S.PAUSED, "finish") is S.FINISHED
    with pytest.raises(CampaignError, match="not been started"):
        transition(S.DRAFT, "pause")
    with pytest.raises(CampaignError, match="cannot be started again"):
        transition(S.FINISHED, "start")
    with pytest.raises(CampaignError, match="already running"):
        transition(S.RUNNING, "start")


def test_csv_import_through_the_mapping_reports_line_numbered_errors(svc: OutboundService) -> None:
    c = svc.create({"name": "Home insurance", "queue": "sales", "timezone": "Europe/Copenhagen"})
    csv_text = ("Customer;Phone;Zone;Policy no\n"
                "Ann Berg;+45 20 30 40 50;Europe/Copenhagen;P-1\n"
                "Bo Dahl;;Europe/Copenhagen;P-2\n"
                "\n"
                "Cy Eng;call me;;P-3\n"
                "Di Falk;+45 20 30 40 50;;P-4\n"
                "Ed Gram;5551234;Mars/Olympus;P-5\n"
                "Fi Holm;(555) 987-6543;America/New_York;P-6\n")
    result = svc.import_list(c.id, csv_text.encode(), "csv", MAPPING)
    assert result.errors == [(3, "no phone number"), (5, "not a phone number: call me"),
                             (6, "the number is already on line 2"), (7, "unknown time zone: Mars/Olympus")]
    contacts = svc.contacts(c.id)
    assert [(x["number"], x["name"], x["timezone"], x["extra"]) for x in contacts] == [
        ("+4520304050", "Ann Berg", "Europe/Copenhagen", {"policy": "P-1"}),
        ("5559876543", "Fi Holm", "America/New_York", {"policy": "P-6"})]
    # the mapping was saved with the campaign: the next list needs none
    assert svc.get(c.id).mapping == MAPPING
    again = svc.import_list(c.id, b"Phone,Customer,Zone,Policy no\n5550001,Gus,,P-7\n", "csv")
    assert again.errors == [] and len(svc.contacts(c.id)) == 3


def test_excel_import_and_a_mapping_naming_a_missing_column(svc: OutboundService) -> None:
    c = svc.create({"name": "Renewals", "queue": "sales"})
    wb = Workbook()
    ws = wb.active
    ws.append(["Phone", "Customer", "Zone", "Policy no"])
    ws.append([4520304050, "Ann", "Europe/Copenhagen", "P-1"])  # a number Excel keeps as a number
    ws.append(["not a number", "Bo", None, "P-2"])
    buf = io.BytesIO()
    wb.save(buf)
    result = svc.import_list(c.id, buf.getvalue(), "xlsx", MAPPING)
    assert result.errors == [(3, "not a phone number: not a number")]
    assert [x["number"] for x in svc.contacts(c.id)] == ["4520304050"]
    with pytest.raises(ListError, match="Line 1 has no column 'Mobile'"):
        read_list(b"Phone,Name\n123456,A\n", "csv", {"number": "Mobile"})
    with pytest.raises(ListError, match="not an Excel workbook"):
        read_list(b"Phone\n1234\n", "xlsx", {"number": "Phone"})


def test_calling_window_is_checked_where_the_contact_is() -> None:
    w = Window.from_dict({"start": "09:00", "end": "20:00", "days": ["mon", "tue", "wed", "thu", "fri"]})
    now = WED_10_CPH.timestamp()  # 10:00 in Copenhagen = 04:00 in New York
    assert may_call(w, now, "Europe/Copenhagen", "Europe/Copenhagen")
    assert not may_call(w, now, "Europe/Copenhagen", "America/New_York")
    later = now + 6 * 3600  # 16:00 / 10:00
    assert may_call(w, later, "Europe/Copenhagen", "America/New_York")
    saturday = now + 3 * 86400
    assert not may_call(w, saturday, "Europe/Copenhagen", "Europe/Copenhagen")
    with pytest.raises(WindowError):
        Window.from_dict({"start": "18:00", "end": "09:00"})


def test_dialing_skips_do_not_call_and_contacts_outside_their_window(svc: OutboundService) -> None:
    c = svc.create({"name": "Winback", "queue": "sales", "timezone": "Europe/Copenhagen", "mapping": MAPPING})
    svc.import_list(c.id, (b"Phone,Customer,Zone,Policy no\n"
                           b"111111,A,Europe/Copenhagen,1\n"
                           b"222222,B,America/New_York,2\n"
                           b"333333,C,,3\n"), "csv")
    assert svc.next_contacts(c.id, 5) == []  # a draft dials nothing
    svc.act(c.id, "start")
    svc.dnc_add("333 333", "asked not to be called")
    picked = svc.next_contacts(c.id, 5)
    assert [x["number"] for x in picked] == ["111111"]  # New York is asleep, C is on the list
    states = {x["number"]: (x["state"], x["outcome"]) for x in svc.contacts(c.id)}
    assert states == {"111111": ("dialing", ""), "222222": ("pending", ""), "333333": ("dnc", "dnc")}
    svc.act(c.id, "pause")
    svc.clock.t += 6 * 3600  # type: ignore[attr-defined]
    assert svc.next_contacts(c.id, 5) == []  # paused
    svc.act(c.id, "start")
    assert [x["number"] for x in svc.next_contacts(c.id, 5)] == ["222222"]


def test_retry_rules_per_outcome_until_the_attempts_run_out(svc: OutboundService) -> None:
    c = svc.create({"name": "Retry", "queue": "sales", "timezone": "Europe/Copenhagen", "mapping": MAPPING,
                    "retries": {"busy": {"delay": 300, "max_attempts": 2}, "no_answer": {"delay": 60}}})
    svc.import_list(c.id, b"Phone,Customer,Zone,Policy no\n111111,A,,1\n222222,B,,2\n", "csv")
    svc.act(c.id, "start")
    a, b = svc.next_contacts(c.id, 2)
    t0 = svc.clock()
    after = svc.record_outcome(a["id"], Outcome.BUSY, "call-1", "alice")
    assert (after["state"], after["attempts"], after["next_at"]) == ("pending", 1, t0 + 300)
    assert svc.record_outcome(b["id"], "answered", "call-2", "bob")["state"] == "done"
    assert svc.next_contacts(c.id, 2) == []  # the busy one waits its delay
    svc.clock.t += 300  # type: ignore[attr-defined]
    (again,) = svc.next_contacts(c.id, 2)
    closed = svc.record_outcome(again["id"], Outcome.BUSY)
    assert (closed["state"], closed["attempts"]) == ("closed", 2)  # max_attempts 2
    p = svc.progress(c.id)
    assert p.settled and p.attempts == 3 and p.by_outcome == {"busy": 1, "answered": 1}
    rules = RetryRules.from_dict({"machine": {"delay": 10, "max_attempts": 1}})
    assert rules.next_attempt(Outcome.MACHINE, 1, 0) is None
    assert rules.next_attempt(Outcome.NO_ANSWER, 1, 0) == 3600


def test_bad_settings_are_refused_with_a_readable_message(svc: OutboundService) -> None:
    with pytest.raises(CampaignError, match="Unknown time zone: Nowhere/Here"):
        svc.create({"name": "x", "queue": "q", "timezone": "Nowhere/Here"})
    with pytest.raises(CampaignError, match="Unknown time zone: x"):  # too long for a file name (the fuzzer's)
        svc.create({"name": "x", "queue": "q", "timezone": "x" * 3000})
    with pytest.raises(CampaignError, match="Not a valid mode"):
        svc.create({"name": "x", "queue": "q", "mode": "shotgun"})
    with pytest.raises(CampaignError, match="not engaged|busy, no_answer"):
        svc.create({"name": "x", "queue": "q", "retries": {"engaged": {"delay": 1}}})
    with pytest.raises(CampaignError, match="needs a name"):
        svc.create({"name": " ", "queue": "q"})


async def test_supervisor_runs_a_campaign_through_the_commands(server, connect) -> None:
    sup = await connect("sup1")
    agent = await connect("agent1")
    created = await sup.call("campaign.create", {"name": "Renewals", "queue": "sales", "mode": "progressive",
                                                 "priority": 5, "mapping": {"number": "Phone"}})
    cid = created["campaign"]["id"]
    assert created["campaign"]["state"] == "draft"
    wb = Workbook()
    wb.active.append(["Phone"])
    wb.active.append(["5550101"])
    wb.active.append(["x"])
    buf = io.BytesIO()
    wb.save(buf)
    imported = await sup.call("campaign.import", {"id": cid, "format": "xlsx",
                                                  "data": base64.b64encode(buf.getvalue()).decode()})
    assert imported == {"imported": 1, "errors": [{"line": 3, "message": "not a phone number: x"}]}
    started = await sup.call("campaign.start", {"id": cid})
    assert started["campaign"]["state"] == "running"
    with pytest.raises(ProtocolError) as err:
        await sup.call("campaign.start", {"id": cid})
    assert err.value.code == ErrorCode.CONFLICT and err.value.message == "The campaign is already running"
    got = await sup.call("campaign.get", {"id": cid})
    assert got["progress"]["contacts"] == 1 and got["progress"]["by_state"]["pending"] == 1
    with pytest.raises(ProtocolError) as err:
        await sup.call("campaign.get", {"id": "nope"})
    assert err.value.code == ErrorCode.NOT_FOUND
    with pytest.raises(ProtocolError) as err:
        await agent.call("campaign.list")
    assert err.value.code == ErrorCode.FORBIDDEN
    with pytest.raises(ProtocolError) as err:
        await sup.call("dnc.add", {"number": "nobody"})
    assert err.value.code == ErrorCode.BAD_REQUEST and err.value.message == "Not a phone number: nobody"
    await sup.call("dnc.add", {"number": "555 0101", "reason": "asked"})
    assert [n["number"] for n in (await sup.call("dnc.list"))["numbers"]] == ["5550101"]


def test_attempt_outcome_from_the_hang_up_cause() -> None:
    assert outcome_of("call.completed", None, None) is Outcome.ANSWERED
    assert outcome_of("call.ended", 17, "system") is Outcome.BUSY
    assert outcome_of("call.ended", 19, "system") is Outcome.NO_ANSWER
    assert outcome_of("call.ended", 34, "system") is Outcome.FAILED
    assert outcome_of("call.ended", None, None) is Outcome.FAILED  # Asterisk refused the originate
    assert outcome_of("call.ended", 16, "agent") is None  # the agent's side: not the contact's attempt


def test_contacts_being_dialled_when_the_server_stopped_wait_again(tmp_path) -> None:
    path = str(tmp_path / "outbound.sqlite3")
    svc = OutboundService(OutboundStore(path), clock=Clock(WED_10_CPH))
    c = svc.create({"name": "Restart", "queue": "sales", "timezone": "Europe/Copenhagen", "mapping": MAPPING})
    svc.import_list(c.id, b"Phone,Customer,Zone,Policy no\n111111,A,,1\n", "csv")
    svc.act(c.id, "start")
    assert len(svc.next_contacts(c.id, 1)) == 1
    svc.store.close()
    again = OutboundService(OutboundStore(path), clock=Clock(WED_10_CPH))
    assert again.store.release_dialing() == 1
    (contact,) = again.contacts(c.id)
    assert (contact["state"], contact["attempts"]) == ("pending", 0)
    assert again.get(c.id).state is CampaignState.RUNNING


def test_agent_reschedules_a_contact_for_themselves_within_the_hours(svc: OutboundService) -> None:
    c = svc.create({"name": "Callbacks", "queue": "sales", "timezone": "Europe/Copenhagen", "mapping": MAPPING})
    svc.import_list(c.id, b"Phone,Customer,Zone,Policy no\n111111,A,,1\n", "csv")
    svc.act(c.id, "start")
    (contact,) = svc.next_contacts(c.id, 1)
    svc.dialing(contact["id"], "call-1", "agent1")
    thursday_11 = "2026-11-26T11:00"  # the campaign's zone: Copenhagen
    with pytest.raises(CampaignNotFound, match="not one of yours"):
        svc.reschedule("call-1", thursday_11, "agent2")
    with pytest.raises(CampaignError, match="in the future"):
        svc.reschedule("call-1", "2026-11-24T11:00", "agent1")
    with pytest.raises(CampaignError, match="outside the campaign's calling hours"):
        svc.reschedule("call-1", "2026-11-26T22:00", "agent1")
    with pytest.raises(CampaignError, match="team is not working"):
        svc.reschedule("call-1", thursday_11, "agent1", team_open=lambda t: False)
    moved = svc.reschedule("call-1", thursday_11, "agent1", mine=True)
    agreed = dt.datetime(2026, 11, 26, 11, 0, tzinfo=ZoneInfo("Europe/Copenhagen")).timestamp()
    assert (moved["next_at"], moved["owner"], moved["state"]) == (agreed, "agent1", "dialing")
    # the call ends answered: the contact waits for the agreed time instead of being done
    after = svc.record_outcome(contact["id"], "answered", "call-1", "agent1")
    assert (after["state"], after["next_at"]) == ("pending", agreed)
    svc.clock.t = agreed  # type: ignore[attr-defined]
    assert svc.next_contacts(c.id, 1, free=frozenset({"agent2"})) == []  # kept for agent1
    assert [x["id"] for x in svc.next_contacts(c.id, 1, free=frozenset({"agent1"}))] == [contact["id"]]


def test_rescheduled_after_the_call_the_next_attempt_follows_the_rules(svc: OutboundService) -> None:
    c = svc.create({"name": "Later", "queue": "sales", "timezone": "Europe/Copenhagen", "mapping": MAPPING,
                    "retries": {"no_answer": {"delay": 60, "max_attempts": 3}}})
    svc.import_list(c.id, b"Phone,Customer,Zone,Policy no\n111111,A,,1\n", "csv")
    svc.act(c.id, "start")
    (contact,) = svc.next_contacts(c.id, 1)
    svc.dialing(contact["id"], "call-1", "agent1")
    svc.record_outcome(contact["id"], "answered", "call-1", "agent1")
    svc.reschedule("call-1", svc.clock() + 3600, "agent1")
    svc.clock.t += 3600  # type: ignore[attr-defined]
    (again,) = svc.next_contacts(c.id, 1)
    svc.dialing(again["id"], "call-2", "agent1")
    after = svc.record_outcome(again["id"], "no_answer", "call-2", "agent1")
    assert (after["state"], after["next_at"]) == ("pending", svc.clock() + 60)  # the rule, not the old time
