"""The REST API under /api/v1 on a live server (no Asterisk needed): tokens and scopes, problem
details, pagination, ETags, rate limits, resources, the OpenAPI document, and the one bearer parser
the other HTTP routes now share."""
from __future__ import annotations

import asyncio
import base64
import json

import aiohttp
import pytest

from cc_console.protocol import COMMANDS
from cc_console.server.api.bearer import bearer_token
from cc_console.server.api.rest import PREFIX, ROUTES

from .conftest import PASSWORD
from .pg_cluster import cli_db_args


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as s:
        yield s


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def login(http, user: str) -> str:
    async with http.post(f"{PREFIX}/commands/login", json={"username": user, "password": PASSWORD}) as r:
        assert r.status == 200, await r.text()
        return (await r.json())["token"]


async def problem(resp: aiohttp.ClientResponse, status: int, code: str) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["status"] == status and body["code"] == code and body["detail"] and body["title"]
    assert "Traceback" not in json.dumps(body)
    return body


async def test_api_client_token_scopes_and_revoke(server, http):
    token = server.api_clients.add("crm", "supervisor", ["session", "agent.self"])
    async with http.get(f"{PREFIX}/contacts", headers=auth(token)) as r:
        assert r.status == 200, await r.text()
    # Not given `supervise`: reports are refused although the role could have it.
    async with http.get(f"{PREFIX}/reports/queue", headers=auth(token)) as r:
        await problem(r, 403, "forbidden")
    async with http.post(f"{PREFIX}/commands/report.run", json={"kind": "queue"}, headers=auth(token)) as r:
        await problem(r, 403, "forbidden")
    server.api_clients.revoke("crm")
    async with http.get(f"{PREFIX}/contacts", headers=auth(token)) as r:
        body = await problem(r, 401, "unauthenticated")
        assert "revoked" in body["detail"]
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    # The token is kept only as a hash.
    row = server.api_clients.db.execute("SELECT * FROM api_clients").fetchone()
    assert token not in json.dumps(dict(row))


def test_api_client_cannot_exceed_its_role(server):
    with pytest.raises(ValueError, match="cannot be given"):
        server.api_clients.add("wb", "wallboard", ["admin"])
    server.api_clients.add("wb", "wallboard")
    with pytest.raises(ValueError, match="exists"):
        server.api_clients.add("wb", "wallboard")


async def test_no_token_bad_token_and_unknown_paths_are_problems(server, http):
    async with http.get(f"{PREFIX}/calls") as r:
        await problem(r, 401, "unauthenticated")
    async with http.get(f"{PREFIX}/calls", headers=auth("nonsense")) as r:
        await problem(r, 401, "unauthenticated")
    tok = await login(http, "sup1")
    async with http.get(f"{PREFIX}/nothing-here", headers=auth(tok)) as r:
        await problem(r, 404, "not_found")
    async with http.delete(f"{PREFIX}/calls", headers=auth(tok)) as r:
        await problem(r, 405, "bad_request")
    async with http.post(f"{PREFIX}/commands/no.such", json={}, headers=auth(tok)) as r:
        await problem(r, 404, "unknown_command")
    async with http.post(f"{PREFIX}/commands/agent.pause", data=b"{not json", headers=auth(tok)) as r:
        await problem(r, 400, "bad_request")
    async with http.post(f"{PREFIX}/commands/agent.pause", json={"reason": 5}, headers=auth(tok)) as r:
        await problem(r, 400, "bad_request")
    async with http.post(f"{PREFIX}/contacts", data=b"x" * (300 * 1024), headers=auth(tok)) as r:
        await problem(r, 413, "bad_request")
    async with http.post(f"{PREFIX}/commands/login", json={"username": "sup1", "password": "wrong-one"}) as r:
        await problem(r, 401, "auth_failed")


