"""ARI over HTTPS and WSS: our server talks to an Asterisk that serves TLS (the sandbox does, with a
certificate from its own CA), checks the certificate, and a real call goes through; a certificate
from a CA we were not told to trust keeps ARI down instead of talking to it."""
from __future__ import annotations

import asyncio

import pytest

from cc_console.server.app import Server

from .asterisk import connected_call

pytestmark = pytest.mark.asterisk


async def test_a_real_call_over_ari_on_tls(settings, sandbox, connect_to, phone):
    settings.pbx.ari_tls = True
    server = Server(settings)
    assert server.ari.base_url.startswith("https://")
    await server.start()
    try:
        await asyncio.wait_for(server.ari.connected.wait(), 15)
        caller = await phone("1005", auto_answer=True)
        await phone("1001", auto_answer=True)  # the agent's phone, answered from the console
        agent = await connect_to(server, "agent1")
        await agent.call("agent.login")
        call = await connected_call(agent, caller)
        assert call["state"] == "connected"
        await agent.call("call.hangup")
    finally:
        await server.stop()


async def test_an_untrusted_certificate_keeps_ari_down(settings, sandbox, tmp_path):
    import trustme
    other = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other))
    settings.pbx.ari_tls = True
    settings.pbx.ari_ca_file = str(other)
    server = Server(settings)
    await server.start()
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(server.ari.connected.wait(), 2)
        assert not server.engine.ari_up
    finally:
        await server.stop()
