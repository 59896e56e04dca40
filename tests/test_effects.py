"""The effect runner (server/calls/effects.py): effects of one call in order, calls side by side, a
failing effect logged without stopping the next. Fast: no Asterisk."""
from __future__ import annotations

import asyncio

from cc_console.server.ari import AriError
from cc_console.server.calls.effects import EffectRunner


async def test_effects_of_one_call_run_in_order_and_calls_side_by_side(caplog):
    runner, done = EffectRunner(), []
    gate = asyncio.Event()

    async def effect(name: str, wait: asyncio.Event | None = None, fail: Exception | None = None) -> None:
        if wait is not None:
            await wait.wait()
        if fail is not None:
            raise fail
        done.append(name)

    runner.run(effect("c1: create bridge", gate), "create bridge", "c1")
    runner.run(effect("c1: fails", fail=AriError(404, "Channel not found", "/bridges/b1/addChannel")), "add leg", "c1")
    runner.run(effect("c1: add leg"), "add leg", "c1")
    runner.run(effect("c2: answer"), "answer", "c2")
    runner.run(effect("free: hangup"), "hangup")
    for _ in range(5):
        await asyncio.sleep(0)
    # c1 waits for its bridge; c2 and an effect without a key do not wait for c1
    assert done == ["c2: answer", "free: hangup"]
    gate.set()
    await runner.idle()
    assert done == ["c2: answer", "free: hangup", "c1: create bridge", "c1: add leg"]
    assert "add leg: ARI 404 on /bridges/b1/addChannel: Channel not found" in caplog.text
    assert not runner.tasks and not runner.chains  # nothing kept once a call's effects are done
