"""Our server (a real `cc-console server` process) killed with SIGKILL while a delivery is in flight,
then started again: every event written to the outbox reaches the receiver, in order, and nothing
but the interrupted one is sent twice (with the same event id, which receivers drop)."""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp

from cc_console.client import ConsoleClient
from cc_console.server.api.clients import ApiClients
from cc_console.server.api.clients import default_path as api_db
from cc_console.server.api.rest import PREFIX

from .conftest import PASSWORD
from .crm_receiver import Receiver, free_port


def start_server(config: Path, log: Path) -> subprocess.Popen[bytes]:
    exe = Path(sys.executable).with_name("cc-console")
    assert exe.exists(), f"{exe} missing: run ./scripts/setup"
    env = {**os.environ, "CC_CONSOLE_CONFIG": str(config)}
    return subprocess.Popen([str(exe), "server", "--config", str(config)], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, env=env)


async def healthy(http: aiohttp.ClientSession, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        assert proc.poll() is None, "the server exited"
        try:
            async with http.get("/healthz") as r:
                if r.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        assert loop.time() < deadline, "the server did not come up"
        await asyncio.sleep(0.1)


async def outbox(http, token):
    async with http.get(f"{PREFIX}/crm/deliveries", params={"limit": "500"},
                        headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 200, await r.text()
        return await r.json()


async def test_sigkill_mid_delivery_and_restart_loses_nothing(tmp_path, template_db):
    db = tmp_path / "cc.sqlite3"
    shutil.copy(template_db, db)
    token = ApiClients(api_db(db)).add("crm-admin", "admin")
    port = free_port()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[server]
port = {port}
db_path = "{db}"
queue_log_path = "{tmp_path / 'queue_log'}"
[pbx]
http_port = 9
[crm]
retry_min = 0.05
retry_max = 0.3
poll = 0.2
timeout = 30.0
""")
    log = tmp_path / "server.log"
    rx = await Receiver().start()
    rx.gate.clear()  # the receiver takes the first request and sits on it: a delivery in flight
    proc = start_server(config, log)
    try:
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
            await healthy(http, proc)
            async with http.post(f"{PREFIX}/crm/webhooks", headers={"Authorization": f"Bearer {token}"},
                                 json={"url": rx.url + "/hooks", "events": ["agent.state"]}) as r:
                assert r.status == 201, await r.text()
            agent = ConsoleClient(f"ws://127.0.0.1:{port}/ws", reconnect=False)
            await agent.connect()
            await agent.login("agent1", PASSWORD)
            await agent.call("agent.login")
            for _ in range(5):
                await agent.call("agent.pause", {"reason": "break"})
                await agent.call("agent.ready")
            await agent.close()
            await rx.until(lambda: len(rx.got) == 1, what="the first delivery")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while (before := await outbox(http, token))["counts"].get("pending", 0) < 11:
                assert loop.time() < deadline, before
                await asyncio.sleep(0.05)
            written = [i["id"] for i in before["items"]]
            assert len(written) == 11 and rx.got[0].headers["X-CC-Event-Id"] == written[0]

            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            rx.gate.set()
            assert len(rx.got) == 1  # nothing else went out while the first was in flight

            proc = start_server(config, log)
            await healthy(http, proc)
            deadline = loop.time() + 20
            while (after := await outbox(http, token))["counts"] != {"delivered": 11}:
                assert loop.time() < deadline, after["counts"]
                await asyncio.sleep(0.05)
        ids = rx.ids()
        first_seen = list(dict.fromkeys(ids))
        assert first_seen == written, "every event, in the order written"
        assert ids.count(written[0]) == 2 and len(ids) == 12, "only the interrupted one twice, with its id"
        bodies = [json.loads(g.body) for g in rx.got]
        assert [b["data"]["agent"]["state"] for b in bodies[1:]] == ["ready"] + ["paused", "ready"] * 5
    finally:
        rx.gate.set()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        await rx.stop()
