"""Login: passwords, TOTP (window, replay), rate limiting, sessions and resume."""
from __future__ import annotations

import asyncio

import pyotp
import pytest

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.auth import Auth, RateLimiter, hash_password, verify_password
from cc_console.server.store import open_store

from .conftest import PASSWORD
from .pg_cluster import store_rows


def test_password_hash_is_argon2id_and_verifies():
    h = hash_password("correct horse")
    # No weaker than OWASP's minimum for argon2id: 19 MiB, 2 passes, 1 lane.
    assert h.startswith("$argon2id$") and "$m=19456,t=2,p=1$" in h
    assert verify_password(h, "correct horse")
    assert not verify_password(h, "correct horsE")
    assert not verify_password("garbage", "x")
    with pytest.raises(ValueError):
        hash_password("short")


async def test_wrong_password_and_unknown_user(connect):
    c = await connect()
    for user, pw in [("agent1", "wrong-password"), ("nobody", PASSWORD)]:
        with pytest.raises(ProtocolError) as exc:
            await c.login(user, pw)
        assert exc.value.code == ErrorCode.AUTH_FAILED
        assert exc.value.message == "wrong user name or password"  # the same for both: no user probing
    assert (await c.call("ping"))["pong"]


async def test_rate_limit_locks_after_failures_even_with_right_password(connect, server):
    c = await connect()
    for _ in range(server.settings.server.login_max_failures):
        with pytest.raises(ProtocolError):
            await c.login("agent2", "wrong-password")
    with pytest.raises(ProtocolError) as exc:
        await c.login("agent2", PASSWORD)
    assert exc.value.code == ErrorCode.RATE_LIMITED
    assert exc.value.details["retry_after"] >= 1


def test_rate_limiter_window_expires():
    now = [1000.0]
    rl = RateLimiter(2, 60, clock=lambda: now[0])
    rl.fail("k")
    rl.fail("k")
    with pytest.raises(ProtocolError):
        rl.check("k")
    now[0] += 61
    rl.check("k")


@pytest.fixture
def totp_auth(store_target):
    now = [1_700_000_000.0]
    store = open_store(store_target)
    auth = Auth(store, totp_window=1, max_failures=10, clock=lambda: now[0])
    auth.add_user("ops", PASSWORD, "supervisor")
    uri = auth.enable_totp("ops")
    secret = pyotp.parse_uri(uri).secret
    yield auth, pyotp.TOTP(secret), now
    store.close()


def test_totp_required_wrong_and_replayed(totp_auth):
    auth, totp, now = totp_auth
    with pytest.raises(ProtocolError) as exc:
        auth.login("ops", PASSWORD, None)
    assert exc.value.code == ErrorCode.TOTP_REQUIRED
    with pytest.raises(ProtocolError) as exc:
        auth.login("ops", PASSWORD, "000000" if totp.at(now[0]) != "000000" else "111111")
    assert exc.value.code == ErrorCode.AUTH_FAILED
    code = totp.at(now[0])
    assert auth.login("ops", PASSWORD, code).username == "ops"
    with pytest.raises(ProtocolError) as exc:
        auth.login("ops", PASSWORD, code)
    assert exc.value.code == ErrorCode.TOTP_REPLAYED
    # An older code still inside the window is a replay too: steps only move forward.
    with pytest.raises(ProtocolError) as exc:
        auth.login("ops", PASSWORD, totp.at(now[0] - 30))
    assert exc.value.code == ErrorCode.TOTP_REPLAYED
    now[0] += 30
    assert auth.login("ops", PASSWORD, totp.at(now[0])).username == "ops"


def test_totp_window_is_small(totp_auth):
    auth, totp, now = totp_auth
    with pytest.raises(ProtocolError) as exc:
        auth.login("ops", PASSWORD, totp.at(now[0] + 90))  # three steps ahead
    assert exc.value.code == ErrorCode.AUTH_FAILED
    assert auth.login("ops", PASSWORD, totp.at(now[0] + 30)).username == "ops"  # one step of drift is fine


async def test_resume_with_token_and_logout(connect):
    c = await connect("agent1")
    token = c.token
    c2 = await connect()
    res = await c2.call("resume", {"token": token})
    assert res["user"] == "agent1"
    await c2.call("ping")
    assert c2.state.me["user"] == "agent1"  # snapshot arrived after resume
    await c2.call("logout")
    c3 = await connect()
    with pytest.raises(ProtocolError) as exc:
        await c3.call("resume", {"token": token})
    assert exc.value.code == ErrorCode.UNAUTHENTICATED
    with pytest.raises(ProtocolError) as exc:
        await c3.call("resume", {"token": "forged"})
    assert exc.value.code == ErrorCode.UNAUTHENTICATED


async def test_token_never_stored_in_clear(connect, server):
    c = await connect("agent1")
    await server.store.drained()  # sessions reach the database through the store's writer thread
    rows = store_rows(server.store, "SELECT token_hash FROM sessions")
    assert rows and all(r[0] != c.token and len(r[0]) == 64 for r in rows)


async def test_logout_ends_other_connections_of_the_session(connect, server):
    import json

    import websockets
    c = await connect("agent1")
    others = []
    for i in range(2):
        ws = await websockets.connect(server.url)
        await ws.send(json.dumps({"v": 1, "type": "req", "id": f"r{i}", "cmd": "resume", "args": {"token": c.token}}))
        assert json.loads(await ws.recv())["ok"]
        others.append(ws)
    bystander = await connect("agent2")  # another session: untouched
    await c.call("logout")
    for ws in others:
        with pytest.raises(websockets.ConnectionClosed):
            while True:  # the snapshot (and any event) may come first; then the close
                await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 4001
        assert "sign in again" in ws.close_reason
    assert (await bystander.call("ping"))["pong"]
    assert (await c.call("ping"))["pong"]  # the connection that logged out stays, logged out
    with pytest.raises(ProtocolError) as exc:
        await c.call("agent.ready")
    assert exc.value.code == ErrorCode.UNAUTHENTICATED
