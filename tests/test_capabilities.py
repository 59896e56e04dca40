"""The capability registry: a plugin's commands join the one command table, its handlers are served
through the same dispatch, its routes are mounted, and it starts and stops with the server."""
from __future__ import annotations

import sys
import types

import pytest
from aiohttp import web

from cc_console.config import Settings
from cc_console.protocol import COMMANDS, P_SESSION, Arg, CommandSpec, ProtocolError
from cc_console.server import registry
from cc_console.server.capability import Capability, Context, check_commands


class _Echo(Capability):
    def __init__(self) -> None:
        self.started = self.stopped = False

    def handlers(self):
        return {"echo.say": lambda caller, req: {"said": req.args["text"]}}

    def add_routes(self, app: web.Application) -> None:
        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"hello": True})
        app.router.add_get("/echo/hello", hello)

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


@pytest.fixture
def echo_plugin(monkeypatch):
    mod = types.ModuleType("cc_test_echo_plugin")
    mod.COMMANDS = (CommandSpec("echo.say", P_SESSION, {"text": Arg(str)}, "Say it back."),)
    mod.EVENTS = ()
    mod.make = lambda ctx: _Echo()
    monkeypatch.setitem(sys.modules, "cc_test_echo_plugin", mod)
    monkeypatch.setitem(registry.CAPABILITIES, "echo", "cc_test_echo_plugin")
    yield mod
    COMMANDS.pop("echo.say", None)


async def test_a_plugin_is_served_through_the_server(echo_plugin, tmp_path):
    from aiohttp.test_utils import TestClient, TestServer

    from cc_console.server.app import Server
    from cc_console.server.commands import make_request
    settings = Settings()
    settings.server.db_path = ":memory:"
    server = Server(settings)
    cap = server.capabilities["echo"]
    assert "echo.say" in COMMANDS and "echo.say" in server.gateway.handlers
    with pytest.raises(ProtocolError):
        make_request("echo.say", {"text": 3})  # the declared argument types are checked
    client = TestClient(TestServer(server.make_app()))
    await client.start_server()
    try:
        resp = await client.get("/echo/hello")
        assert (await resp.json()) == {"hello": True}
    finally:
        await client.close()
    assert not cap.started


def test_a_command_name_cannot_be_taken_twice():
    spec = CommandSpec("call.answer", P_SESSION, {}, "again")
    with pytest.raises(ValueError, match="already declared"):
        check_commands("x", (spec,), COMMANDS)


def test_a_capability_database_sits_beside_the_main_one(tmp_path):
    s = Settings()
    s.server.db_path = str(tmp_path / "cc.db")
    ctx = Context(s, None, None, lambda *a: None, None, None)
    assert ctx.db_path("crm") == str(tmp_path / "cc.db.crm.sqlite3")
    s.server.db_path = ":memory:"
    assert ctx.db_path("crm") == ":memory:"


def test_a_settings_section_is_read_by_its_dataclass(tmp_path):
    from dataclasses import dataclass

    from cc_console.config import load_settings
    cfg = tmp_path / "config.toml"
    cfg.write_text('[crm]\nurl = "http://crm.example/cti"\n')

    @dataclass
    class CrmSettings:
        url: str = ""
        timeout: float = 5.0
    s = load_settings(cfg)
    assert s.section("crm", CrmSettings) == CrmSettings(url="http://crm.example/cti")
    cfg.write_text('[crm]\nulr = "typo"\n')
    with pytest.raises(ValueError, match="ulr"):
        load_settings(cfg).section("crm", CrmSettings)