async def test_session_token_is_the_same_principal(server, http):
    tok = await login(http, "agent1")
    async with http.post(f"{PREFIX}/commands/agent.login", json={}, headers=auth(tok)) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["agent"]["state"] == "ready"
    assert server.engine.agents["agent1"].state == "ready"
    # An agent sees only itself; a supervisor sees everyone.
    async with http.get(f"{PREFIX}/agents", headers=auth(tok)) as r:
        assert [a["id"] for a in (await r.json())["items"]] == ["agent1"]
    sup = await login(http, "sup1")
    async with http.get(f"{PREFIX}/agents", params={"state": "ready"}, headers=auth(sup)) as r:
        assert [a["id"] for a in (await r.json())["items"]] == ["agent1"]
    async with http.post(f"{PREFIX}/commands/admin.reload", json={}, headers=auth(sup)) as r:
        await problem(r, 403, "forbidden")
    # The records are what the OpenAPI document says they are.
    import jsonschema_rs  # schemathesis's own JSON schema validator

    from cc_console.server.api.openapi import SCHEMAS
    for path, kind in (("agents", "Agent"), ("queues", "Queue")):
        async with http.get(f"{PREFIX}/{path}", headers=auth(sup)) as r:
            items = (await r.json())["items"]
        assert items
        for item in items:
            jsonschema_rs.Draft202012Validator(SCHEMAS[kind]).validate(item)


async def test_pagination_with_next_link(server, http):
    tok = await login(http, "sup1")
    seen: list[str] = []
    url = f"{PREFIX}/agents?limit=2"
    pages = 0
    while url:
        async with http.get(url, headers=auth(tok)) as r:
            body = await r.json()
            seen += [a["id"] for a in body["items"]]
            assert len(body["items"]) <= 2 and body["total"] == len(server.engine.agents)
            if body["next"]:
                assert r.headers["Link"] == f'<{body["next"]}>; rel="next"'
            url = body["next"]
        pages += 1
    assert seen == sorted(server.engine.agents) and pages == (len(seen) + 1) // 2
    async with http.get(f"{PREFIX}/agents?limit=0", headers=auth(tok)) as r:
        await problem(r, 400, "bad_request")
    async with http.get(f"{PREFIX}/agents?offset=x", headers=auth(tok)) as r:
        await problem(r, 400, "bad_request")


async def test_etag_and_if_none_match(server, http):
    tok = await login(http, "sup1")
    async with http.get(f"{PREFIX}/queues", headers=auth(tok)) as r:
        tag = r.headers["ETag"]
    async with http.get(f"{PREFIX}/queues", headers={**auth(tok), "If-None-Match": tag}) as r:
        assert r.status == 304 and r.headers["ETag"] == tag
    server.engine.agent_login("agent2")  # the figures change: so must the tag
    async with http.get(f"{PREFIX}/queues", headers={**auth(tok), "If-None-Match": tag}) as r:
        assert r.status == 200 and r.headers["ETag"] != tag


async def test_rate_limit_answers_429_with_retry_after(server, http):
    server.rest.limits.rate, server.rest.limits.burst = 0.5, 3
    token = server.api_clients.add("busy", "agent")
    statuses = []
    for _ in range(5):
        async with http.get(f"{PREFIX}/queues", headers=auth(token)) as r:
            statuses.append(r.status)
            if r.status == 429:
                body = await problem(r, 429, "rate_limited")
                assert int(r.headers["Retry-After"]) >= 1 and body["detail"].startswith("too many requests")
    assert statuses == [200, 200, 200, 429, 429]
    # Another client has its own bucket.
    other = server.api_clients.add("calm", "agent")
    async with http.get(f"{PREFIX}/queues", headers=auth(other)) as r:
        assert r.status == 200
    # Wrong tokens are counted per address: guessing is limited too.
    codes = []
    for _ in range(5):
        async with http.get(f"{PREFIX}/queues", headers=auth("cca_guess")) as r:
            codes.append(r.status)
    assert codes == [401, 401, 401, 429, 429]


