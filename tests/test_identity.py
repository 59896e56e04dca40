"""Identity and access: sign-in against a real OpenLDAP (slapd) over LDAPS and StartTLS with groups
mapped to roles, a second factor asked outside the office networks only, the password policy,
lockout, user administration, and TLS 1.2 or newer on the consoles' port."""
from __future__ import annotations

import asyncio
import socket
import ssl

import aiohttp
import pyotp
import pytest

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.auth import Auth
from cc_console.server.auth.ldap import LdapDirectory, LdapSettings
from cc_console.server.auth.policy import AccessPolicy, AccessSettings, PasswordRefused
from cc_console.server.store import SQLiteStore

from .conftest import PASSWORD
from .ldap_server import SUFFIX, USER_PW, start_slapd

GROUP_ROLES = {"cc-agents": "agent", "cc-supervisors": "supervisor", f"cn=cc-admins,ou=groups,{SUFFIX}": "admin"}


@pytest.fixture(scope="module")
def slapd(tmp_path_factory):
    srv = start_slapd(tmp_path_factory.mktemp("slapd"))
    yield srv
    srv.stop()


def ldaps_settings(slapd) -> LdapSettings:
    """Active Directory's way: a service account finds the user, memberOf gives the groups."""
    return LdapSettings(url=slapd.ldaps_url, ca_file=slapd.ca_file, bind_dn=f"cn=svc-cc,{SUFFIX}",
                        bind_password="Service-pass-1", base_dn=f"ou=people,{SUFFIX}", user_filter="(uid={username})",
                        roles=GROUP_ROLES, attributes={"team": "departmentNumber", "site": "l"})


@pytest.fixture
def auth(tmp_path):
    store = SQLiteStore(tmp_path / "cc.sqlite3")
    a = Auth(store, max_failures=3)
    a.add_user("local1", PASSWORD, "agent")
    yield a
    store.close()


def test_ldaps_search_then_bind_maps_groups_to_roles_and_keeps_attributes(slapd, auth):
    auth.directory = LdapDirectory(ldaps_settings(slapd))
    p = auth.login("sven", USER_PW, None, "10.1.2.3")
    assert p.role == "supervisor"  # in cc-agents and cc-supervisors: the stronger role
    u = auth.store.get_user("sven")
    assert u["source"] == "ldap" and u["name"] == "Sven Supervisor"
    assert u["attrs"]["team"] == "team-north" and u["attrs"]["site"] == "Oslo"
    assert u["password_hash"] == "!directory"  # the directory keeps the password, we never do
    assert auth.login("anna", USER_PW, None, "10.1.2.4").role == "agent"
    # A local account still signs in locally, the directory is not asked.
    assert auth.login("local1", PASSWORD, None, "10.1.2.5").role == "agent"


def test_the_directory_says_no(slapd, auth):
    auth.directory = LdapDirectory(ldaps_settings(slapd))
    with pytest.raises(ProtocolError) as e:
        auth.login("anna", "Wrong-pass-1", None, "10.9.0.1")
    assert e.value.code == ErrorCode.AUTH_FAILED
    with pytest.raises(ProtocolError) as e:
        auth.login("nils", USER_PW, None, "10.9.0.2")  # in no group with a role here
    assert e.value.code == ErrorCode.AUTH_FAILED
    assert auth.store.get_user("nils") is None
    with pytest.raises(ProtocolError) as e:
        auth.login("nobody", USER_PW, None, "10.9.0.3")
    assert e.value.code == ErrorCode.AUTH_FAILED
    with pytest.raises(ProtocolError) as e:
        auth.login("anna", "", None, "10.9.0.4")  # an empty password would be an anonymous bind
    assert e.value.code == ErrorCode.AUTH_FAILED


def test_starttls_direct_bind_with_group_search(slapd, auth):
    auth.directory = LdapDirectory(LdapSettings(
        url=slapd.ldap_url, start_tls=True, ca_file=slapd.ca_file,
        user_dn_template=f"uid={{username}},ou=people,{SUFFIX}", group_base=f"ou=groups,{SUFFIX}",
        group_filter="(member={dn})", group_attribute="", roles=GROUP_ROLES))
    assert auth.login("anna", USER_PW, None, "10.0.0.7").role == "agent"


