"""The queue_log writer (server/acd/queue_log.py) against what Asterisk specifies and writes.

SPEC below is written from the Asterisk "Queue Logs" documentation page plus the ast_queue_log()
calls in apps/app_queue.c and main/logger.c (for which of callid/queue/agent is NONE, the exact
parameter order, and the units) -- independently of the module's own tables. Every event is
written and compared field by field with it; the file is then read back with the reader.
"""
from __future__ import annotations

from datetime import UTC
from pathlib import Path

import pytest

from cc_console.server.acd.queue_log import (
    QueueLog,
    QueueLogLine,
    parse_line,
    read_queue_log,
    sanitise,
)

T = 1700000000.75  # a float epoch: Asterisk writes time(NULL), whole seconds
EPOCH = "1700000000"
UID = "1700000000.42"  # caller channel uniqueid
Q = "support"
AG = "PJSIP/1001"

# event -> (method call, expected callid, queue, agent, [(data field name, unit, value written)])
# Units: "s" seconds, "ms" milliseconds, "" text / count.
SPEC: dict[str, tuple] = {
    "ENTERQUEUE": (
        lambda ql: ql.enterqueue(T, UID, Q, "5551234", 3, url="http://crm/x"),
        UID, Q, "NONE",
        [("url", "", "http://crm/x"), ("callerid", "", "5551234"), ("origposition", "", "3")],
    ),
    "CONNECT": (
        lambda ql: ql.connect(T, UID, Q, AG, 42, "1700000001.7", 6),
        UID, Q, AG,
        [("holdtime", "s", "42"), ("bridgedchanneluniqueid", "", "1700000001.7"), ("ringtime", "s", "6")],
    ),
    "COMPLETECALLER": (
        lambda ql: ql.completecaller(T, UID, Q, AG, 42, 180, 3),
        UID, Q, AG,
        [("holdtime", "s", "42"), ("calltime", "s", "180"), ("origposition", "", "3")],
    ),
    "COMPLETEAGENT": (
        lambda ql: ql.completeagent(T, UID, Q, AG, 42, 181, 3),
        UID, Q, AG,
        [("holdtime", "s", "42"), ("calltime", "s", "181"), ("origposition", "", "3")],
    ),
    "ABANDON": (
        lambda ql: ql.abandon(T, UID, Q, 2, 5, 77),
        UID, Q, "NONE",
        [("position", "", "2"), ("origposition", "", "5"), ("waittime", "s", "77")],
    ),
    "EXITWITHTIMEOUT": (
        lambda ql: ql.exitwithtimeout(T, UID, Q, 1, 4, 300),
        UID, Q, "NONE",
        [("position", "", "1"), ("origposition", "", "4"), ("waittime", "s", "300")],
    ),
    "EXITEMPTY": (
        lambda ql: ql.exitempty(T, UID, Q, 1, 2, 9),
        UID, Q, "NONE",
        [("position", "", "1"), ("origposition", "", "2"), ("waittime", "s", "9")],
    ),
    "EXITWITHKEY": (
        lambda ql: ql.exitwithkey(T, UID, Q, "5", 2, 3, 31),
        UID, Q, "NONE",
        [("key", "", "5"), ("position", "", "2"), ("origposition", "", "3"), ("waittime", "s", "31")],
    ),
    "RINGNOANSWER": (
        lambda ql: ql.ringnoanswer(T, UID, Q, AG, 15000),
        UID, Q, AG,
        [("ringtime", "ms", "15000")],
    ),
    "RINGCANCELED": (
        lambda ql: ql.ringcanceled(T, UID, Q, AG, 4321),
        UID, Q, AG,
        [("ringtime", "ms", "4321")],
    ),
    "BLINDTRANSFER": (
        lambda ql: ql.blindtransfer(T, UID, Q, AG, "2000", "from-internal", 42, 60, 3),
        UID, Q, AG,
        [("extension", "", "2000"), ("context", "", "from-internal"), ("holdtime", "s", "42"),
         ("calltime", "s", "60"), ("origposition", "", "3")],
    ),
    "ATTENDEDTRANSFER": (
        lambda ql: ql.attendedtransfer(T, UID, Q, AG, "BRIDGE", "b-uid-1", 42, 61, 3),
        UID, Q, AG,
        [("method", "", "BRIDGE"), ("method-data", "", "b-uid-1"), ("holdtime", "s", "42"),
         ("calltime", "s", "61"), ("origposition", "", "3")],
    ),
    "AGENTDUMP": (lambda ql: ql.agentdump(T, UID, Q, AG), UID, Q, AG, []),
    "SYSCOMPAT": (lambda ql: ql.syscompat(T, UID, Q, AG), UID, Q, AG, []),
    "ADDMEMBER": (lambda ql: ql.addmember(T, Q, AG), "MANAGER", Q, AG, []),
    "REMOVEMEMBER": (lambda ql: ql.removemember(T, Q, AG, callid="CLI"), "CLI", Q, AG, []),
    "AGENTLOGIN": (
        lambda ql: ql.agentlogin(T, "NONE", "1001", "PJSIP/1001-0000002a", callid="1700000000.1"),
        "1700000000.1", "NONE", "1001",
        [("channel", "", "PJSIP/1001-0000002a")],
    ),
    "AGENTLOGOFF": (
        lambda ql: ql.agentlogoff(T, "NONE", "1001", "PJSIP/1001-0000002a", 3600, callid="1700000000.1"),
        "1700000000.1", "NONE", "1001",
        [("channel", "", "PJSIP/1001-0000002a"), ("logintime", "s", "3600")],
    ),
    "PAUSE": (lambda ql: ql.pause(T, Q, AG, "lunch"), "NONE", Q, AG, [("reason", "", "lunch")]),
    "UNPAUSE": (lambda ql: ql.unpause(T, Q, AG, "lunch"), "NONE", Q, AG, [("reason", "", "lunch")]),
    "PAUSEALL": (lambda ql: ql.pauseall(T, AG, "break"), "NONE", "NONE", AG, [("reason", "", "break")]),
    "UNPAUSEALL": (lambda ql: ql.unpauseall(T, AG), "NONE", "NONE", AG, []),
    "CONFIGRELOAD": (lambda ql: ql.configreload(T), "NONE", "NONE", "NONE", []),
    "QUEUESTART": (lambda ql: ql.queuestart(T), "NONE", "NONE", "NONE", []),
}

