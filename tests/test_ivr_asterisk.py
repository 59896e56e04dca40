"""IVR trees on the real sandbox Asterisk with a real SIP phone as the caller: keys through three
levels into the right queue with the caller's tags, the timeout and wrong-key paths, a spoken
prompt the caller hears, and the abandon stages before and in the IVR in the IVR report."""
from __future__ import annotations

import asyncio
import math
import textwrap
import wave
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .asterisk import start_routed, until

pytestmark = pytest.mark.asterisk

ROUTING = """
[queues.support]
dids = ["5000"]
ring_timeout = 5
wrapup = 0
[queues.sales]
dids = ["5001"]
[agents.agent1]
queues = { support = 0, sales = 0 }
skills = { car = 5 }
[agents.sup1]
queues = { support = 0 }
"""

SPOKEN = "This is the insurer. Your call matters to us, please hold the line."

TREES = f"""
[trees.main]
tenant = "insurer"
dids = ["5100"]
queue = "support"
language = "en"
start = "root"
timeout = 1.0
retries = 1

[trees.main.nodes.root]
prompt = "Main menu. Press one for claims."
on_timeout = "queue:sales"
on_invalid = "hangup"
[trees.main.nodes.root.options]
"1" = "goto:claims"
"2" = "goto:hello"
"3" = "goto:status"
"4" = "goto:night"
"5" = "tree:other"
"8" = "number:1002"
"9" = "agent:agent1"

[trees.main.nodes.claims]
prompt = "Claims. Press one for cars."
tags = {{ problem = "claims" }}
options = {{ "1" = "goto:car", "0" = "goto:root" }}

[trees.main.nodes.car]
prompt = "Cars. Press one for an expert."
tags = {{ product = "car" }}
skills = ["car"]
priority = 5
options = {{ "1" = "queue:support", "9" = "voicemail" }}

[trees.main.nodes.hello]
prompt = "{SPOKEN}"
next = "queue:sales"

[trees.main.nodes.status]
next = "queue:support"
[trees.main.nodes.status.lookup]
url = "http://127.0.0.1:LOOKUP_PORT/applications?phone={{caller}}"
say = "Your application was received on {{received}}."
fallback = "We could not find your application."
timeout = 2

[trees.main.nodes.night]
prompt = "Never heard: this node is closed today."
timezone = "UTC"
exceptions = {{ "TODAY" = "closed" }}
closed = "callback"
options = {{ "1" = "queue:support" }}

[trees.other]
tenant = "insurer"
queue = "sales"
[trees.other.nodes.main]
prompt = "The other tree."
next = "queue:sales"

[trees.welcomed]
tenant = "insurer"
dids = ["5101"]
queue = "support"
welcome = "Welcome to the insurer. Calls are recorded for training and quality purposes."
[trees.welcomed.nodes.main]
prompt = "Press one."
options = {{ "1" = "queue:support" }}
"""


RECEIVED = "the twelfth of March"


@pytest.fixture
async def lookup_port():
    """The insurer's internal system: answers an application's date for a phone number."""
    from aiohttp import web
    asked: list[str] = []

    async def applications(request: web.Request) -> web.Response:
        asked.append(request.query.get("phone", ""))
        return web.json_response({"received": RECEIVED, "phone": request.query.get("phone")})
    app = web.Application()
    app.router.add_get("/applications", applications)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield port
    await runner.cleanup()


def trees_text(port: int) -> str:
    today = datetime.now(UTC).date().isoformat()
    return textwrap.dedent(TREES).replace("LOOKUP_PORT", str(port)).replace("TODAY", today)


@pytest.fixture
async def ivr_server(settings, tmp_path, clean_asterisk, sandbox, lookup_port):
    tree = tmp_path / "ivr.toml"
    tree.write_text(trees_text(lookup_port))
    settings.sections["ivr"] = {"file": str(tree)}
    srv = await start_routed(settings, ROUTING, tmp_path / "routing.toml")
    srv.tree_file = tree
    try:
        yield srv
    finally:
        await srv.stop()