def test_tls_is_required_and_checked(slapd, auth, tmp_path):
    with pytest.raises(ValueError, match="start_tls"):
        LdapDirectory(LdapSettings(url=slapd.ldap_url, base_dn=SUFFIX, roles=GROUP_ROLES))
    # A certificate from a CA we were not told to trust: the directory "cannot be reached", and the
    # person is told so, not that the password was wrong.
    import trustme
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    s = ldaps_settings(slapd)
    s.ca_file = str(other)
    auth.directory = LdapDirectory(s)
    with pytest.raises(ProtocolError) as e:
        auth.login("anna", USER_PW, None, "10.0.0.8")
    assert e.value.code == ErrorCode.UNAVAILABLE and "directory" in e.value.message


async def test_directory_sign_in_through_the_console_and_it_is_audited(slapd, settings, tmp_path):
    from cc_console.client import ConsoleClient
    from cc_console.server.app import Server
    s = ldaps_settings(slapd)
    settings.sections["ldap"] = dict(s.__dict__)
    server = Server(settings)
    await server.start()
    try:
        c = ConsoleClient(server.url, reconnect=False)
        await c.connect()
        me = await c.login("anna", USER_PW)
        assert me["role"] == "agent"
        await c.close()
        rows = server.capabilities["audit"].log.query(action="login")
        assert [(r.actor, r.outcome) for r in rows] == [("anna", "ok")]
    finally:
        await server.stop()


def test_second_factor_outside_the_office_only(auth):
    auth.policy = AccessPolicy(AccessSettings(office_networks=["10.20.0.0/16", "fd00::/8"]))
    secret = pyotp.parse_uri(auth.enable_totp("local1")).secret
    # Inside the office: the password is enough.
    assert auth.login("local1", PASSWORD, None, "10.20.3.4").username == "local1"
    assert auth.login("local1", PASSWORD, None, "fd00::5").username == "local1"
    # Outside: the code is asked, then accepted.
    with pytest.raises(ProtocolError) as e:
        auth.login("local1", PASSWORD, None, "192.0.2.10")
    assert e.value.code == ErrorCode.TOTP_REQUIRED
    assert auth.login("local1", PASSWORD, pyotp.TOTP(secret).now(), "192.0.2.10").username == "local1"
    # An account without a second factor may not sign in from outside, and is told why.
    auth.add_user("local2", PASSWORD, "agent")
    with pytest.raises(ProtocolError) as e:
        auth.login("local2", PASSWORD, None, "::ffff:192.0.2.11")
    assert e.value.code == ErrorCode.FORBIDDEN and "outside the office" in e.value.message
    assert auth.login("local2", PASSWORD, None, "::ffff:10.20.0.9").username == "local2"


def test_password_policy_and_history(auth):
    auth.policy = AccessPolicy(AccessSettings(password_min_length=12, password_classes=3, password_history=2))
    with pytest.raises(PasswordRefused, match="12 characters"):
        auth.add_user("p1", "Short-1", "agent")
    with pytest.raises(PasswordRefused, match="3 of"):
        auth.add_user("p1", "alllowercaseletters", "agent")
    with pytest.raises(PasswordRefused, match="user name"):
        auth.add_user("margaret", "Margaret-2026!", "agent")
    auth.add_user("p1", "First-password-1", "agent")
    auth.set_password("p1", "Second-password-2")
    with pytest.raises(PasswordRefused, match="last 2"):
        auth.set_password("p1", "First-password-1")
    with pytest.raises(PasswordRefused, match="last 2"):
        auth.set_password("p1", "Second-password-2")
    auth.set_password("p1", "Third-password-3")
    auth.set_password("p1", "Fourth-password-4")
    auth.set_password("p1", "First-password-1")  # three changes ago: allowed again
    assert auth.login("p1", "First-password-1", None, "10.0.0.1").username == "p1"


def test_lockout_refuses_the_right_password_after_failures(auth):
    for _ in range(3):
        with pytest.raises(ProtocolError):
            auth.login("local1", "wrong-password", None, "203.0.113.7")
    with pytest.raises(ProtocolError) as e:
        auth.login("local1", PASSWORD, None, "203.0.113.7")
    assert e.value.code in (ErrorCode.AUTH_FAILED, ErrorCode.RATE_LIMITED)


