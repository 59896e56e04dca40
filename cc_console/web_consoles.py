"""`cc-console web`: the agent, supervisor and wallboard consoles in a browser (docs/web.md).

textual-serve's AppService runs one console process per browser session with Textual's web
driver and relays its output to xterm.js in the page; this module is the aiohttp front door
around it: one URL per console, our own page (textual-serve's template fetches a web font from
the internet; ours loads nothing from elsewhere), a cap on sessions, TLS, and the kiosk wallboard.

Sign-in comes first, on an HTML form (``/login``) checked by the server's own ``login`` (the same
users, passwords, second factor and roles as in the terminal); no console process starts for
anyone who has not signed in, and a console opens only for a role that may use it. The session
token is kept in an HttpOnly cookie and handed to that session's console process, which resumes
the session instead of showing its own form. A TV in kiosk mode opens
``/wallboard?token=<kiosk token>`` and is signed in as the configured wallboard user; that
password never leaves this process (it is handed to that one console process in its environment).
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

from cc_console.client import ConsoleClient
from cc_console.protocol import ErrorCode, ProtocolError

log = logging.getLogger(__name__)

CONSOLES = ("agent", "supervisor", "wallboard")
TITLES = {"agent": "Agent console", "supervisor": "Supervisor console", "wallboard": "Wallboard"}
STATIC = Path(textual_serve.__file__).parent / "static"  # xterm.js and its glue, shipped in the package
# Credentials a browser session must never inherit from the environment of `cc-console web`.
KIOSK_COOKIE = "cc_kiosk"
SESSION_COOKIE = "cc_console_session"
# What a role needs to open each console (cc_console.protocol's permissions).
NEEDS = {"agent": "agent.self", "supervisor": "supervise", "wallboard": "wallboard.view"}
SECRET_ENV = ("CC_CONSOLE_TOKEN", "CC_CONSOLE_PASSWORD", "CC_CONSOLE_WALLBOARD_PASSWORD", "CC_CONSOLE_WALLBOARD_TOKEN")


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

LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in</title>
<style>
  body {{ font: 1.1rem/1.6 system-ui, sans-serif; margin: 2rem auto; max-width: 28rem; color: #1a1a1a; }}
  label {{ display: block; font-weight: 600; margin-top: .75rem; }}
  input, button {{ font: inherit; padding: .4rem .5rem; width: 100%; border: 1px solid #555; border-radius: 3px; }}
  button {{ margin-top: 1rem; background: #0b4f8a; color: #fff; }}
  :focus-visible {{ outline: 3px solid #f5a623; outline-offset: 2px; }}
  .error {{ color: #9b0000; font-weight: 600; }}
</style></head>
<body>
<h1>Sign in to the {title}</h1>
{error}
<form method="post" action="/login">
  <input type="hidden" name="next" value="{next}">
  <label for="username">User name</label>
  <input id="username" name="username" value="{username}" autocomplete="username" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  {totp}
  <button type="submit">Sign in</button>
</form>
</body></html>
"""
TOTP_FIELD = """<label for="totp">Code from your authenticator app</label>
  <input id="totp" name="totp" inputmode="numeric" autocomplete="one-time-code">"""

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

    # -- the server's own login ---------------------------------------------------------------------
    async def _ask(self, cmd: str, args: dict[str, Any]) -> dict[str, Any]:
        client = ConsoleClient(self.server_url, reconnect=False)
        await client.connect()
        try:
            return await client.call(cmd, args)
        finally:
            await client.close()

    async def who(self, request: web.Request, console: str) -> str | None:
        """The session token of a signed-in user who may open this console; None when not signed in."""
        token = request.cookies.get(SESSION_COOKIE, "")
        if not token:
            return None
        try:
            me = await self._ask("resume", {"token": token})
        except ProtocolError:
            return None
        except (OSError, TimeoutError):
            log.warning("the server at %s is not reachable", self.server_url)
            raise web.HTTPServiceUnavailable(text="The contact centre server is not reachable right now.") from None
        if NEEDS[console] not in me.get("permissions", []):
            raise web.HTTPForbidden(text=f"Your role may not open the {TITLES[console].lower()}.")
        return token

    async def login_page(self, request: web.Request, *, error: str = "", username: str = "", totp: bool = False,
                         status: int = 200, nxt: str = "") -> web.Response:
        nxt = nxt or request.query.get("next", "/agent")
        if nxt not in {f"/{c}" for c in CONSOLES}:
            nxt = "/agent"
        text = LOGIN.format(title=TITLES[nxt[1:]].lower(), next=nxt, username=html.escape(username, quote=True),
                            error=f'<p class="error" role="alert">{html.escape(error)}</p>' if error else "",
                            totp=TOTP_FIELD if totp else "")
        return web.Response(text=text, status=status, content_type="text/html",
                            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                                                "form-action 'self'; frame-ancestors 'none'"})

    async def login_post(self, request: web.Request) -> web.Response:
        form = await request.post()
        username, password = str(form.get("username", "")), str(form.get("password", ""))
        totp = str(form.get("totp", "")).replace(" ", "")
        nxt = str(form.get("next", "/agent"))
        nxt = nxt if nxt in {f"/{c}" for c in CONSOLES} else "/agent"
        args: dict[str, Any] = {"username": username, "password": password}
        if totp:
            args["totp"] = totp
        try:
            me = await self._ask("login", args)
        except ProtocolError as exc:
            log.info("browser sign-in refused for %s from %s: %s", username, request.remote, exc.code)
            say = {ErrorCode.TOTP_REQUIRED: "Enter the code from your authenticator app.",
                   ErrorCode.TOTP_REPLAYED: "That code was already used; wait for the next one.",
                   ErrorCode.RATE_LIMITED: "Too many attempts; wait a few minutes and try again."}
            need_code = exc.code in (ErrorCode.TOTP_REQUIRED, ErrorCode.TOTP_REPLAYED) or bool(totp)
            return await self.login_page(request, error=say.get(exc.code, "Wrong user name, password or code."),
                                         username=username, totp=need_code, nxt=nxt,
                                         status=200 if exc.code == ErrorCode.TOTP_REQUIRED else 401)
        except (OSError, TimeoutError):
            log.warning("browser sign-in: the server at %s is not reachable", self.server_url)
            return await self.login_page(request, error="The contact centre server is not reachable right now.",
                                         username=username, status=503, nxt=nxt)
        log.info("browser sign-in %s (%s) from %s", me.get("user"), me.get("role"), request.remote)
        resp = web.HTTPSeeOther(nxt)
        resp.set_cookie(SESSION_COOKIE, me["token"], httponly=True, samesite="Strict", secure=request.secure,
                        path="/")
        raise resp

    # -- routes ---------------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.Response:
        links = "".join(f'<li><a href="/{c}">{TITLES[c]}</a></li>' for c in CONSOLES)
        return web.Response(text=INDEX.format(links=links), content_type="text/html")

    async def page(self, request: web.Request) -> web.Response:
        console = request.match_info["console"]
        kiosk = self.kiosk(request, console)  # a wrong token is refused here, before any process starts
        if not kiosk and await self.who(request, console) is None:
            raise web.HTTPSeeOther(f"/login?next=/{console}")
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
        token = None if kiosk else await self.who(request, console)
        if not kiosk and token is None:
            raise web.HTTPUnauthorized(text="Sign in first.")
        if len(self.sessions) >= self.max_sessions:
            raise web.HTTPServiceUnavailable(text="Too many consoles are open on this server right now.")
        ws = web.WebSocketResponse(heartbeat=15)
        await ws.prepare(request)
        width = _int(request.query.get("width"), 80)
        height = _int(request.query.get("height"), 24)
        env = {"CC_CONSOLE_PASSWORD": self.wallboard_password} if kiosk else {"CC_CONSOLE_TOKEN": token or ""}
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
        app.router.add_get("/login", self.login_page)
        app.router.add_post("/login", self.login_post)
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