async def test_contacts_create_read_search_and_note(server, http):
    tok = await login(http, "agent1")
    ann = {"first_name": "Ann", "last_name": "Smith", "phone": "+44 20 7946 0001"}
    async with http.post(f"{PREFIX}/contacts", json=ann, headers=auth(tok)) as r:
        assert r.status == 201, await r.text()
        created = (await r.json())["contact"]
        assert r.headers["Location"] == f"{PREFIX}/contacts/{created['id']}"
    async with http.get(r.headers["Location"], headers=auth(tok)) as r2:
        assert (await r2.json())["contact"]["last_name"] == "Smith"
    async with http.get(f"{PREFIX}/contacts", params={"number": "020 7946 0001"}, headers=auth(tok)) as r:
        assert [c["id"] for c in (await r.json())["items"]] == [created["id"]]
    async with http.get(f"{PREFIX}/contacts/nope", headers=auth(tok)) as r:
        await problem(r, 404, "not_found")
    async with http.post(f"{PREFIX}/contacts", json={"shoe_size": "9"}, headers=auth(tok)) as r:
        await problem(r, 400, "bad_request")
    # A note on a call with this customer: the call must exist (the store knows none here).
    async with http.post(f"{PREFIX}/contacts/{created['id']}/notes", json={"call_id": "c-none", "text": "hi"},
                         headers=auth(tok)) as r:
        await problem(r, 404, "not_found")


async def test_contact_note_on_a_stored_call(server, http):
    server.store.record("call.connected", ts=1.0, data={"agent": "agent1"},
                        call={"id": "c-1", "caller": "0612345678", "agent": "agent1", "queue": "support",
                              "state": "ended"})
    tok = await login(http, "agent1")
    async with http.post(f"{PREFIX}/contacts", json={"first_name": "Bo"}, headers=auth(tok)) as r:
        cid = (await r.json())["contact"]["id"]
    async with http.post(f"{PREFIX}/contacts/{cid}/notes", json={"call_id": "c-1", "text": "called about x"},
                         headers=auth(tok)) as r:
        assert r.status == 201, await r.text()
        assert (await r.json())["note"]["contact_id"] == cid


async def test_callbacks_create_and_list(server, http, connect):
    sup = await connect("sup1")
    pushed: asyncio.Queue = asyncio.Queue()
    sup.add_listener(lambda kind, data: pushed.put_nowait(data) if kind == "callback.update" else None)
    tok = server.api_clients.add("crm", "agent")
    async with http.post(f"{PREFIX}/callbacks", json={"caller": "+420 601 000 111", "queue": "support",
                                                       "preferred": "+30m", "note": "about the invoice"},
                         headers=auth(tok)) as r:
        assert r.status == 201, await r.text()
        item = (await r.json())["item"]
    assert item["requested_by"] == "api:crm" and item["preferred"] > item["requested"]
    # The consoles see it pushed, and the callback work list has it.
    ev = await asyncio.wait_for(pushed.get(), 5)
    assert ev["id"] == item["id"]
    assert ev["caller"] == "+420 601 000 111"
    res = await sup.call("callbacks.worklist", {})
    assert item["id"] in [i["id"] for i in res["items"]]
    async with http.get(f"{PREFIX}/callbacks", params={"queue": "support"}, headers=auth(tok)) as r:
        assert [i["id"] for i in (await r.json())["items"]] == [item["id"]]
    async with http.post(f"{PREFIX}/callbacks", json={"caller": "1", "queue": "nope"}, headers=auth(tok)) as r:
        await problem(r, 404, "not_found")
    wb = server.api_clients.add("wb", "wallboard")
    async with http.post(f"{PREFIX}/callbacks", json={"caller": "1", "queue": "support"}, headers=auth(wb)) as r:
        await problem(r, 403, "forbidden")


