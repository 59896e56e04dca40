"""The ACD on the real sandbox Asterisk with real SIP phones: distribution, wrap-up, pauses,
working hours and overflow, max wait, callback and voicemail by DTMF, announcements, abandon
stages, and the queue_log it writes."""
from __future__ import annotations

import logging
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from cc_console.server.acd.queue_log import read_queue_log
from cc_console.server.acd.routing_index import CHECK_ENV
from cc_console.server.app import Server

from .asterisk import start_routed, until

pytestmark = pytest.mark.asterisk

_today = datetime.now(UTC).date()
CLOSED_DAYS = ", ".join(f'"{(_today + timedelta(days=d)).isoformat()}" = "closed"' for d in (-1, 0, 1))

BASE = """
sticky_seconds = 300

[queues.support]
dids = ["5000"]
skills = ["dutch"]
ring_timeout = 3
wrapup = 0

[queues.sales]
dids = ["5001"]
priority = 5

[agents.agent1]
queues = { support = 0, sales = 0 }
skills = { dutch = 2 }

[agents.agent2]
queues = { support = 0, sales = 0 }
skills = { dutch = 8 }

[agents.agent3]
queues = { support = 0 }
skills = { dutch = 5 }
self_login = false

[agents.sup1]
queues = { support = 0, sales = 0 }
skills = { dutch = 1 }

[vip]
"0699999999" = 10
"""


@pytest.fixture(autouse=True)
def routing_checked(monkeypatch, caplog):
    """Every decision the engine takes here is compared with the full decide() over its whole state:
    a change of an agent or a call that the engine did not tell its routing index about fails the
    test (the index logs the disagreement)."""
    monkeypatch.setenv(CHECK_ENV, "1")
    yield
    records = caplog.get_records("setup") + caplog.get_records("call")  # teardown's own come later
    wrong = [r.getMessage() for r in records
             if r.name == "cc_console.server.acd.routing_index" and r.levelno >= logging.ERROR]
    assert not wrong, wrong


@pytest.fixture
def routed(settings, tmp_path, clean_asterisk, sandbox):
    """routed(extra_toml) -> a started Server using BASE plus the extra TOML."""
    servers: list[Server] = []

    async def make(extra: str = "", base: str = BASE) -> Server:
        srv = await start_routed(settings, textwrap.dedent(base) + "\n" + textwrap.dedent(extra),
                                 tmp_path / f"routing{len(servers)}.toml")
        servers.append(srv)
        return srv

    return make  # each test stops its server in a finally block


def call_of(client, agent):
    a = client.state.agents.get(agent)
    return client.state.calls.get(a["call_id"]) if a and a.get("call_id") else None


def qlog(srv: Server):
    return read_queue_log(srv.qlog.path)


async def test_skill_then_longest_idle_then_sticky(routed, connect_to, pbx, phone):
    srv = await routed()
    try:
        for n in ("1001", "1002"):
            await phone(n, auto_answer=True)
        sup, a1, a2 = [await connect_to(srv, u) for u in ("sup1", "agent1", "agent2")]
        await a1.call("agent.login", {"queues": ["support"]})  # idle longest, but less skilled
        await a2.call("agent.login", {"queues": ["support"]})
        call = await pbx.place_call("5000", caller="0611000001")
        await until(sup, lambda: (c := call_of(sup, "agent2")) and c["state"] == "ringing", what="skill: agent2")
        assert sup.state.agents["agent1"]["state"] == "ready"
        await a2.call("call.answer")
        await until(sup, lambda: (c := call_of(sup, "agent2")) and c["state"] == "connected", what="connected")
        await pbx.hangup(call.outer)
        await until(sup, lambda: sup.state.agents["agent2"]["state"] == "ready", what="agent2 ready")

        # The same caller again: sticky to agent2, although agent1 has now been idle longer.
        call = await pbx.place_call("5000", caller="0611000001")
        await until(sup, lambda: (c := call_of(sup, "agent2")) and c["state"] == "ringing", what="sticky agent2")
        c = call_of(sup, "agent2")
        assert c["sticky_agent"] == "agent2"
        await a2.call("call.hangup")  # declines: agent2 pauses, the call goes on to agent1
        await until(sup, lambda: (c := call_of(sup, "agent1")) and c["state"] == "ringing", what="then agent1")
        assert sup.state.agents["agent2"]["reason"] == "declined"
        await pbx.hangup(call.outer)
        await until(sup, lambda: sup.state.agents["agent1"]["state"] == "ready", what="agent1 ready")

        # Equal skill: the longest idle wins. agent2 pauses, agent1 took nothing since its ready.
        await a2.call("agent.ready")
        call = await pbx.place_call("5000", caller="0611000002")  # a new caller: no stickiness
        await until(sup, lambda: (c := call_of(sup, "agent2")) and c["state"] == "ringing", what="skill again")
        await pbx.hangup(call.outer)
    finally:
        await srv.stop()