async def ivr_event(srv: Any, kind: str, timeout: float = 20.0, **match: Any) -> Any:
    """The first stored event of that kind whose data has these values (waits for it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for ev in srv.store.events(kinds=(kind,)):
            if all(ev.data.get(k) == v for k, v in match.items()):
                return ev
        if loop.time() > deadline:
            seen = [(e.kind, e.data) for e in srv.store.events() if e.kind.startswith("ivr.")]
            raise AssertionError(f"no {kind} {match} within {timeout}s; IVR events: {seen}")
        await asyncio.sleep(0.05)


async def test_keys_through_three_levels_reach_the_queue_with_the_tags(ivr_server, connect_to, phone):
    srv = ivr_server
    await phone("1001")  # agent1's device answers when the agent takes the call
    agent = await connect_to(srv, "agent1")
    await agent.call("agent.login", {"queues": ["support"]})
    await agent.call("agent.ready")
    caller = await phone("1005")
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await ivr_event(srv, "ivr.node", node="root")
    await caller.send_dtmf("1")
    await ivr_event(srv, "ivr.node", node="claims")
    await caller.send_dtmf("1")
    await ivr_event(srv, "ivr.node", node="car")
    await caller.send_dtmf("1")
    # The agent (who has the car skill the path asked for) is offered the call, with the tags.
    call = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing" and c,
                       what="the call offered to the agent")
    assert call["queue"] == "support"
    assert call["tags"] == {"problem": "claims", "product": "car"}
    assert call["skills"] == ["car"] and call["priority"] == 5
    left = await ivr_event(srv, "ivr.left", outcome="queue:support")
    assert left.data["path"] == "root/claims/car"
    # Stored with the call, not only shown.
    stored = srv.store.call(call["id"])
    assert stored["tags"] == {"problem": "claims", "product": "car"}
    choices = [(e.data["node"], e.data["key"]) for e in srv.store.events(kinds=("ivr.choice",))]
    assert choices == [("root", "1"), ("claims", "1"), ("car", "1")]
    # Answered: the IVR report's wait runs from IVR entry to the answer (the tender's definition).
    await agent.call("call.answer")
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="connected")
    entered = await ivr_event(srv, "ivr.entered")
    connected = await ivr_event(srv, "call.connected")
    sup = await connect_to(srv, "sup1")
    report = await sup.call("ivr.report", {"from": entered.ts - 1, "to": entered.ts + 60})
    wait = connected.ts - entered.ts
    band = "0-10" if wait <= 10 else "10-20" if wait <= 20 else "20-30" if wait <= 30 else "30+"
    assert report["answered"] == 1
    assert report["wait_from_ivr_entry"]["per_queue"] == {"support": {band: 1}}
    assert report["wait_from_ivr_entry"]["per_agent"] == {"agent1": {band: 1}}
    await caller.hangup()


async def test_timeout_and_wrong_keys_take_their_paths(ivr_server, connect_to, phone):
    srv = ivr_server
    sup = await connect_to(srv, "sup1")
    caller = await phone("1005")
    # Nothing pressed: the prompt again (retries = 1), then on_timeout sends the call to sales.
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    c = await until(sup, lambda: next((c for c in sup.state.calls.values() if c["queue"] == "sales"
                                       and c["state"] == "queued"), None), timeout=30, what="queued in sales")
    timeouts = [e.data for e in srv.store.events(kinds=("ivr.timeout",))]
    assert [t["tries"] for t in timeouts] == [1, 2] and {t["node"] for t in timeouts} == {"root"}
    assert c["tags"] == {}
    await caller.hangup()
    await until(sup, lambda: c["id"] not in sup.state.calls, what="the first call ended")

    # A key the menu does not have, twice: the prompt again, then on_invalid hangs up.
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    second = await ivr_event(srv, "ivr.entered", timeout=10)
    await ivr_event(srv, "ivr.node", node="root")
    while second.call_id == c["id"]:  # the first call's entry: take the new one
        second = next(e for e in srv.store.events(kinds=("ivr.entered",)) if e.call_id != c["id"])
    await caller.send_dtmf("7")
    await ivr_event(srv, "ivr.invalid", tries=1)
    await caller.send_dtmf("7")
    await caller.wait_call_state("CLOSED", timeout=10)
    ended = await ivr_event(srv, "call.ended", outcome="ivr_hangup")
    assert ended.call_id == second.call_id
    invalid = [e.data["key"] for e in srv.store.events(kinds=("ivr.invalid",))]
    assert invalid == ["7", "7"]


def _envelope(path: Path, frame: float = 0.02) -> list[float]:
    """Energy per 20 ms of a 16-bit mono WAV at 8 kHz: enough to recognise a sentence's rhythm."""
    import array
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1), path
        data = array.array("h", w.readframes(w.getnframes()))
    n = int(8000 * frame)
    return [math.sqrt(sum(x * x for x in data[i:i + n]) / n) for i in range(0, len(data) - n + 1, n)]


