"""Recordings without Asterisk: retention purge and legal hold, rights on listen and download with
the audit log, the authenticated Range stream, WAV/MP3 export, encryption at rest, evaluations."""
from __future__ import annotations

import io
import time
import wave

import httpx
import pytest
from cryptography.exceptions import InvalidTag

from cc_console.errors import Damaged
from cc_console.protocol import ProtocolError
from cc_console.server.pbx.phones import tone_level
from cc_console.server.pbx.sandbox import write_tone_wav
from cc_console.server.recordings import RecordingService, RecordingSettings, RecordingStore, audio, rights

DAY = 86400.0


def tone_bytes(tmp_path, freq=1000, seconds=3.0) -> bytes:
    p = tmp_path / f"tone-{freq}.wav"
    write_tone_wav(p, freq, seconds)
    return p.read_bytes()


def add(svc: RecordingService, data: bytes | None, **kw) -> dict:
    now = time.time()
    row = {"call_id": kw.pop("call_id", "c1"), "leg": 1, "name": "n", "agent_id": "agent1", "agent_name": "Agent1",
           "agent_number": "1001", "started": now, "ended": now + 3, "talk": 3.0, "call_type": "inbound",
           "queue": "support", "queue_number": "5000", "queue_name": "support", "caller": "0612345678",
           "status": "recording", "expires": now + 183 * DAY}
    row.update(kw)
    rec = svc.store.insert(row)
    if data is not None:
        rec = svc.save(rec["id"], data)
    return rec


class P:  # a principal as Auth makes them
    def __init__(self, username, role):
        self.username, self.role = username, role


@pytest.fixture
def svc(tmp_path, store_target):
    """The service over its metadata store on each backend (an SQLite file; PostgreSQL's schema)."""
    engine = type("E", (), {"cfg": None})()
    s = RecordingService(engine, RecordingStore(store_target), RecordingSettings(folder=tmp_path / "rec"))
    yield s
    s.store.close()


def test_purge_deletes_expired_keeps_legal_hold_and_logs(svc, tmp_path, caplog):
    data = tone_bytes(tmp_path)
    old = add(svc, data, expires=time.time() - 1)
    held = add(svc, data, expires=time.time() - 1)
    young = add(svc, data)
    svc.store.update(held["id"], legal_hold=1)
    files = {r["id"]: svc.s.folder / r["file"] for r in (old, held, young)}
    assert all(f.exists() for f in files.values())
    caplog.set_level("INFO", logger="cc_console.server.recordings.service")
    purged = svc.purge()
    assert [p["id"] for p in purged] == [old["id"]]
    assert not files[old["id"]].exists() and files[held["id"]].exists() and files[young["id"]].exists()
    assert svc.store.get(old["id"])["status"] == "purged" and svc.store.get(held["id"])["status"] == "stored"
    assert [r["recording_id"] for r in svc.store.purge_rows()] == [old["id"]]
    assert any(old["id"] in m and "purged recording" in m for m in caplog.messages)
    # Released from hold, it goes on the next run; a second run purges nothing more.
    svc.store.update(held["id"], legal_hold=0)
    assert [p["id"] for p in svc.purge()] == [held["id"]]
    assert svc.purge() == []


def test_retention_per_queue_and_tenant(tmp_path):
    s = RecordingSettings(folder=tmp_path, retention_days=183, retention={"queue:vip": 3650, "tenant:acme": 30})
    svc = RecordingService(type("E", (), {})(), RecordingStore(":memory:"), s)
    assert svc.retention_days("support", "default") == 183
    assert svc.retention_days("vip", "acme") == 3650
    assert svc.retention_days("support", "acme") == 30


def test_rights_table():
    rec = {"agent_id": "agent1"}
    assert rights(P("sup1", "supervisor"), rec) >= {"listen", "download"}
    assert rights(P("admin1", "admin"), rec) >= {"listen", "download", "purge"}
    assert rights(P("agent1", "agent"), rec) == {"listen"}
    assert rights(P("agent2", "agent"), rec) == set()
    assert rights(P("wall1", "wallboard"), rec) == set()


def test_encrypted_at_rest_with_checksum(svc, tmp_path):
    key = tmp_path / "key"
    audio.new_key_file(key)
    svc.key = audio.load_key(key)
    data = tone_bytes(tmp_path)
    rec = add(svc, data)
    blob = (svc.s.folder / rec["file"]).read_bytes()
    assert rec["encrypted"] == 1 and rec["file"].endswith(".wav.enc") and blob[:4] == b"CCR1"
    assert b"RIFF" not in blob and rec["sha256"] == audio.sha256(data)
    assert svc.read_audio(rec) == data
    svc._cache = None
    svc.key = b"\0" * 32
    with pytest.raises(InvalidTag):
        svc.read_audio(rec)