# Exact lines Asterisk's format strings produce for the values above (printf by hand): the file
# form is not padded, and an event with no parameters still ends in '|' (logger.c always writes
# "%ld|%s|%s|%s|%s|" before the event's own format, which is "%s" with "" for those).
EXACT = {
    "ENTERQUEUE": f"{EPOCH}|{UID}|support|NONE|ENTERQUEUE|http://crm/x|5551234|3",
    "CONNECT": f"{EPOCH}|{UID}|support|PJSIP/1001|CONNECT|42|1700000001.7|6",
    "RINGNOANSWER": f"{EPOCH}|{UID}|support|PJSIP/1001|RINGNOANSWER|15000",
    "EXITWITHKEY": f"{EPOCH}|{UID}|support|NONE|EXITWITHKEY|5|2|3|31",
    "ADDMEMBER": f"{EPOCH}|MANAGER|support|PJSIP/1001|ADDMEMBER|",
    "AGENTLOGOFF": f"{EPOCH}|1700000000.1|NONE|1001|AGENTLOGOFF|PJSIP/1001-0000002a|3600",
    "PAUSE": f"{EPOCH}|NONE|support|PJSIP/1001|PAUSE|lunch",
    "UNPAUSEALL": f"{EPOCH}|NONE|NONE|PJSIP/1001|UNPAUSEALL|",
    "CONFIGRELOAD": f"{EPOCH}|NONE|NONE|NONE|CONFIGRELOAD|",
    "QUEUESTART": f"{EPOCH}|NONE|NONE|NONE|QUEUESTART|",
}


@pytest.mark.parametrize("event", sorted(SPEC))
def test_each_event_matches_the_documented_fields(event):
    call, callid, queue, agent, fields = SPEC[event]
    ql = QueueLog(None)
    line = call(ql)
    assert ql.lines == [line]
    assert "\n" not in line
    raw = line.split("|")
    assert raw[0] == EPOCH, "integer epoch seconds"
    assert raw[1:5] == [callid, queue, agent, event]
    # Short form: exactly the event's parameters (an event without any keeps one empty field).
    expected_data = [value for _, _, value in fields] or [""]
    assert raw[5:] == expected_data, [name for name, _, _ in fields]
    parsed = parse_line(line)
    for n, (name, _unit, value) in enumerate(fields, 1):
        assert parsed.datum(n) == value, (event, f"data{n}", name)
    assert parsed.datum(len(fields) + 1) == ""


