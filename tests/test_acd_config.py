"""Routing configuration and working hours: parsing, clear errors, time zones and DST."""
from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from cc_console.cli import app
from cc_console.server.acd.config import Overflow, parse_routing
from cc_console.server.acd.hours import Schedule, parse_ranges

OSLO = ZoneInfo("Europe/Oslo")


def at(y, mo, d, h, mi, tz=OSLO):
    return datetime(y, mo, d, h, mi, tzinfo=tz)


def test_weekly_hours_in_the_queues_time_zone_across_dst():
    s = Schedule.from_config("Europe/Oslo", {"mon": "08:00-16:00", "sun": "closed"})
    # Monday 30 March 2026 is the first Monday of summer time (CEST, UTC+2).
    assert s.is_open(at(2026, 3, 30, 8, 0))
    assert not s.is_open(at(2026, 3, 30, 7, 59))
    assert s.is_open(datetime(2026, 3, 30, 6, 0, tzinfo=UTC))  # 08:00 local in summer
    # Monday 26 October 2026, back on CET (UTC+1): 07:00 UTC is 08:00 local.
    assert s.is_open(datetime(2026, 10, 26, 7, 0, tzinfo=UTC))
    assert not s.is_open(datetime(2026, 10, 26, 6, 59, tzinfo=UTC))
    assert not s.is_open(at(2026, 3, 29, 12, 0))  # Sunday
    assert not s.is_open(at(2026, 3, 31, 12, 0))  # Tuesday: not in the map


def test_holidays_and_exceptions_and_24h():
    s = Schedule.from_config("Europe/Oslo", dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), "00:00-24:00"),
                             holidays=["2026-12-25"], exceptions={"2026-12-24": "08:00-12:00",
                                                                  "2026-12-27": "10:00-11:00"})
    assert s.is_open(at(2026, 12, 23, 23, 59))
    assert not s.is_open(at(2026, 12, 25, 12, 0))
    assert s.is_open(at(2026, 12, 24, 11, 59)) and not s.is_open(at(2026, 12, 24, 12, 0))
    assert s.is_open(at(2026, 12, 27, 10, 30))  # a Sunday opened by exception
    assert Schedule().is_open(0)


@pytest.mark.parametrize("text,msg", [("8-17", "HH:MM"), ("17:00-08:00", "ends before"), ("25:00-26:00", "bad time")])
def test_bad_ranges_are_explained(text, msg):
    with pytest.raises(ValueError, match=msg):
        parse_ranges(text)


@pytest.mark.parametrize("data,msg", [
    ({"queues": {"a": {"dids": ["1"], "colour": "red"}}}, "unknown key"),
    ({"queues": {"a": {"dids": ["1"]}, "b": {"dids": ["1"]}}}, "DID 1 is in both"),
    ({"queues": {"a": {"timezone": "Mars/Olympus"}}}, "unknown time zone"),
    ({"queues": {"a": {"hours": {"funday": "08:00-09:00"}}}}, "unknown day"),
    ({"queues": {"a": {"overflow": {"closed": "queue:nope"}}}}, "unknown queue 'nope'"),
    ({"queues": {"a": {"overflow": {"lunch": "voicemail"}}}}, "overflow.lunch"),
    ({"queues": {"a": {"overflow": {"closed": "teleport:x"}}}}, "start with one of"),
    ({"queues": {"a": {"overflow": {"closed": "number:"}}}}, "say which number"),
    ({"queues": {"a": {"callback_key": "1", "voicemail_key": "1"}}}, "must differ"),
    ({"queues": {"a": {}}, "agents": {"x": {"queues": {"b": 0}}}}, "unknown queue 'b'"),
    ({"queues": {"a": {}}, "agents": {"x": {"colour": "red"}}}, "unknown key"),
    ({"pause_reasons": [{"code": "nap", "kind": "sleep"}]}, "work or private"),
])
def test_bad_routing_is_refused_with_the_reason(data, msg):
    with pytest.raises(ValueError, match=msg):
        parse_routing(data, "routing.toml")


def test_routing_parsed():
    cfg = parse_routing({
        "sticky_seconds": 60,
        "queues": {"a": {"dids": ["1"], "skills": ["nl"], "priority": 3, "overflow": {"max_wait": "queue:b"},
                         "announcements": {"position_every": 30}},
                   "b": {"dids": ["2"]}},
        "agents": {"ann": {"queues": ["a", "b"], "skills": {"nl": 5}, "self_login": False}},
        "vip": {"0611": 9},
    })
    assert cfg.did_map() == {"1": "a", "2": "b"}
    assert cfg.queues["a"].overflow["max_wait"] == Overflow("queue", "b")
    assert cfg.agents["ann"].penalties == {"a": 0, "b": 0} and not cfg.agents["ann"].self_login
    assert cfg.vip == {"0611": 9} and cfg.sticky_seconds == 60
    assert "lunch" in cfg.pause_reasons  # the defaults when none are given


def test_routing_check_command(tmp_path):
    good = tmp_path / "r.toml"
    good.write_text('[queues.a]\ndids = ["1"]\n')
    r = CliRunner().invoke(app, ["admin", "routing-check", str(good)])
    assert r.exit_code == 0 and "1 queue(s)" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text('[queues.a\n')
    r = CliRunner().invoke(app, ["admin", "routing-check", str(bad)])
    assert r.exit_code == 1 and "not valid TOML" in r.output


def test_agents_team_and_site_reach_the_consoles(tmp_path):
    """Supervisors group agents by team and site: the routing file's agent profile carries them to
    the agent record every console gets (and a reload changes them)."""
    from cc_console.server.ari import AriClient
    from cc_console.server.calls.engine import CallEngine
    from cc_console.server.store import SQLiteStore
    data = {"queues": {"a": {"dids": ["1"]}},
            "agents": {"ann": {"queues": ["a"], "team": "Blue", "site": "Utrecht"}, "bob": {"queues": ["a"]}}}
    cfg = parse_routing(data)
    assert (cfg.agents["ann"].team, cfg.agents["ann"].site) == ("Blue", "Utrecht")
    eng = CallEngine(AriClient("http://127.0.0.1:9", "u", "p", "app"), SQLiteStore(tmp_path / "e.sqlite3"), cfg)
    users = [{"username": u, "name": u, "device": "", "role": "agent"} for u in ("ann", "bob")]
    eng.load(users)
    assert {k: eng.agents["ann"].to_dict()[k] for k in ("team", "site")} == {"team": "Blue", "site": "Utrecht"}
    assert (eng.agents["bob"].team, eng.agents["bob"].site) == ("", "")
    data["agents"]["bob"].update(team="Green", site="Leeds")
    eng.reload(parse_routing(data), users)
    assert (eng.agents["bob"].team, eng.agents["bob"].site) == ("Green", "Leeds")