def test_mp3_export_decodes_to_the_tone(tmp_path):
    mp3 = audio.wav_to_mp3(tone_bytes(tmp_path, 1000, 2.0))
    assert mp3[:3] == b"ID3" or mp3[0] == 0xFF
    assert len(mp3) > 1000


async def test_listen_and_download_rights_are_enforced_and_audited(server, connect, tmp_path):
    svc = server.recordings
    data = tone_bytes(tmp_path, 1000, 3.0)
    mine = add(svc, data, agent_id="agent1")
    other = add(svc, data, agent_id="agent2", call_id="c2", category="sales")
    agent = await connect("agent1")
    sup = await connect("sup1")
    base = f"http://127.0.0.1:{server.port}/api/recordings"

    async with httpx.AsyncClient(timeout=10) as http:
        def get(path, who, **kw):
            h = kw.pop("headers", {})
            if who is not None:
                h["Authorization"] = f"Bearer {who.token}"
            return http.get(base + path, headers=h, **kw)

        assert (await get(f"/{mine['id']}/audio", None)).status_code == 401
        r = await get(f"/{mine['id']}/audio", agent)              # agents listen to their own
        assert r.status_code == 200 and r.content == data and r.headers["Accept-Ranges"] == "bytes"
        assert (await get(f"/{other['id']}/audio", agent)).status_code == 403     # not another's
        assert (await get(f"/{mine['id']}/download", agent)).status_code == 403   # and never download
        r = await get(f"/{mine['id']}/audio", agent, headers={"Range": "bytes=100-199"})
        assert r.status_code == 206 and r.content == data[100:200]
        assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
        assert (await get(f"/{mine['id']}/audio", agent, headers={"Range": "bytes=-10"})).content == data[-10:]
        assert (await get(f"/{mine['id']}/audio", agent,
                          headers={"Range": f"bytes={len(data)}-"})).status_code == 416
        r = await get(f"/{other['id']}/download", sup)             # supervisors download
        assert r.status_code == 200 and r.content == data and r.headers["X-Checksum-Sha256"] == audio.sha256(data)
        r = await get(f"/{other['id']}/download", sup, params={"format": "mp3"})
        assert r.status_code == 200 and r.headers["Content-Type"] == "audio/mpeg" and len(r.content) > 500
        assert (await get("/nope/audio", sup)).status_code == 404
        # Basic with the session token as the password (players that cannot send a Bearer header).
        r = await http.get(f"{base}/{mine['id']}/audio", auth=("agent1", agent.token))
        assert r.status_code == 200

    rows = svc.store.audit_rows(limit=100)
    got = {(r["username"], r["action"], r["recording_id"], r["outcome"]) for r in rows}
    assert ("agent1", "listen", mine["id"], "ok") in got
    assert ("agent1", "listen", other["id"], "forbidden") in got
    assert ("agent1", "download", mine["id"], "forbidden") in got
    assert ("sup1", "download", other["id"], "ok") in got
    assert ("sup1", "listen", "nope", "not_found") in got
    assert all(r["ts"] > time.time() - 60 for r in rows)
    # A Range request in the middle (a player seeking) is the same listening: no new audit row.
    assert sum(1 for r in rows if r["username"] == "agent1" and r["action"] == "listen" and r["outcome"] == "ok") == 2
    # The audit log is for supervisors.
    res = await sup.call("recordings.audit", {"id": mine["id"]})
    assert res["audit"] and all(a["recording_id"] == mine["id"] for a in res["audit"])
    with pytest.raises(ProtocolError) as exc:
        await agent.call("recordings.audit", {})
    assert exc.value.code == "forbidden"