async def test_longest_idle_among_equals_and_vip_first(routed, connect_to, pbx, phone):
    srv = await routed("""
    [queues.flat]
    dids = ["5002"]
    [agents.agent1]
    queues = { flat = 0 }
    [agents.agent2]
    queues = { flat = 0 }
    """, base=BASE.replace("[agents.agent1]\nqueues = { support = 0, sales = 0 }\nskills = { dutch = 2 }\n", "")
                  .replace("[agents.agent2]\nqueues = { support = 0, sales = 0 }\nskills = { dutch = 8 }\n", ""))
    try:
        sup, a1, a2 = [await connect_to(srv, u) for u in ("sup1", "agent1", "agent2")]
        await a2.call("agent.login")
        await a1.call("agent.login")
        # Two callers wait (nobody answers yet); a VIP joins last and is offered first.
        await a1.call("agent.pause", {"reason": "lunch"})
        await a2.call("agent.pause", {"reason": "break"})
        c1 = await pbx.place_call("5002", caller="0611000011")
        await until(sup, lambda: any(c["caller"] == "0611000011" and c["state"] == "queued"
                                     for c in sup.state.calls.values()), what="c1 queued")
        vip = await pbx.place_call("5002", caller="0699999999")
        await until(sup, lambda: any(c["caller"] == "0699999999" and c["state"] == "queued"
                                     for c in sup.state.calls.values()), what="vip queued")
        await a2.call("agent.ready")  # agent2 was logged in first but paused later: idle since now
        await until(sup, lambda: (c := call_of(sup, "agent2")) and c["caller"] == "0699999999",
                    what="vip offered first")
        await a1.call("agent.ready")
        await until(sup, lambda: (c := call_of(sup, "agent1")) and c["caller"] == "0611000011", what="c1 next")
        for c in (c1, vip):
            await pbx.hangup(c.outer)
    finally:
        await srv.stop()


async def test_wrapup_pause_reasons_and_self_login_rule(routed, connect_to, pbx, phone):
    srv = await routed(base=BASE.replace("wrapup = 0", "wrapup = 2"))
    try:
        await phone("1001", auto_answer=True)
        sup, a1, a3 = [await connect_to(srv, u) for u in ("sup1", "agent1", "agent3")]
        with pytest.raises(Exception) as exc:
            await a3.call("agent.login")
        assert "may not log yourself" in str(exc.value)
        await sup.call("agent.set_queues", {"agent": "agent3", "queues": ["support"]})
        await sup.call("agent.set_state", {"agent": "agent3", "state": "paused", "reason": "training"})
        await a1.call("agent.login", {"queues": ["support"]})
        call = await pbx.place_call("5000")
        await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="ringing")
        await a1.call("call.answer")
        await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="connected")
        await pbx.hangup(call.outer)
        await until(a1, lambda: a1.state.my_agent["state"] == "wrap_up", what="wrap-up")
        # Wrap-up ends by itself after 2 s...
        await until(a1, lambda: a1.state.my_agent["state"] == "ready", timeout=10, what="ready after wrap-up")
        # ...or early, by the agent.
        call = await pbx.place_call("5000")
        await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="ringing 2")
        await a1.call("call.answer")
        await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="connected 2")
        await a1.call("call.hangup")
        await until(a1, lambda: a1.state.my_agent["state"] == "wrap_up", what="wrap-up 2")
        await a1.call("agent.ready")
        assert a1.state.my_agent["state"] in ("ready", "wrap_up")
        await until(a1, lambda: a1.state.my_agent["state"] == "ready", what="ended early")
        states = [e.data["agent"]["state"] for e in srv.store.events(kinds=("agent.state",)) if e.agent_id == "agent1"]
        assert states[-1] == "ready" and states.count("wrap_up") == 2
        await a1.call("agent.pause", {"reason": "lunch"})
        await a1.call("agent.ready")
        lines = [(ln.queue, ln.agent, ln.event, ln.data) for ln in qlog(srv)]
        assert ("support", "agent1", "PAUSE", ["lunch"]) in lines
        assert ("support", "agent1", "UNPAUSE", ["lunch"]) in lines
        assert ("support", "agent3", "PAUSE", ["training"]) in lines
        assert any(ln[2] == "AGENTLOGIN" and ln[1] == "agent1" and ln[0] == "NONE" for ln in lines)
        assert any(ln[2] == "ADDMEMBER" and ln[1] == "agent3" and ln[0] == "support" for ln in lines)
    finally:
        await srv.stop()