@pytest.mark.parametrize("event", sorted(EXACT))
def test_exact_lines(event):
    ql = QueueLog(None)
    assert SPEC[event][0](ql) == EXACT[event]


def test_spec_covers_every_event_method():
    methods = {name for name in vars(QueueLog) if not name.startswith("_")} - {"close", "format", "write"}
    assert {m.upper() for m in methods} == set(SPEC)


def test_units():
    # Only RINGNOANSWER and RINGCANCELED are milliseconds; every other duration is seconds.
    ms = {event for event, spec in SPEC.items() for _name, unit, _v in spec[4] if unit == "ms"}
    assert ms == {"RINGNOANSWER", "RINGCANCELED"}
    ql = QueueLog(None)
    # floats are truncated like app_queue's integer arithmetic
    assert ql.connect(T, UID, Q, AG, 42.9, "x", 6.99).endswith("|CONNECT|42|x|6")
    assert ql.ringnoanswer(T, UID, Q, AG, 15000.6).endswith("|RINGNOANSWER|15000")


def test_enterqueue_variants():
    ql = QueueLog(None)
    # no url: an empty first parameter, as app_queue's S_OR(args.url, "")
    assert ql.enterqueue(T, UID, Q, "5551234", 1) == f"{EPOCH}|{UID}|support|NONE|ENTERQUEUE||5551234|1"
    # optional 4th parameter (queues.conf log_cidname = yes)
    line = ql.enterqueue(T, UID, Q, "5551234", 1, calleridname="Ann|Lee")
    assert line == f"{EPOCH}|{UID}|support|NONE|ENTERQUEUE||5551234|1|Ann_Lee"
    parsed = parse_line(line)
    assert parsed.data == ["", "5551234", "1", "Ann_Lee"]


def test_attended_transfer_methods():
    ql = QueueLog(None)
    assert ql.attendedtransfer(T, UID, Q, AG, "APP", "Voicemail", 1, 2, 3).endswith(
        "|ATTENDEDTRANSFER|APP|Voicemail|1|2|3")
    # LINK carries two channel names, so six parameters (as app_queue writes it)
    line = ql.attendedtransfer(T, UID, Q, AG, "LINK", ("Local/a;1", "Local/b;2"), 1, 2, 3)
    assert parse_line(line).data == ["LINK", "Local/a;1", "Local/b;2", "1", "2", "3"]
    with pytest.raises(ValueError):
        ql.attendedtransfer(T, UID, Q, AG, "LINK", "only-one", 1, 2, 3)
    with pytest.raises(ValueError):
        ql.attendedtransfer(T, UID, Q, AG, "WHATEVER", "x", 1, 2, 3)


def test_addmember_paused_and_abandon_with_member():
    ql = QueueLog(None)
    assert ql.addmember(T, Q, AG, paused=True).endswith("|MANAGER|support|PJSIP/1001|ADDMEMBER|PAUSED")
    assert ql.abandon(T, UID, Q, 1, 1, 12, agent=AG) == f"{EPOCH}|{UID}|support|PJSIP/1001|ABANDON|1|1|12"


def test_sanitising_pipes_and_newlines():
    assert sanitise("a|b\nc\r\nd\re") == "a_b c d e"
    assert sanitise(None) == ""
    ql = QueueLog(None)
    line = ql.pause(T, "sup|port", "PJSIP/10\n01", "lunch|break\nback at 2")
    assert line == f"{EPOCH}|NONE|sup_port|PJSIP/10 01|PAUSE|lunch_break back at 2"
    line = ql.write(T, "u|id", "q\r", "a", "CUSTOM", "x|y", "multi\nline", None, 7)
    assert line == f"{EPOCH}|u_id|q |a|CUSTOM|x_y|multi line||7"
    parsed = parse_line(line)
    assert (parsed.callid, parsed.queue, parsed.event) == ("u_id", "q ", "CUSTOM")
    assert parsed.data == ["x_y", "multi line", "", "7"]


def test_write_without_data_ends_with_a_pipe():
    ql = QueueLog(None)
    assert ql.write(T, "NONE", "NONE", "NONE", "QUEUESTART") == f"{EPOCH}|NONE|NONE|NONE|QUEUESTART|"


