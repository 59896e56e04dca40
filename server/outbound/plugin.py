"""Outbound campaigns as a capability (server/capability.py): supervisors make, start, pause and
finish campaigns, import their lists, keep the do-not-call list; the dialer (dialer.py) calls the
contacts of running campaigns for the free agents of each campaign's queue. docs/outbound.md.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cc_console.errors import Forbidden
from cc_console.protocol import P_AGENT, P_SUPERVISE, Arg, CommandSpec, Request
from cc_console.server.capability import Capability, Context, Handler
from cc_console.server.store import capability_target
from cc_console.server.tts import Tts, TtsError

from .campaigns import CampaignError, CampaignNotFound
from .dialer import Dialer
from .lists import ListError
from .pacing import PacerSettings
from .service import OutboundService
from .store import OutboundStore

log = logging.getLogger(__name__)

_CAMPAIGN_ARGS = {
    "name": Arg(str, False), "queue": Arg(str, False), "mode": Arg(str, False), "priority": Arg(int, False),
    "caller_id": Arg(str, False), "record": Arg(bool, False), "amd": Arg(bool, False),
    "machine_message": Arg(str, False), "announcement": Arg(str, False), "timezone": Arg(str, False),
    "window": Arg(dict, False),
    "retries": Arg(dict, False), "mapping": Arg(dict, False, str), "script": Arg(str, False),
}
COMMANDS = (
    CommandSpec("campaign.create", P_SUPERVISE, {**_CAMPAIGN_ARGS, "name": Arg(str), "queue": Arg(str)},
                "Make a campaign (draft): queue, dial mode, priority, caller ID, window, retries, mapping, script."),
    CommandSpec("campaign.update", P_SUPERVISE, {"id": Arg(str), **_CAMPAIGN_ARGS},
                "Change a campaign's settings (not its state); also while it runs."),
    CommandSpec("campaign.list", P_SUPERVISE, {}, "Every campaign, highest priority first."),
    CommandSpec("campaign.get", P_SUPERVISE, {"id": Arg(str)}, "One campaign with its progress."),
    CommandSpec("campaign.report", P_SUPERVISE, {"id": Arg(str)},
                "A campaign's figures: attempts, outcomes, reach and abandonment rates, script answers."),
    CommandSpec("campaign.start", P_SUPERVISE, {"id": Arg(str)}, "Start (or resume) a campaign."),
    CommandSpec("campaign.pause", P_SUPERVISE, {"id": Arg(str)}, "Pause a running campaign."),
    CommandSpec("campaign.finish", P_SUPERVISE, {"id": Arg(str)}, "Finish a campaign for good."),
    CommandSpec("campaign.import", P_SUPERVISE,
                {"id": Arg(str), "format": Arg(str), "data": Arg(str), "mapping": Arg(dict, False, str)},
                "Add a CSV (text) or Excel (base64) list through the campaign's column mapping."),
    CommandSpec("campaign.contacts", P_SUPERVISE, {"id": Arg(str)}, "A campaign's contacts with attempts and outcome."),
    CommandSpec("campaign.contact_remove", P_SUPERVISE, {"id": Arg(str), "contact": Arg(int)},
                "Take a contact off a campaign's list (not while it is being called)."),
    CommandSpec("dnc.add", P_SUPERVISE, {"number": Arg(str), "reason": Arg(str, False)},
                "Put a number on the do-not-call list."),
    CommandSpec("dnc.remove", P_SUPERVISE, {"number": Arg(str)}, "Take a number off the do-not-call list."),
    CommandSpec("dnc.list", P_SUPERVISE, {}, "The do-not-call list."),
    CommandSpec("campaign.reschedule", P_AGENT,
                {"call_id": Arg(str), "when": Arg((int, float, str)), "mine": Arg(bool, False)},
                "Have a campaign call's contact called again then (by me, or by the team); checked against "
                "the calling hours and the team's."),
    CommandSpec("campaign.preview", P_AGENT, {},
                "The next contact of a preview campaign of my queues, kept for me until I dial or skip it."),
    CommandSpec("campaign.preview_dial", P_AGENT, {"contact": Arg(int)}, "Call the contact I am previewing."),
    CommandSpec("campaign.preview_skip", P_AGENT, {"contact": Arg(int)},
                "Give the contact I am previewing back to the campaign uncalled."),
    CommandSpec("script.get", P_AGENT, {"call_id": Arg(str)},
                "The call script of a campaign call: questions, answers given so far, the question to ask now."),
    CommandSpec("script.answer", P_AGENT, {"call_id": Arg(str), "question": Arg(str), "answer": Arg(str)},
                "Store the callee's answer to a script question; the script as it goes on."),
)
EVENTS = ("campaign.update",)


@dataclass
class OutboundSettings:
    """[outbound] in config.toml."""

    tick: float = 1.0  # seconds between the dialer's looks at due contacts (a freed agent wakes it at once)
    # How a contact's number is dialled, {number} in it (empty: as the agent's own outbound calls,
    # through the server's dial template); the sandbox's simulated callees: Local/{number}@cc-callees/n
    dial_template: str = ""
    # Predictive dialing (docs/outbound.md): a callee who answered gets an agent within this many
    # seconds, or hears the abandon message (media URIs, comma-separated) and is hung up.
    connect_limit: float = 2.0
    abandon_media: str = "sound:im-sorry,sound:please-try-call-later"
    # Or the message as text, spoken by espeak-ng when the server starts (replaces abandon_media),
    # e.g. "This is Acme Insurance. Sorry, all our agents are busy; we will call you again."
    abandon_text: str = ""
    language: str = "en"  # of abandon_text
    # How Asterisk finds the PBX's sounds folder, where the spoken message is written (as [ivr]'s)
    media_prefix: str = "sound:/var/lib/asterisk/sounds/custom/"
    abandon_cap: float = 0.03  # abandoned among the answered calls, per campaign over abandon_window
    abandon_window: float = 24 * 3600.0
    min_samples: int = 30  # outcomes measured before the pacer dials ahead of free agents
    max_ratio: float = 3.0  # at most this many calls in flight per available agent
    # How a contact of a campaign with answering-machine detection is dialled ({number} in it): a
    # dialplan context that runs AMD() on the answered callee (the sandbox's cc-outbound-amd).
    amd_dial_template: str = ""
    handling_time: float = 120.0  # the first guess at talk + wrap-up, until the campaign's calls are measured


class Outbound(Capability):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = ctx.settings.section("outbound", OutboundSettings)
        self.store = OutboundStore(capability_target(ctx.settings, "outbound"))
        self.service = OutboundService(self.store)
        st = self.settings
        self.dialer = Dialer(
            ctx, self.service, tick=st.tick, dial_template=st.dial_template, connect_limit=st.connect_limit,
            abandon_media=[m.strip() for m in st.abandon_media.split(",") if m.strip()],
            pacing=PacerSettings(abandon_cap=st.abandon_cap, window=st.abandon_window, min_samples=st.min_samples,
                                 max_ratio=st.max_ratio),
            handling_time=st.handling_time, amd_dial_template=st.amd_dial_template)
        ctx.add_hooks(self.dialer)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    def _publish(self, campaign: dict[str, Any]) -> None:
        # an empty audience reaches only the consoles that see everything: the supervisors
        self.ctx.publish("campaign.update", campaign, frozenset())

    async def _create(self, s: Any, r: Request) -> dict[str, Any]:
        c = (await self._run(self.service.create, dict(r.args))).to_dict()
        self._publish(c)
        return {"campaign": c}

    async def _update(self, s: Any, r: Request) -> dict[str, Any]:
        values = {k: v for k, v in r.args.items() if k != "id"}
        c = (await self._run(self.service.update, r.args["id"], values)).to_dict()
        self._publish(c)
        return {"campaign": c}

    async def _act(self, action: str, s: Any, r: Request) -> dict[str, Any]:
        c = (await self._run(self.service.act, r.args["id"], action)).to_dict()
        self._publish(c)
        return {"campaign": c}

    async def _list(self, s: Any, r: Request) -> dict[str, Any]:
        return {"campaigns": [c.to_dict() for c in await self._run(self.service.campaigns)]}

    async def _get(self, s: Any, r: Request) -> dict[str, Any]:
        c = await self._run(self.service.get, r.args["id"])
        progress = await self._run(self.service.progress, r.args["id"])
        return {"campaign": c.to_dict(), "progress": progress.to_dict()}

    async def _report(self, s: Any, r: Request) -> dict[str, Any]:
        return {"report": await self._run(self.service.report, r.args["id"])}

    async def _import(self, s: Any, r: Request) -> dict[str, Any]:
        fmt = r.args["format"].lower()
        if fmt == "xlsx":
            try:
                data = base64.b64decode(r.args["data"], validate=True)
            except (binascii.Error, ValueError):
                raise ListError("An Excel list is sent base64-encoded") from None
        else:
            data = r.args["data"].encode("utf-8")
        result = await self._run(self.service.import_list, r.args["id"], data, fmt, r.args.get("mapping"))
        return result.to_dict()

    async def _contacts(self, s: Any, r: Request) -> dict[str, Any]:
        return {"contacts": await self._run(self.service.contacts, r.args["id"])}

    async def _contact_remove(self, s: Any, r: Request) -> dict[str, Any]:
        await self._run(self.service.remove_contact, r.args["id"], r.args["contact"])
        return {}

    async def _dnc_add(self, s: Any, r: Request) -> dict[str, Any]:
        who = getattr(s.principal, "username", "")
        number = await self._run(self.service.dnc_add, r.args["number"], r.args.get("reason", ""), who)
        return {"number": number}

    async def _dnc_remove(self, s: Any, r: Request) -> dict[str, Any]:
        if not await self._run(self.service.dnc_remove, r.args["number"]):
            raise CampaignNotFound("The number is not on the do-not-call list")
        return {}

    async def _dnc_list(self, s: Any, r: Request) -> dict[str, Any]:
        return {"numbers": await self._run(self.store.dnc_list)}

    async def _script_get(self, s: Any, r: Request) -> dict[str, Any]:
        return dict(await self._run(self.service.script_for_call, r.args["call_id"]))

    async def _script_answer(self, s: Any, r: Request) -> dict[str, Any]:
        who = getattr(s.principal, "username", "")
        return dict(await self._run(self.service.answer, r.args["call_id"], r.args["question"], r.args["answer"], who))

    async def _reschedule(self, s: Any, r: Request) -> dict[str, Any]:
        who = getattr(s.principal, "username", "")
        c = await self._run(self.service.campaign_of_call, r.args["call_id"])
        queue = self.ctx.engine.cfg.queues.get(c.queue)

        def team_open(at: float) -> bool:
            return queue is None or queue.schedule.is_open(at)
        contact = await asyncio.to_thread(self.service.reschedule, r.args["call_id"], r.args["when"], who,
                                          mine=bool(r.args.get("mine", False)), team_open=team_open,
                                          supervisor=P_SUPERVISE in getattr(s.principal, "permissions", ()))
        return {"contact": contact}

    def _agent(self, s: Any) -> Any:
        agent = self.ctx.engine.agents.get(getattr(s.principal, "username", ""))
        if agent is None:
            raise Forbidden("Only agents take part in campaigns")
        return agent

    async def _preview(self, s: Any, r: Request) -> dict[str, Any]:
        agent = self._agent(s)
        return {"contact": await self._run(self.service.preview_next, agent.id, list(agent.queues))}

    async def _preview_dial(self, s: Any, r: Request) -> dict[str, Any]:
        agent = self._agent(s)
        contact, c = await self._run(self.service.previewed, r.args["contact"], agent.id)
        if contact["id"] in self.dialer.calls.values():
            raise CampaignError("You are already calling this contact")
        call = self.dialer.dial_for(c, contact, agent.id)  # the engine's refusal goes to the agent as it is
        await self._run(self.service.dialing, contact["id"], call.id, agent.id)
        return {"call": call.to_dict()}

    async def _preview_skip(self, s: Any, r: Request) -> dict[str, Any]:
        agent = self._agent(s)
        contact, _ = await self._run(self.service.previewed, r.args["contact"], agent.id)
        if contact["id"] in self.dialer.calls.values():
            raise CampaignError("You are already calling this contact")
        await self._run(self.service.release, contact["id"])
        return {}

    def handlers(self) -> dict[str, Handler]:
        return {
            "campaign.create": self._create, "campaign.update": self._update,
            "campaign.list": self._list, "campaign.get": self._get, "campaign.report": self._report,
            "campaign.start": functools.partial(self._act, "start"),
            "campaign.pause": functools.partial(self._act, "pause"),
            "campaign.finish": functools.partial(self._act, "finish"),
            "campaign.import": self._import, "campaign.contacts": self._contacts,
            "campaign.contact_remove": self._contact_remove,
            "dnc.add": self._dnc_add, "dnc.remove": self._dnc_remove, "dnc.list": self._dnc_list,
            "campaign.reschedule": self._reschedule, "campaign.preview": self._preview,
            "campaign.preview_dial": self._preview_dial, "campaign.preview_skip": self._preview_skip,
            "script.get": self._script_get, "script.answer": self._script_answer,
        }

    async def start(self) -> None:
        if self.settings.abandon_text:
            tts = Tts(self.ctx.settings.pbx.sounds_path, self.settings.media_prefix)
            try:
                self.dialer.abandon_media = [await tts.media(self.settings.abandon_text, self.settings.language)]
            except (TtsError, OSError) as exc:
                log.error("the abandon message could not be spoken, the recorded one is played: %s", exc)
        await self.dialer.start()

    async def stop(self) -> None:
        await self.dialer.stop()
        self.store.close()


def make(ctx: Context) -> Capability:
    return Outbound(ctx)