def _best_correlation(heard: list[float], prompt: list[float]) -> float:
    """The highest normalised correlation of the prompt's envelope at any offset in what was heard."""
    # Without the prompt's silent ends: the caller's recording stops when the call does.
    loud = [i for i, x in enumerate(prompt) if x > 50]
    prompt = prompt[loud[0]:loud[-1] + 1]
    m = len(prompt)
    pm = sum(prompt) / m
    pd = [x - pm for x in prompt]
    pn = math.sqrt(sum(x * x for x in pd))
    best = 0.0
    for off in range(0, len(heard) - m + 1):
        seg = heard[off:off + m]
        sm = sum(seg) / m
        sd = [x - sm for x in seg]
        sn = math.sqrt(sum(x * x for x in sd))
        if sn and pn:
            best = max(best, sum(a * b for a, b in zip(sd, pd, strict=True)) / (sn * pn))
    return best


async def test_the_caller_hears_the_spoken_prompt(ivr_server, phone):
    srv = ivr_server
    caller = await phone("1005")
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await ivr_event(srv, "ivr.node", node="root")
    await caller.send_dtmf("2")
    # The message node goes on to the queue once its prompt has played to the end.
    await ivr_event(srv, "ivr.left", outcome="queue:sales", timeout=30)
    await caller.hangup()
    await caller.wait_call_state("CLOSED", timeout=10)
    ivr = srv.capabilities["ivr"]
    spoken = ivr.tts.path(SPOKEN, "en")
    other = ivr.tts.path("Main menu. Press one for claims.", "en")
    heard = _envelope(caller.recorded_wav())
    match = _best_correlation(heard, _envelope(spoken))
    # Control: a prompt of another text (played to this caller too, but cut short by the key).
    unrelated = _best_correlation(heard, _envelope(ivr.tts.path("Cars. Press one for an expert.", "en")))
    assert other.exists()
    # Heard through G.711 and a jitter buffer on a loaded machine: about 0.85 to 1.0; another text about 0.55.
    assert match > 0.75, (match, unrelated)
    assert unrelated < match - 0.2, (match, unrelated)


