"""schemathesis, a real OpenAPI fuzzer, against the live server: every operation of
/api/v1/openapi.json with generated (valid and invalid) input; no 5xx, and every response conforms
to the document (status codes, content types, schemas, headers).

The fuzzer's calls are synchronous, so the server runs on its own event loop in a thread.
Two allowances: 503 `unavailable` is the right answer while Asterisk or the mail server is not
reachable (this test runs without either), and any other 5xx fails; and a schema-valid request may
still be refused with a 400 problem (positive_data_acceptance is off), since the domain's rules
(a date, an agent state, a configured contact field) say more than a JSON schema can.
"""
from __future__ import annotations

import asyncio
import shutil
import threading
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, positive_data_acceptance

from cc_console.config import QueueSettings, Settings, load_settings
from cc_console.server.api.openapi import build
from cc_console.server.app import Server

from .conftest import PASSWORD

# logout would end the very session the fuzzer uses (tests/test_api.py and the parity test cover it).
schema = schemathesis.openapi.from_dict(build()).exclude(path="/api/v1/commands/logout")


class LiveServer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.server: Server | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def start() -> None:
            self.server = Server(self.settings)
            await self.server.start()
            self.ready.set()
        self.loop.run_until_complete(start())
        self.loop.run_forever()

    def __enter__(self) -> LiveServer:
        self.thread.start()
        assert self.ready.wait(30), "server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, template_db: Path):
    tmp = tmp_path_factory.mktemp("fuzz")
    db = tmp / "cc.sqlite3"
    shutil.copy(template_db, db)
    base = load_settings(tmp / "none.toml")
    s = Settings(pbx=base.pbx, server=base.server, queues=[QueueSettings(name="support", dids=["5000"])])
    s.server.port = 0
    s.server.db_path = str(db)
    s.server.queue_log_path = str(tmp / "queue_log")
    s.server.ari_reconnect_min = 0.5
    s.server.ari_reconnect_max = 2.0
    s.server.api_rate, s.server.api_burst = 1e6, 1_000_000  # the fuzzer is not the subject of rate limits here
    s.pbx.http_port = 9  # no Asterisk
    with LiveServer(s) as srv:
        assert srv.server is not None
        # A supervisor's session: agent, supervisor and wallboard permissions, and an agent of its own,
        # so the fuzzer reaches the handlers rather than stopping at "not yours" or "forbidden".
        srv.token = srv.server.auth.login("sup1", PASSWORD, None).token
        srv.base_url = f"http://127.0.0.1:{srv.server.port}"
        yield srv


def only_unavailable_5xx(ctx, response, case):
    """No 5xx but 503 `unavailable` (a dependency down), which must still be a problem document."""
    if response.status_code >= 500:
        body = response.json()
        assert response.status_code == 503 and body.get("code") == "unavailable", \
            f"server error {response.status_code}: {response.text[:300]}"
    return None


@schema.parametrize()
@settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_fuzz(case, live):
    case.call_and_validate(base_url=live.base_url, headers={"Authorization": f"Bearer {live.token}"},
                           excluded_checks=[not_a_server_error, positive_data_acceptance],
                           additional_checks=[only_unavailable_5xx])
