"""`cc-console web`: the agent, supervisor and wallboard consoles in a browser (docs/web.md).

textual-serve's AppService runs one console process per browser session with Textual's web
driver and relays its output to xterm.js in the page; this module is the aiohttp front door
around it: one URL per console, our own page (textual-serve's template fetches a web font from
the internet; ours loads nothing from elsewhere), a cap on sessions, TLS, and the kiosk wallboard.

Sign-in is the console's own login form, against the server: the same users, passwords, second
factor and roles as in the terminal. A TV in kiosk mode opens ``/wallboard?token=<kiosk token>``
and is signed in as the configured wallboard user without a form; the password never leaves this
process (it is handed to that one console process in its environment).
"""
from __future__ import annotations

import asyncio
import hmac
import html
import logging
import os
import shlex
import ssl
import sys
from pathlib import Path
from typing import Any

import textual_serve
from aiohttp import WSMsgType, web
from textual_serve.app_service import AppService
from textual_serve.download_manager import DownloadManager

log = logging.getLogger(__name__)

CONSOLES = ("agent", "supervisor", "wallboard")
TITLES = {"agent": "Agent console", "supervisor": "Supervisor console", "wallboard": "Wallboard"}
STATIC = Path(textual_serve.__file__).parent / "static"  # xterm.js and its glue, shipped in the package
# Credentials a browser session must never inherit from the environment of `cc-console web`.
KIOSK_COOKIE = "cc_kiosk"
SECRET_ENV = ("CC_CONSOLE_PASSWORD", "CC_CONSOLE_WALLBOARD_PASSWORD", "CC_CONSOLE_WALLBOARD_TOKEN")


