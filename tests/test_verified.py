"""Identity-verified calling against a stand-in Yivi server that follows the published requestor API
and signs with a real RSA key (tests/yivi_standin.py), and light identification.

The browser test drives Debian's chromium with Playwright from the start page to a real call on the
sandbox Asterisk; the agent's console gets the verified attributes while the call rings."""
from __future__ import annotations

import time

import aiohttp
import pytest

from cc_console.protocol import ErrorCode, ProtocolError
from cc_console.server.verified.service import VerifiedStore
from cc_console.server.verified.yivi import ResultRefused, YiviClient, verify_result

from .asterisk import connected_call, until
from .yivi_standin import YiviStandIn, new_key

ATTRS = {"pbdf.gemeente.personalData.fullname": "Name", "pbdf.gemeente.bsn.bsn": "Citizen service number"}
CITIZEN = {"pbdf.gemeente.personalData.fullname": "Jan de Vries", "pbdf.gemeente.bsn.bsn": "999990019"}


@pytest.fixture
async def yivi():
    s = YiviStandIn()
    await s.start()
    yield s
    await s.stop()


async def _disclose(yivi: YiviStandIn, pointer: dict, attributes: dict) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{yivi.base}/standin/app/{yivi.client_token(pointer['u'])}",
                             json={"attributes": attributes}) as r:
            assert r.status == 200


async def _signed(yivi: YiviStandIn) -> tuple[str, str]:
    client = YiviClient(yivi.base, yivi.requestor_token)
    session = await client.start(list(ATTRS))
    await _disclose(yivi, session.pointer, CITIZEN)
    assert await client.status(session.token) == "DONE"
    return session.token, await client.result_jwt(session.token)


def _verify(yivi: YiviStandIn, token: str, signed: str):
    return verify_result(signed, public_key=yivi.public_key_pem, token=token, attributes=list(ATTRS),
                         issuer="irmaserver", max_age=120)


async def test_a_valid_result_is_accepted(yivi):
    token, signed = await _signed(yivi)
    d = _verify(yivi, token, signed)
    assert d.attributes == CITIZEN


async def test_forged_expired_invalid_and_foreign_results_are_refused(yivi):
    yivi.sign_with = new_key()  # not the server's key
    token, signed = await _signed(yivi)
    with pytest.raises(ResultRefused, match="signature"):
        _verify(yivi, token, signed)
    yivi.sign_with, yivi.age = None, 600  # issued ten minutes ago
    token, signed = await _signed(yivi)
    with pytest.raises(ResultRefused, match="too old"):
        _verify(yivi, token, signed)
    yivi.age, yivi.proof_status = 0, "INVALID"
    token, signed = await _signed(yivi)
    with pytest.raises(ResultRefused, match="not valid"):
        _verify(yivi, token, signed)
    yivi.proof_status = "VALID"
    token, signed = await _signed(yivi)
    with pytest.raises(ResultRefused, match="another session"):  # a result of someone else's session
        verify_result(signed, public_key=yivi.public_key_pem, token="other", attributes=list(ATTRS),
                      issuer="irmaserver", max_age=120)
    with pytest.raises(ResultRefused, match="missing"):
        verify_result(signed, public_key=yivi.public_key_pem, token=token,
                      attributes=[*ATTRS, "pbdf.gemeente.personalData.dateofbirth"], issuer="irmaserver", max_age=120)


def test_a_replayed_session_gets_no_second_number(tmp_path):
    store = VerifiedStore(str(tmp_path / "v.sqlite3"))
    now = time.time()
    v = store.add("tok-1", ["5900", "5901"], "5999", 6, {"Name": "Jan"}, 300, now)
    assert v.number == "5900" and len(v.code) == 6
    with pytest.raises(ValueError, match="used before"):
        store.add("tok-1", ["5900", "5901"], "5999", 6, {"Name": "Jan"}, 300, now)
    # The pool hands out free numbers; a used or expired one comes back.
    assert store.add("tok-2", ["5900", "5901"], "5999", 6, {}, 300, now).number == "5901"
    assert store.add("tok-3", ["5900", "5901"], "5999", 6, {}, 300, now).number == "5999"
    assert store.claim(number="5900", call_id="c1", now=now + 1) is not None
    assert store.claim(number="5900", call_id="c2", now=now + 1) is None  # once only
    assert store.add("tok-4", ["5900", "5901"], "5999", 6, {}, 300, now + 2).number == "5900"
    assert store.claim(number="5901", call_id="c3", now=now + 301) is None  # expired
    # Kept only as long as configured.
    assert store.purge(now + 3600 + 303, keep=3600) == 4
    store.close()


