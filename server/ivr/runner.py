"""Running IVR trees over ARI: the engine's front for inbound calls.

The call engine asks us first for every inbound call (`take`); while a caller is in a tree we get
its keys (`dtmf`) and the ends of our prompts (`played`), and when the tree chooses where the
call goes we hand it back with `engine.leave_ivr`. The call stays ENTERING, stage `before_ivr`
(the tree's welcome) then `ivr`, so an abandon is counted in the right stage.

Each step is an `ivr.*` event in the store (entered, node, choice, timeout, invalid, closed,
lookup, left); the IVR report (report.py) reads them.
"""
from __future__ import annotations

import asyncio
import logging
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from cc_console.models import Call, CallState
from cc_console.server.ari import AriError

from .tree import Action, IvrConfig, Node, Tree
from .tts import Tts

log = logging.getLogger(__name__)


@dataclass
class Session:
    call_id: str
    tree: Tree  # the version the call started with: a reload does not change it
    entered: float
    node: Node | None = None
    node_entered: float = 0.0
    tries: int = 0  # prompts replayed at this node after a timeout or a wrong key
    token: int = 0  # the prompt now expected to end; an older one's end is ignored
    playback: str = ""
    waiting: bool = False  # the prompt has ended: waiting for a key
    path: list[str] = field(default_factory=list)  # tree/node names the caller went through
    tags: dict[str, str] = field(default_factory=dict)
    skills: tuple[str, ...] = ()
    priority: int | None = None
    timer: asyncio.TimerHandle | None = None


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise KeyError(key)