def test_reader_tolerates_padded_and_short_forms(tmp_path):
    short = parse_line("1366720340|1366720340.303267|MYQUEUE|SIP/8007|RINGNOANSWER|1000\n")
    padded = parse_line("1366720340|1366720340.303267|MYQUEUE|SIP/8007|RINGNOANSWER|1000||||\n")
    assert short == padded == QueueLogLine(1366720340, "1366720340.303267", "MYQUEUE", "SIP/8007",
                                           "RINGNOANSWER", ["1000"])
    assert parse_line("1|NONE|NONE|NONE|CONFIGRELOAD|").data == []
    assert parse_line("1|NONE|NONE|NONE|CONFIGRELOAD||||||\r\n").data == []
    assert parse_line("1|NONE|NONE|NONE|QUEUESTART").event == "QUEUESTART"  # even without the '|'
    with pytest.raises(ValueError):
        parse_line("garbage")
    with pytest.raises(ValueError):
        parse_line("notatime|a|b|c|EVENT|")
    f = tmp_path / "queue_log"
    f.write_text("1|NONE|NONE|NONE|QUEUESTART|\n\nbroken line\n2|NONE|NONE|NONE|CONFIGRELOAD|\n")
    with pytest.raises(ValueError, match=":3:"):
        read_queue_log(f)
    assert [r.event for r in read_queue_log(f, strict=False)] == ["QUEUESTART", "CONFIGRELOAD"]


def test_scripted_scenario_reads_back(tmp_path):
    path = tmp_path / "logs" / "queue_log"
    t0 = 1700000000
    with QueueLog(path) as ql:
        ql.queuestart(t0)
        # agent logs in, pauses with a reason, unpauses
        ql.agentlogin(t0 + 1, "NONE", "1001", "PJSIP/1001-00000001", callid="1700000001.1")
        ql.pause(t0 + 2, Q, AG, "lunch")
        ql.unpause(t0 + 3, Q, AG)
        # call 1: rings one member unanswered, connects to another, the caller hangs up
        ql.enterqueue(t0 + 10, "1700000010.5", Q, "5551234", 1)
        ql.ringnoanswer(t0 + 25, "1700000010.5", Q, "PJSIP/1002", 15000)
        ql.connect(t0 + 30, "1700000010.5", Q, AG, 20, "1700000025.9", 5)
        ql.completecaller(t0 + 150, "1700000010.5", Q, AG, 20, 120, 1)
        # call 2: the caller gives up
        ql.enterqueue(t0 + 40, "1700000040.8", Q, "5559876", 2)
        ql.abandon(t0 + 70, "1700000040.8", Q, 1, 2, 30)
        ql.agentlogoff(t0 + 200, "NONE", "1001", "PJSIP/1001-00000001", 199, callid="1700000001.1")

    rows = read_queue_log(path)
    assert [(r.time - t0, r.callid, r.queue, r.agent, r.event, r.data) for r in rows] == [
        (0, "NONE", "NONE", "NONE", "QUEUESTART", []),
        (1, "1700000001.1", "NONE", "1001", "AGENTLOGIN", ["PJSIP/1001-00000001"]),
        (2, "NONE", Q, AG, "PAUSE", ["lunch"]),
        (3, "NONE", Q, AG, "UNPAUSE", []),
        (10, "1700000010.5", Q, "NONE", "ENTERQUEUE", ["", "5551234", "1"]),
        (25, "1700000010.5", Q, "PJSIP/1002", "RINGNOANSWER", ["15000"]),
        (30, "1700000010.5", Q, AG, "CONNECT", ["20", "1700000025.9", "5"]),
        (150, "1700000010.5", Q, AG, "COMPLETECALLER", ["20", "120", "1"]),
        (40, "1700000040.8", Q, "NONE", "ENTERQUEUE", ["", "5559876", "2"]),
        (70, "1700000040.8", Q, "NONE", "ABANDON", ["1", "2", "30"]),
        (200, "1700000001.1", "NONE", "1001", "AGENTLOGOFF", ["PJSIP/1001-00000001", "199"]),
    ]
    # the call-1 story, by callid, with named fields
    call1 = [r for r in rows if r.callid == "1700000010.5"]
    connect = next(r for r in call1 if r.event == "CONNECT")
    done = next(r for r in call1 if r.event == "COMPLETECALLER")
    assert int(connect.datum(1)) == 20 and int(connect.datum(3)) == 5  # holdtime s, ringtime s
    assert int(done.datum(2)) == 120  # calltime s


