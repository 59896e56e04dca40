"""The CRM outbox against a real HTTP receiver (no Asterisk: agent state changes are the events):
webhooks signed per subscription, the receiver down for a while and back (every event delivered,
in order, once per event id), dead letters and their replay."""
from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import aiohttp
import pytest

from cc_console.server.api.rest import PREFIX
from cc_console.server.crm.webhooks import verify

from .crm_receiver import Receiver

# How long the receiver stays down (the scenario is 30 s; CI keeps it short).
DOWN = float(os.environ.get("CC_TEST_CRM_DOWN", "2.0"))


@pytest.fixture
def settings(settings):
    settings.sections["crm"] = {"retry_min": 0.05, "retry_max": 0.4, "poll": 0.2, "timeout": 2.0}
    return settings


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as s:
        yield s


def crm(server):
    return server.capabilities["crm"].service


async def subscribe(http, token, url, events, secret="s3cret-s3cret-s3cret"):
    async with http.post(f"{PREFIX}/crm/webhooks", json={"url": url, "events": events, "secret": secret},
                         headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 201, await r.text()
        return await r.json()


async def all_delivered(svc, timeout=20.0):
    return await svc.until(lambda counts: not counts.get("pending") and not counts.get("dead"), timeout)


async def test_receiver_down_then_back_every_event_once_and_in_order(server, connect, http):
    rx = await Receiver().start()
    token = server.api_clients.add("crm-admin", "admin")
    sub = await subscribe(http, token, rx.url + "/hooks", ["agent.state"])
    assert sub["secret"] == "s3cret-s3cret-s3cret" and "secret" not in sub["subscription"]
    a1, a2 = await connect("agent1"), await connect("agent2")
    await a1.call("agent.login")
    await a1.call("agent.pause", {"reason": "break"})
    await a1.call("agent.ready")
    await rx.until(lambda: len(rx.got) >= 3, what="the first events")
    for g in rx.got:
        assert verify("s3cret-s3cret-s3cret", g.headers, g.body), "signed with the subscription's secret"
        assert json.loads(g.body)["id"] == g.headers["X-CC-Event-Id"]
        assert not verify("another-secret-value", g.headers, g.body)

    await rx.stop()  # the receiver is down: its port refuses connections
    t0 = time.monotonic()
    for _ in range(3):
        await a1.call("agent.pause", {"reason": "break"})
        await a1.call("agent.ready")
    await a2.call("agent.login")
    await a2.call("agent.pause", {"reason": "break"})
    svc = crm(server)
    await asyncio.sleep(max(0.0, DOWN - (time.monotonic() - t0)))  # the outage itself, not a wait for an event
    items = await svc.db(svc.store.items)
    stuck = [i for i in items if i.state == "pending"]
    assert len(stuck) >= 8 and max(i.attempts for i in stuck) >= 2, "retried while the receiver was down"
    log = await svc.db(svc.store.log, stuck[0].seq)
    assert log and all(e["status"] is None and e["error"] for e in log)

    rx2 = await Receiver(rx.port).start()
    counts = await all_delivered(svc)
    assert counts == {"delivered": len(items)}
    got = rx.got + rx2.got
    ids = [g.headers["X-CC-Event-Id"] for g in got]
    assert len(ids) == len(set(ids)) == len(items), "each event once"
    assert ids == [i.id for i in items], "in the order written"
    states = [(e["data"]["agent"]["id"], e["data"]["agent"]["state"]) for e in (json.loads(g.body) for g in got)]
    assert [s for a, s in states if a == "agent2"][-1] == "paused"
    assert [s for a, s in states if a == "agent1"][-6:] == ["paused", "ready"] * 3
    for g in rx2.got:
        assert verify("s3cret-s3cret-s3cret", g.headers, g.body)
    await rx2.stop()


async def test_dead_letters_are_listed_and_replayed(server, connect, http, settings):
    svc = crm(server)
    svc.settings.dead_after = 0.3
    rx = Receiver()  # not started: nobody listens on its port
    token = server.api_clients.add("crm-admin", "admin")
    hdr = {"Authorization": f"Bearer {token}"}
    await subscribe(http, token, rx.url + "/hooks", ["agent.state"])
    a1 = await connect("agent1")
    await a1.call("agent.login")
    await svc.until(lambda counts: counts.get("dead"), 10)
    async with http.get(f"{PREFIX}/crm/deliveries", params={"state": "dead"}, headers=hdr) as r:
        body = await r.json()
        assert r.status == 200 and body["items"] and body["items"][0]["last_error"]
        dead_id = body["items"][0]["id"]
    async with http.get(f"{PREFIX}/crm/deliveries/{dead_id}", headers=hdr) as r:
        one = await r.json()
        assert one["item"]["state"] == "dead" and len(one["log"]) == one["item"]["attempts"] >= 1
    svc.settings.dead_after = 60
    await rx.start()
    async with http.post(f"{PREFIX}/crm/replay", json={"ids": [dead_id]}, headers=hdr) as r:
        assert (await r.json()) == {"replayed": 1}
    await rx.until(lambda: dead_id in rx.ids(), what="the replayed dead letter")
    async with http.get(f"{PREFIX}/crm/deliveries", headers={"Authorization": "Bearer nope"}) as r:
        assert r.status == 401
    await rx.stop()


async def test_admin_cli_subscribes_lists_and_replays(server, connect, settings):
    from typer.testing import CliRunner

    from cc_console.cli import app
    run = CliRunner()
    db = ["--db", settings.server.db_path]
    if url := settings.sections.get("store", {}).get("url"):  # the server's store is in PostgreSQL: so is the CRM's
        cfg = Path(settings.server.db_path).with_name("config.toml")
        cfg.write_text(f'[server]\ndb_path = "{settings.server.db_path}"\n[store]\nurl = "{url}"\n')
        db = ["-c", str(cfg)]
    rx = Receiver()  # down for now
    r = run.invoke(app, ["admin", "webhooks", "add", rx.url + "/cli", "-e", "agent.state", *db])
    assert r.exit_code == 0, r.output
    secret = r.stdout.strip().splitlines()[-1]
    r = run.invoke(app, ["admin", "webhooks", "list", *db])
    assert rx.url + "/cli" in r.output and secret not in r.output
    svc = crm(server)
    svc.settings.dead_after = 0.3
    a1 = await connect("agent1")
    await svc.until(lambda counts: bool(svc.webhooks.subs), 10)  # picked up from the CLI within [crm] poll
    await a1.call("agent.login")
    await svc.until(lambda counts: counts.get("dead"), 10)
    r = run.invoke(app, ["admin", "deliveries", "dead", *db])
    assert "agent.state" in r.output and "Connect" in r.output, r.output
    seq = r.output.split()[0]
    r = run.invoke(app, ["admin", "deliveries", "show", seq, *db])
    assert "try 1" in r.output, r.output
    svc.settings.dead_after = 60
    await rx.start()
    r = run.invoke(app, ["admin", "deliveries", "replay", *db])
    assert r.output.startswith("1 dead letter"), r.output
    await rx.until(lambda: len(rx.got) == 1, what="the replayed letter")
    assert verify(secret, rx.got[0].headers, rx.got[0].body)
    r = run.invoke(app, ["admin", "deliveries", "list", "--state", "delivered", *db])
    assert "delivered: 1" in r.output
    await rx.stop()


async def test_callback_created_and_done_are_webhooks(server, connect, http):
    rx = await Receiver().start()
    token = server.api_clients.add("crm-admin", "admin")
    await subscribe(http, token, rx.url + "/cb", ["callback.created", "callback.done"])
    agent_token = server.api_clients.add("portal", "agent")
    async with http.post(f"{PREFIX}/callbacks", json={"caller": "+420601000009", "queue": "support"},
                         headers={"Authorization": f"Bearer {agent_token}"}) as r:
        assert r.status == 201, await r.text()
        item = (await r.json())["item"]
    a1 = await connect("agent1")
    await a1.call("callback.claim", {"id": item["id"]})
    await a1.call("callback.done", {"id": item["id"]})
    await rx.until(lambda: len(rx.got) == 2, what="created and done")
    bodies = [json.loads(g.body) for g in rx.got]
    assert [b["event"] for b in bodies] == ["callback.created", "callback.done"]
    assert bodies[0]["data"]["callback"]["caller"] == "+420601000009"
    assert bodies[1]["data"]["callback"]["id"] == item["id"] and bodies[1]["data"]["callback"]["state"] == "done"
    assert bodies[1]["data"]["callback"]["done_by"] == "agent1"
    await rx.stop()


async def test_delivered_items_are_forgotten_after_keep_delivered_days(server, connect, http):
    rx = await Receiver().start()
    token = server.api_clients.add("crm-admin", "admin")
    await subscribe(http, token, rx.url + "/hooks", ["agent.state"])
    a1 = await connect("agent1")
    await a1.call("agent.login")
    await rx.until(lambda: len(rx.got) == 1, what="one delivery")
    svc = crm(server)
    await all_delivered(svc)
    svc.settings.keep_delivered_days = 30
    await svc.reload_subscriptions()
    assert (await svc.db(svc.store.counts)) == {"delivered": 1}  # young: kept
    svc.settings.keep_delivered_days = 0
    await svc.reload_subscriptions()
    assert (await svc.db(svc.store.counts)) == {}
    await rx.stop()


async def test_a_planned_stop_lets_the_delivery_under_way_finish(settings, clean_asterisk, connect_to):
    from cc_console.server.app import Server
    rx = await Receiver().start()
    rx.gate.clear()
    first = Server(settings)
    await first.start()
    svc = crm(first)
    await svc.subscribe(rx.url + "/hooks", ["agent.state"], "s3cret-s3cret-s3cret")
    a1 = await connect_to(first, "agent1")
    await a1.call("agent.login")
    await rx.until(lambda: len(rx.got) == 1, what="a delivery under way")
    stopping = asyncio.create_task(first.stop())
    async with svc.deliverer.changed:  # the stop has reached the CRM capability when it is closed
        await asyncio.wait_for(svc.deliverer.changed.wait_for(lambda: svc._closed), 10)
    rx.gate.set()
    await stopping
    second = Server(settings)
    await second.start()
    try:
        assert (await crm(second).db(crm(second).store.counts)) == {"delivered": 1}
        assert len(rx.got) == 1
    finally:
        await second.stop()
        await rx.stop()
