"""Capabilities as plugins: what a capability folder declares, and what the server gives it.

A capability (server/<name>/) is one folder with its services, its Asterisk side, its HTTP routes,
its command declarations, its settings section and its storage. It is listed once in
server/registry.py as ``"<name>": "cc_console.server.<name>.plugin"``; that module has

- ``COMMANDS``: a tuple of cc_console.protocol.CommandSpec (arguments and permission), merged into
  the one command table that the websocket gateway, the REST API, docs/protocol.md and the OpenAPI
  document all read;
- ``EVENTS``: the event names it pushes to consoles or webhooks (documentation and checks);
- ``ROUTES`` (optional): its REST routes under /api/v1, declared with server/routes.py's Route (in
  the OpenAPI document, served by the REST API through ``rest_handlers()``);
- ``OPENAPI_PATHS`` (optional): the OpenAPI path items of its own HTTP routes, merged into
  /api/v1/openapi.json (its commands are there already, as /api/v1/commands/<name>);
- ``make(ctx: Context) -> Capability``: builds the running capability.

The server builds every listed capability at start-up, registers its command handlers, lets it add
its HTTP routes, starts it after the engine and stops it before the engine. A capability reaches
calls only through :class:`CallHooks` (called by the engine) and the Context's typed members, never
another capability's internals.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from cc_console.config import Settings
from cc_console.protocol import CommandSpec, Request
from cc_console.server.commands import Commands
from cc_console.server.routes import RestHandler
from cc_console.server.store import Store

if TYPE_CHECKING:
    from aiohttp import web

    from cc_console.models import Agent, Call
    from cc_console.server.acd.config import RoutingConfig


log = logging.getLogger(__name__)

Handler = Callable[[Any, Request], Any]
Publish = Callable[[str, dict[str, Any], Any], None]


class CallHooks:
    """What the call engine tells other capabilities about calls; override what you need.

    Called synchronously on the event loop: do no I/O here, spawn it (Context.spawn) or queue it.
    """

    def call_offered(self, call: Call, agent_id: str) -> None:
        """A call starts ringing an agent (a queue offer, a transfer or consultation target)."""

    def call_connected(self, call: Call) -> None:
        """The call's agent leg is connected (also after a transfer: the new agent's leg)."""

    def call_not_reached(self, call: Call, cause: int | None, by: str) -> None:
        """An outbound call ended before the called party answered: the channel's hang-up cause
        (17 busy, 19 no answer, ...; None when unknown) and who ended it (system: the far side)."""

    def call_leg_ended(self, call: Call, agent_id: str) -> None:
        """An agent left a call that goes on (transfer, conference leg)."""

    def call_ended(self, call: Call, kind: str) -> None:
        """The call is over (kind: answered, abandoned, ...)."""

    def consult_connected(self, call: Call) -> None:
        """A consultation leg of the call was answered."""

    def consult_ended(self, call: Call) -> None:
        """The consultation ended (cancelled or completed)."""

    def agent_changed(self, agent: Any, previous: Any) -> None:
        """An agent's state changed (``previous``: the AgentState before)."""

    def resynced(self) -> None:
        """The engine has reconciled its calls with Asterisk after a (re)connect or a restart."""

    def agent_state(self, agent: Agent, previous: str) -> None:
        """An agent's state changed (previous: the state it left)."""

    def callback_created(self, item: dict[str, Any]) -> None:
        """A callback request or voicemail item was made (the caller asked in the queue, or over REST)."""

    def callback_done(self, item: dict[str, Any]) -> None:
        """An agent marked a callback, voicemail or missed call done."""

    def recording_ready(self, rec: dict[str, Any]) -> None:
        """A call's recording is stored off the PBX and can be fetched."""


class CallHookList(CallHooks):
    """The engine's hooks: itself a CallHooks that tells every registered one, in order.

    The engine calls ``self.hooks.call_connected(call)``, checked by mypy against CallHooks; one
    capability whose hook fails is logged and does not keep the call, nor the other hooks, back.
    A new hook is a method on CallHooks (this class fans it out without a line of its own).
    """

    def __init__(self) -> None:
        self._hooks: list[CallHooks] = []

    def append(self, hooks: CallHooks) -> None:
        if not isinstance(hooks, CallHooks):
            raise TypeError(f"{type(hooks).__name__} is not a CallHooks")
        self._hooks.append(hooks)

    def remove(self, hooks: CallHooks) -> None:
        self._hooks.remove(hooks)

    def __iter__(self) -> Iterator[CallHooks]:
        return iter(self._hooks)

    def __len__(self) -> int:
        return len(self._hooks)

    def tell(self, name: str, *args: Any) -> None:
        """Call hook ``name`` (a CallHooks method) on every registered hook."""
        if name not in HOOK_NAMES:
            raise AttributeError(f"CallHooks has no hook {name!r}")
        for h in self._hooks:
            try:
                getattr(h, name)(*args)
            except Exception:
                log.exception("hook %s of %s failed", name, type(h).__name__)


