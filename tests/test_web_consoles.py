"""`cc-console web` without a browser: what a console process inherits, and the cap on sessions."""
from __future__ import annotations

import aiohttp

from cc_console.web_consoles import ConsoleProcess, WebConsoles

from .conftest import PASSWORD


def test_a_browser_session_never_inherits_the_front_doors_secrets(monkeypatch):
    monkeypatch.setenv("CC_CONSOLE_PASSWORD", "someone-elses")
    monkeypatch.setenv("CC_CONSOLE_WALLBOARD_PASSWORD", "the-tv-password")
    monkeypatch.setenv("CC_CONSOLE_WALLBOARD_TOKEN", "the-tv-token")
    monkeypatch.setenv("CC_CONSOLE_TOKEN", "a-stale-session")
    env = ConsoleProcess("true", env={"CC_CONSOLE_TOKEN": "mine"}, write_bytes=None, write_str=None, close=None,
                         download_manager=None)._build_environment(80, 24)
    assert env["CC_CONSOLE_TOKEN"] == "mine"
    assert not {"CC_CONSOLE_PASSWORD", "CC_CONSOLE_WALLBOARD_PASSWORD", "CC_CONSOLE_WALLBOARD_TOKEN"} & set(env)
    assert env["TEXTUAL_DRIVER"].endswith("WebDriver")


async def test_consoles_beyond_the_cap_are_refused_before_a_process_starts(server):
    wc = WebConsoles(server.url, port=0, max_sessions=0)
    await wc.start()
    try:
        front = f"http://127.0.0.1:{wc.port}"
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.post(front + "/login", data={"username": "agent1", "password": PASSWORD,
                                                         "next": "/agent"}) as r:
                assert r.status == 200 and r.url.path == "/agent"
            async with http.get(front + "/agent/ws") as r:
                assert r.status == 503 and "Too many consoles" in await r.text()
        assert not wc.sessions
    finally:
        await wc.stop()
