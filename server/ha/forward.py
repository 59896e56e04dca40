"""Forwarding between the nodes of a pair: a standby sends what needs the active node there over HTTP.

The standby is a pass-through, not a second decision maker: the caller's own credentials (bearer
token, session cookie) go along untouched, so the active node decides who may do what exactly as if
the caller had come to it directly, and its answer (status, problem details, ETag, Set-Cookie,
Location) comes back byte for byte. The standby adds who the caller is on the network (the active
node's login limiter, rate limits, office-network rules and audit log go by it) and the pair's
shared secret, which is what lets the active node believe that address: a request that claims to
have been forwarded without the right secret is refused (``trusting``).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

log = logging.getLogger(__name__)

# The caller's address as the forwarding node saw it, the node's name, and the pair's secret.
FORWARDED_FOR = "X-CC-Console-Forwarded-For"
FORWARDED_BY = "X-CC-Console-Forwarded-By"
NODE_KEY = "X-CC-Console-Node-Key"
OURS = {h.lower() for h in (FORWARDED_FOR, FORWARDED_BY, NODE_KEY)}
# Hop-by-hop headers (RFC 9110 7.6.1) belong to one connection, not to the request or answer.
HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection", "te",
       "trailer", "transfer-encoding", "upgrade",
       "expect"}  # a 100-continue was this node's to give (it reads the body); not the active node's


class ActiveUnreachable(Exception):
    """The active node gave no answer. ``sent``: the request may have reached it (it stopped answering
    after the connection was made), so it may or may not have been carried out."""

    def __init__(self, why: str, *, sent: bool) -> None:
        super().__init__(why)
        self.sent = sent


class Forwarder:
    def __init__(self, *, node: str, secret: str, connect_timeout: float = 2.0, timeout: float = 30.0,
                 ca_file: str = "") -> None:
        self.node, self._secret = node, secret
        self.connect_timeout, self.timeout, self.ca_file = connect_timeout, timeout, ca_file
        self._http: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:  # never the secret, whoever prints this
        return f"Forwarder(node={self.node!r})"

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            ctx: ssl.SSLContext | bool = True
            if self.ca_file:
                ctx = ssl.create_default_context(cafile=self.ca_file)
            # A fresh connection per request: a kept-alive one that the active node closed meanwhile
            # would fail a POST half-way, and a POST must not be sent twice to find out.
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True, ssl=ctx), auto_decompress=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout,
                                              sock_read=self.timeout))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    def headers_for(self, request: web.Request) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict()
        for k, v in request.headers.items():
            if k.lower() not in HOP and k.lower() not in OURS:
                headers.add(k, v)  # Host too: the active node builds its links for the address the caller used
        headers[FORWARDED_FOR] = request.remote or ""
        headers[FORWARDED_BY] = self.node
        headers[NODE_KEY] = self._secret
        return headers

    async def forward(self, request: web.Request, base: str) -> web.StreamResponse:
        """The active node's answer to this request, streamed back unchanged; ActiveUnreachable when
        it gave none (nothing has been sent to the caller then)."""
        url = base.rstrip("/") + request.raw_path
        body = request.content.iter_any() if request.body_exists else None
        try:
            upstream = await self._session().request(request.method, url, headers=self.headers_for(request),
                                                     data=body, allow_redirects=False)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            raise ActiveUnreachable(f"{type(exc).__name__}: {exc}", sent=False) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ActiveUnreachable(f"{type(exc).__name__}: {exc}", sent=True) from None
        async with upstream:
            resp = web.StreamResponse(status=upstream.status, reason=upstream.reason)
            for k, v in upstream.headers.items():
                if k.lower() not in HOP:
                    resp.headers.add(k, v)
            await resp.prepare(request)
            try:
                async for chunk in upstream.content.iter_any():
                    await resp.write(chunk)
            except (aiohttp.ClientError, TimeoutError) as exc:
                # Half an answer is out: all the caller can be told now is that the connection broke.
                log.warning("high availability: the active node's answer to %s %s broke off: %s",
                            request.method, request.path, exc)
                if request.transport is not None:
                    request.transport.close()
                return resp
            await resp.write_eof()
            return resp


    async def forward_websocket(self, request: web.Request, base: str) -> web.StreamResponse:
        """A websocket (a chat visitor's) relayed to the active node frame by frame until either side
        closes; the active node's refusal of the upgrade (401, 429, 503) is passed on."""
        url = "ws" + base.rstrip("/").removeprefix("http") + request.raw_path
        headers = self.headers_for(request)
        for h in ("Sec-WebSocket-Key", "Sec-WebSocket-Version", "Sec-WebSocket-Extensions",
                  "Sec-WebSocket-Protocol", "Content-Length"):
            headers.popall(h, None)
        protocols = tuple(p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")
                          if p.strip())
        try:
            upstream = await self._session().ws_connect(url, headers=headers, protocols=protocols, max_msg_size=0,
                                                        autoping=True, heartbeat=30)
        except aiohttp.WSServerHandshakeError as exc:
            return web.Response(status=exc.status, text=exc.message or "refused by the active server")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ActiveUnreachable(f"{type(exc).__name__}: {exc}", sent=False) from None
        ws = web.WebSocketResponse(protocols=protocols, max_msg_size=0, heartbeat=30)
        try:
            await ws.prepare(request)
            pumps = [asyncio.ensure_future(_pump(upstream, ws)), asyncio.ensure_future(_pump(ws, upstream))]
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
            for p in pumps:
                p.cancel()
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            code = upstream.close_code or ws.close_code or 1000
            await upstream.close()
            await ws.close(code=code)
        return ws


async def _pump(src: Any, dst: Any) -> None:
    async for msg in src:
        if msg.type == aiohttp.WSMsgType.TEXT:
            await dst.send_str(msg.data)
        elif msg.type == aiohttp.WSMsgType.BINARY:
            await dst.send_bytes(msg.data)
        else:
            break


def vouched(request: web.Request, secret: str) -> bool | None:
    """None: not a forwarded request; True: forwarded by a node with the pair's secret; False: a
    claim to be forwarded without it."""
    if not any(h in request.headers for h in (FORWARDED_FOR, FORWARDED_BY, NODE_KEY)):
        return None
    return bool(secret) and hmac.compare_digest(request.headers.get(NODE_KEY, "").encode(), secret.encode())


def trusting(secret: str, refuse: Callable[[web.Request], web.StreamResponse]) -> Any:
    """Middleware for every node: a forwarded request is handled as the caller's own (its address),
    without the pair's secret in its headers from here on; a false claim is refused."""
    @web.middleware
    async def forwarded(request: web.Request,
                        handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        ok = vouched(request, secret)
        if ok is None:
            return await handler(request)
        if not ok:
            log.warning("high availability: a request from %s claiming to come through another node was "
                        "refused: it did not carry this pair's secret", request.remote)
            return refuse(request)
        headers = CIMultiDict((k, v) for k, v in request.headers.items() if k.lower() != NODE_KEY.lower())
        remote = request.headers.get(FORWARDED_FOR) or request.remote or ""
        return await handler(request.clone(remote=remote, headers=headers))
    return forwarded