class ConsoleProcess(AppService):
    """textual-serve's app service with the environment we choose for this one session."""

    def __init__(self, command: str, *, env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self._env = env

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        for name in SECRET_ENV:
            environment.pop(name, None)
        environment.update(self._env)
        return environment


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<link rel="stylesheet" href="/static/css/xterm.css">
<script src="/static/js/textual.js"></script>
<style>
  @font-face {{ font-family: "Roboto Mono"; src: url("/static/fonts/RobotoMono-VariableFont_wght.ttf"); }}
  html, body {{ margin: 0; height: 100%; background: #0c181f; }}
  .textual-terminal {{ width: 100vw; height: 100vh; }}
  .intro {{ color: #fff; font: 16px monospace; padding: 2rem; }}
  body.-first-byte .intro {{ display: none; }}
</style>
</head>
<body>
<p class="intro" role="status">Starting the {title_lower}…</p>
<div id="terminal" class="textual-terminal" data-session-websocket-url="{ws_url}" data-font-size="{font_size}"
     role="application" aria-label="{title}"></div>
</body>
</html>
"""

INDEX = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Contact centre consoles</title></head>
<body style="font: 1.1rem/1.6 system-ui, sans-serif; margin: 2rem; color: #1a1a1a">
<h1>Contact centre consoles</h1>
<ul>{links}</ul>
<p>Sign in with your contact centre user name and password (and your authenticator code if you
have one).</p>
</body></html>
"""


class WebConsoles:
    def __init__(self, server_url: str, *, host: str = "127.0.0.1", port: int = 8766, max_sessions: int = 50,
                 wallboard_user: str = "", wallboard_password: str = "", wallboard_token: str = "",
                 tls_cert: str = "", tls_key: str = "", config: Path | None = None) -> None:
        self.server_url = server_url
        self.host, self.port = host, port
        self.max_sessions = max_sessions
        self.wallboard_user, self.wallboard_password = wallboard_user, wallboard_password
        self.wallboard_token = wallboard_token
        self.tls_cert, self.tls_key = tls_cert, tls_key
        self.config = config
        self.sessions: set[AppService] = set()
        self.download_manager = DownloadManager()
        self._runner: web.AppRunner | None = None

    # -- what each session runs ---------------------------------------------------------------------
    def command(self, console: str, kiosk: bool) -> str:
        exe = Path(sys.executable).with_name("cc-console")
        argv = [str(exe) if exe.exists() else sys.executable, *([] if exe.exists() else ["-m", "cc_console.cli"]),
                console, "--url", self.server_url]
        if self.config:
            argv += ["--config", str(self.config)]
        if kiosk:
            argv += ["--user", self.wallboard_user]
        return shlex.join(argv)

    def kiosk(self, request: web.Request, console: str) -> bool:
        """A TV that opened the wallboard's kiosk link: the token in the link (the page), then in an
        HttpOnly cookie the page set (its websocket: textual.js adds its own query to that URL)."""
        token = request.query.get("token") or request.cookies.get(KIOSK_COOKIE, "")
        if console != "wallboard" or not token or not self.wallboard_token or not self.wallboard_user:
            return False
        if hmac.compare_digest(token.encode(), self.wallboard_token.encode()):
            return True
        raise web.HTTPForbidden(text="This wallboard link is not valid. Ask a supervisor for the current one.")

    # -- routes ---------------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.Response:
        links = "".join(f'<li><a href="/{c}">{TITLES[c]}</a></li>' for c in CONSOLES)
        return web.Response(text=INDEX.format(links=links), content_type="text/html")

    async def page(self, request: web.Request) -> web.Response:
        console = request.match_info["console"]
        kiosk = self.kiosk(request, console)  # a wrong token is refused here, before any process starts
        scheme = "wss" if request.secure else "ws"
        ws_url = f"{scheme}://{request.host}/{console}/ws"
        try:
            font_size = max(8, min(48, int(request.query.get("fontsize", "16"))))
        except ValueError:
            font_size = 16
        text = PAGE.format(title=TITLES[console], title_lower=TITLES[console].lower(),
                           ws_url=html.escape(ws_url, quote=True), font_size=font_size)
        resp = web.Response(text=text, content_type="text/html", headers={
            "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                                       "connect-src 'self' ws: wss:; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer"})
        if kiosk:
            resp.set_cookie(KIOSK_COOKIE, request.query["token"], httponly=True, samesite="Strict",
                            secure=request.secure, path="/wallboard")
        return resp

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        console = request.match_info["console"]
        kiosk = self.kiosk(request, console)
        if len(self.sessions) >= self.max_sessions:
            raise web.HTTPServiceUnavailable(text="Too many consoles are open on this server right now.")
        ws = web.WebSocketResponse(heartbeat=15)
        await ws.prepare(request)
        width = _int(request.query.get("width"), 80)
        height = _int(request.query.get("height"), 24)
        env = {"CC_CONSOLE_PASSWORD": self.wallboard_password} if kiosk else {}
        service = ConsoleProcess(self.command(console, kiosk), env=env, write_bytes=ws.send_bytes,
                                 write_str=ws.send_str, close=ws.close, download_manager=self.download_manager)
        self.sessions.add(service)
        log.info("%s console opened from %s%s (%d open)", console, request.remote, " (kiosk)" if kiosk else "",
                 len(self.sessions))
        try:
            await service.start(width, height)
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                envelope = msg.json()
                kind = envelope[0] if isinstance(envelope, list) and envelope else None
                if kind == "stdin":
                    await service.send_bytes(str(envelope[1]).encode())
                elif kind == "resize":
                    await service.set_terminal_size(int(envelope[1]["width"]), int(envelope[1]["height"]))
                elif kind == "ping":
                    await ws.send_json(["pong", envelope[1]])
                elif kind == "blur":
                    await service.blur()
                elif kind == "focus":
                    await service.focus()
        except asyncio.CancelledError:
            await ws.close()
        finally:
            self.sessions.discard(service)
            await service.stop()
        return ws

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self.index)
        app.router.add_static("/static", STATIC)
        app.router.add_get("/{console:agent|supervisor|wallboard}", self.page)
        app.router.add_get("/{console:agent|supervisor|wallboard}/ws", self.websocket)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        ctx = None
        if self.tls_cert:
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self.tls_cert, self.tls_key or None)
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=ctx)
        await site.start()
        if self.port == 0:
            self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("browser consoles on %s://%s:%d/", "https" if ctx else "http", self.host, self.port)

    async def stop(self) -> None:
        for service in list(self.sessions):
            await service.stop()
        if self._runner:
            await self._runner.cleanup()


def _int(value: str | None, default: int) -> int:
    try:
        return max(10, min(1000, int(value or default)))
    except ValueError:
        return default


async def serve(consoles: WebConsoles) -> None:
    import signal
    await consoles.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await consoles.stop()


def from_environment() -> dict[str, str]:
    """The kiosk wallboard's password and token come from the environment, never the command line
    (where every user of the machine could read them in the process list)."""
    return {"wallboard_password": os.environ.get("CC_CONSOLE_WALLBOARD_PASSWORD", ""),
            "wallboard_token": os.environ.get("CC_CONSOLE_WALLBOARD_TOKEN", "")}