async def test_recordings_and_reports(server, http):
    sup = await login(http, "sup1")
    async with http.get(f"{PREFIX}/recordings", params={"limit": "5"}, headers=auth(sup)) as r:
        assert r.status == 200, await r.text()
        assert (await r.json())["items"] == []
    async with http.get(f"{PREFIX}/reports/queue", params={"from": "today"}, headers=auth(sup)) as r:
        assert r.status == 200, await r.text()
        assert "report" in await r.json()
    async with http.get(f"{PREFIX}/reports/nonsense", headers=auth(sup)) as r:
        await problem(r, 404, "not_found")
    agent = await login(http, "agent1")
    async with http.get(f"{PREFIX}/reports/queue", headers=auth(agent)) as r:
        await problem(r, 403, "forbidden")
    async with http.get(f"{PREFIX}/recordings", params={"agent": "agent2"}, headers=auth(agent)) as r:
        await problem(r, 403, "forbidden")


async def test_openapi_document_covers_every_command_and_route(server, http):
    async with http.get(f"{PREFIX}/openapi.json") as r:
        assert r.status == 200
        doc = await r.json()
    assert doc["openapi"].startswith("3.1")
    for name, spec in COMMANDS.items():
        op = doc["paths"][f"{PREFIX}/commands/{name}"]["post"]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        assert set(schema["properties"]) == set(spec.args), name
        assert set(schema.get("required", [])) == {k for k, a in spec.args.items() if a.required}, name
    for route in ROUTES:
        if route.handler != "command":
            assert route.method.lower() in doc["paths"][PREFIX + route.path], route.path
    # Every route the server answers under /api/v1 is declared (nothing served undocumented).
    served = {(res.method, res.resource.canonical) for res in server._runner.app.router.routes()
              if res.resource is not None and res.resource.canonical.startswith(PREFIX)}
    from cc_console.server import registry
    from cc_console.server.api.openapi import capability_routes
    declared = {(r.method, PREFIX + r.path) for r in [*ROUTES, *capability_routes()]}
    for route in capability_routes():
        assert route.method.lower() in doc["paths"][PREFIX + route.path], route.path
    for name in registry.CAPABILITIES:  # and the routes each capability declares for itself
        for path, item in getattr(registry.plugin(name), "OPENAPI_PATHS", {}).items():
            assert path in doc["paths"], path
            declared |= {(m.upper(), path) for m in item if path.startswith(PREFIX)}
    assert served - {("HEAD", p) for _, p in served} == declared


async def test_directory_and_recordings_routes_take_api_tokens_through_the_shared_parser(server, http):
    token = server.api_clients.add("portal", "agent")
    async with http.get("/api/directory/search", params={"q": "x"}, headers=auth(token)) as r:
        assert r.status == 200, await r.text()
    async with http.get("/api/directory/search", params={"q": "x"}, headers={"Authorization": "Basic abc"}) as r:
        assert r.status == 401
    # Recording streams take the token as a Basic password too (media players send only those).
    basic = "Basic " + base64.b64encode(f"x:{token}".encode()).decode()
    async with http.get("/api/recordings/nope/audio", headers={"Authorization": basic}) as r:
        assert r.status == 404  # authenticated; the recording just does not exist
    async with http.get("/api/recordings/nope/audio", headers={"Authorization": "Basic !!"}) as r:
        assert r.status == 401


def test_bearer_token_parser():
    assert bearer_token({"Authorization": "Bearer abc "}) == "abc"
    assert bearer_token({"Authorization": "bearer abc"}) == "abc"
    assert bearer_token({"Authorization": "Basic " + base64.b64encode(b"u:pw").decode()}) == ""
    assert bearer_token({"Authorization": "Basic " + base64.b64encode(b"u:pw").decode()}, basic=True) == "pw"
    assert bearer_token({"Authorization": "Basic %%%"}, basic=True) == ""
    assert bearer_token({}) == ""


