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


def test_the_existing_capabilities_are_plugins_with_their_own_commands():
    """directory, recordings, contacts and reports are registry entries: each declares its own
    commands (no longer in the protocol's base table) and the server serves them by its handlers."""
    from cc_console.server.app import Server
    for name in ("directory", "recordings", "contacts", "reports"):
        assert name in registry.CAPABILITIES
    owner = {spec.name: name for name in registry.CAPABILITIES for spec in registry.plugin(name).COMMANDS}
    assert owner["directory.search"] == "directory" and owner["absence.add"] == "directory"
    assert owner["recordings.search"] == "recordings" and owner["recording.optout"] == "recordings"
    assert owner["contacts.save"] == "contacts" and owner["agent.figures"] == "contacts"
    assert owner["report.run"] == "reports"
    settings = Settings()
    settings.server.db_path = ":memory:"
    server = Server(settings)
    for cmd, name in owner.items():
        assert COMMANDS[cmd] is next(s for s in registry.plugin(name).COMMANDS if s.name == cmd)
        assert cmd in server.capabilities[name].handlers(), cmd
        assert cmd in server.gateway.handlers, cmd
    # the recording service follows calls through the engine's typed hooks
    assert server.recordings in list(server.engine.hooks)


def test_call_hooks_are_typed_and_one_failing_hook_does_not_stop_the_others(caplog):
    from cc_console.server.capability import CallHookList, CallHooks

    class Broken(CallHooks):
        def call_connected(self, call):
            raise RuntimeError("boom")

    class Seen(CallHooks):
        def __init__(self):
            self.calls = []

        def call_connected(self, call):
            self.calls.append(call)

    hooks, seen = CallHookList(), Seen()
    hooks.append(Broken())
    hooks.append(seen)
    hooks.call_connected("c1")  # typed: the method exists on CallHooks
    hooks.call_ended("c1", "answered")  # a hook nobody overrides: nothing happens
    assert seen.calls == ["c1"]
    assert "hook call_connected of Broken failed" in caplog.text
    with pytest.raises(TypeError):
        hooks.append(object())  # not a CallHooks: refused when registered, not ignored at call time
    with pytest.raises(AttributeError):
        hooks.tell("call_conected", "c1")  # a misspelt hook name is an error, not a silent no-op
