"""The web front doors in real Chromium: the public search, the absence page, and the consoles served
to the browser by `cc-console web` (textual-serve) against the real server and sandbox Asterisk.

Screenshots are kept in build/test-artefacts/web/.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from cc_console.models import AgentState
from cc_console.server.app import Server
from cc_console.web_consoles import WebConsoles

from .browser import chromium, eventually, shot, steady
from .conftest import PASSWORD
from .test_directory_fixtures import load_sample


@pytest.fixture
async def web(settings, clean_asterisk):
    srv = Server(settings)
    load_sample(srv.directory)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def base(srv: Server) -> str:
    return f"http://127.0.0.1:{srv.port}"


async def test_public_search_finds_oyvind_as_you_type(web):
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(base(web) + "/web/directory")
        await page.get_by_label("Name, unit, title or number").press_sequentially("oyvind", delay=40)
        names = page.locator("#results .name")
        await names.filter(has_text="Øyvind Hansen").wait_for(timeout=10_000)
        assert "Øyvind Hansen" in await names.all_inner_texts()
        assert await page.locator("#result-count").inner_text() == "2 found"
        await shot(page, "public-search-oyvind")


async def test_absence_entered_on_the_page_shows_in_the_console(web, connect_to):
    console = await connect_to(web, "agent2")  # a colleague's console searching the directory
    row = (await console.call("directory.search", {"q": "hansen"}))["results"][0]
    assert row["status"] == "in"
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(base(web) + "/web/absences")
        await page.get_by_label("User name").fill("agent1")  # Øyvind Hansen
        await page.get_by_label("Password").fill(PASSWORD)
        await page.keyboard.press("Enter")
        await page.get_by_role("heading", name="Absences: Øyvind Hansen").wait_for()
        await page.get_by_label("What").select_option("course")
        until = time.strftime("%Y-%m-%dT%H:%M", time.localtime(time.time() + 2 * 3600))
        await page.get_by_label("Until").first.fill(until)
        await page.get_by_label("Message for callers").fill("At a course, back tomorrow")
        await page.get_by_role("button", name="Save absence").click()
        await page.get_by_role("cell", name="At a course, back tomorrow").wait_for()
        await shot(page, "absence-page-entered")
    row = (await console.call("directory.search", {"q": "hansen"}))["results"][0]
    assert row["status"] == "absent" and row["absence"]["type"] == "course"
    assert row["absence"]["message"] == "At a course, back tomorrow"
    assert row["substitute"]["name"] == "Kari Nordmann"


@pytest.fixture
async def consoles(server):
    wc = WebConsoles(server.url, port=0, wallboard_user="wall1", wallboard_password=PASSWORD,
                     wallboard_token="tv-token-for-the-test")
    await wc.start()
    try:
        yield wc
    finally:
        await wc.stop()


@pytest.mark.asterisk
async def test_agent_console_in_the_browser_rings_answers_and_hangs_up_by_key(server, consoles, pbx, phone):
    await phone("1001", auto_answer=True)
    agent = server.engine.agents["agent1"]
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1200, "height": 800})
        await page.goto(f"http://127.0.0.1:{consoles.port}/agent")
        # Signed out: the server's own sign-in comes first, on a form, before any console process starts.
        assert page.url.endswith("/login?next=/agent") and not consoles.sessions
        await page.get_by_label("User name").fill("agent1")
        await page.get_by_label("Password").fill("not-the-password")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("alert").filter(has_text="Wrong user name, password or code.").wait_for()
        await page.get_by_label("Password").fill(PASSWORD)
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/agent")
        await page.wait_for_selector("body.-first-byte", timeout=30_000)
        await page.locator(".xterm-helper-textarea").focus()  # keys go to the terminal, as after a click
        terminal = page.locator("#terminal")
        await eventually(lambda: any(s.principal and s.principal.username == "agent1"
                                     for s in server.gateway.sessions), timeout=30, what="agent1 signed in")
        await steady(terminal)
        await shot(page, "agent-console-signed-in")
        await page.keyboard.press("l")  # log in to my queues: ready (the console resumed the page's session)
        await eventually(lambda: agent.state == AgentState.READY, what="ready")
        await pbx.place_call("5000", caller="0612340000")
        await eventually(lambda: agent.state == AgentState.RINGING, what="ringing")
        await steady(terminal)
        await shot(page, "agent-console-ringing")
        await page.keyboard.press("a")
        await eventually(lambda: agent.state == AgentState.ON_CALL, what="connected")
        await steady(terminal)
        await shot(page, "agent-console-on-call")
        await page.keyboard.press("h")
        await eventually(lambda: agent.state != AgentState.ON_CALL and agent.call_id is None, what="hung up")
        await steady(terminal)
        await shot(page, "agent-console-hung-up")
    kinds = [e.kind for e in server.store.events(kinds=("call.connected", "call.completed"))]
    assert kinds == ["call.connected", "call.completed"]


async def test_browser_consoles_open_only_after_sign_in_and_for_a_role_that_may(server, consoles):
    import aiohttp
    front = f"http://127.0.0.1:{consoles.port}"
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(front + "/supervisor", allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/login?next=/supervisor"
        async with http.get(front + "/agent/ws") as r:
            assert r.status == 401 and not consoles.sessions
        async with http.post(front + "/login", data={"username": "agent1", "password": PASSWORD,
                                                     "next": "/agent"}, allow_redirects=False) as r:
            assert r.status == 303 and r.headers["Location"] == "/agent"
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        async with http.get(front + "/agent") as r:
            assert r.status == 200 and 'aria-label="Agent console"' in await r.text()
        async with http.get(front + "/supervisor") as r:  # an agent's role may not
            assert r.status == 403 and "may not open the supervisor console" in await r.text()
        async with http.get(front + "/supervisor/ws") as r:
            assert r.status == 403 and not consoles.sessions


@pytest.mark.asterisk
async def test_kiosk_wallboard_changes_within_a_second_of_a_call(server, consoles, pbx):
    async with chromium() as browser:
        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        refused = await page.goto(f"http://127.0.0.1:{consoles.port}/wallboard?token=wrong")
        assert refused.status == 403
        await page.goto(f"http://127.0.0.1:{consoles.port}/wallboard?token=tv-token-for-the-test")
        await eventually(lambda: any(s.principal and s.principal.username == "wall1"
                                     for s in server.gateway.sessions), timeout=30, what="the TV signed in")
        terminal = page.locator("#terminal")
        before = await asyncio.wait_for(steady(terminal), 30)
        await shot(page, "wallboard-before-call")
        t0 = time.monotonic()
        await pbx.place_call("5000", caller="0612340001")
        changed = None
        while time.monotonic() - t0 < 5:
            if await terminal.screenshot() != before:
                changed = time.monotonic() - t0
                break
        await shot(page, "wallboard-after-call")
        assert changed is not None and changed < 1.0, f"the wallboard changed after {changed} s"


CHECK_PAGE = """
() => {
  const unlabelled = [...document.querySelectorAll("input, select, textarea")]
    .filter(e => e.type !== "hidden" && !(e.labels && e.labels.length) && !e.getAttribute("aria-label"))
    .map(e => e.name || e.id);
  function rgb(c) { return c.match(/[0-9.]+/g).slice(0, 3).map(Number); }
  function lum(c) {
    const [r, g, b] = rgb(c).map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  function bg(e) {
    for (; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (c && !c.startsWith("rgba(0, 0, 0, 0)") && c !== "transparent") return c;
    }
    return "rgb(255, 255, 255)";
  }
  const low = [];
  for (const e of document.querySelectorAll("body *")) {
    if (!e.childNodes.length || ![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    if (!e.offsetParent && getComputedStyle(e).position !== "fixed") continue;
    const a = lum(getComputedStyle(e).color), b = lum(bg(e));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(e.tagName + "." + e.className + " " + ratio.toFixed(2));
  }
  return {unlabelled, low};
}
"""


async def test_pages_work_by_keyboard_alone_every_field_labelled_text_contrast_aa(web):
    async with chromium() as browser:
        page = await browser.new_page()
        await page.goto(base(web) + "/web/directory?q=hansen")
        assert await page.evaluate(CHECK_PAGE) == {"unlabelled": [], "low": []}
        await page.goto(base(web) + "/web/login?next=/web/absences")
        assert await page.evaluate(CHECK_PAGE) == {"unlabelled": [], "low": []}
        await page.keyboard.type("sup1")  # the user field has the focus
        await page.keyboard.press("Tab")
        await page.keyboard.type(PASSWORD)
        await page.keyboard.press("Enter")
        await page.get_by_role("heading", name="Absences: Anneke IJsselmeer").wait_for()
        assert await page.evaluate(CHECK_PAGE) == {"unlabelled": [], "low": []}
        await page.keyboard.press("Tab")  # the first stop is the skip link, then into the content
        assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
        await shot(page, "absence-page-keyboard")
