"""The web pages over real HTTP on the real server: public search, sign-in, absences, maintenance."""
from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pyotp
import pytest

from cc_console.server.app import Server

from .conftest import PASSWORD
from .test_directory_fixtures import load_sample


@pytest.fixture
def web_settings(settings):
    settings.sections["web"] = {"search_burst": 50, "directory_editors": {"oslo": ["sup1"]}}
    return settings


@pytest.fixture
async def web(web_settings, clean_asterisk):
    srv = Server(web_settings)
    load_sample(srv.directory)
    await srv.start()
    try:
        yield srv
    finally:
        await srv.stop()


def base(srv: Server) -> str:
    return f"http://127.0.0.1:{srv.port}"


async def signed_in(srv: Server, user: str, totp: str | None = None) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    form = {"username": user, "password": PASSWORD, "next": "/web/absences"}
    if totp:
        form["totp"] = totp
    async with http.post(base(srv) + "/web/login", data=form) as r:
        assert r.status == 200 and r.url.path == "/web/absences", await r.text()
    return http


def form_token(html: str) -> str:
    m = re.search(r'name="form_token" value="([0-9a-f]+)"', html)
    assert m, "no form token on the page"
    return m.group(1)


async def test_public_search_folds_letters_shows_absence_and_substitute_never_notes(web):
    web.directory.set_notes("oslo:p1", "Private: prefers e-mail")
    now = web.directory.clock()
    web.directory.add_absence("test", "oslo:p1", "vacation", now - 60, now + 3 * 86400, "On holiday", "")
    async with aiohttp.ClientSession() as http:
        async with http.get(base(web) + "/web/directory/search.json", params={"q": "oyvind"}) as r:
            assert r.status == 200
            body = await r.text()
            data = await r.json()
        names = [row["name"] for row in data["results"]]
        assert names == ["Oyvind Berg", "Øyvind Hansen"] or names == ["Øyvind Hansen", "Oyvind Berg"]
        hansen = next(row for row in data["results"] if row["name"] == "Øyvind Hansen")
        assert hansen["status"] == "absent" and hansen["absence"]["type"] == "vacation"
        assert hansen["absence"]["until"] == pytest.approx(now + 3 * 86400)
        assert hansen["substitute"]["name"] == "Kari Nordmann"
        assert "prefers e-mail" not in body and "notes" not in hansen and "On holiday" not in body
        async with http.get(base(web) + "/web/directory", params={"q": "oyvind"}) as r:
            page = await r.text()
        assert r.status == 200 and "Øyvind Hansen" in page and "Vacation until" in page
        assert "Substitute: Kari Nordmann" in page and "prefers e-mail" not in page
        assert '<label for="q">' in page and "http://" not in page.replace(base(web), "")


async def test_public_search_only_from_configured_networks_and_rate_limited(settings, clean_asterisk):
    settings.sections["web"] = {"public_networks": ["10.0.0.0/8"]}
    async with Server(settings) as srv, aiohttp.ClientSession() as http:
        async with http.get(base(srv) + "/web/directory/search.json", params={"q": "a"}) as r:
            assert r.status == 403 and "organisation's network" in await r.text()
    settings.sections["web"] = {"search_rate": 0.01, "search_burst": 3}
    async with Server(settings) as srv, aiohttp.ClientSession() as http:
        statuses = []
        for _ in range(5):
            async with http.get(base(srv) + "/web/directory/search.json", params={"q": "a"}) as r:
                statuses.append(r.status)
                retry = r.headers.get("Retry-After")
        assert statuses == [200, 200, 200, 429, 429] and retry and int(retry) >= 1


async def test_absence_page_own_absence_shows_in_the_console_and_can_be_deleted(web, connect_to):
    http = await signed_in(web, "agent1")  # agent1 is Øyvind Hansen
    async with http:
        async with http.get(base(web) + "/web/absences") as r:
            page = await r.text()
        assert "Absences: Øyvind Hansen" in page and '<label for="type">' in page
        token = form_token(page)
        async with http.post(base(web) + "/web/absences", data={
                "form_token": token, "person_id": "oslo:p1", "type": "meeting", "from": "2030-01-07T09:00",
                "until": "2030-01-07T11:30", "message": "Board meeting", "substitute": ""}) as r:
            page = await r.text()
        assert r.status == 200 and "Board meeting" in page
        console = await connect_to(web, "agent2")
        person = (await console.call("directory.person", {"id": "oslo:p1"}))["person"]
        [a] = [a for a in person["absences"] if a["message"] == "Board meeting"]
        assert a["type"] == "meeting" and a["until"] - a["from"] == 2.5 * 3600
        async with http.post(base(web) + f"/web/absences/{a['id']}/delete",
                             data={"form_token": token, "person_id": "oslo:p1"}) as r:
            assert r.status == 200 and "Board meeting" not in await r.text()
        person = (await console.call("directory.person", {"id": "oslo:p1"}))["person"]
        assert not [a for a in person["absences"] if a["message"] == "Board meeting"]


