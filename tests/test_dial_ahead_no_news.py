"""A callee dialled ahead (a campaign's contact) whose answer or hang-up Asterisk never reported:
once the ring time is over the engine asks Asterisk, so a campaign never waits on it for ever (a
full run once saw such a call stay "ringing" past the test's 90 s)."""
from __future__ import annotations

import asyncio

import pytest

from cc_console.models import CallState
from cc_console.server.ari import Channel

from .floor import Floor


async def ended_or_moved(call, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while call.state is CallState.RINGING:
        assert asyncio.get_running_loop().time() < deadline, "the call is still ringing"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("asterisk_says,then", [
    (None, CallState.ENDED),  # gone: not reached
    ("Ring", CallState.ENDED),  # still ringing past Asterisk's own ring time: hung up, not reached
    ("Up", CallState.QUEUED),  # answered: waits for an agent, ahead of the queue's callers
])
async def test_no_news_from_asterisk_asks_where_the_callee_is(floor: Floor, asterisk_says, then):
    floor.eng.ahead_no_news = 0.05
    asked: list[str] = []

    async def get_channel(channel_id: str) -> Channel | None:
        asked.append(channel_id)
        return None if asterisk_says is None else Channel(channel_id, channel_id, asterisk_says)
    floor.eng.ari.get_channel = get_channel  # type: ignore[method-assign]
    call = floor.eng.dial_ahead("760", queue="support")
    await ended_or_moved(call)
    assert asked == [call.channel]
    assert call.state is then
    if then is CallState.ENDED:
        assert call.end_reason == "not_reached"
        ended = [e for e in floor.eng.store.events(kinds=("call.ended",)) if e.call_id == call.id]
        assert ended and ended[0].data["outcome"] == "not_reached"
    hung_up = [a for name, a in floor.sent if name == "hangup" and a[0] == call.channel]
    assert bool(hung_up) == (asterisk_says == "Ring")


async def test_news_in_time_asks_nothing(floor: Floor):
    floor.eng.ahead_no_news = 0.05
    asked: list[str] = []

    async def get_channel(channel_id: str) -> Channel | None:
        asked.append(channel_id)
        return None
    floor.eng.ari.get_channel = get_channel  # type: ignore[method-assign]
    call = floor.eng.dial_ahead("770", queue="support")
    await floor.idle()
    await floor.event("StasisStart", call.channel, "outremote", call.id)
    assert call.state is CallState.QUEUED
    assert ("dial", call.id) not in floor.eng._timers
    assert asked == []


@pytest.mark.parametrize("state,then", [("Up", CallState.QUEUED), ("Ring", CallState.RINGING)])
async def test_a_resync_finds_a_callee_who_answered_while_we_were_away(floor: Floor, state, then):
    call = floor.eng.dial_ahead("770", queue="support")
    await floor.idle()

    async def request(method: str, path: str, **_: object) -> object:
        assert (method, path) == ("GET", "/channels")
        return [{"id": call.channel, "name": "Local/770@cc-callees-1;1", "state": state,
                 "dialplan": {"app_name": "Stasis", "app_data": f"app,outremote,{call.id}"}}]
    floor.eng.ari.request = request  # type: ignore[method-assign]
    await floor.eng.resync()
    assert call.state is then
    assert (("dial", call.id) in floor.eng._timers) == (state == "Ring")  # the no-news check armed again
