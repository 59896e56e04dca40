"""The server process: wires storage, auth, the ARI client, the call engine, the gateway, the REST
API and every capability listed in server/registry.py (docs/ARCHITECTURE.md, "Capabilities").

One aiohttp application serves the consoles' websocket (/ws), /healthz, the REST API (/api/v1) and
the capabilities' own routes on one port, with TLS when a certificate is configured.
"""
from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from cc_console import heap
from cc_console.config import Settings, config_dir
from cc_console.server.acd.config import RoutingConfig, from_queue_settings, load_routing
from cc_console.server.acd.queue_log import QueueLog
from cc_console.server.ari import AriClient
from cc_console.server.auth import Auth
from cc_console.server.calls.engine import CallEngine
from cc_console.server.gateway import Gateway
from cc_console.server.store import BufferedStore, Store, server_store

log = logging.getLogger(__name__)


class Server:
    def __init__(self, settings: Settings, store: Store | None = None) -> None:
        self.settings = settings
        s, p = settings.server, settings.pbx
        self.store: Store = store or server_store(settings)
        self.auth = Auth(self.store, session_ttl=s.session_ttl, max_failures=s.login_max_failures,
                         window=s.login_window, totp_window=s.totp_valid_window,
                         hash_workers=s.login_hash_workers, hash_queue=s.login_queue_max)
        self.ari = AriClient(p.ari_tls_url if p.ari_tls else p.ari_url, p.ari_user, p.ari_password, p.app,
                             reconnect_min=s.ari_reconnect_min, reconnect_max=s.ari_reconnect_max,
                             timeout=s.ari_timeout, ssl_context=self._ari_tls() if p.ari_tls else None)
        self.ari.breaker.threshold, self.ari.breaker.cooldown = s.ari_breaker_failures, s.ari_breaker_cooldown
        self.routing_path = self._routing_path()
        self.qlog = QueueLog(s.queue_log_file)
        self.engine = CallEngine(self.ari, self.store, self.load_routing(), ring_timeout=s.ring_timeout,
                                 inbound_context=p.inbound_context, queue_log=self.qlog,
                                 callback_digit_timeout=s.callback_digit_timeout, dial_template=p.dial_template,
                                 moh_class=p.moh_class, reconcile_interval=s.reconcile_interval,
                                 offer_failures_max=s.offer_failures_max, offer_backoff=s.offer_backoff)
        self.gateway = Gateway(self.engine, self.auth, max_queue=s.client_queue_max, reload=self.reload_async)
        if isinstance(self.store, BufferedStore):
            self.store.on_status = self._store_status
        # -- REST API under /api/v1 (server/api; API clients in their own database) --
        from cc_console.server.api import ApiClients, Principals, RestApi
        from cc_console.server.store import capability_target
        self.api_clients = ApiClients(capability_target(settings, "api"))
        self.principals = Principals(self.auth, self.api_clients)
        # -- capabilities as plugins (server/registry.py lists them; server/capability.py the contract) --
        from cc_console.server import registry
        from cc_console.server.capability import Context
        self.ctx = Context(settings, self.engine, self.store, self.gateway.publish, self.principals,
                           self.gateway.commands, spawn=lambda aw, what: self.engine._spawn(aw, what), auth=self.auth,
                           end_sessions=self.gateway.end_sessions_of)
        self.capabilities = registry.build(self.ctx)
        for cap in self.capabilities.values():
            self.gateway.handlers.update(cap.handlers())
        # the REST resources each capability declares (its plugin's ROUTES), served by the REST API
        resources = {name: (routes, cap.rest_handlers()) for name, cap in self.capabilities.items()
                     if (routes := list(getattr(registry.plugin(name), "ROUTES", ())))}
        self.rest = RestApi(self.engine, self.gateway.commands, self.principals, rate=s.api_rate,
                            burst=s.api_burst, resources=resources)
        self._runner: web.AppRunner | None = None
        self.port = s.port
        # High availability (server/ha): a standby serves reads and forwards the rest to the active node.
        self.standby = False
        self.ha_status: Callable[[], dict[str, Any]] | None = None
        self.ha_target: Callable[[], str] | None = None  # the active node's internal URL, for a standby
        self.forwarder: Any = None

    def _ari_tls(self) -> ssl.SSLContext:
        """ARI over HTTPS/WSS: Asterisk's certificate checked against pbx.ari_ca_file, TLS 1.2 or newer."""
        p = self.settings.pbx
        ctx = ssl.create_default_context(cafile=str(p.ari_ca_path))
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        return ctx

    # The services of the capabilities that tests, tools and the demo reach by name.
    @property
    def directory(self) -> Any:
        return self.capabilities["directory"].service  # type: ignore[attr-defined]

    @property
    def directory_live(self) -> Any:
        """The directory's live sync (calendar feeds, outside changes)."""
        return self.capabilities["directory"].live  # type: ignore[attr-defined]

    @property
    def recordings(self) -> Any:
        return self.capabilities["recordings"].service  # type: ignore[attr-defined]

    @property
    def contacts(self) -> Any:
        return self.capabilities["contacts"].service  # type: ignore[attr-defined]

    def _routing_path(self) -> Path | None:
        s = self.settings.server
        if s.routing_file:
            return Path(s.routing_file)
        default = config_dir() / "routing.toml"
        return default if default.exists() else None

    def load_routing(self) -> RoutingConfig:
        """The routing file when there is one, else the simple [[queues]] of the main config."""
        if self.routing_path is None:
            return from_queue_settings(self.settings.queues)
        return load_routing(self.routing_path)

    def reload(self) -> dict[str, Any]:
        """Reload the routing file; a bad file raises ValueError and the old configuration stays."""
        cfg = self.load_routing()
        return self.engine.reload(cfg, self.store.list_users())

    async def reload_async(self) -> dict[str, Any]:
        """reload() from the event loop: the file and the users are read in a worker thread (a slow
        database stalls the reload, not the consoles), the new configuration is swapped in on the loop."""
        try:
            cfg, users = await asyncio.to_thread(lambda: (self.load_routing(), self.store.list_users()))
        except (ValueError, OSError):
            raise
        except Exception as exc:
            log.warning("routing not reloaded: the users could not be read: %s", type(exc).__name__)
            from cc_console.errors import Unavailable
            raise Unavailable("The server cannot read its database just now, so the routing was not "
                              "reloaded; try again in a moment") from None
        return self.engine.reload(cfg, users)

    def make_app(self) -> web.Application:
        app = web.Application()
        self._ha_middlewares(app)
        # Sessions named by a request are read off the loop before its handler runs (server/api/bearer.py).
        from cc_console.server.web.sessions import COOKIE
        app.middlewares.append(self.principals.prefetching(cookies=(COOKIE,)))
        if self.standby:
            self._standby_gate(app)
        app.router.add_get("/ws", self.gateway.handle)
        app.router.add_get("/healthz", self._health)
        app.router.add_put("/api/queues/{queue}/problem", self._upload_problem)
        self.rest.add_routes(app)  # /api/v1/... (docs/api.md)
        for cap in self.capabilities.values():
            cap.add_routes(app)
        return app

    def _ha_middlewares(self, app: web.Application) -> None:
        """Every node of a pair believes the caller's address that another node forwards with the
        pair's secret (server/ha/forward.py), and refuses a false claim."""
        from cc_console.server.ha import HaSettings, forward, gate
        ha = self.settings.section("ha", HaSettings)
        if not ha.lease_url:
            return
        app.middlewares.append(forward.trusting(ha.secret, lambda request: gate.refusal(
            request, "This request came through a server this one does not trust; it was not carried out.",
            None, "Untrusted forwarding", status=403)))

    def _standby_gate(self, app: web.Application) -> None:
        from cc_console.server.ha import HaSettings, gate
        from cc_console.server.ha.forward import Forwarder
        ha = self.settings.section("ha", HaSettings)
        if ha.secret:
            self.forwarder = Forwarder(node=ha.node or socket.gethostname(), secret=ha.secret,
                                       connect_timeout=ha.forward_connect_timeout, timeout=ha.forward_timeout,
                                       ca_file=ha.ca_file)
        else:
            log.warning("high availability: no [ha] secret, so this standby cannot forward writes to the "
                        "active node; it answers them 503 with the active node's address")
        app.middlewares.append(gate.middleware(lambda: self.standby, self._ha_status,
                                               lambda: self.ha_target() if self.ha_target else "",
                                               self.forwarder, self.principals.unknown_session))

    def _principal(self, request: web.Request, permission: str):
        from cc_console.protocol import ProtocolError
        try:
            p = self.principals.from_headers(request.headers)
        except ProtocolError as exc:
            raise web.HTTPUnauthorized(text=exc.message) from None
        if permission not in p.permissions:
            raise web.HTTPForbidden(text=f"role {p.role} may not do this")
        return p

    async def _upload_problem(self, request: web.Request) -> web.Response:
        """PUT a WAV (8 kHz, 16-bit, mono) as a queue's general-problem message; switch it on with
        the queue.problem command. The file goes where Asterisk can play it (pbx.sounds_dir)."""
        from cc_console.protocol import P_SUPERVISE
        from cc_console.server import problem_upload
        p = self._principal(request, P_SUPERVISE)
        queue = request.match_info["queue"]
        if queue not in self.engine.cfg.queues:
            raise web.HTTPNotFound(text=f"no queue {queue!r}")
        name = f"cc-problem-{queue}"
        folder = self.settings.pbx.sounds_path
        await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
        s = self.settings.server
        audio = await problem_upload.receive(request, folder / f"{name}.wav", max_bytes=s.upload_max_bytes,
                                             read_timeout=s.upload_read_timeout)
        media = self.settings.pbx.sounds_media_prefix + name
        self.engine.set_problem_media(queue, media, by=p.username, seconds=audio.seconds)
        return web.json_response({"queue": queue, "media": media, "seconds": round(audio.seconds, 2)})

    async def _health(self, request: web.Request) -> web.Response:
        health = getattr(self.store, "health", None)
        store = health() if health else {"ok": True, "problem": None, "unsaved": 0, "journaled": 0}
        body = {"ok": store["ok"], "ari": "up" if self.engine.ari_up else "down", "store": store,
                "consoles": len(self.gateway.sessions), "calls": len(self.engine.calls)}
        if self.ha_status is not None:
            body["ha"] = self._ha_status()
        return web.json_response(body)

    def _ha_status(self) -> dict[str, Any]:
        return self.ha_status() if self.ha_status else {}

    def _store_status(self, health: dict[str, Any]) -> None:
        """The database stopped or started taking writes: tell the consoles (supervisors show it)."""
        from cc_console.protocol import Event
        self.engine.publish(Event.SERVER_STATUS, self.engine.store_status(), None)

    @property
    def scheme(self) -> str:
        return "wss" if self.settings.server.tls_cert else "ws"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.settings.server.host}:{self.port}/ws"

    @property
    def http_url(self) -> str:
        """This server's HTTP base URL (another node of a pair forwards here unless [ha] internal_url says)."""
        host = self.settings.server.host
        if host in ("", "0.0.0.0", "::"):
            host = socket.gethostname()
        return f"{'https' if self.settings.server.tls_cert else 'http'}://{host}:{self.port}"

    async def start(self) -> None:
        if isinstance(self.store, BufferedStore):
            self.store.start()  # first: a journal left by the last run is written at once
        self.engine.load(self.store.list_users())
        await self.serve_http()
        self.ari.start()
        for cap in self.capabilities.values():
            await cap.start()
        log.info("cc-console server listening on %s", self.url)

    async def serve_http(self) -> None:
        """Listen on the port. Alone, a standby does only this: no store writer, ARI or capability runs."""
        s = self.settings.server
        # keepalive_timeout also runs from the moment a connection is accepted until its first request
        # is complete, so a silent or half-sent connection is closed after handshake_timeout.
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False,
                                     keepalive_timeout=s.handshake_timeout)
        await self._runner.setup()
        ctx = None
        if s.tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(s.tls_cert, s.tls_key or None)
        site = web.TCPSite(self._runner, s.host, s.port, ssl_context=ctx)
        await site.start()
        if s.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def fence(self) -> None:
        """Stop acting on Asterisk at once, before the orderly stop (a high-availability node that lost its
        lease: another may be active already): no timer fires, no ARI event is handled."""
        self.engine.shutdown()
        self.ari.on_event = None

    async def stop(self) -> None:
        for cap in reversed(list(self.capabilities.values())):
            try:
                await cap.stop()
            except Exception:
                log.exception("capability %s did not stop cleanly", cap.name)
        self.engine.shutdown()
        self.ari.on_event = None  # events still in flight are not ours to handle any more
        await self.engine.idle()
        await self.ari.stop()
        self.gateway.flush_writes()  # this tick's frames before the close frames, not after
        for sess in list(self.gateway.sessions):
            await sess.ws.close()
        if self._runner:
            await self._runner.cleanup()
        if self.forwarder is not None:
            await self.forwarder.close()
        self.auth.pool.shutdown()
        self.qlog.close()
        await asyncio.to_thread(self.store.close)  # the writer's last attempt may wait on a lock
        self.api_clients.close()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()