class IvrRunner:
    def __init__(self, engine: Any, store: Any, tts: Tts, *, clock: Callable[[], float],
                 spawn: Callable[[Any, str], None]) -> None:
        self.engine = engine
        self.store = store
        self.tts = tts
        self.clock = clock
        self.spawn = spawn
        self.cfg = IvrConfig()
        self.dids: dict[str, str] = {}  # number -> tree, of the trees in force
        self.sessions: dict[str, Session] = {}
        self._http: aiohttp.ClientSession | None = None

    # -- configuration ---------------------------------------------------------------------------------
    def use(self, cfg: IvrConfig) -> None:
        """A new version of the trees: new calls get it, calls in a tree keep theirs."""
        self.cfg = cfg
        self.dids = cfg.did_map()

    async def close(self) -> None:
        for s in self.sessions.values():
            if s.timer:
                s.timer.cancel()
        if self._http is not None:
            await self._http.close()

    # -- the engine's front interface ------------------------------------------------------------------
    def home_queue(self, did: str) -> str | None:
        tree = self.cfg.trees.get(self.dids.get(did, ""))
        return tree.queue if tree and tree.queue in self.engine.cfg.queues else None

    def take(self, call: Call) -> bool:
        old = self.sessions.pop(call.id, None)
        if old is not None:  # a resync after a lost connection: the node's prompt starts again
            self._cancel(old)
            old.token += 1
            self.sessions[call.id] = old
            if old.node is not None:
                self._start_node(call, old, old.node, again=True)
            else:
                self._say(call, old, [("text", old.tree.welcome)])
            return True
        tree = self.cfg.trees.get(self.dids.get(call.did, ""))
        if tree is None or tree.start not in tree.nodes or tree.queue not in self.engine.cfg.queues:
            return False
        s = Session(call.id, tree, self.clock())
        self.sessions[call.id] = s
        call.stage = "before_ivr"
        self._record("ivr.entered", call, tree=tree.name)
        if tree.welcome:
            self._say(call, s, [("text", tree.welcome)])
        else:
            self._start_node(call, s, tree.nodes[tree.start])
        return True

    def dtmf(self, call: Call, digit: str) -> bool:
        s = self.sessions.get(call.id)
        if s is None:
            return False
        node = s.node
        if node is None or not node.options:
            return True  # a welcome or a message: keys do nothing here, and never reach the queue
        self._cancel(s)
        if s.playback and not s.waiting:  # the caller knows the menu: stop the prompt at once
            self.engine.stop_play(call, s.playback)
        s.token += 1
        action = node.options.get(digit)
        if action is not None:
            self._record("ivr.choice", call, tree=s.tree.name, node=node.name, key=digit, to=str(action))
            self._act(call, s, action)
            return True
        s.tries += 1
        self._record("ivr.invalid", call, tree=s.tree.name, node=node.name, key=digit, tries=s.tries)
        if s.tries > node.retries:
            self._act(call, s, node.on_invalid)
        else:
            self._prompt(call, s, invalid=True)
        return True

    def played(self, call: Call, purpose: str) -> None:
        s = self.sessions.get(call.id)
        if s is None or purpose != f"ivr:{s.token}":
            return  # a prompt that was cut short by a key
        s.playback = ""
        if s.node is None:  # the welcome ended
            self._start_node(call, s, s.tree.nodes[s.tree.start])
            return
        node = s.node
        assert node is not None
        if node.options:
            s.waiting = True
            s.timer = asyncio.get_running_loop().call_later(node.timeout, self._timeout, call.id, s.token)
        elif node.next:
            self._act(call, s, node.next)

    def play_failed(self, call: Call, purpose: str) -> None:
        """Asterisk refused the prompt. A caller who is still there must not wait in silence: go on as
        if it was heard; a caller who hung up is left to the hang-up, in the stage they were in."""
        async def check() -> None:
            try:
                await self.engine.ari.request("GET", f"/channels/{call.channel}")
            except AriError as exc:
                if exc.status == 404:
                    return
            self.played(call, purpose)
        self.spawn(check(), f"IVR prompt failed for {call.id}")

    def call_ended(self, call: Call, kind: str) -> None:
        s = self.sessions.pop(call.id, None)
        if s is None:
            return
        self._cancel(s)
        now = self.clock()
        stage = "before_ivr" if s.node is None else "ivr"
        self._record("ivr.left", call, tree=s.tree.name, node=s.node.name if s.node else "",
                     outcome="abandoned" if kind == "call.abandoned" else kind.removeprefix("call."),
                     stage=stage, path="/".join(s.path), seconds=round(now - s.entered, 3), tags=s.tags)

    # -- walking the tree ------------------------------------------------------------------------------
    def _start_node(self, call: Call, s: Session, node: Node, *, again: bool = False) -> None:
        if node.schedule is not None and node.closed is not None and not node.schedule.is_open(self.clock()):
            self._record("ivr.closed", call, tree=s.tree.name, node=node.name, to=str(node.closed))
            self._act(call, s, node.closed)
            return
        call.stage = "ivr"
        if not again:
            s.node, s.node_entered, s.tries = node, self.clock(), 0
            s.path.append(node.name)
            s.tags.update(node.tags)
            if node.skills:
                s.skills = node.skills
            if node.priority is not None:
                s.priority = node.priority
            self._record("ivr.node", call, tree=s.tree.name, node=node.name, tags=dict(node.tags))
        self._prompt(call, s)

    def _prompt(self, call: Call, s: Session, *, invalid: bool = False) -> None:
        node = s.node
        assert node is not None
        s.waiting = False
        parts: list[tuple[str, str]] = []
        if invalid and node.invalid_prompt:
            parts.append(("text", node.invalid_prompt))
        if node.lookup is not None:
            parts.append(("lookup", ""))
        if node.media:
            parts.append(("media", node.media))
        elif node.prompt:
            parts.append(("node", node.prompt))
        self._say(call, s, parts)

    def _say(self, call: Call, s: Session, parts: list[tuple[str, str]]) -> None:
        """Speak the parts (texts, the node's prompt, a lookup's answer, recorded media) as one playback;
        its end comes back through played()."""
        s.token += 1
        token = s.token
        lang = s.tree.language

        async def go() -> None:
            media: list[str] = []
            for kind, value in parts:
                if kind == "media":
                    media.append(value)
                elif kind == "node":
                    assert s.node is not None
                    media.append(await self.tts.recorded(s.tree.name, s.node.name) or await self.tts.media(value, lang))
                elif kind == "lookup":
                    text = await self._lookup(call, s)
                    if text:
                        media.append(await self.tts.media(text, lang))
                else:
                    media.append(await self.tts.media(value, lang))
            if s.token != token or self.sessions.get(call.id) is not s or call.state is CallState.ENDED:
                return  # a key or a hang-up came while the prompt was being made
            if not media:
                self.played(call, f"ivr:{token}")
                return
            s.playback = self.engine.play(call, media, f"ivr:{token}")

        async def guarded() -> None:
            try:
                await go()
            except Exception:
                # The caller must not wait in silence for ever: go on as if the prompt was heard.
                log.exception("IVR prompt for call %s failed", call.id)
                if s.token == token and self.sessions.get(call.id) is s:
                    self.played(call, f"ivr:{token}")
        self.spawn(guarded(), f"IVR prompt for {call.id}")

    def _timeout(self, call_id: str, token: int) -> None:
        s = self.sessions.get(call_id)
        call = self.engine.calls.get(call_id)
        if s is None or call is None or s.token != token or s.node is None:
            return
        s.timer = None
        s.tries += 1
        self._record("ivr.timeout", call, tree=s.tree.name, node=s.node.name, tries=s.tries)
        if s.tries > s.node.retries:
            self._act(call, s, s.node.on_timeout)
        else:
            self._prompt(call, s)

    def _act(self, call: Call, s: Session, action: Action) -> None:
        self._cancel(s)
        if action.kind == "goto":
            self._start_node(call, s, s.tree.nodes[action.target])
        elif action.kind == "repeat":
            assert s.node is not None
            s.tries = 0
            self._prompt(call, s)
        elif action.kind == "tree":
            tree = self.cfg.trees.get(action.target)
            if tree is None or tree.start not in tree.nodes:
                log.error("IVR tree %s: no tree %r to go to; call %s goes to the home queue",
                          s.tree.name, action.target, call.id)
                self._leave(call, s, Action("queue", s.tree.queue))
                return
            s.tree = tree
            s.path.append(f"{tree.name}:")
            self._start_node(call, s, tree.nodes[tree.start])
        else:
            self._leave(call, s, action)

    def _leave(self, call: Call, s: Session, action: Action) -> None:
        self.sessions.pop(call.id, None)
        s.token += 1
        call.tags = {**call.tags, **s.tags}
        if s.skills or action.kind == "queue":
            call.skills = list(s.skills)  # empty: the engine gives the queue's own skills
        if s.priority is not None:
            call.priority = max(call.priority, s.priority)
        self._record("ivr.left", call, tree=s.tree.name, node=s.node.name if s.node else "", outcome=str(action),
                     stage="ivr", path="/".join(s.path), seconds=round(self.clock() - s.entered, 3), tags=s.tags)
        self.engine.leave_ivr(call, action.kind, action.target)

    def _cancel(self, s: Session) -> None:
        if s.timer is not None:
            s.timer.cancel()
            s.timer = None

    # -- lookups in an internal system -------------------------------------------------------------------
    async def _lookup(self, call: Call, s: Session) -> str:
        node = s.node
        assert node is not None and node.lookup is not None
        lk = node.lookup
        values = _Fields({"caller": call.caller, "did": call.did, **s.tags})
        try:
            url = string.Formatter().vformat(lk.url, (), values)
        except (KeyError, ValueError):
            log.warning("IVR lookup at %s/%s: the URL %s names an unknown field", s.tree.name, node.name, lk.url)
            return lk.fallback
        if self._http is None:
            self._http = aiohttp.ClientSession()
        ok = False
        answer: dict[str, Any] = {}
        try:
            async with self._http.get(url, timeout=aiohttp.ClientTimeout(total=lk.timeout)) as r:
                if r.status == 200:
                    body = await r.json(content_type=None)
                    answer = body if isinstance(body, dict) else {}
                    ok = True
                else:
                    log.warning("IVR lookup %s answered %s", url, r.status)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("IVR lookup %s failed: %s", url, exc)
        text = lk.fallback
        if ok:
            try:
                text = string.Formatter().vformat(lk.say, (), _Fields({k: str(v) for k, v in answer.items()}))
            except (KeyError, ValueError):
                ok = False
        self._record("ivr.lookup", call, tree=s.tree.name, node=node.name, ok=ok)
        return text

    def _record(self, kind: str, call: Call, **data: Any) -> None:
        if kind in ("ivr.entered", "ivr.node"):
            # With the call's record: its stage (before_ivr, ivr) survives a restart of this server,
            # whose resync then hands the call back to the IVR instead of queueing it.
            self.store.record(kind, ts=self.clock(), call=call.to_dict(), data=data)
        else:
            self.store.record(kind, ts=self.clock(), call_id=call.id, queue=call.queue, data=data)