def _verified_settings(settings, yivi, tmp_path, numbers=("5900",)):
    key = tmp_path / "yivi.pem"
    key.write_text(yivi.public_key_pem)
    settings.sections["verified"] = {"yivi_url": yivi.base, "requestor_token": yivi.requestor_token,
                                     "public_key_file": str(key), "attributes": ATTRS, "numbers": list(numbers),
                                     "line": "5999", "valid_seconds": 120}
    from cc_console.config import QueueSettings
    settings.queues = [QueueSettings(name="support", dids=["5000", *numbers, "5999"], service_level=20.0)]


async def test_the_start_page_flow_over_http(settings, yivi, tmp_path):
    from cc_console.server.app import Server
    _verified_settings(settings, yivi, tmp_path)
    server = Server(settings)
    await server.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
            async with http.get("/verified") as r:
                assert r.status == 200 and "Start with Yivi" in await r.text()
            async with http.post("/verified/session") as r:
                s = await r.json()
            assert s["app_link"].startswith("https://irma.app/-/session#") and "<svg" in s["qr_svg"]
            async with http.get(f"/verified/session/{s['id']}") as r:
                assert (await r.json())["state"] == "waiting"
            from urllib.parse import unquote
            pointer = __import__("json").loads(unquote(s["app_link"].split("#", 1)[1]))
            await _disclose(yivi, pointer, CITIZEN)
            async with http.get(f"/verified/session/{s['id']}") as r:
                got = await r.json()
            assert got["state"] == "done" and got["number"] == "5900" and len(got["code"]) == 6
    finally:
        await server.stop()


CODE_TREE = """
[trees.verified]
dids = ["5999"]
queue = "support"
language = "en"
start = "code"
[trees.verified.nodes.code]
prompt = "Please key the code from the web page."
code = 6
timeout = 8
retries = 1
next = "queue:support"
on_invalid = "queue:support"
on_timeout = "queue:support"
"""


async def _answer_then_call_again_unverified(agent, caller, number: str) -> None:
    """The verified call answered and ended; the same number called again rings unverified (used once)."""
    await agent.call("call.answer")
    await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="connected")
    await agent.call("call.hangup")
    await caller.dial(number)
    call = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing" and c,
                       what="a second call ringing")
    assert call.get("verified") is None
    await agent.call("call.answer")
    await agent.call("call.hangup")


@pytest.mark.asterisk
async def test_from_the_start_page_in_chromium_to_a_call_keying_the_code(settings, sandbox, yivi, tmp_path,
                                                                         connect_to, phone):
    """The citizen verifies on the page, calls the line and keys the code in the IVR: the agent's call
    rings with the verified attributes. The pooled number shown too is then used up."""
    from playwright.async_api import async_playwright

    from cc_console.server.app import Server
    _verified_settings(settings, yivi, tmp_path)
    tree = tmp_path / "ivr.toml"
    tree.write_text(CODE_TREE)
    settings.sections["ivr"] = {"file": str(tree)}
    server = Server(settings)
    await server.start()
    # Kept as test artefacts (build/ is not in git): what the citizen saw.
    from pathlib import Path
    shots = Path(__file__).resolve().parents[1] / "build" / "screenshots" / "verified"
    shots.mkdir(parents=True, exist_ok=True)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--no-first-run"])
            page = await browser.new_page()
            await page.goto(f"http://127.0.0.1:{server.port}/verified")
            await page.get_by_role("button", name="Start with Yivi").click()
            link = page.locator("#app-link")
            await link.wait_for(state="visible")
            from urllib.parse import unquote
            pointer = __import__("json").loads(unquote((await link.get_attribute("href") or "").split("#", 1)[1]))
            await page.screenshot(path=str(shots / "1-scan.png"))
            await _disclose(yivi, pointer, CITIZEN)  # what the citizen's Yivi app does
            await page.locator("#code").wait_for(state="visible", timeout=10_000)
            number = await page.locator("#number").inner_text()
            code = await page.locator("#code").inner_text()
            await page.screenshot(path=str(shots / "2-verified.png"))
            await browser.close()
        assert number == "5900" and len(code) == 6
        caller = await phone("1005", auto_answer=True)
        await phone("1001", auto_answer=True)
        agent = await connect_to(server, "agent1")
        await agent.call("agent.login")
        await caller.dial("5999")  # the line with the code, answered by the IVR
        await caller.wait_call_state("ESTABLISHED", timeout=10)
        await caller.send_dtmf(code)
        call = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing" and c.get("verified")
                           and c, what="a verified call ringing")
        assert call["verified"]["kind"] == "yivi" and call["verified"]["via"] == "code in the IVR"
        assert call["verified"]["attributes"] == {"Name": "Jan de Vries", "Citizen service number": "999990019"}
        # The verification is used: the pooled number from the same page verifies no second call.
        await _answer_then_call_again_unverified(agent, caller, number)
    finally:
        await server.stop()


