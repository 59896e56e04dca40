"""The engine's per-tick outbox and the gateway's fan-out, on a real server and real consoles
(no Asterisk: ARI events go straight into the engine, as the fan-out bench does)."""
from __future__ import annotations

from cc_console.server.ari import AriEvent

from .asterisk import until


def _ari(kind: str, channel_id: str, caller: str) -> AriEvent:
    ch = {"id": channel_id, "name": f"PJSIP/trunk-{channel_id}", "state": "Ring",
          "caller": {"number": caller, "name": ""},
          "dialplan": {"context": "cc-inbound", "exten": "5000", "priority": 1}}
    if kind == "StasisStart":
        return AriEvent.from_json({"type": "StasisStart", "application": "cc-console",
                                   "args": ["inbound", "5000"], "channel": ch})
    return AriEvent.from_json({"type": "ChannelDestroyed", "application": "cc-console", "cause": 16,
                               "channel": {**ch, "state": "Up"}})


async def test_a_call_that_ends_within_one_tick_is_still_shown_before_it_ends(server, connect):
    sup = await connect("sup1")
    frames: list[tuple[str, str]] = []
    sup.add_listener(lambda kind, data: frames.append((kind, data.get("caller", "")))
                     if kind in ("call.update", "call.ended") else None)
    # Both events in the same loop tick, as when the server is behind and the ARI socket holds both.
    await server.engine.on_event(_ari("StasisStart", "ch-burst", "700100"))
    await server.engine.on_event(_ari("ChannelDestroyed", "ch-burst", "700100"))
    await until(sup, lambda: ("call.ended", "700100") in frames, timeout=5, what="call.ended")
    assert [k for k, c in frames if c == "700100"] == ["call.update", "call.ended"]
    await server.engine.idle()


async def test_updates_of_one_call_within_a_tick_are_coalesced_into_the_latest(server, connect):
    sup = await connect("sup1")
    updates: list[dict] = []
    sup.add_listener(lambda kind, data: updates.append(data)
                     if kind == "call.update" and data.get("caller") == "700200" else None)
    # Entering and queueing happen in one handler: the consoles get one frame, with the last state.
    await server.engine.on_event(_ari("StasisStart", "ch-coalesce", "700200"))
    await until(sup, lambda: updates, timeout=5, what="call.update")
    await server.engine.on_event(_ari("ChannelDestroyed", "ch-coalesce", "700200"))
    await until(sup, lambda: "700200" not in {c["caller"] for c in sup.state.calls.values()}, timeout=5,
                what="call gone")
    assert [u["state"] for u in updates] == ["queued"]
    await server.engine.idle()


async def test_frames_of_one_tick_reach_a_console_in_one_write_and_in_order(server, connect):
    sup = await connect("sup1")
    (session,) = [s for s in server.gateway.sessions if s.principal and s.principal.username == "sup1"]
    writes: list[bytes] = []
    transport = session.transport
    real_write = transport.write

    def counting_write(data: bytes) -> None:
        writes.append(bytes(data))
        real_write(data)
    transport.write = counting_write
    got: list[tuple[str, str]] = []
    sup.add_listener(lambda kind, data: got.append((kind, data.get("name", ""))) if kind == "queue.stats" else None)
    seq_before = session.seq
    for name in ("a", "b", "c"):
        server.gateway.publish("queue.stats", {"name": name}, None)
    assert writes == []  # nothing written yet: the tick is not over
    await until(sup, lambda: len(got) == 3, timeout=5, what="three frames")
    assert got == [("queue.stats", "a"), ("queue.stats", "b"), ("queue.stats", "c")]
    assert len(writes) == 1 and writes[0].count(b'"event":"queue.stats"') == 3
    assert session.seq == seq_before + 3
    assert sup.stale is False  # no sequence gap seen by the client


def test_record_dicts_are_what_asdict_gave_and_independent_of_the_record():
    from dataclasses import asdict

    from cc_console.models import Agent, Call
    call = Call(id="c1", caller="700300", did="5000", queue="support", channel="ch", bridge="b",
                skills=["fr"], consult={"target": "1002", "state": "ringing"})
    agent = Agent(id="agent1", name="Agent 1", queues=["support"], penalties={"support": 1}, skills={"fr": 2})
    for rec in (call, agent):
        d = rec.to_dict()
        assert d == asdict(rec) and list(d) == list(asdict(rec))
    d = call.to_dict()
    d["skills"].append("de")
    d["consult"]["state"] = "talking"
    assert call.skills == ["fr"] and call.consult["state"] == "ringing"  # the store keeps what was sent


async def test_an_event_reaches_the_console_as_json_dumps_would_have_written_it(server, connect):
    """The gateway serialises each event once with msgspec (the fan-out's fixed cost per call): what
    a console reads is what json.dumps(default=str) gave, also for text beyond ASCII and for a
    value JSON has no type for."""
    import json
    from pathlib import PurePosixPath

    sup = await connect("sup1")
    got: list[dict] = []
    sup.add_listener(lambda kind, data: got.append(data) if kind == "queue.stats" else None)
    data = {"name": "Kundenservice Zürich ☎", "waiting": 3, "service_level": 0.8333333333333334,
            "oldest_enqueued": 1764450000.123456, "open": True, "problem": None,
            "agents": ["ag1", "ag2"], "penalties": {"support": 0}, "file": PurePosixPath("/var/q/log")}
    server.gateway.publish("queue.stats", data, None)
    await until(sup, lambda: got, timeout=5, what="queue.stats")
    assert got == [json.loads(json.dumps(data, default=str))]
    assert got[0]["file"] == "/var/q/log" and got[0]["name"] == "Kundenservice Zürich ☎"