def closed_today(queue_extra: str = "") -> str:
    # Yesterday and tomorrow too: a run that crosses midnight still finds the queue closed.
    return f"""
    [queues.night]
    dids = ["5003"]
    exceptions = {{ {CLOSED_DAYS} }}
    {queue_extra}
    """


async def test_closed_overflow_to_queue(routed, connect_to, pbx, phone):
    srv = await routed(closed_today('overflow = { closed = "queue:sales" }'))
    try:
        sup = await connect_to(srv, "sup1")
        await pbx.place_call("5003", caller="0611000021")
        c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["state"] == "queued"), None),
                        what="queued in sales")
        assert c["queue"] == "sales"
        kinds = [e.kind for e in srv.store.events(call_id=c["id"])]
        assert kinds[:4] == ["call.entered", "call.closed", "call.overflow", "call.queued"]
        ov = next(e for e in srv.store.events(call_id=c["id"]) if e.kind == "call.overflow")
        assert ov.data["when"] == "closed" and ov.data["to"] == "queue:sales"
        assert [ln.event for ln in qlog(srv) if ln.callid == c["channel"]] == ["ENTERQUEUE"]
        assert next(ln for ln in qlog(srv) if ln.callid == c["channel"]).queue == "sales"
    finally:
        await srv.stop()


async def test_closed_overflow_to_agent(routed, connect_to, pbx, phone):
    srv = await routed(closed_today('overflow = { closed = "agent:agent2" }'))
    try:
        await phone("1002", auto_answer=True)
        sup, a1, a2 = [await connect_to(srv, u) for u in ("sup1", "agent1", "agent2")]
        await a1.call("agent.login")
        await a2.call("agent.login")
        await pbx.place_call("5003")
        c = await until(a2, lambda: (c := a2.state.my_call) and c["state"] == "ringing" and c, what="agent2 rings")
        assert c["target_agent"] == "agent2" and a1.state.my_agent["state"] == "ready"
        await a2.call("call.answer")
        await until(a2, lambda: (c := a2.state.my_call) and c["state"] == "connected", what="connected")
    finally:
        await srv.stop()


async def test_closed_overflow_to_external_number(routed, connect_to, pbx, phone):
    p4 = await phone("1004", auto_answer=True)
    srv = await routed(closed_today('overflow = { closed = "number:PJSIP/1004" }'))
    try:
        sup = await connect_to(srv, "sup1")
        await pbx.place_call("5003")
        c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["state"] == "connected"), None),
                        what="connected to the number")
        assert c["agent"] is None and c["stage"] == "talk"
        await p4.wait_call_state("ESTABLISHED", timeout=10)
        await srv.engine.idle()
        bridge = await pbx.bridge(c["bridge"])
        assert c["agent_channel"] in bridge["channels"] and c["channel"] in bridge["channels"]
    finally:
        await srv.stop()