@pytest.mark.asterisk
async def test_a_pooled_number_verifies_the_call_to_it_once(settings, sandbox, yivi, tmp_path, connect_to, phone):
    from cc_console.server.app import Server
    _verified_settings(settings, yivi, tmp_path)
    server = Server(settings)
    await server.start()
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as http:
            async with http.post("/verified/session") as r:
                s = await r.json()
            from urllib.parse import unquote
            pointer = __import__("json").loads(unquote(s["app_link"].split("#", 1)[1]))
            await _disclose(yivi, pointer, CITIZEN)
            async with http.get(f"/verified/session/{s['id']}") as r:
                number = (await r.json())["number"]
        caller = await phone("1005", auto_answer=True)
        await phone("1001", auto_answer=True)
        agent = await connect_to(server, "agent1")
        await agent.call("agent.login")
        await caller.dial(number)
        call = await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing" and c.get("verified")
                           and c, what="a verified call ringing")
        assert call["verified"]["via"] == f"number {number}"
        await _answer_then_call_again_unverified(agent, caller, number)
        # Audited: the page's session, its verified result, and the call it marked (not the values).
        audit = server.capabilities["audit"].log
        assert [e.action for e in audit.query(action="verified.*")] == ["verified.start", "verified.result"]
        marked = audit.query(action="call.verified")
        assert len(marked) == 1 and marked[0].target == call["id"] and marked[0].actor == "agent1"
        assert "Jan de Vries" not in str([e.detail for e in audit.query()])
    finally:
        await server.stop()


@pytest.mark.asterisk
async def test_light_identification_marks_the_call_after_the_right_password_only(server, sandbox, connect, phone):
    caller = await phone("1005", auto_answer=True)
    await phone("1001", auto_answer=True)
    agent = await connect("agent1")
    await agent.call("agent.login")
    issued = await agent.call("ident.issue", {"name": "Eva Novak"})
    assert len(issued["ident_id"]) == 8 and issued["password"]
    await connected_call(agent, caller)
    with pytest.raises(ProtocolError) as e:
        await agent.call("ident.check", {"ident_id": issued["ident_id"], "password": "wrong-wrong-wrong"})
    assert e.value.code == ErrorCode.AUTH_FAILED
    assert agent.state.my_call.get("verified") is None
    got = await agent.call("ident.check", {"ident_id": issued["ident_id"].lower(), "password": issued["password"]})
    assert got["verified"]["kind"] == "light"
    call = await until(agent, lambda: (c := agent.state.my_call) and c.get("verified") and c, what="identified")
    assert call["verified"]["attributes"] == {"Identification": issued["ident_id"], "Name": "Eva Novak"}
    # Rate-limited: at most three attempts on one call.
    for _ in range(2):
        with pytest.raises(ProtocolError):
            await agent.call("ident.check", {"ident_id": issued["ident_id"], "password": "x"})
    await agent.call("call.hangup")


def test_the_call_panel_shows_a_badge_only_for_a_verified_call():
    from cc_console.widgets.call_panel import identity_line
    assert identity_line({"verified": None}) is None
    badge, detail = identity_line({"verified": {"kind": "yivi", "attributes": {"Name": "Jan de Vries"},
                                                "at": 1_700_000_000}})
    assert "VERIFIED" in badge.plain and "Jan de Vries" in detail.plain
    badge, _ = identity_line({"verified": {"kind": "light", "attributes": {"Identification": "ABCD2345"},
                                           "at": 1_700_000_000}})
    assert "IDENTIFIED" in badge.plain and "VERIFIED" not in badge.plain