async def test_user_administration_over_the_console_and_rest(server, connect):
    admin = await connect("admin1")
    users = {u["username"]: u for u in (await admin.call("users.list"))["users"]}
    assert users["agent1"]["role"] == "agent" and "password_hash" not in users["agent1"]
    got = await admin.call("user.update", {"username": "agent2", "team": "blue", "site": "Bergen"})
    assert got["user"]["team"] == "blue" and got["user"]["site"] == "Bergen"
    live = await connect("agent2")
    gone = asyncio.Event()
    live.add_listener(lambda kind, data: gone.set() if kind == "connection" and not data.get("connected") else None)
    await admin.call("user.update", {"username": "agent2", "disabled": True})
    # Its console connection ends at once, not at its next reconnect.
    await asyncio.wait_for(gone.wait(), 5)
    c = await connect()
    with pytest.raises(ProtocolError):
        await c.login("agent2", PASSWORD)
    with pytest.raises(ProtocolError) as e:
        await admin.call("user.update", {"username": "admin1", "disabled": True})
    assert e.value.code == ErrorCode.CONFLICT
    with pytest.raises(ProtocolError) as e:
        await admin.call("user.password", {"username": "agent1", "password": "short"})
    assert e.value.code == ErrorCode.BAD_REQUEST and "characters" in e.value.message
    sup = await connect("sup1")
    with pytest.raises(ProtocolError) as e:
        await sup.call("user.delete", {"username": "agent1"})
    assert e.value.code == ErrorCode.FORBIDDEN
    base = f"http://127.0.0.1:{server.port}"
    async with aiohttp.ClientSession(base) as http:
        async with http.post("/api/v1/commands/user.delete", json={"username": "agent1"},
                             headers={"Authorization": f"Bearer {admin.token}"}) as r:
            assert r.status == 200, await r.text()
    assert server.store.get_user("agent1") is None
    actions = {(e.action, e.target, e.outcome) for e in server.capabilities["audit"].log.query(actor="admin1")}
    assert ("user.delete", "agent1", "ok") in actions and ("user.update", "admin1", "conflict") in actions
    assert any(e.action == "user.delete" and e.outcome == "forbidden"
               for e in server.capabilities["audit"].log.query(actor="sup1"))


# -- TLS on the consoles' port --------------------------------------------------------------------
@pytest.fixture
async def tls_server(settings, tmp_path):
    import trustme

    from cc_console.server.app import Server
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "server.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    settings.server.tls_cert = str(tmp_path / "server.pem")
    server = Server(settings)
    await server.start()
    try:
        yield server, str(tmp_path / "ca.pem")
    finally:
        await server.stop()


def _handshake(port: int, ca: str, version: ssl.TLSVersion) -> str:
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = version
    if version < ssl.TLSVersion.TLSv1_2:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let our client offer the old protocol at all
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return str(tls.version())


async def test_tls_1_1_is_refused_and_1_2_and_1_3_accepted(tls_server):
    server, ca = tls_server
    assert await asyncio.to_thread(_handshake, server.port, ca, ssl.TLSVersion.TLSv1_3) == "TLSv1.3"
    assert await asyncio.to_thread(_handshake, server.port, ca, ssl.TLSVersion.TLSv1_2) == "TLSv1.2"
    with pytest.raises(ssl.SSLError):
        await asyncio.to_thread(_handshake, server.port, ca, ssl.TLSVersion.TLSv1_1)


async def test_plain_connections_are_refused_when_tls_is_on(tls_server):
    server, ca = tls_server
    assert server.url.startswith("wss://")
    async with aiohttp.ClientSession() as http:
        with pytest.raises((aiohttp.ClientError, asyncio.TimeoutError)):
            async with http.get(f"http://127.0.0.1:{server.port}/healthz", timeout=aiohttp.ClientTimeout(total=5)) as r:
                await r.read()
        ctx = ssl.create_default_context(cafile=ca)
        async with http.get(f"https://127.0.0.1:{server.port}/healthz", ssl=ctx) as r:
            assert r.status == 200
        async with http.ws_connect(f"wss://127.0.0.1:{server.port}/ws", ssl=ctx) as ws:
            await ws.send_json({"v": 1, "type": "req", "id": "1", "cmd": "login",
                                "args": {"username": "agent1", "password": PASSWORD}})
            reply = await ws.receive_json(timeout=10)
            assert reply.get("ok", reply.get("type") == "res"), reply