HOOK_NAMES = frozenset(n for n, v in vars(CallHooks).items() if callable(v) and not n.startswith("_"))


def _fan_out(name: str) -> Callable[..., None]:
    def tell_all(self: CallHookList, *args: Any) -> None:
        # per call event on the hot path: the name was checked when the class was made
        for h in self._hooks:
            try:
                getattr(h, name)(*args)
            except Exception:
                log.exception("hook %s of %s failed", name, type(h).__name__)
    tell_all.__name__ = name
    tell_all.__doc__ = getattr(CallHooks, name).__doc__
    return tell_all


for _name in HOOK_NAMES:
    setattr(CallHookList, _name, _fan_out(_name))


class Engine(Protocol):
    """What a capability may use of the call engine: its live calls and agents, the routing
    configuration as it is now (a reload swaps it), the clock, the hooks; it acts through the
    engine's public methods (dial_out, queue_stats, ...), which are not listed here."""

    agents: dict[str, Agent]
    calls: dict[str, Call]
    cfg: RoutingConfig
    hooks: CallHookList
    clock: Callable[[], float]
    ari: Any  # the ARI client, for a capability's own media (prompts, voicemail files)
    front: Any  # the IVR in front of inbound calls, when loaded (server/ivr)
    dialers: dict[str, Any]  # device technology -> a capability's own originate (server/audio)

    def note_call(self, call_id: str, kind: str, **data: Any) -> bool: ...


@runtime_checkable
class CodeChecker(Protocol):
    """A capability that checks a code a caller keys in (verified calling: the one-time code from
    its start page); the IVR's code nodes ask it. True: the call is now marked."""

    def check_code(self, call: Any, code: str) -> bool: ...


class PrincipalSource(Protocol):
    """Bearer token or request headers -> the principal (server/api/bearer.py Principals)."""

    def resume(self, token: str) -> Any: ...

    def from_headers(self, headers: Any, *, basic: bool = False) -> Any: ...


@dataclass
class Context:
    """What the server gives a capability when it is built."""

    settings: Settings
    engine: Engine  # the call engine: read calls/agents through it; act through its public methods
    store: Store  # the main event store
    publish: Publish  # push an event to consoles: publish(event, data, audience)
    principals: PrincipalSource  # bearer tokens and API clients -> principal (server/api)
    commands: Commands  # the one command dispatch
    spawn: Callable[[Coroutine[Any, Any, Any], str], None] = field(default=lambda aw, what: None)
    capabilities: dict[str, Capability] = field(default_factory=dict)
    auth: Any = None  # users, passwords, second factor, sessions (server/auth.Auth)
    # Close an account's live console connections (it was disabled or deleted): end_sessions(user, why)
    end_sessions: Callable[[str, str], int] = field(default=lambda username, why: 0)
    # Write an entry in the audit log (the audit capability sets it when loaded; listed before the
    # others): audit(actor, action, target=..., outcome=..., remote=..., detail={...}).
    audit: Callable[..., Any] = field(default=lambda actor, action, **kw: None)
    # Services not yet moved into capabilities (read through their typed methods only).
    contacts: Any = None  # server/contacts ContactsService
    recordings: Any = None  # server/recordings RecordingService
    # Capabilities with written work items (server/chat) add their server.written.WrittenWork here;
    # reports, agent figures and contact history read them through it.
    written: list[Any] = field(default_factory=list)

    def db_path(self, name: str) -> str:
        """A capability's own SQLite file beside the main database (":memory:" in tests)."""
        db = str(self.settings.server.db_file)
        if db == ":memory:":
            return ":memory:"
        return f"{db}.{name}.sqlite3"  # as the directory, contacts and recordings databases are named

    def add_hooks(self, hooks: CallHooks) -> None:
        self.engine.hooks.append(hooks)


class Capability:
    """A running capability; override what it has."""

    name: str = ""

    def handlers(self) -> dict[str, Handler]:
        """Command name -> handler(caller, request) for the commands this capability declared."""
        return {}

    def rest_handlers(self) -> dict[str, RestHandler]:
        """Route.handler -> handler(request, caller) for the REST routes its plugin declares in
        ``ROUTES`` (server/routes.py); the REST API serves them with its token check, permission
        check, rate limits, ETags and problem details (a declared route without its handler stops the
        start)."""
        return {}

    def add_routes(self, app: web.Application) -> None:
        """Its HTTP routes on the server's one aiohttp application."""

    async def start(self) -> None:
        """After the engine has loaded and the HTTP site listens."""

    async def stop(self) -> None:
        """Before the engine stops; close its own storage."""


def check_commands(name: str, specs: tuple[CommandSpec, ...], taken: dict[str, CommandSpec]) -> None:
    """A capability's commands must not take a name already declared elsewhere."""
    for spec in specs:
        if spec.name in taken and taken[spec.name] is not spec:
            raise ValueError(f"capability {name}: command {spec.name!r} is already declared")