async def test_cli_api_client_add_list_revoke(tmp_path, settings):
    """The token the CLI prints works against a server on the same database, until revoked."""
    from typer.testing import CliRunner

    from cc_console.cli import app
    from cc_console.server.app import Server
    runner = CliRunner()
    db = cli_db_args(settings, settings.server.db_path, tmp_path)  # the server's database, on either backend
    r = runner.invoke(app, ["admin", "api-client", "add", "crm", "--role", "supervisor", "-s", "session",
                            "-s", "agent.self", *db])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert token.startswith("cca_")
    r = runner.invoke(app, ["admin", "api-client", "add", "bad", "--role", "agent", "-s", "admin", *db])
    assert r.exit_code == 1 and "cannot be given admin" in r.output
    r = runner.invoke(app, ["admin", "api-client", "list", *db])
    assert r.exit_code == 0 and "crm" in r.output and "agent.self session" in r.output and "active" in r.output
    assert token not in r.output
    srv = Server(settings)
    await srv.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{srv.port}") as http:
            async with http.get(f"{PREFIX}/contacts", headers=auth(token)) as resp:
                assert resp.status == 200
            r = runner.invoke(app, ["admin", "api-client", "revoke", "crm", *db])
            assert r.exit_code == 0, r.output
            async with http.get(f"{PREFIX}/contacts", headers=auth(token)) as resp:
                assert resp.status == 401
    finally:
        await srv.stop()
    r = runner.invoke(app, ["admin", "api-client", "revoke", "crm", *db])
    assert r.exit_code == 1 and "no active API client" in r.output


@pytest.mark.parametrize("field", ["queues", "agents", "tenants"])
async def test_report_run_with_non_text_names_is_a_bad_request_not_a_crash(server, http, connect, field):
    """Found by the fuzzer: a list of lists as report queues was a 500 (an internal error on the websocket)."""
    sup = await login(http, "sup1")
    async with http.post(f"{PREFIX}/commands/report.run", json={"kind": "queue", field: [[], {}]},
                         headers=auth(sup)) as r:
        body = await problem(r, 400, "bad_request")
        assert field in body["detail"]
    ws = await connect("sup1")
    from cc_console.protocol import ProtocolError
    with pytest.raises(ProtocolError) as err:
        await ws.call("report.run", {"kind": "queue", field: [1]})
    assert err.value.code == "bad_request"


def test_protocol_doc_permissions_match_the_declarations():
    """docs/protocol.md is checked against COMMANDS: each command's row names its permission."""
    import re
    from pathlib import Path
    doc = (Path(__file__).parents[1] / "docs" / "protocol.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| ([a-z_.]+) \|", doc, re.M))
    for name, spec in COMMANDS.items():
        assert rows.get(name) == (spec.permission or "none"), name


def test_capabilities_declare_their_own_rest_resources():
    """Contacts, callbacks, recordings and reports are declared by their capabilities' plugins (with
    server/routes.py's Route, so no capability imports the API); the API declares only its own."""
    from cc_console.server import registry
    from cc_console.server.routes import Route
    own = {(r.method, r.path) for r in ROUTES}
    assert own == {("GET", "/calls"), ("GET", "/agents"), ("GET", "/queues"), ("POST", "/commands/{name}"),
                   ("GET", "/openapi.json")}
    declared = {name: {(r.method, r.path) for r in getattr(registry.plugin(name), "ROUTES", ())}
                for name in ("contacts", "recordings", "reports")}
    assert declared == {
        "contacts": {("GET", "/callbacks"), ("POST", "/callbacks"), ("GET", "/contacts"), ("POST", "/contacts"),
                     ("GET", "/contacts/{id}"), ("POST", "/contacts/{id}/notes")},
        "recordings": {("GET", "/recordings")},
        "reports": {("GET", "/reports/{kind}")}}
    assert all(isinstance(r, Route) for name in registry.CAPABILITIES
               for r in getattr(registry.plugin(name), "ROUTES", ()))


async def test_a_declared_resource_without_its_handler_stops_the_start(server):
    from aiohttp import web

    from cc_console.server.api.rest import RestApi
    from cc_console.server.routes import Route
    route = Route("GET", "/widgets", "widgets", "Widgets.", "agent.self")
    api = RestApi(server.engine, server.gateway.commands, server.principals, resources={"widgets": ([route], {})})
    with pytest.raises(ValueError, match="capability widgets: no handler for GET /api/v1/widgets"):
        api.add_routes(web.Application())
