"""The console is the phone: console audio on a machine with no sound card.

PortAudio plays into a PulseAudio null sink (recorded from its monitor) and captures from a sine
source (the agent's voice: MIC_TONE) of a PulseAudio that the test runs itself. Real baresip phones
are the callers, each sending its own tone; a Goertzel filter finds who hears whom.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from cc_console.audio import ConsoleAudio
from cc_console.server.pbx.phones import phone_tone_freq, recent_tone_level, tone_level
from cc_console.server.pbx.phones import recorded_seconds as recorded_seconds_of
from cc_console.server.pbx.sandbox import MOH_TONE_FREQ

from .asterisk import channels_left, until
from .impaired import ImpairedLink
from .pulse import MIC_TONE, Pulse

pytestmark = pytest.mark.asterisk

HEARD = 0.02  # a tone of amplitude 0.3 measures ~0.1-0.3 when heard, under 0.005 when not


@pytest.fixture
async def pulse(monkeypatch):
    p = await Pulse().start()
    monkeypatch.setenv("PULSE_SERVER", p.server)
    try:
        yield p
    finally:
        await p.stop()


def recorded_seconds(ph) -> float:
    return recorded_seconds_of(ph.recorded_wav())


def level_now(ph, freq: float) -> float:
    """How loud ``freq`` is in what a phone has recorded of its call in the last moment."""
    return recent_tone_level(ph.recorded_wav(), freq)


async def until_true(check, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


class Window:
    """A stretch of what a phone and the console's speaker recorded, from ``skip`` s after now for ``span`` s."""

    def __init__(self, pulse: Pulse, ph, skip: float = 0.8, span: float = 1.5) -> None:
        self.pulse, self.ph, self.skip, self.span = pulse, ph, skip, span
        self.phone_mark = recorded_seconds(ph)
        self.speaker_mark = pulse.speaker_seconds()

    async def filled(self) -> Window:
        if self.phone_mark == 0.0:  # the phone's recording had not begun: the window starts when it does
            await until_true(lambda: recorded_seconds(self.ph) > 0, "the phone to record")
            self.phone_mark = recorded_seconds(self.ph)
        need = self.skip + self.span
        await until_true(lambda: recorded_seconds(self.ph) >= self.phone_mark + need
                         and self.pulse.speaker_seconds() >= self.speaker_mark + need, "audio recorded")
        self.speaker = self.pulse.speaker_wav(self.speaker_mark + self.skip)
        return self

    def at_phone(self, freq: float) -> float:
        """After the call: the phone's WAV is complete then."""
        return tone_level(self.ph.recorded_wav(), freq, start=self.phone_mark + self.skip, duration=self.span)

    def at_console(self, freq: float) -> float:
        return tone_level(self.speaker, freq, duration=self.span)


async def flowing(audio: ConsoleAudio, what: str = "the console's audio") -> None:
    """The call's audio flows and the console's microphone captures its tone: PortAudio's capture
    starts later than the call's audio on a loaded machine, and a window taken before it hears nothing."""
    await until_true(lambda: audio.active, f"{what} to start")
    await until_true(lambda: audio.mic_db > -40, f"{what}: the microphone to hear its tone")


async def console_audio(server, client, url: str = "") -> ConsoleAudio:
    audio = ConsoleAudio(url or server.url, client.token)
    await audio.start()
    return audio