async def test_closed_overflow_to_voicemail_and_hangup_default(routed, connect_to, pbx, phone, sandbox):
    srv = await routed(closed_today('overflow = { closed = "voicemail" }') + f"""
    [queues.shut]
    dids = ["5004"]
    exceptions = {{ {CLOSED_DAYS} }}
    """)
    try:
        sup = await connect_to(srv, "sup1")
        call = await pbx.place_call("5003", caller="0611000031", exten="tone-700")
        c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["state"] == "voicemail"), None),
                        what="leaving a message")
        # The prompt and beep play, then the bridge records; the caller speaks (a tone) two seconds
        # of it (on a loaded machine the prompt alone can take longer than a fixed wait).
        recording = pbx.s.root_path / f"var/spool/asterisk/recording/vm-{c['id']}.wav"
        await until(sup, lambda: recording.exists() and recording.stat().st_size > 44 + 2 * 16000,
                    timeout=30, what="two seconds of the message recorded")
        await pbx.hangup(call.outer)
        await until(sup, lambda: c["id"] not in sup.state.calls, what="ended")
        items = (await sup.call("callbacks.list"))["items"]
        vm = next(i for i in items if i["call_id"] == c["id"])
        assert vm["kind"] == "voicemail" and vm["caller"] == "0611000031" and vm["queue"] == "night"
        # The message is moved off the PBX into the voicemail inbox (server/voicemail).
        vm = await until(sup, lambda: next((i for i in srv.store.callbacks("all")
                                            if i["id"] == vm["id"] and i.get("audio")), None),
                         timeout=30, what="the message stored off the PBX")
        audio = srv.capabilities["voicemail"].path(vm["id"]).read_bytes()
        assert audio[:4] == b"RIFF" and len(audio) > 8000  # more than half a second of 8 kHz audio

        # No overflow configured: the closed announcement plays and the call ends, not abandoned.
        await pbx.place_call("5004")
        ended = await until(sup, lambda: next((e for e in srv.store.events(kinds=("call.ended",))), None),
                            timeout=20, what="closed and hung up")
        assert ended.data["outcome"] == "closed"
    finally:
        await srv.stop()


async def test_no_agents_and_max_length_and_max_wait(routed, connect_to, pbx, phone):
    srv = await routed("""
    [queues.tiny]
    dids = ["5005"]
    max_length = 1
    max_wait = 2
    overflow = { no_agents = "queue:sales", max_length = "queue:sales", max_wait = "queue:sales" }
    [agents.agent1]
    queues = { tiny = 0, sales = 0 }
    """, base=BASE.replace("[agents.agent1]\nqueues = { support = 0, sales = 0 }\nskills = { dutch = 2 }\n", ""))
    try:
        sup, a1 = [await connect_to(srv, u) for u in ("sup1", "agent1")]
        # Nobody logged into tiny: straight to sales.
        await pbx.place_call("5005", caller="0611000041")
        c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["caller"] == "0611000041"
                                           and c["state"] == "queued"), None), what="no agents -> sales")
        assert c["queue"] == "sales"
        assert any(ln.event == "JOINEMPTY" and ln.queue == "tiny" for ln in qlog(srv))
        await a1.call("agent.login", {"queues": ["tiny"]})
        await a1.call("agent.pause", {"reason": "break"})
        # First call waits in tiny; the second finds it full and goes to sales.
        await pbx.place_call("5005", caller="0611000042")
        c2 = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["caller"] == "0611000042"
                                            and c["state"] == "queued"), None), what="in tiny")
        assert c2["queue"] == "tiny"
        await pbx.place_call("5005", caller="0611000043")
        c3 = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["caller"] == "0611000043"
                                            and c["state"] == "queued"), None), what="full -> sales")
        assert c3["queue"] == "sales"
        assert any(ln.event == "FULL" and ln.queue == "tiny" for ln in qlog(srv))
        # After max_wait the first leaves tiny with EXITWITHTIMEOUT and waits in sales.
        await until(sup, lambda: sup.state.calls.get(c2["id"], {}).get("queue") == "sales", timeout=10,
                    what="max wait -> sales")
        ev = [ln for ln in qlog(srv) if ln.callid == c2["channel"]]
        assert [ln.event for ln in ev] == ["ENTERQUEUE", "EXITWITHTIMEOUT", "ENTERQUEUE"]
        assert ev[1].queue == "tiny" and ev[1].data[:2] == ["1", "1"] and int(ev[1].data[2]) >= 2
        assert ev[2].queue == "sales"
    finally:
        await srv.stop()