async def test_abandons_before_and_in_the_ivr_are_reported(ivr_server, connect_to, phone):
    srv = ivr_server
    sup = await connect_to(srv, "sup1")
    caller = await phone("1005")
    t0 = srv.engine.clock()
    # Hangs up during the tree's welcome: lost before the IVR.
    await caller.dial("5101")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    first = await ivr_event(srv, "ivr.entered", tree="welcomed")
    await caller.hangup()
    await ivr_event(srv, "ivr.left", outcome="abandoned", stage="before_ivr")
    # Hangs up in the claims menu: lost in the IVR, at that node.
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await ivr_event(srv, "ivr.node", node="root")
    await caller.send_dtmf("1")
    await ivr_event(srv, "ivr.node", node="claims")
    await caller.hangup()
    await ivr_event(srv, "ivr.left", outcome="abandoned", stage="ivr")
    stages = {e.call_id: e.data["stage"] for e in srv.store.events(kinds=("call.abandoned",))}
    assert stages[first.call_id] == "before_ivr" and sorted(stages.values()) == ["before_ivr", "ivr"]

    report = await sup.call("ivr.report", {"from": t0 - 1, "to": srv.engine.clock() + 1})
    assert report["entered"] == 2
    assert report["abandoned_before_ivr"] == 1
    assert report["abandoned_in_ivr"] == 1
    assert report["abandoned_in_ivr_by_node"] == {"main/claims": 1}
    assert report["choices"]["main/root"] == {"1": 1}
    paths = {(p["tree"], p["path"], p["outcome"]): p["calls"] for p in report["paths"]}
    assert paths == {("welcomed", "", "abandoned"): 1, ("main", "root/claims", "abandoned"): 1}

    # The queue report splits the lost calls the same way, in the trees' home queue.
    args = {"kind": "queue", "from": str(t0 - 1), "to": str(srv.engine.clock() + 1), "queues": ["support"]}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:  # the report reads what the store's writer has committed
        report = (await sup.call("report.run", args))["report"]
        row = dict(zip(report["columns"], report["rows"][0], strict=True))
        if row["abandoned"] == 2 or loop.time() > deadline:
            break
        await asyncio.sleep(0.1)
    assert (row["abandoned"], row["abandoned_before_ivr"], row["abandoned_ivr"], row["abandoned_announcement"]) \
        == (2, 1, 1, 0), row


@pytest.fixture
async def smtp_sink():
    """A minimal SMTP server on a free port that keeps the messages it is sent."""
    messages: list[bytes] = []

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 sink\r\n")
        body: list[bytes] | None = None
        while line := await reader.readline():
            if body is not None:
                if line == b".\r\n":
                    messages.append(b"".join(body))
                    body = None
                    writer.write(b"250 queued\r\n")
                else:
                    body.append(line)
            elif line[:4].upper() == b"DATA":
                body = []
                writer.write(b"354 go on\r\n")
            elif line[:4].upper() == b"QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()
    server = await asyncio.start_server(session, "127.0.0.1", 0)
    server.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    server.messages = messages  # type: ignore[attr-defined]
    yield server
    server.close()
    await server.wait_closed()