async def test_others_absences_by_the_consoles_rules_and_forms_need_their_token(web):
    agent2 = await signed_in(web, "agent2")  # Antonín Dvořák, an agent: only their own
    async with agent2:
        async with agent2.get(base(web) + "/web/absences", params={"person": "oslo:p1"}) as r:
            page = await r.text()
        assert r.status == 403 and "You may only change your own absences." in page
        token = form_token(page)
        async with agent2.post(base(web) + "/web/absences", data={
                "form_token": token, "person_id": "oslo:p1", "type": "sick", "from": "2030-01-07T09:00"}) as r:
            assert r.status == 403 and "own absences" in await r.text()
        async with agent2.post(base(web) + "/web/absences", data={
                "form_token": "0" * 64, "person_id": "oslo:p3", "type": "sick", "from": "2030-01-07T09:00"}) as r:
            assert r.status == 403 and "out of date" in await r.text()
    assert not [a for a in web.directory.person("oslo:p1")["absences"] if a["type"] == "sick"]
    sup = await signed_in(web, "sup1")  # the organisation's supervisor
    async with sup:
        async with sup.get(base(web) + "/web/absences", params={"q": "hansen"}) as r:
            page = await r.text()
        assert 'href="/web/absences?person=oslo%3Ap1"' in page
        async with sup.get(base(web) + "/web/absences", params={"person": "oslo:p1"}) as r:
            token = form_token(await r.text())
        async with sup.post(base(web) + "/web/absences", data={
                "form_token": token, "person_id": "oslo:p1", "type": "sick", "from": "2030-01-07T09:00"}) as r:
            assert r.status == 200
        async with sup.post(base(web) + "/web/absences", data={
                "form_token": token, "person_id": "oslo:p1", "type": "party", "from": "2030-01-07T09:00"}) as r:
            assert r.status == 400 and "Absence type must be one of" in await r.text()
    [a] = [a for a in web.directory.person("oslo:p1")["absences"] if a["type"] == "sick"]
    assert a["until"] > a["from"]  # no end given: the end of that day, as in the console


async def test_sign_in_needs_the_password_and_the_second_factor(web):
    secret = re.search(r"secret=([A-Z2-7]+)", web.auth.enable_totp("sup1")).group(1)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base(web) + "/web/login", data={"username": "sup1", "password": "wrong-pass"}) as r:
            assert r.status == 401 and "Wrong user name, password or code." in await r.text()
        async with http.post(base(web) + "/web/login", data={"username": "sup1", "password": PASSWORD}) as r:
            page = await r.text()
        assert r.url.path == "/web/login" and 'id="totp"' in page and "authenticator app" in page
        async with http.get(base(web) + "/web/absences?person=oslo:p1&q=x", allow_redirects=False) as r:
            assert r.status == 303  # back to the whole address after signing in, query and all
            assert parse_qs(urlsplit(r.headers["Location"]).query) == {"next": ["/web/absences?person=oslo:p1&q=x"]}
    http = await signed_in(web, "sup1", totp=pyotp.TOTP(secret).now())
    async with http:
        async with http.get(base(web) + "/web/absences") as r:
            page = await r.text()
        assert r.status == 200 and "Absences: Anneke IJsselmeer" in page
        async with http.post(base(web) + "/web/logout", data={"form_token": form_token(page)}) as r:
            assert r.url.path == "/web/login"
        async with http.get(base(web) + "/web/absences", allow_redirects=False) as r:
            assert r.status == 303


async def test_sign_in_never_sends_anyone_to_another_site(web):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base(web) + "/web/login", allow_redirects=False, data={
                "username": "agent1", "password": PASSWORD, "next": "//evil.example/web/"}) as r:
            assert r.status == 303 and r.headers["Location"] == "/web/absences"
            assert "HttpOnly" in r.headers["Set-Cookie"] and "SameSite=Strict" in r.headers["Set-Cookie"]


async def test_directory_maintenance_for_the_organisations_editors_only(web):
    agent = await signed_in(web, "agent1")
    async with agent:
        async with agent.get(base(web) + "/web/persons/oslo:p2") as r:
            assert r.status == 403
    sup = await signed_in(web, "sup1")  # listed as an editor of oslo
    async with sup:
        async with sup.get(base(web) + "/web/persons/oslo:p2") as r:
            page = await r.text()
        assert r.status == 200 and "Kari Nordmann" in page
        async with sup.post(base(web) + "/web/persons/oslo:p2", data={
                "form_token": form_token(page), "attributes": "Room: 3.14\nLanguages: norsk, English",
                "notes": "Call her mobile after 15:00"}) as r:
            assert r.status == 200 and "Saved." in await r.text()
        async with sup.post(base(web) + "/web/persons/oslo:p2", data={
                "form_token": form_token(page), "attributes": "no colon here", "notes": ""}) as r:
            assert r.status == 400 and "name: value" in await r.text()
        async with sup.get(base(web) + "/web/persons/bergen:b1") as r:
            assert r.status == 403  # an editor of oslo only
    p = web.directory.person("oslo:p2")
    assert p["attributes"] == {"Room": "3.14", "Languages": "norsk, English"}
    assert p["notes"] == "Call her mobile after 15:00"
    async with aiohttp.ClientSession() as http:  # and the public page never shows them
        async with http.get(base(web) + "/web/directory/search.json", params={"q": "kari"}) as r:
            body = await r.text()
        assert "3.14" not in body and "after 15:00" not in body
