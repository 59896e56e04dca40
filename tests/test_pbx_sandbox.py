"""The sandbox PBX for real: Asterisk 22 in the chroot, baresip phones calling each other through it.

Needs root (chroot/mount); the first run builds the chroot (a few minutes), later runs reuse it.
The phones use the two highest endpoint numbers, so tests elsewhere that take 1001, 1002 ... don't collide.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import subprocess

import httpx
import pytest

from cc_console.config import load_settings
from cc_console.server.pbx import sandbox
from cc_console.server.pbx.phones import Phone, tone_level

pytestmark = pytest.mark.asterisk


@pytest.fixture(scope="session")
def pbx():
    if os.geteuid() != 0:
        pytest.skip("the sandbox PBX needs root (chroot, mount)")
    s = load_settings().pbx
    sandbox.up(s, log=lambda msg: None)
    return s


@pytest.fixture
def numbers(pbx):
    last = 1000 + pbx.agent_endpoints
    return last - 1, last


def test_ari_info_reports_asterisk_22(pbx):
    r = httpx.get(f"{pbx.ari_url}/asterisk/info", auth=(pbx.ari_user, pbx.ari_password), timeout=5)
    assert r.status_code == 200
    version = r.json()["system"]["version"]
    assert re.match(r"^(\d+:)?22\.", version), version


def test_ari_rejects_wrong_password(pbx):
    r = httpx.get(f"{pbx.ari_url}/asterisk/info", auth=(pbx.ari_user, "wrong"), timeout=5)
    assert r.status_code == 401


def test_status_reports_running(pbx):
    st = sandbox.status(pbx)
    assert st["built"] and st["mounted"] and st["running"] and st["ari_reachable"]
    assert st["asterisk_pid"] > 0
    assert st["version"].split(":")[-1].startswith("22.")


def test_up_twice_is_a_noop(pbx):
    pid = sandbox.asterisk_pid(pbx)
    messages: list[str] = []
    sandbox.up(pbx, log=messages.append)
    assert sandbox.asterisk_pid(pbx) == pid
    assert not any("start" in m.lower() or "reload" in m.lower() or "wrote" in m.lower() for m in messages), messages
    assert sandbox.status(pbx)["ari_reachable"]


def test_dialplan_and_endpoints_loaded(pbx):
    out = sandbox.asterisk_cli(pbx, "dialplan show")
    for ctx in (pbx.inbound_context, "cc-test-caller", "cc-agents"):
        assert f"'{ctx}'" in out
    eps = sandbox.asterisk_cli(pbx, "pjsip show endpoints")
    for n in sandbox.endpoint_numbers(pbx):
        assert f"Endpoint:  {n}" in eps
    assert "cc-tone" in sandbox.asterisk_cli(pbx, "moh show classes")


def _listeners() -> list[tuple[str, str, str]]:
    """(proto, local address, process) for every listening/bound socket (ss -lntupH)."""
    out = subprocess.run(["ss", "-lntupH"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 5:
            continue
        procs = re.findall(r'\("([^"]+)"', line)
        rows.append((parts[0], parts[4], ",".join(procs)))
    return rows


def _is_loopback(local: str) -> bool:
    host = local.rsplit(":", 1)[0].strip("[]").split("%")[0]
    if host == "*":
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def test_nothing_listens_beyond_loopback(pbx, numbers):
    async with Phone(pbx, numbers[0]) as phone:
        await phone.wait_registered(10)
        rows = [r for r in _listeners() if "asterisk" in r[2] or "baresip" in r[2]]
        assert any("asterisk" in r[2] for r in rows)
        assert any("baresip" in r[2] for r in rows)
        bad = [r for r in rows if not _is_loopback(r[1])]
        assert not bad, f"sockets beyond loopback: {bad}"


async def test_two_phones_hear_each_other(pbx, numbers):
    na, nb = numbers
    async with Phone(pbx, na, answermode="manual") as a, Phone(pbx, nb, answermode="auto") as b:
        assert a.tone_freq != b.tone_freq
        await asyncio.gather(a.wait_registered(10), b.wait_registered(10))
        await a.dial(nb)
        await b.wait_call_state("CALL_ESTABLISHED", 10)  # auto-answered
        await a.wait_call_state("CALL_ESTABLISHED", 10)
        await asyncio.sleep(3)
        await a.hangup()
        await asyncio.gather(a.wait_call_state("CALL_CLOSED", 10), b.wait_call_state("CALL_CLOSED", 10))
        wav_a, wav_b = a.recorded_wav(), b.recorded_wav()
    assert wav_a and wav_a.exists() and wav_b and wav_b.exists()
    # Each phone heard the other's tone (amplitude ~0.3 sent), and not its own.
    assert tone_level(wav_a, b.tone_freq) > 0.1
    assert tone_level(wav_b, a.tone_freq) > 0.1
    assert tone_level(wav_a, a.tone_freq) < 0.03
    assert tone_level(wav_b, b.tone_freq) < 0.03


async def test_manual_answer(pbx, numbers):
    na, nb = numbers
    async with Phone(pbx, na, answermode="auto") as a, Phone(pbx, nb, answermode="manual") as b:
        await asyncio.gather(a.wait_registered(10), b.wait_registered(10))
        await a.dial(nb)
        await b.wait_call_state("CALL_INCOMING", 10)
        await a.wait_call_state("CALL_RINGING", 10)
        await asyncio.sleep(0.5)
        assert b.call_state == "CALL_INCOMING"  # not answered by itself
        await b.answer()
        await asyncio.gather(a.wait_call_state("CALL_ESTABLISHED", 10), b.wait_call_state("CALL_ESTABLISHED", 10))
        await asyncio.sleep(1.5)
        await b.hangup()
        await a.wait_call_state("CALL_CLOSED", 10)
        await b.wait_call_state("CALL_CLOSED", 10)
        assert tone_level(a.recorded_wav(), b.tone_freq) > 0.1


async def _ari_call_phone(pbx, number: int, extension: str) -> str:
    """ARI originate to a phone; when it answers it runs [cc-test-caller] `extension`. Returns the channel id."""
    async with httpx.AsyncClient(auth=(pbx.ari_user, pbx.ari_password), timeout=5) as client:
        r = await client.post(
            f"{pbx.ari_url}/channels",
            params={"endpoint": f"PJSIP/{number}", "context": "cc-test-caller", "extension": extension, "priority": 1},
        )
        assert r.status_code == 200, r.text
        return r.json()["id"]


async def test_test_caller_tone_and_moh_reach_a_phone(pbx, numbers):
    """[cc-test-caller] tone and the cc-tone MOH class are audible; each call gets its own recording."""
    async with Phone(pbx, numbers[1], answermode="auto") as phone:
        await phone.wait_registered(10)
        recordings = []
        for extension, freq in (("tone", sandbox.CALLER_TONE_FREQ), ("moh-cc-tone", sandbox.MOH_TONE_FREQ)):
            mark = len(phone.events)
            chan = await _ari_call_phone(pbx, phone.number, extension)
            await phone.wait_event("CALL_ESTABLISHED", 10, since=mark)
            await asyncio.sleep(2.5)
            async with httpx.AsyncClient(auth=(pbx.ari_user, pbx.ari_password), timeout=5) as client:
                await client.delete(f"{pbx.ari_url}/channels/{chan}")
            await phone.wait_event("CALL_CLOSED", 10, since=mark)
            await asyncio.sleep(0.3)
            wav = phone.recorded_wav()
            recordings.append(wav)
            assert tone_level(wav, freq, start=0.5) > 0.05, (extension, wav)
        assert recordings[0] != recordings[1]
