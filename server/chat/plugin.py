"""The chat capability: webchat and the chatbot API as written work items in the ACD (docs/chat.md).

Commands for agents and supervisors (chat.*), and for chatbots (chat.bot_*: an API client's token;
through REST they are POST /api/v1/commands/chat.bot_start and so on, in the OpenAPI document).
"""
from __future__ import annotations

import asyncio
from typing import Any

from cc_console.errors import Conflict, Forbidden, Invalid, NotFound
from cc_console.protocol import P_AGENT, P_SESSION, P_SUPERVISE, Arg, CommandSpec
from cc_console.server.capability import CallHooks, Capability, Context
from cc_console.server.store import capability_target

from .history import ChatHistory
from .service import ChatService, Conversation
from .settings import ChatSettings
from .store import ChatStore
from .visitors import Visitors

COMMANDS = (
    CommandSpec("chat.list", P_AGENT, {}, "The open chats I handle or was invited to (supervisors: all)."),
    CommandSpec("chat.accept", P_AGENT, {"id": Arg(str)}, "Accept the chat offered to me."),
    CommandSpec("chat.send", P_AGENT, {"id": Arg(str), "text": Arg(str)}, "Write to the visitor of a chat."),
    CommandSpec("chat.typing", P_AGENT, {"id": Arg(str), "on": Arg(bool)}, "Show the visitor that I am typing."),
    CommandSpec("chat.transfer", P_AGENT, {"id": Arg(str), "agent": Arg(str, False), "queue": Arg(str, False)},
                "Hand a chat to another agent or queue."),
    CommandSpec("chat.invite", P_AGENT, {"id": Arg(str), "user": Arg(str)},
                "Invite a supervisor or colleague into a chat."),
    CommandSpec("chat.close", P_AGENT, {"id": Arg(str), "category": Arg(str, False), "notes": Arg(str, False)},
                "Close a chat with a category and notes."),
    CommandSpec("chat.escalate", P_AGENT, {"id": Arg(str), "mode": Arg(str), "number": Arg(str),
                                           "when": Arg((int, float), False)},
                "Take a chat to the phone: mode call (dial the visitor now) or callback (book one)."),
    CommandSpec("chat.search", P_AGENT, {"q": Arg(str, False), "contact": Arg(str, False), "limit": Arg(int, False)},
                "Stored conversations by words and/or contact (agents: their own)."),
    CommandSpec("chat.transcript", P_AGENT, {"id": Arg(str), "email": Arg(str, False)},
                "A conversation's messages; with email, also sent there."),
    CommandSpec("chat.stats", P_SESSION, {}, "Chat figures per channel and queue, and per agent."),
    CommandSpec("chat.figures", P_AGENT, {"agent": Arg(str, False)},
                "An agent's own chat figures over 24 h, 7, 14 and 30 days (another agent's: supervisors)."),
    CommandSpec("chat.bot_start", P_AGENT, {"name": Arg(str), "email": Arg(str, False), "queue": Arg(str, False),
                                            "text": Arg(str, False)},
                "Chatbot: start a conversation (the bot answers until it hands over); returns id and token."),
    CommandSpec("chat.bot_say", P_AGENT, {"id": Arg(str), "text": Arg(str), "as": Arg(str, False)},
                "Chatbot: post the customer's message (as customer) or the bot's own answer (as bot)."),
    CommandSpec("chat.bot_read", P_AGENT, {"id": Arg(str), "after": Arg(int, False)},
                "Chatbot: the conversation's state and its messages after number `after` (agents' replies)."),
    CommandSpec("chat.bot_handover", P_AGENT, {"id": Arg(str), "queue": Arg(str, False)},
                "Chatbot: hand the conversation with its transcript to a person (within working hours)."),
)
EVENTS = ("chat.offer", "chat.update", "chat.message", "chat.typing", "chat.invite", "chat.stats")



def _who(s: Any) -> tuple[str, bool]:
    return s.principal.username, P_SUPERVISE in s.principal.permissions


class _Hooks(CallHooks):
    """An agent who becomes free for chats (a call and its wrap-up over, back from a pause, logged
    in) is offered the next waiting chat at once, not at the next tick."""

    def __init__(self, service: ChatService) -> None:
        self.service = service

    def agent_changed(self, agent: Any, previous: Any = None) -> None:
        if any(c.state == "queued" for c in self.service.live.values()):
            self.service.want_route()