async def test_console_audio_both_ways_and_hold(server, connect, pbx, phone, pulse):
    server.engine.agents["agent1"].device = "Console"
    caller = await phone("1005", auto_answer=True)
    f_caller = phone_tone_freq(1005)
    agent = await connect("agent1")
    audio = await console_audio(server, agent)
    try:
        await agent.call("agent.login")
        pulse.record_speaker()
        await caller.dial("5000")
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
        await agent.call("call.answer")
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="connected")
        await caller.wait_call_state("ESTABLISHED", timeout=10)
        await flowing(audio)

        # A phone's WAV has its length in the header only once the call ends: what the caller heard
        # is measured after the hang-up, what the console played at once.
        talk = await Window(pulse, caller).filled()
        assert talk.at_console(f_caller) > HEARD, "the caller's tone does not reach the console's speaker"
        assert talk.at_console(MIC_TONE) < HEARD / 4, "the console hears itself"

        # Mute in the console is real mute: no frame leaves it, so the caller hears nothing of it.
        audio.set_muted(True)
        muted = await Window(pulse, caller).filled()
        assert muted.at_console(f_caller) > HEARD
        audio.set_muted(False)

        await agent.call("call.hold", {"on": True})
        held = await Window(pulse, caller).filled()
        assert held.at_console(f_caller) < HEARD / 4, "the agent hears the held caller"

        await agent.call("call.hold", {"on": False})
        back = await Window(pulse, caller).filled()
        assert back.at_console(f_caller) > HEARD

        await agent.call("call.hangup")
        await caller.wait_call_state("CLOSED", timeout=10)
        await until_true(lambda: not audio.active, "the console's audio to stop")
        assert talk.at_phone(MIC_TONE) > HEARD, "the console's microphone does not reach the caller"
        assert muted.at_phone(MIC_TONE) < HEARD / 4, "the caller hears a muted console"
        assert held.at_phone(MOH_TONE_FREQ) > HEARD, "the held caller hears no music"
        assert held.at_phone(MIC_TONE) < HEARD / 4, "the held caller hears the agent"
        assert back.at_phone(MIC_TONE) > HEARD, "the caller does not hear the agent after the hold"
        assert audio.jitter.played > 100
    finally:
        await audio.close()


async def test_supervisor_listens_whispers_and_barges_with_console_audio(server, connect, pbx, phone, pulse):
    """The supervisor's console is their phone: in every mode they hear caller and agent; the agent
    hears their whisper, both hear their barge, nobody hears them listen."""
    server.engine.agents["sup1"].device = "Console"
    caller = await phone("1005", auto_answer=True)
    agent_phone = await phone("1001", auto_answer=True)
    f_caller, f_agent = phone_tone_freq(1005), phone_tone_freq(1001)
    agent = await connect("agent1")
    sup = await connect("sup1")
    audio = await console_audio(server, sup)
    try:
        await agent.call("agent.login")
        pulse.record_speaker()
        await caller.dial("5000")
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
        await agent.call("call.answer")
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="connected")
        await agent_phone.wait_call_state("ESTABLISHED", timeout=10)
        states: list[dict] = []
        sup.add_listener(lambda kind, data: states.append(data) if kind == "monitor.update" else None)
        windows: dict[str, tuple[Window, Window]] = {}
        for mode in ("listen", "whisper", "barge"):
            await sup.call("monitor.start", {"agent": "agent1", "mode": mode})
            await until(sup, lambda mode=mode: states and states[-1]["mode"] == mode and states[-1]["snoop_ready"],
                        timeout=15, what=f"{mode} snoop bridged")
            await flowing(audio, "the supervisor's console audio")
            if mode != "listen":  # the new snoop's whisper can take a moment on a loaded machine
                await until_true(lambda: level_now(agent_phone, MIC_TONE) > HEARD,
                                 f"{mode}: the agent to hear the supervisor")
            at_agent, at_caller = Window(pulse, agent_phone), Window(pulse, caller)
            await at_agent.filled()
            await at_caller.filled()
            windows[mode] = (at_agent, at_caller)
            assert at_agent.at_console(f_caller) > HEARD, f"{mode}: the supervisor does not hear the caller"
            assert at_agent.at_console(f_agent) > HEARD, f"{mode}: the supervisor does not hear the agent"
        await sup.call("monitor.stop")
        await until_true(lambda: not audio.active, "the supervisor's console audio to stop")
        await caller.hangup()
        await agent_phone.wait_call_state("CLOSED", timeout=10)
        heard_by_agent = {m: w[0].at_phone(MIC_TONE) for m, w in windows.items()}
        heard_by_caller = {m: w[1].at_phone(MIC_TONE) for m, w in windows.items()}
        assert heard_by_agent["listen"] < HEARD / 4 and heard_by_caller["listen"] < HEARD / 4, heard_by_agent
        assert heard_by_agent["whisper"] > HEARD and heard_by_caller["whisper"] < HEARD / 4, heard_by_caller
        assert heard_by_agent["barge"] > HEARD and heard_by_caller["barge"] > HEARD, heard_by_caller
    finally:
        await audio.close()


