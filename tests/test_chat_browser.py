"""The webchat widget in real Chromium (Playwright with the system browser): a visitor on a customer's
web page (another origin) chats with an agent who answers in the Textual console (Pilot); messages
both ways, typing shown, a reload mid-chat keeps the conversation, a transfer to another agent."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from aiohttp import web

from cc_console.tui import CCConsoleApp
from tests.chat_helpers import Events
from tests.conftest import PASSWORD
from tests.ports import free_port as _free_port
from tests.test_tui_e2e import agent_screen_ready, wait_screen

CHROMIUM = os.environ.get("CC_CONSOLE_CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run"]
T = 10_000  # ms: Playwright's waits


@pytest.fixture
async def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (scripts/debian-packages.d/chat.txt)")
    from playwright.async_api import async_playwright
    pw = await async_playwright().start()
    b = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
    try:
        yield b
    finally:
        await b.close()
        await pw.stop()


@pytest.fixture
async def shop(server):
    """A customer's web site on its own origin, embedding the widget from our server."""
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>Shop</title></head><body><h1>Shop</h1>'
            f'<script src="http://127.0.0.1:{server.port}/chat/widget.js" data-queue="support" defer></script>'
            '</body></html>')
    async def home(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")
    app = web.Application()
    app.router.add_get("/", home)
    runner = web.AppRunner(app)
    await runner.setup()
    port = _free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://localhost:{port}/"
    await runner.cleanup()


async def test_visitor_chats_with_an_agent_in_the_console(server, connect, browser, shop):
    page = await browser.new_page()
    app = CCConsoleApp(url=server.url, mode="agent", username="agent1", password=PASSWORD, keymap={})
    async with app.run_test(size=(140, 40)) as pilot:
        await wait_screen(pilot, lambda: agent_screen_ready(app), what="agent screen")
        state = app.screen.query_one("#agent-state")
        panel = app.screen.query_one("#chats")
        await wait_screen(pilot, lambda: state.state == "logged_out", what="logged out")

        await page.goto(shop)
        await page.click(".ccchat-open")
        await page.fill(".ccchat-name", "Vera Visitor")
        await page.fill(".ccchat-email", "vera@example.org")
        await page.click(".ccchat-go")
        status = page.locator(".ccchat-status")
        await status.filter(has_text="number 1 in the queue").wait_for(timeout=T)

        await pilot.press("l")  # the agent gets ready: the chat is offered at once
        await wait_screen(pilot, lambda: len(panel.order) == 1, what="chat offered")
        await pilot.press("1")
        await status.filter(has_text="chatting with Agent1").wait_for(timeout=T)

        await page.fill(".ccchat-input", "Hello from the browser")
        await page.press(".ccchat-input", "Enter")
        cid = panel.order[0]
        await wait_screen(pilot, lambda: any(m["text"] == "Hello from the browser"
                                             for m in panel.chats[cid]["messages"]), what="visitor's message")
        await pilot.press(*"Hi Vera")  # typing shows in the browser
        await page.locator(".ccchat-typing").filter(has_text="Agent1 is typing").wait_for(timeout=T)
        await pilot.press("enter")
        log = page.locator(".ccchat-log")
        await log.locator(".ccchat-agent").filter(has_text="Hi Vera").wait_for(timeout=T)

        await page.reload()  # mid-chat: the conversation comes back
        await log.locator(".ccchat-visitor").filter(has_text="Hello from the browser").wait_for(timeout=T)
        await log.locator(".ccchat-agent").filter(has_text="Hi Vera").wait_for(timeout=T)
        await pilot.press(*"Still there?", "enter")
        await log.locator(".ccchat-agent").filter(has_text="Still there?").wait_for(timeout=T)
        await page.fill(".ccchat-input", "Yes, after a reload")
        await page.press(".ccchat-input", "Enter")
        await wait_screen(pilot, lambda: any(m["text"] == "Yes, after a reload" for m in panel.chats[cid]["messages"]),
                          what="message after the reload")

        a2 = await connect("agent2")
        ev2 = Events(a2)
        await a2.call("agent.login", {})
        await pilot.press(*"/transfer agent2", "enter")
        offer = await ev2.expect("chat.offer", lambda d: d["id"] == cid)
        assert [m["text"] for m in offer["messages"] if m["sender"] == "visitor"] == \
            ["Hello from the browser", "Yes, after a reload"], "the transcript goes with the transfer"
        await wait_screen(pilot, lambda: not panel.order, what="chat gone from agent1's panel")
        await a2.call("chat.accept", {"id": cid})
        await status.filter(has_text="chatting with Agent2").wait_for(timeout=T)
        await a2.call("chat.send", {"id": cid, "text": "Agent2 here"})
        await log.locator(".ccchat-agent").filter(has_text="Agent2 here").wait_for(timeout=T)
        await page.fill(".ccchat-input", "Thanks Agent2")
        await page.press(".ccchat-input", "Enter")
        await ev2.expect("chat.message", lambda d: d["message"]["text"] == "Thanks Agent2")
        await a2.call("chat.close", {"id": cid, "category": "question"})
        await status.filter(has_text=re.compile("chat has ended")).wait_for(timeout=T)
        assert await page.evaluate("localStorage.getItem('ccchat.token')") is None
    await page.close()