async def test_callback_by_dtmf_with_preferred_time(routed, connect_to, pbx):
    srv = await routed(base=BASE.replace('priority = 5', 'priority = 5\ncallback_key = "1"'))
    try:
        sup = await connect_to(srv, "sup1")
        call = await pbx.place_call("5001", caller="0611000051", exten="dtmf-11430#")
        pushed: list[dict] = []
        sup.add_listener(lambda kind, data: pushed.append(data) if kind == "callback.update" else None)
        item = await until(sup, lambda: pushed and pushed[0], timeout=15, what="callback stored")
        assert item == next(e.data["item"] for e in srv.store.events(kinds=("callback.saved",)))
        assert item["kind"] == "callback" and item["caller"] == "0611000051" and item["queue"] == "sales"
        pref = datetime.fromtimestamp(item["preferred"], UTC)
        assert (pref.hour, pref.minute) == (14, 30)
        assert item["enqueued"] <= item["requested"]  # keeps its place in line
        lines = [ln for ln in qlog(srv) if ln.callid.startswith(call.inner.split(";")[0]) or ln.event == "EXITWITHKEY"]
        key = next(ln for ln in lines if ln.event == "EXITWITHKEY")
        assert key.data[0] == "1" and key.queue == "sales"
        await until(sup, lambda: not sup.state.calls, timeout=15, what="caller thanked and hung up")
        assert (await sup.call("callbacks.list"))["items"][0]["id"] == item["id"]
    finally:
        await srv.stop()


async def test_position_announcement_and_hangup_during_greeting(routed, connect_to, pbx):
    srv = await routed(base=BASE.replace('priority = 5', 'priority = 5\nannouncements = { position_every = 1.0 }')
                       .replace('skills = ["dutch"]', 'skills = ["dutch"]\n'
                                'announcements = { greeting = "sound:queue-periodic-announce" }'))
    try:
        sup = await connect_to(srv, "sup1")
        await pbx.place_call("5001", caller="0611000061")
        # the first in the queue before the second is called: on a busy Asterisk the second's
        # channel could otherwise reach us first
        await until(sup, lambda: any(c["caller"] == "0611000061" and c["state"] == "queued"
                                     for c in sup.state.calls.values()), what="the first caller queued")
        await pbx.place_call("5001", caller="0611000062")
        ann = await until(sup, lambda: [e for e in srv.store.events(kinds=("call.announcement",))
                                        if e.data["call"]["caller"] == "0611000062"] or None,
                          timeout=10, what="position announced")
        assert ann[0].data["position"] == 2
        # A caller who hangs up during the greeting is lost before the queue, stage announcement.
        g = await pbx.place_call("5000", caller="0611000063")
        c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["caller"] == "0611000063"), None),
                        what="entering")
        assert c["state"] == "entering" and c["stage"] == "announcement"
        await pbx.hangup(g.outer)
        await until(sup, lambda: c["id"] not in sup.state.calls, what="gone")
        ab = list(srv.store.events(call_id=c["id"]))[-1]
        assert ab.kind == "call.abandoned" and ab.data["stage"] == "announcement"
        assert not [ln for ln in qlog(srv) if ln.callid == c["channel"]]  # never entered the queue
    finally:
        await srv.stop()


async def test_queue_log_of_a_scripted_scenario(routed, connect_to, pbx, phone):
    srv = await routed(base=BASE.replace('skills = ["dutch"]', 'skills = []'))
    try:
        await phone("1002", auto_answer=True)
        a1, a2 = [await connect_to(srv, u) for u in ("agent1", "agent2")]
        await a1.call("agent.login", {"queues": ["support"]})
        await a2.call("agent.login", {"queues": ["support"]})
        call = await pbx.place_call("5000", caller="0611000071")
        await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="agent1 rings")
        # agent1 lets it ring out (3 s), agent2 answers, talks, hangs up.
        await until(a2, lambda: (c := a2.state.my_call) and c["state"] == "ringing", timeout=10, what="agent2 rings")
        await a2.call("call.answer")
        c = await until(a2, lambda: (c := a2.state.my_call) and c["state"] == "connected" and c, what="talk")
        await a2.call("call.hangup")
        await until(a2, lambda: not a2.state.my_call, what="done")
        await a2.call("agent.pause", {"reason": "break"})
        await pbx.place_call("5000", caller="0611000072")
        c2 = await until(a1, lambda: next((c for c in srv.engine.calls.values() if c.caller == "0611000072"), None)
                         or None, what="second")
        await a1.call("agent.ready")  # agent1 back; the second call rings it; the caller gives up
        await until(a1, lambda: (x := a1.state.my_call) and x["state"] == "ringing", what="rings agent1")
        for ch in await pbx.channel_ids():
            if ch.startswith("test-") and not ch.endswith(";2") and ch != call.outer:
                await pbx.hangup(ch)
        await until(a1, lambda: a1.state.my_agent["state"] == "ready" and not a1.state.my_call, what="abandoned")
        lines = [ln for ln in qlog(srv) if ln.callid in (c["channel"], c2.channel)]
        first = [ln for ln in lines if ln.callid == c["channel"]]
        assert [ln.event for ln in first] == ["ENTERQUEUE", "RINGNOANSWER", "CONNECT", "COMPLETEAGENT"]
        enter, rna, conn, done = first
        assert enter.agent == "NONE" and enter.data[:3] == ["", "0611000071", "1"]  # url, callerid, position
        assert rna.agent == "agent1" and 2500 <= int(rna.data[0]) <= 6000  # ring time in milliseconds
        assert conn.agent == "agent2" and int(conn.data[0]) >= 3 and conn.data[1] == c["agent_channel"]
        assert done.agent == "agent2" and done.data[2] == "1" and int(done.data[0]) == int(conn.data[0])
        second = [ln.event for ln in lines if ln.callid == c2.channel]
        assert second == ["ENTERQUEUE", "RINGCANCELED", "ABANDON"]
        assert all(ln.time > 1_700_000_000 and ln.queue == "support" for ln in lines)
    finally:
        await srv.stop()