async def test_console_audio_over_an_impaired_link(server, connect, pbx, phone, pulse):
    """100 ms round trip and 2 % of the audio frames lost, both ways: the tones still get through."""
    server.engine.agents["agent1"].device = "Console"
    link = await ImpairedLink(server.url, delay=0.05, loss=0.02).start()
    caller = await phone("1005", auto_answer=True)
    f_caller = phone_tone_freq(1005)
    agent = await connect("agent1")
    audio = await console_audio(server, agent, link.url)
    try:
        await agent.call("agent.login")
        pulse.record_speaker()
        await caller.dial("5000")
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
        await agent.call("call.answer")
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "connected", what="connected")
        await caller.wait_call_state("ESTABLISHED", timeout=10)
        await flowing(audio)
        talk = await Window(pulse, caller, span=3.0).filled()
        assert talk.at_console(f_caller) > HEARD, "the caller's tone does not reach the console over the link"
        # a frame lost on its way to the console is concealed: awaited, since which frames the link
        # loses in a given stretch is chance (and one lost while the buffer ran dry plays as silence)
        await until_true(lambda: audio.jitter.concealed > 0, "a lost frame to be concealed")
        await agent.call("call.hangup")
        await caller.wait_call_state("CLOSED", timeout=10)
        assert talk.at_phone(MIC_TONE) > HEARD, "the console's tone does not reach the caller over the link"
        assert link.dropped_toward_console > 0, "the link lost nothing toward the console: the test tested no loss"
        assert link.dropped > link.dropped_toward_console, "the link lost nothing toward the server"
    finally:
        await audio.close()
        await link.stop()


async def test_consultation_and_conference_with_a_console_audio_target(server, connect, pbx, phone, pulse):
    """agent1 (a phone) consults agent2, whose console is the phone, then makes it a conference."""
    server.engine.agents["agent2"].device = "Console"
    caller = await phone("1005", auto_answer=True)
    agent_phone = await phone("1001", auto_answer=True)
    f_caller, f_agent = phone_tone_freq(1005), phone_tone_freq(1001)
    a1, a2 = await connect("agent1"), await connect("agent2")
    audio = await console_audio(server, a2)
    try:
        await a1.call("agent.login")
        pulse.record_speaker()
        await caller.dial("5000")
        await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "ringing", what="ringing")
        await a1.call("call.answer")
        await until(a1, lambda: (c := a1.state.my_call) and c["state"] == "connected", what="connected")
        await agent_phone.wait_call_state("ESTABLISHED", timeout=10)
        await a2.call("agent.login")
        call_id = a1.state.my_call["id"]
        await a1.call("call.consult", {"target": "agent:agent2"})
        await until(a1, lambda: (a1.state.calls[call_id].get("consult") or {}).get("state") == "talking",
                    what="the console-audio agent answered the consultation")
        await flowing(audio, "agent2's console audio")
        consult = await Window(pulse, agent_phone).filled()
        assert consult.at_console(f_agent) > HEARD, "agent2 does not hear agent1 in the consultation"
        assert consult.at_console(f_caller) < HEARD / 4, "agent2 hears the held caller"

        await a1.call("call.conference")
        await until(a1, lambda: (a1.state.calls[call_id].get("consult") or {}).get("state") == "conference",
                    what="conference")
        conference = await Window(pulse, caller).filled()
        assert conference.at_console(f_caller) > HEARD, "agent2 does not hear the caller in the conference"
        assert conference.at_console(f_agent) > HEARD, "agent2 does not hear agent1 in the conference"

        await caller.hangup()
        await caller.wait_call_state("CLOSED", timeout=10)
        await agent_phone.wait_call_state("CLOSED", timeout=15)
        assert consult.at_phone(MIC_TONE) > HEARD, "agent1 does not hear agent2's console in the consultation"
        assert conference.at_phone(MIC_TONE) > HEARD, "the caller does not hear agent2's console in the conference"
    finally:
        await audio.close()


async def test_the_agent_screen_connects_console_audio(server, connect, pulse, monkeypatch, tmp_path):
    """An agent whose device is Console gets the audio panel on their screen, and its audio connects."""
    from cc_console.tui import CCConsoleApp
    from cc_console.widgets.audio import AudioPanel

    monkeypatch.setenv("CC_CONSOLE_DATA_DIR", str(tmp_path))
    server.engine.agents["agent1"].device = "Console"
    client = await connect("agent1")
    relay = server.capabilities["audio"].relay
    app = CCConsoleApp(client=client, mode="agent", keymap={})
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(200):
            panels = app.screen.query(AudioPanel)
            if panels and panels.first().audio is not None and "agent1" in relay.consoles:
                break
            await pilot.pause(0.05)
        else:
            raise AssertionError("the agent screen did not connect console audio")
        panel = panels.first()
        assert panel.problem == "" and panel.device == "pulse"
        await pilot.press("m")  # mute: the console's own mute too, not only the server's
        await pilot.pause()
        assert panel.audio.muted