async def test_a_voicemail_left_in_the_ivr_is_listed_played_and_called_back(ivr_server, connect_to, phone,
                                                                              tmp_path, smtp_sink):
    vlc = pytest.importorskip("vlc")  # noqa: F841 - python-vlc is in the audio extra scripts/setup installs
    from cc_console.server.pbx.phones import tone_level
    from cc_console.widgets.player import RecordingPlayer
    srv = ivr_server
    notices = srv.capabilities["voicemail"].s
    notices.notify_to, notices.smtp_port = "desk@insurer.example", smtp_sink.port
    agent = await connect_to(srv, "agent1")
    items: list[dict[str, Any]] = []
    agent.add_listener(lambda kind, data: items.append(data) if kind == "callback.update" else None)
    agent_phone = await phone("1001")
    caller = await phone("1005")
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    for node, key in (("root", "1"), ("claims", "1"), ("car", "9")):
        await ivr_event(srv, "ivr.node", node=node)
        await caller.send_dtmf(key)
    started = await ivr_event(srv, "call.voicemail_started")
    name = f"vm-{started.call_id}"
    # The prompt and the beep play, then Asterisk records: the caller "speaks" (the phone's tone).
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while (await srv.ari.http.get(f"/recordings/live/{name}")).status_code != 200:
        assert loop.time() < deadline, "the message was never recorded"
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.5)  # the length of the message itself
    await caller.hangup()
    vm = await until(agent, lambda: next((i for i in items if i.get("call_id") == started.call_id
                                          and i.get("audio")), None), timeout=30, what="the voicemail stored")
    assert vm["kind"] == "voicemail" and vm["caller"] == "1005" and vm["queue"] == "support"
    assert 1.5 < vm["duration"] < 6, vm
    left_on_pbx = await srv.ari.http.get(f"/recordings/stored/{name}")
    assert left_on_pbx.status_code == 404, "the message was left on the PBX"
    deadline = loop.time() + 10
    while not smtp_sink.messages:  # the notice goes out once the message is stored
        assert loop.time() < deadline, "no e-mail notice"
        await asyncio.sleep(0.05)
    assert len(smtp_sink.messages) == 1
    notice = smtp_sink.messages[0].decode()
    assert "To: desk@insurer.example" in notice and "Subject: Voicemail from 1005 (support)" in notice
    listed = (await agent.call("voicemail.list"))["items"]
    assert [i["id"] for i in listed] == [vm["id"]] and listed[0]["duration"] == vm["duration"]

    # Played in the console's player (python-vlc over the authenticated stream), into a file here.
    out = tmp_path / "played.wav"
    p = RecordingPlayer(f"http://127.0.0.1:{srv.port}", agent.token or "", vm["id"], kind="voicemails",
                        vlc_args=("--aout=afile", f"--audiofile-file={out}", "--audiofile-format=s16",
                                  "--audiofile-channels=1"))
    try:
        p.play()
        deadline = loop.time() + 20
        while not p.ended:
            assert loop.time() < deadline and not p.source.error, p.source.error
            await asyncio.sleep(0.05)
    finally:
        p.close()
    assert tone_level(out, caller.tone_freq, start=0.5, duration=1.0) > 0.05

    # Called back from the work list: the agent's phone, then the caller's, connected.
    await agent.call("agent.login", {"queues": ["support"]})
    r = await agent.call("callback.dial", {"id": vm["id"]})
    assert r["item"]["state"] == "taken" and r["item"]["agent"] == "agent1"
    await caller.wait_call_state("ESTABLISHED", timeout=20)
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="called back")
    await agent.call("call.hangup")
    done = await agent.call("callback.done", {"id": vm["id"]})
    assert done["item"]["state"] == "done"
    assert (await agent.call("voicemail.list"))["items"] == []
    await agent_phone.wait_call_state("CLOSED", timeout=10)


async def test_a_lookup_answer_is_spoken_to_the_caller(ivr_server, phone):
    srv = ivr_server
    caller = await phone("1005")
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await ivr_event(srv, "ivr.node", node="root")
    await caller.send_dtmf("3")
    lookup = await ivr_event(srv, "ivr.lookup", node="status")
    assert lookup.data["ok"] is True
    await ivr_event(srv, "ivr.left", outcome="queue:support", timeout=30)
    await caller.hangup()
    await caller.wait_call_state("CLOSED", timeout=10)
    tts = srv.capabilities["ivr"].tts
    said = tts.path(f"Your application was received on {RECEIVED}.", "en")
    heard = _envelope(caller.recorded_wav())
    match = _best_correlation(heard, _envelope(said))
    fallback = _best_correlation(heard, _envelope(await tts.render("We could not find your application.", "en")))
    assert match > 0.75 and fallback < match - 0.2, (match, fallback)