def test_cli_user_administration_is_audited_and_tampering_shows(tmp_path, monkeypatch):
    import sqlite3

    from typer.testing import CliRunner

    from cc_console.cli import app
    monkeypatch.setenv("CC_CONSOLE_CONFIG", str(tmp_path / "none.toml"))
    run = CliRunner().invoke
    db = str(tmp_path / "cc.sqlite3")
    assert run(app, ["admin", "user", "add", "eva", "--role", "agent", "--password-stdin", "--db", db],
               input="Green-meadow-7\n").exit_code == 0
    r = run(app, ["admin", "user", "set", "eva", "--team", "blue", "--site", "Brno", "--db", db])
    assert r.exit_code == 0, r.output
    assert run(app, ["admin", "user", "disable", "eva", "--db", db]).exit_code == 0
    assert run(app, ["admin", "user", "delete", "eva", "--yes", "--db", db]).exit_code == 0
    r = run(app, ["admin", "audit", "list", "--db", db])
    assert r.exit_code == 0, r.output
    for action in ("user.add", "user.update", "user.disable", "user.delete"):
        assert action in r.output, r.output
    r = run(app, ["admin", "audit", "verify", "--db", db])
    assert r.exit_code == 0 and "intact: 4 entries" in r.output, r.output
    with sqlite3.connect(f"{db}.audit.sqlite3") as raw:
        raw.execute("UPDATE audit SET target='someone' WHERE action='user.disable'")
    r = run(app, ["admin", "audit", "verify", "--db", db])
    assert r.exit_code == 1 and "TAMPERED at entry 3" in r.output
    r = run(app, ["admin", "audit", "purge", "--days", "30", "--db", db])
    assert r.exit_code == 1 and "six months" in r.output


async def test_a_custom_role_holds_exactly_its_permissions(server, connect):
    """A team leader: a supervisor who may listen to recordings but not download them, runs reports
    only for the queue sales, and handles no callbacks."""
    admin = await connect("admin1")
    with pytest.raises(ProtocolError) as e:
        await admin.call("role.set", {"name": "leader", "base": "agent", "permissions": ["supervise"]})
    assert e.value.code == ErrorCode.BAD_REQUEST and "cannot have: supervise" in e.value.message
    got = await admin.call("role.set", {"name": "leader", "base": "supervisor", "queues": ["sales"],
                                        "permissions": ["agent.self", "supervise", "wallboard.view",
                                                        "recordings.listen", "reports"]})
    assert got["role"]["queues"] == ["sales"]
    await admin.call("user.update", {"username": "sup1", "role": "leader"})
    sup = await connect("sup1")
    # Reports: only within the role's queues.
    ok = await sup.call("report.run", {"kind": "queue", "queues": ["sales"]})
    assert ok["report"]["rows"] is not None
    with pytest.raises(ProtocolError) as e:
        await sup.call("report.run", {"kind": "queue", "queues": ["support"]})
    assert e.value.code == ErrorCode.FORBIDDEN
    # Callbacks: not in the role.
    with pytest.raises(ProtocolError) as e:
        await sup.call("callbacks.worklist")
    assert e.value.code == ErrorCode.FORBIDDEN and "callbacks" in e.value.message
    # Queues: an agent may be put only into the role's queues.
    with pytest.raises(ProtocolError) as e:
        await sup.call("agent.set_queues", {"agent": "agent1", "queues": ["support"]})
    assert e.value.code == ErrorCode.FORBIDDEN and "support" in e.value.message
    # Recording rights: listen, not download.
    from cc_console.server.recordings.service import rights
    p = server.auth.resume(sup.token)
    assert p.role == "supervisor" and p.role_name == "leader"
    assert rights(p) == {"listen"}
    # A role in use cannot be deleted; a user's report filter narrows further.
    with pytest.raises(ProtocolError) as e:
        await admin.call("role.delete", {"name": "leader"})
    assert e.value.code == ErrorCode.CONFLICT and "sup1" in e.value.message
    await admin.call("user.update", {"username": "sup1", "role": "supervisor", "report_queues": ["support"]})
    sup2 = await connect("sup1")
    await sup2.call("report.run", {"kind": "queue", "queues": ["support"]})
    with pytest.raises(ProtocolError) as e:
        await sup2.call("report.run", {"kind": "queue", "queues": ["sales"]})
    assert e.value.code == ErrorCode.FORBIDDEN
    assert (await admin.call("role.delete", {"name": "leader"}))["deleted"] == "leader"
    names = [r["name"] for r in (await admin.call("roles.list"))["roles"]]
    assert names == ["admin", "supervisor", "agent", "wallboard"]