class ChatCapability(Capability):
    def __init__(self, ctx: Context) -> None:
        self.settings = ctx.settings.section("chat", ChatSettings)
        self.store = ChatStore(capability_target(ctx.settings, "chat"))
        self.service = ChatService(self.settings, self.store, ctx.engine, ctx.publish)
        self.visitors = Visitors(self.service, ctx.principals)
        ctx.add_hooks(_Hooks(self.service))
        ctx.written.append(ChatHistory(self.store, self.settings.service_level))
        self.bots: dict[str, str] = {}  # conversation id -> the API client that started it

    def add_routes(self, app: Any) -> None:
        self.visitors.add_routes(app)

    async def start(self) -> None:
        await self.service.start()

    async def stop(self) -> None:
        await self.service.stop()
        await asyncio.to_thread(self.store.close)  # waits for the writes still queued

    def handlers(self) -> dict[str, Any]:
        svc = self.service

        def wrap(fn: Any) -> Any:
            # The service's refusals are domain errors: each front door words them alike.
            async def run(s: Any, r: Any) -> dict[str, Any]:
                out = fn(s, r.args)
                if hasattr(out, "__await__"):
                    out = await out
                result: dict[str, Any] = out
                return result
            return run

        def conv(c: Conversation) -> dict[str, Any]:
            return {"chat": {**c.public(), "messages": c.messages}}

        def search(s: Any, a: dict[str, Any]) -> Any:
            user, sup = _who(s)
            limit = max(1, min(int(a.get("limit", 50)), 500))
            return self._search(a.get("q", ""), a.get("contact", ""), "" if sup else user, limit)

        return {
            "chat.list": wrap(lambda s, a: {"chats": svc.mine_list(*_who(s))}),
            "chat.accept": wrap(lambda s, a: conv(svc.accept(_who(s)[0], a["id"]))),
            "chat.send": wrap(lambda s, a: {"message": svc.send(_who(s)[0], a["id"], a["text"],
                                                                supervise=_who(s)[1])}),
            "chat.typing": wrap(self._typing),
            "chat.transfer": wrap(lambda s, a: conv(svc.transfer(_who(s)[0], a["id"], agent=a.get("agent", ""),
                                                                 queue=a.get("queue", ""), supervise=_who(s)[1]))),
            "chat.invite": wrap(lambda s, a: conv(svc.invite(_who(s)[0], a["id"], a["user"], supervise=_who(s)[1]))),
            "chat.close": wrap(lambda s, a: conv(svc.close(_who(s)[0], a["id"], a.get("category", ""),
                                                           a.get("notes", ""), supervise=_who(s)[1]))),
            "chat.escalate": wrap(lambda s, a: svc.escalate(_who(s)[0], a["id"], a["mode"], a["number"],
                                                            a.get("when")).to_dict()),
            "chat.search": wrap(search),
            "chat.transcript": wrap(lambda s, a: self._transcript(s, a)),
            "chat.stats": wrap(lambda s, a: svc.stats()),
            "chat.figures": wrap(self._figures),
            "chat.bot_start": wrap(self._bot_start),
            "chat.bot_say": wrap(self._bot_say),
            "chat.bot_read": wrap(self._bot_read),
            "chat.bot_handover": wrap(lambda s, a: conv(self.service.handover(self._bot_conv(s, a["id"]),
                                                                              a.get("queue", "")))),
        }

    def _typing(self, s: Any, a: dict[str, Any]) -> dict[str, Any]:
        self.service.typing(_who(s)[0], a["id"], a["on"])
        return {}

    async def _figures(self, s: Any, a: dict[str, Any]) -> dict[str, Any]:
        user, sup = _who(s)
        agent = a.get("agent") or user
        if agent != user and not sup:
            raise Forbidden("Only supervisors see other agents' figures.")
        windows = await self.store.run(self.store.agent_figures, agent, self.service.clock(),
                                       self.settings.service_level)
        return {"agent": agent, "windows": windows, "chats_now": self.service.stats()["agents"]
                .get(agent, {}).get("chats", 0)}

    async def _search(self, q: str, contact: str, agent: str, limit: int) -> dict[str, Any]:
        return {"chats": await self.store.run(self.store.search, q, contact, agent, limit)}

    async def _transcript(self, s: Any, a: dict[str, Any]) -> dict[str, Any]:
        user, sup = _who(s)
        c = self.service.live.get(a["id"])
        if c is not None:
            if not sup and user != c.agent and user not in c.invited and user not in c.agents:
                raise Conflict("This chat is not yours.")
            messages = list(c.messages)
        else:
            found = await self.store.run(self.store.search, "", "", "" if sup else user, 100000)
            if not any(f["id"] == a["id"] for f in found):
                raise NotFound("There is no such chat.")
            rows = await self.store.run(self.store.messages, a["id"])
            messages = [self.service._numbered(m, i) for i, m in enumerate(rows, 1)]
        out: dict[str, Any] = {"messages": messages}
        if a.get("email"):
            out["sent_to"] = await self.service.transcript(a["id"], a["email"])
        return out

    # -- chatbots: a conversation is driven only by the client that started it ----------------------------
    def _bot_conv(self, s: Any, cid: str) -> Conversation:
        if self.bots.get(cid) != s.principal.username:
            raise NotFound("There is no such conversation of yours.")
        return self.service.get(cid)

    def _bot_start(self, s: Any, a: dict[str, Any]) -> dict[str, Any]:
        c, token = self.service.start_conversation(a["name"], a.get("email", ""), a.get("queue", ""), bot=True,
                                                   text=a.get("text", ""))
        self.bots[c.id] = s.principal.username
        return {"id": c.id, "token": token, "chat": c.public()}

    def _bot_say(self, s: Any, a: dict[str, Any]) -> dict[str, Any]:
        kind = a.get("as", "customer")
        if kind not in ("customer", "bot"):
            raise Invalid("as is customer or bot.")
        c = self._bot_conv(s, a["id"])
        return {"message": self.service.visitor_say(c, a["text"], sender="visitor" if kind == "customer" else "bot")}

    def _bot_read(self, s: Any, a: dict[str, Any]) -> dict[str, Any]:
        if self.bots.get(a["id"]) != s.principal.username:
            raise NotFound("There is no such conversation of yours.")
        c = self.service.live.get(a["id"])
        after = int(a.get("after", 0))
        if c is None:
            return {"state": "closed", "messages": []}
        return {"state": c.state, "agent": self.service._name(c.agent) if c.agent else None,
                "messages": [m for m in c.messages if m["n"] > after]}


def make(ctx: Context) -> ChatCapability:
    return ChatCapability(ctx)
