"""The audit log: every sign-in and command through either front door, sensitive API reads, a hash
chain that shows tampering, retention with a logged purge, queries and exports for admins only."""
from __future__ import annotations

import json
import sqlite3
import time

import aiohttp
import pytest

from cc_console.client import ProtocolError
from cc_console.server.audit.log import AuditLog

from .conftest import PASSWORD


def entries(server, **kw):
    log = server.capabilities["audit"].log
    log.flush()
    return log.query(limit=1000, **kw)


def test_the_chain_shows_a_changed_a_removed_and_an_inserted_row(tmp_path):
    path = str(tmp_path / "audit.sqlite3")
    log = AuditLog(path)
    for i in range(5):
        log.record_now("sup1", "recording.download", remote="10.0.0.5", target=f"rec-{i}")
    assert log.verify().ok and log.verify().entries == 5
    db = sqlite3.connect(path)
    db.execute("UPDATE audit SET actor='someone-else' WHERE id=3")
    db.commit()
    check = log.verify()
    assert not check.ok and check.broken_at == 3 and "changed" in check.problem
    db.execute("UPDATE audit SET actor='sup1' WHERE id=3")
    db.execute("DELETE FROM audit WHERE id=4")
    db.commit()
    check = log.verify()
    assert not check.ok and check.broken_at == 5
    log.close()


def test_no_secret_is_ever_written(tmp_path):
    log = AuditLog(str(tmp_path / "a.sqlite3"))
    e = log.record_now("agent1", "login", detail={"password": "hunter22", "totp": "123456", "via": "console"})
    assert e.detail == {"via": "console"}
    raw = (tmp_path / "a.sqlite3").read_bytes()
    assert b"hunter22" not in raw
    log.close()


def test_a_purge_keeps_the_chain_checkable_and_is_logged(tmp_path):
    log = AuditLog(str(tmp_path / "a.sqlite3"))
    now = time.time()
    for i in range(4):
        log.record_now("admin1", "user.disable", target=f"u{i}", ts=now - 200 * 86400 + i)
    for i in range(3):
        log.record_now("admin1", "user.enable", target=f"u{i}", ts=now - 10 + i)
    assert log.purge(now - 183 * 86400, actor="system") == 4
    kept = log.query(limit=100)
    assert [e.action for e in kept] == ["user.enable"] * 3 + ["audit.purge"]
    assert kept[-1].detail["deleted"] == 4
    assert log.verify().ok
    # Removing the purge's own record leaves the first kept entry unaccounted for.
    log._db.execute("DELETE FROM audit WHERE action='audit.purge'")
    assert not log.verify().ok
    log.close()


async def test_sign_ins_commands_and_refusals_are_audited(server, connect):
    c = await connect()
    with pytest.raises(ProtocolError):
        await c.login("agent1", "wrong-password")
    await c.login("agent1", PASSWORD)
    await c.call("agent.ready")
    with pytest.raises(ProtocolError):
        await c.call("admin.reload")  # an agent may not
    rows = entries(server)
    logins = [(e.actor, e.outcome) for e in rows if e.action == "login"]
    assert logins == [("agent1", "auth_failed"), ("agent1", "ok")]
    assert any(e.action == "agent.ready" and e.actor == "agent1" and e.outcome == "ok" for e in rows)
    refused = [e for e in rows if e.action == "admin.reload"]
    assert refused and refused[0].outcome == "forbidden" and refused[0].remote.startswith("127.")
    assert all("password" not in json.dumps(e.detail) for e in rows)
    assert not any(e.action == "ping" for e in rows)


async def test_rest_is_audited_like_the_console_and_only_admins_read_the_log(server, connect):
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession(base) as http:
        async with http.post("/api/v1/commands/login", json={"username": "sup1", "password": PASSWORD}) as r:
            sup = (await r.json())["token"]
        async with http.get("/api/v1/contacts", headers={"Authorization": f"Bearer {sup}"}) as r:
            assert r.status == 200
        async with http.post("/api/v1/commands/audit.query", json={},
                             headers={"Authorization": f"Bearer {sup}"}) as r:
            assert r.status == 403
        async with http.get("/api/v1/audit/export", headers={"Authorization": f"Bearer {sup}"}) as r:
            assert r.status == 403
        rows = entries(server)
        assert any(e.action == "http.get" and e.target == "/api/v1/contacts" and e.actor == "sup1" for e in rows)
        assert any(e.action == "audit.query" and e.outcome == "forbidden" and e.detail["via"] == "api" for e in rows)
        admin = await connect("admin1")
        got = await admin.call("audit.query", {"action": "login"})
        assert [e["actor"] for e in got["entries"]] == ["sup1", "admin1"]
        assert (await admin.call("audit.verify"))["ok"] is True
        async with http.post("/api/v1/commands/login", json={"username": "admin1", "password": PASSWORD}) as r:
            tok = (await r.json())["token"]
        async with http.get("/api/v1/audit/export", headers={"Authorization": f"Bearer {tok}"}) as r:
            assert r.status == 200 and r.content_type == "application/x-ndjson"
            lines = [json.loads(x) for x in (await r.text()).splitlines()]
        assert len(lines) >= 5 and all(x["hash"] for x in lines)
        assert [x["id"] for x in lines] == sorted(x["id"] for x in lines)


async def test_every_command_leaves_an_audit_entry(server, connect):
    """Every command of every capability, run once by an admin (most refused for unknown ids): each
    is in the audit log with its outcome, but for the frequent harmless reads that succeeded."""
    from cc_console.protocol import COMMANDS
    from cc_console.server.audit.plugin import QUIET

    from .test_api_parity import args_for
    admin = await connect("admin1")
    ran: dict[str, str] = {}
    for cmd in sorted(COMMANDS, key=lambda c: (c == "logout", c)):
        try:
            await admin.call(cmd, args_for(cmd, "admin1", admin.token))
            ran[cmd] = "ok"
        except ProtocolError as exc:
            ran[cmd] = str(exc.code)
    logged = {(e.action, e.outcome) for e in entries(server) if e.actor in ("admin1", "-")}
    missing = [(c, o) for c, o in ran.items() if (c, o) not in logged and not (o == "ok" and c in QUIET)]
    assert not missing, missing
    assert len(ran) == len(COMMANDS) >= 60