async def test_a_closed_node_and_another_tree(ivr_server, connect_to, phone):
    srv = ivr_server
    sup = await connect_to(srv, "sup1")
    caller = await phone("1005")
    # The night node is closed today: its closed action (a callback request) is taken, no prompt.
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await ivr_event(srv, "ivr.node", node="root")
    await caller.send_dtmf("4")
    closed = await ivr_event(srv, "ivr.closed", node="night")
    assert closed.data["to"] == "callback"
    await caller.wait_call_state("CLOSED", timeout=15)
    items = (await sup.call("callbacks.list"))["items"]
    assert [(i["kind"], i["caller"], i["call_id"]) for i in items] == [("callback", "1005", closed.call_id)]
    assert not [e for e in srv.store.events(kinds=("ivr.node",)) if e.data["node"] == "night"]
    # Key 5 goes on in another tree, from its start node, to that tree's queue.
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await ivr_event(srv, "ivr.node", node="root", tree="main")
    await caller.send_dtmf("5")
    left = await ivr_event(srv, "ivr.left", outcome="queue:sales", timeout=20)
    assert left.data["tree"] == "other" and left.data["path"] == "root/other:/main"
    await caller.hangup()


async def test_a_reload_keeps_the_tree_a_caller_is_in(ivr_server, connect_to, phone, lookup_port):
    srv = ivr_server
    admin = await connect_to(srv, "admin1")
    sup = await connect_to(srv, "sup1")
    first = await phone("1005")
    await first.dial("5100")
    await first.wait_call_state("ESTABLISHED", timeout=10)
    await ivr_event(srv, "ivr.node", node="root")
    # A file with a problem is refused whole; the trees in force stay.
    srv.tree_file.write_text(trees_text(lookup_port).replace('"1" = "goto:claims"', '"1" = "goto:nowhere"'))
    with pytest.raises(Exception, match="goto:nowhere - no such node"):
        await admin.call("ivr.reload")
    # The new version: key 1 at the root now goes straight to sales.
    srv.tree_file.write_text(trees_text(lookup_port).replace('"1" = "goto:claims"',
                                                             '"1" = "queue:sales"\n"6" = "goto:claims"'))
    r = await admin.call("ivr.reload")
    assert "main" in r["trees"]
    # The caller already in the tree keeps the version they started with: 1 still means claims.
    await first.send_dtmf("1")
    await ivr_event(srv, "ivr.node", node="claims")
    # A new caller gets the new version.
    second = await phone("1006")
    await second.dial("5100")
    await second.wait_call_state("ESTABLISHED", timeout=10)
    entered = [e.call_id for e in srv.store.events(kinds=("ivr.entered",))]
    while len(entered) < 2:
        await ivr_event(srv, "ivr.entered")
        entered = [e.call_id for e in srv.store.events(kinds=("ivr.entered",))]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not [e for e in srv.store.events(kinds=("ivr.node",)) if e.call_id == entered[1]]:
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    await second.send_dtmf("1")
    left = await ivr_event(srv, "ivr.left", outcome="queue:sales")
    assert left.call_id == entered[1] and left.data["path"] == "root"
    await until(sup, lambda: any(c["queue"] == "sales" for c in sup.state.calls.values()), what="in sales")
    await first.hangup()
    await second.hangup()


async def test_an_uploaded_recorded_prompt_replaces_the_spoken_one(ivr_server, connect_to, phone, tmp_path):
    import httpx

    from cc_console.server.pbx.phones import tone_level
    from cc_console.server.pbx.sandbox import write_tone_wav
    srv = ivr_server
    admin = await connect_to(srv, "admin1")
    agent = await connect_to(srv, "agent1")
    wav = tmp_path / "recorded.wav"
    write_tone_wav(wav, 1200, 3.0)
    url = f"http://127.0.0.1:{srv.port}/api/ivr/main/hello/prompt"
    async with httpx.AsyncClient() as http:
        refused = await http.put(url, content=wav.read_bytes(), headers={"Authorization": f"Bearer {agent.token}"})
        assert refused.status_code == 403
        r = await http.put(url, content=wav.read_bytes(), headers={"Authorization": f"Bearer {admin.token}"})
        assert r.status_code == 200, r.text
        assert r.json()["seconds"] == pytest.approx(3.0, abs=0.05)
        try:
            caller = await phone("1005")
            await caller.dial("5100")
            await caller.wait_call_state("ESTABLISHED", timeout=10)
            await ivr_event(srv, "ivr.node", node="root")
            await caller.send_dtmf("2")
            await ivr_event(srv, "ivr.left", outcome="queue:sales", timeout=30)
            await caller.hangup()
            await caller.wait_call_state("CLOSED", timeout=10)
            heard = caller.recorded_wav()
            assert tone_level(heard, 1200) > 0.1  # the recorded prompt, most of the call
            spoken = _best_correlation(_envelope(heard), _envelope(srv.capabilities["ivr"].tts.path(SPOKEN, "en")))
            assert spoken < 0.75, spoken
        finally:
            gone = await http.delete(url, headers={"Authorization": f"Bearer {admin.token}"})
            assert gone.status_code == 200 and gone.json()["spoken"] is True