async def test_the_supervisor_screen_connects_console_audio(server, connect, pulse, monkeypatch, tmp_path):
    from cc_console.tui import CCConsoleApp
    from cc_console.widgets.audio import AudioPanel

    monkeypatch.setenv("CC_CONSOLE_DATA_DIR", str(tmp_path))
    server.engine.agents["sup1"].device = "Console"
    client = await connect("sup1")
    relay = server.capabilities["audio"].relay
    app = CCConsoleApp(client=client, mode="supervisor", keymap={})
    async with app.run_test(size=(160, 48)) as pilot:
        for _ in range(200):
            panels = app.screen.query(AudioPanel)
            if panels and panels.first().audio is not None and "sup1" in relay.consoles:
                break
            await pilot.pause(0.05)
        else:
            raise AssertionError("the supervisor screen did not connect console audio")


async def test_an_offer_to_a_console_without_audio_is_an_unreachable_device(server, connect, pbx):
    """The agent's device is Console but their console has no audio connected: like an unplugged
    phone, the offer fails, the call goes back to the queue and the agent is paused."""
    server.engine.agents["agent1"].device = "Console"
    agent = await connect("agent1")
    await agent.call("agent.login")
    call = await pbx.place_call("5000")
    try:
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
        await agent.call("call.answer")
        await until(agent, lambda: (a := agent.state.my_agent) and a["state"] == "paused", timeout=15,
                    what="the agent paused")
        assert agent.state.my_agent["reason"] == "device unreachable"
        assert not server.capabilities["audio"].relay.legs
    finally:
        await pbx.hangup(call.outer)


async def test_an_outbound_call_from_a_console_audio_agent(server, connect, pbx, phone, pulse):
    """The agent dials out: their console leg first, then the number; both hear each other."""
    server.engine.agents["agent1"].device = "Console"
    callee = await phone("1004", auto_answer=True)
    f_callee = phone_tone_freq(1004)
    agent = await connect("agent1")
    audio = await console_audio(server, agent)
    try:
        await agent.call("agent.login")
        pulse.record_speaker()
        res = await agent.call("call.dial", {"number": "1004"})
        cid = res["call"]["id"]
        await until(agent, lambda: (c := agent.state.calls.get(cid)) and c["state"] == "connected", what="reached")
        await callee.wait_call_state("ESTABLISHED", timeout=10)
        await flowing(audio)
        talk = await Window(pulse, callee).filled()
        assert talk.at_console(f_callee) > HEARD, "the called party does not reach the console"
        await agent.call("call.hangup")
        await callee.wait_call_state("CLOSED", timeout=10)
        assert talk.at_phone(MIC_TONE) > HEARD, "the console does not reach the called party"
    finally:
        await audio.close()


async def test_a_media_websocket_that_does_not_open_is_an_unreachable_device(server, connect, pbx, pulse):
    """Asterisk's media websocket for the new leg cannot be opened: the offer fails at once like an
    unreachable phone (not after the ring timeout as an unanswered one), and the leg is hung up."""
    server.engine.agents["agent1"].device = "Console"
    relay = server.capabilities["audio"].relay
    relay._media_url = lambda connection_id: ("ws://127.0.0.1:9/media/" + connection_id, None)
    agent = await connect("agent1")
    audio = await console_audio(server, agent)
    call = await pbx.place_call("5000")
    try:
        await agent.call("agent.login")
        await until(agent, lambda: (c := agent.state.my_call) and c["state"] == "ringing", what="ringing")
        await agent.call("call.answer")
        await until(agent, lambda: (a := agent.state.my_agent) and a["state"] == "paused", timeout=15,
                    what="the agent paused")
        assert agent.state.my_agent["reason"] == "device unreachable"
        await server.engine.idle()
        assert not [c for c in await channels_left(pbx, "cc-") if c.endswith("-1")]
    finally:
        await audio.close()
        await pbx.hangup(call.outer)