async def serve(settings: Settings) -> int:
    """Run the server until SIGINT/SIGTERM; the exit status (1: a high-availability node lost its lease)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    from cc_console.server.ha import HaNode, HaSettings
    ha = settings.section("ha", HaSettings)
    if ha.lease_url:
        p = settings.pbx
        node = HaNode(ha, lambda: Server(settings), default_key=f"{p.ari_url} {p.app}")

        def hup_ha() -> None:
            if node.server is not None and not node.server.standby:
                _reload(node.server)  # type: ignore[arg-type]  # the lambda above builds a Server
        loop.add_signal_handler(signal.SIGHUP, hup_ha)
        return await node.run(stop)
    server = Server(settings)
    await server.start()
    heap.settle()  # what start-up built lives as long as the process: out of the collector's walks
    loop.add_signal_handler(signal.SIGHUP, lambda: _reload(server))
    await stop.wait()
    await server.stop()
    return 0


def _reload(server: Server) -> None:
    async def reload() -> None:
        try:
            log.info("routing reloaded: %s", await server.reload_async())
        except (ValueError, OSError) as exc:
            log.error("routing not reloaded, the old configuration stays: %s", exc)
        except Exception as exc:
            log.error("routing not reloaded: %s", exc)
    task = asyncio.get_running_loop().create_task(reload())
    _reloads.add(task)  # kept until done: the loop holds tasks only weakly
    task.add_done_callback(_reloads.discard)


_reloads: set[asyncio.Task[None]] = set()