async def test_number_and_agent_actions(ivr_server, connect_to, phone):
    srv = ivr_server
    await phone("1001")  # agent1's device
    agent = await connect_to(srv, "agent1")
    await agent.call("agent.login", {"queues": ["sales"]})  # not in support: only a direct target reaches it
    await agent.call("agent.ready")
    desk = await phone("1002")  # an external line the tree dials
    caller = await phone("1005")
    # Key 8: dialled out and bridged; the caller hears the desk's phone.
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    await ivr_event(srv, "ivr.node", node="root")
    await caller.send_dtmf("8")
    await desk.wait_call_state("ESTABLISHED", timeout=15)
    left = await ivr_event(srv, "ivr.left", outcome="number:1002")
    dialing = await ivr_event(srv, "call.dialing")
    assert dialing.call_id == left.call_id and dialing.data["number"] == "PJSIP/1002"
    await caller.hangup()
    await desk.wait_call_state("CLOSED", timeout=10)
    await caller.wait_call_state("CLOSED", timeout=10)
    await ivr_event(srv, "call.completed")  # the first call is over on our side too
    # Key 9: waits for that one agent, who is offered it although not logged into the home queue.
    await caller.dial("5100")
    await caller.wait_call_state("ESTABLISHED", timeout=10)
    second = None
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while second is None:
        second = next((e for e in srv.store.events(kinds=("ivr.node",)) if e.call_id != left.call_id), None)
        assert loop.time() < deadline
        await asyncio.sleep(0.05)
    await caller.send_dtmf("9")
    call = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing" and c,
                       what="offered to the agent the tree named")
    assert call["id"] == second.call_id and call["target_agent"] == "agent1" and call["queue"] == "support"
    await caller.hangup()


async def test_a_caller_in_a_tree_stays_through_a_restart_of_our_server(settings, tmp_path, clean_asterisk, sandbox,
                                                                         lookup_port, phone):
    tree = tmp_path / "ivr.toml"
    tree.write_text(trees_text(lookup_port))
    settings.sections["ivr"] = {"file": str(tree)}
    srv = await start_routed(settings, ROUTING, tmp_path / "routing.toml")
    try:
        caller = await phone("1005")
        await caller.dial("5100")
        await caller.wait_call_state("ESTABLISHED", timeout=10)
        first = await ivr_event(srv, "ivr.node", node="root")
    finally:
        await srv.stop()
    # The call lives on in Asterisk's bridge; the next server's resync hands it to the IVR again.
    srv = await start_routed(settings, ROUTING, tmp_path / "routing2.toml")
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        while len([e for e in srv.store.events(kinds=("ivr.node",)) if e.call_id == first.call_id]) < 2:
            assert loop.time() < deadline, "the menu did not start again after the restart"
            await asyncio.sleep(0.05)
        await caller.send_dtmf("1")
        claims = await ivr_event(srv, "ivr.node", node="claims")
        assert claims.call_id == first.call_id and caller.call_state == "CALL_ESTABLISHED"
        await caller.hangup()
        await ivr_event(srv, "ivr.left", outcome="abandoned", node="claims")
    finally:
        await srv.stop()