async def test_general_problem_message_uploaded_switched_on_and_heard(routed, connect_to, pbx, phone, sandbox):
    import io
    import math
    import struct
    import wave

    import httpx

    from cc_console.server.pbx.phones import tone_level
    srv = await routed()
    try:
        sup = await connect_to(srv, "sup1")
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(b"".join(struct.pack("<h", int(9000 * math.sin(2 * math.pi * 1100 * i / 8000)))
                                   for i in range(8000 * 3)))
        base = srv.url.replace("ws://", "http://").rsplit("/", 1)[0]
        async with httpx.AsyncClient(base_url=base) as http:
            r = await http.put("/api/queues/support/problem", content=buf.getvalue(),
                               headers={"Authorization": f"Bearer {sup.token}"})
            assert r.status_code == 200, r.text
            assert r.json()["media"] == "sound:recordings/cc-problem-support"
            # Wrong format, wrong role, no token, unknown queue: each refused clearly.
            r = await http.put("/api/queues/support/problem", content=b"not a wav",
                               headers={"Authorization": f"Bearer {sup.token}"})
            assert r.status_code == 400 and "WAV" in r.text
            agent = await connect_to(srv, "agent1")
            r = await http.put("/api/queues/support/problem", content=buf.getvalue(),
                               headers={"Authorization": f"Bearer {agent.token}"})
            assert r.status_code == 403
            r = await http.put("/api/queues/support/problem", content=buf.getvalue())
            assert r.status_code == 401
            r = await http.put("/api/queues/nope/problem", content=buf.getvalue(),
                               headers={"Authorization": f"Bearer {sup.token}"})
            assert r.status_code == 404
        res = await sup.call("queue.problem", {"queue": "support", "on": True})
        assert res["queue"]["problem"] is True

        # A real phone calls the queue and hears the 1100 Hz message before the music on hold.
        caller = await phone("1005", auto_answer=True)
        await caller.dial("5000")
        c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["state"] == "queued"), None),
                        timeout=15, what="queued after the message")
        await caller.hangup()
        await caller.wait_call_state("CLOSED", timeout=10)
        heard = caller.recorded_wav()
        assert tone_level(heard, 1100, start=0.3, duration=2.0) > 0.05
        kinds = [e.kind for e in srv.store.events(call_id=c["id"])]
        assert kinds[:3] == ["call.entered", "call.announcement", "call.queued"]
        await sup.call("queue.problem", {"queue": "support", "on": False})
        assert not srv.engine.problem
    finally:
        await srv.stop()