async def test_search_evaluate_mark_and_hold_over_the_protocol(server, connect, tmp_path):
    svc = server.recordings
    data = tone_bytes(tmp_path, 1000, 20.0)
    t0 = time.time() - 3600
    a = add(svc, data, agent_id="agent1", started=t0, category="billing")
    b = add(svc, data, agent_id="agent2", started=t0 + 60, category="sales", talk=99.0)
    add(svc, None, agent_id="", started=t0 + 120, call_type="lost", status="no_audio")
    agent = await connect("agent1")
    sup = await connect("sup1")
    res = await sup.call("recordings.search", {"from": t0 - 1, "to": t0 + 200})
    assert [r["id"] for r in res["recordings"]][:2] != [] and len(res["recordings"]) == 3
    assert "file" not in res["recordings"][0]
    res = await sup.call("recordings.search", {"category": "sales"})
    assert [r["id"] for r in res["recordings"]] == [b["id"]]
    res = await sup.call("recordings.search", {"call_type": "lost"})
    assert len(res["recordings"]) == 1
    res = await sup.call("recordings.search", {"sort": "talk", "desc": True, "limit": 1})
    assert res["recordings"][0]["id"] == b["id"] and res["more"] is True
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(t0 + 30))
    res = await sup.call("recordings.search", {"from": iso})
    assert a["id"] not in [r["id"] for r in res["recordings"]]
    with pytest.raises(ProtocolError):
        await sup.call("recordings.search", {"sort": "password"})
    # Agents see only their own.
    res = await agent.call("recordings.search", {})
    assert [r["id"] for r in res["recordings"]] == [a["id"]]
    with pytest.raises(ProtocolError) as exc:
        await agent.call("recordings.search", {"agent": "agent2"})
    assert exc.value.code == "forbidden"
    # Notes and category: the agent on their own; a supervisor on any.
    await agent.call("recordings.update", {"id": a["id"], "notes": "asked for a refund", "category": "refund"})
    with pytest.raises(ProtocolError):
        await agent.call("recordings.update", {"id": b["id"], "notes": "x"})
    res = await sup.call("recordings.search", {"text": "refund"})
    assert [r["id"] for r in res["recordings"]] == [a["id"]]
    # Evaluation form and notes pinned to moments.
    res = await sup.call("recordings.evaluate", {"id": a["id"], "scores": {"greeting": 4, "solution": 5},
                                                 "comment": "good"})
    assert res["evaluation"]["total"] == 9
    await sup.call("recordings.mark", {"id": a["id"], "at": 12.5, "text": "promised a callback"})
    await sup.call("recordings.mark", {"id": a["id"], "at": 3, "text": "greeting"})
    with pytest.raises(ProtocolError):
        await sup.call("recordings.mark", {"id": a["id"], "at": 500, "text": "past the end"})
    with pytest.raises(ProtocolError) as exc:
        await agent.call("recordings.evaluate", {"id": a["id"], "scores": {"x": 1}})
    assert exc.value.code == "forbidden"
    d = await agent.call("recordings.get", {"id": a["id"]})   # the agent reads their evaluation
    assert [m["at"] for m in d["marks"]] == [3.0, 12.5] and d["evaluations"][0]["scores"]["greeting"] == 4
    assert d["rights"] == ["listen"]
    # Legal hold: supervisors; audited.
    await sup.call("recordings.hold", {"id": a["id"], "on": True})
    assert svc.store.get(a["id"])["legal_hold"] == 1
    assert svc.store.audit_rows(rec_id=a["id"])[0]["action"] == "hold"
    with pytest.raises(ProtocolError):
        await agent.call("recordings.hold", {"id": a["id"], "on": False})
    # Purge on demand: admin only.
    with pytest.raises(ProtocolError):
        await sup.call("recordings.purge")
    admin = await connect("admin1")
    svc.store.update(a["id"], expires=time.time() - 1)
    svc.store.update(b["id"], expires=time.time() - 1)
    res = await admin.call("recordings.purge")
    assert [p["id"] for p in res["purged"]] == [b["id"]]      # a is under legal hold


def test_wav_checksum_mismatch_is_refused(svc, tmp_path):
    rec = add(svc, tone_bytes(tmp_path))
    path = svc.s.folder / rec["file"]
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(Damaged, match="fails its checksum"):
        svc.read_audio(rec)


def test_mp3_roundtrip_duration(tmp_path):
    # The MP3 is about as long as the WAV: frames of 1152 samples at 8 kHz, 32 kbit/s.
    data = tone_bytes(tmp_path, 1000, 4.0)
    mp3 = audio.wav_to_mp3(data)
    assert 0.5 * 4 * 32000 / 8 < len(mp3) < 2 * 4 * 32000 / 8
    with wave.open(io.BytesIO(data)) as w:
        assert w.getnframes() == 32000
    assert tone_level(tmp_path / "tone-1000.wav", 1000) > 0.2