def test_file_append_mode_and_complete_lines_after_each_write(tmp_path):
    path = tmp_path / "queue_log"
    path.write_text("1|NONE|NONE|NONE|QUEUESTART|\n")
    ql = QueueLog(path)
    for i in range(5):
        ql.ringnoanswer(T + i, UID, Q, AG, 1000 * i)
        # readable by another process right now: flushed, newline-terminated, all lines parse
        content = path.read_bytes()
        assert content.endswith(b"\n")
        rows = read_queue_log(path)
        assert len(rows) == 2 + i
        assert rows[0].event == "QUEUESTART"  # earlier content kept (append, not truncate)
        assert rows[-1].data == [str(1000 * i)]
    assert ql.lines == []  # the file path keeps nothing in memory
    ql.close()
    with pytest.raises(ValueError):
        ql.pause(T, Q, AG)
    # reopening appends too
    with QueueLog(path) as again:
        again.configreload(T)
    assert [r.event for r in read_queue_log(path)][-2:] == ["RINGNOANSWER", "CONFIGRELOAD"]
    assert path.read_text().count("\n") == 7


def test_a_torn_last_line_is_terminated_before_appending(tmp_path):
    path = tmp_path / "queue_log"
    path.write_text("1|NONE|NONE|NONE|QUEUESTART|\n2|abc|q|a|RINGNOANS")  # writer died mid-line
    with QueueLog(path) as ql:
        ql.configreload(3)
    lines = path.read_text().splitlines()
    assert lines[-1] == "3|NONE|NONE|NONE|CONFIGRELOAD|"
    assert lines[1] == "2|abc|q|a|RINGNOANS"  # the torn line stays on its own line


def test_memory_mode_writes_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ql = QueueLog(None)
    ql.queuestart(T)
    ql.close()
    assert ql.lines == [f"{EPOCH}|NONE|NONE|NONE|QUEUESTART|"]
    assert list(Path(tmp_path).iterdir()) == []


def test_clock_seconds_is_app_queues_difference_of_whole_second_readings():
    from cc_console.server.acd.queue_log import clock_seconds
    # time(NULL) at each moment, subtracted: not the exact duration truncated
    assert clock_seconds(1700000010.9, 1700000021.1) == 11  # 10.2 s exact
    assert clock_seconds(1700000010.0, 1700000010.99) == 0
    assert clock_seconds(1700000010.5, 1700000020.4) == 10  # 9.9 s exact
    assert clock_seconds(1700000010.2, 1700000010.2) == 0


def test_the_worked_example_in_docs_reports_md():
    """docs/reports.md, "Reports and the queue_log": the report counts 1 of 4 within 10 s, a queue_log
    reader 3 of 4, each right under its rule."""
    from datetime import datetime

    from cc_console.server.acd.queue_log import clock_seconds

    def t(hms: str) -> float:
        h, m, s = hms.split(":")
        return datetime(2024, 3, 4, int(h), int(m), tzinfo=UTC).timestamp() + float(s)
    calls = [("08:00:07.90", "08:00:17.95"), ("08:01:03.20", "08:01:13.10"), ("08:02:04.95", "08:02:15.00"),
             ("08:03:00.10", "08:03:10.60")]
    ql = QueueLog(None)
    for i, (entered, answered) in enumerate(calls):
        a, b = t(entered), t(answered)
        ql.enterqueue(a, f"c{i}", Q, "0611", 1)
        ql.connect(b, f"c{i}", Q, AG, clock_seconds(a, b), f"leg{i}", 1)
    exact = [t(b) - t(a) for a, b in calls]
    holdtimes = [int(parse_line(x).datum(1)) for x in ql.lines if "|CONNECT|" in x]
    assert holdtimes == [10, 10, 11, 10]
    assert [round(w, 2) for w in exact] == [10.05, 9.9, 10.05, 10.5]
    assert sum(w <= 10 for w in exact) == 1 and sum(h <= 10 for h in holdtimes) == 3
    # holdtime = CONNECT's time - ENTERQUEUE's time, in the file itself
    times = [parse_line(x).time for x in ql.lines]
    assert holdtimes == [times[i + 1] - times[i] for i in range(0, len(times), 2)]