async def test_reload_keeps_calls_and_refuses_a_bad_file(routed, connect_to, pbx, settings, tmp_path):
    from pathlib import Path
    srv = await routed()
    try:
        admin, sup = [await connect_to(srv, u) for u in ("admin1", "sup1")]
        await pbx.place_call("5000", caller="0611000081")
        c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["state"] == "queued"), None),
                        what="queued")
        path = Path(settings.server.routing_file)
        good = path.read_text()
        path.write_text(good + '\n[queues.extra]\ndids = ["5006"]\n')
        res = await admin.call("admin.reload")
        assert "extra" in res["queues"]
        assert srv.engine.calls[c["id"]].state == "queued"  # the waiting call is untouched
        await pbx.place_call("5006", caller="0611000082")
        await until(sup, lambda: any(x["queue"] == "extra" for x in sup.state.calls.values()), what="new DID works")
        path.write_text(good.replace('dids = ["5001"]', 'dids = ["5000"]'))  # a DID in two queues
        with pytest.raises(Exception) as exc:
            await admin.call("admin.reload")
        assert "5000" in str(exc.value) and "old configuration stays" in str(exc.value)
        assert "extra" in srv.engine.cfg.queues
        with pytest.raises(Exception) as exc:
            await sup.call("admin.reload")
        assert "may not" in str(exc.value)
        assert any(ln.event == "CONFIGRELOAD" for ln in qlog(srv))
    finally:
        await srv.stop()


async def test_blind_transfer_to_number_agent_and_queue(routed, connect_to, pbx, phone):
    srv = await routed(base=BASE.replace('skills = ["dutch"]', 'skills = []'))
    try:
        await phone("1001", auto_answer=True)
        p4 = await phone("1004", auto_answer=True)
        sup, a1, a2 = [await connect_to(srv, u) for u in ("sup1", "agent1", "agent2")]
        await a1.call("agent.login", {"queues": ["support"]})

        async def take(agent_client):
            await until(agent_client, lambda: (c := agent_client.state.my_call) and c["state"] == "ringing",
                        what="ringing")
            await agent_client.call("call.answer")
            return await until(agent_client, lambda: (c := agent_client.state.my_call) and c["state"] == "connected"
                               and c, what="connected")

        call = await pbx.place_call("5000", caller="0611000091")
        c = await take(a1)
        from cc_console.protocol import ProtocolError
        for bad, code in [("queue:nope", "not_found"), ("agent:agent1", "bad_request"), ("@@@", "bad_request"),
                          ("agent:agent2", "conflict")]:
            with pytest.raises(ProtocolError) as exc:
                await a1.call("call.transfer", {"target": bad})
            assert exc.value.code == code, (bad, exc.value.code)
        with pytest.raises(ProtocolError) as exc:
            await a1.call("call.transfer", {"target": "1004", "mode": "sideways"})
        assert exc.value.code == "bad_request"
        # To a number (the phone 1004): the agent is free at once, the caller talks to 1004.
        await a1.call("call.transfer", {"target": "1004"})
        await until(sup, lambda: (x := sup.state.calls.get(c["id"])) and x["state"] == "connected"
                    and x["agent"] is None, what="connected to 1004")
        await p4.wait_call_state("ESTABLISHED", timeout=10)
        assert a1.state.my_agent["state"] == "ready" and a1.state.my_agent["call_id"] is None
        blind = [ln for ln in qlog(srv) if ln.event == "BLINDTRANSFER"]
        assert blind and blind[0].agent == "agent1" and blind[0].data[0] == "1004" and blind[0].callid == c["channel"]
        await pbx.hangup(call.outer)
        await until(sup, lambda: c["id"] not in sup.state.calls, what="ended")

        # To another agent, then on to a queue.
        await a2.call("agent.login", {"queues": ["sales"]})
        call = await pbx.place_call("5000", caller="0611000092")
        c = await take(a1)
        await a1.call("call.transfer", {"target": "agent:agent2"})
        await until(a2, lambda: (x := a2.state.my_call) and x["id"] == c["id"] and x["state"] == "ringing",
                    what="agent2 rings")
        await phone("1002", auto_answer=True)
        await a2.call("call.answer")
        await until(a2, lambda: (x := a2.state.my_call) and x["state"] == "connected", what="agent2 talks")
        await a2.call("call.transfer", {"target": "queue:sales"})
        await until(sup, lambda: (x := sup.state.calls.get(c["id"])) and x["queue"] == "sales", what="in sales")
        kinds = [e.kind for e in srv.store.events(call_id=c["id"])]
        assert kinds.count("call.transferred") == 2
        await pbx.hangup(call.outer)
    finally:
        await srv.stop()
