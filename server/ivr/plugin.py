"""The IVR capability: trees in a file (tree.py), run over ARI in front of the queues (runner.py),
prompts spoken by espeak-ng (tts.py), and its report (report.py). docs/ivr.md."""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from cc_console.config import Settings, config_dir
from cc_console.errors import Invalid
from cc_console.protocol import P_ADMIN, P_SUPERVISE, Arg, CommandSpec, ProtocolError, Request
from cc_console.server.capability import CallHooks, Capability, CodeChecker, Context, Handler

from .report import ivr_report
from .runner import IvrRunner
from .tree import IvrConfig, TreeError, check, load_trees
from .tts import Tts, recorded_name

log = logging.getLogger(__name__)

COMMANDS = (
    CommandSpec("ivr.reload", P_ADMIN, {},
                "Load the IVR tree file again; calls in a tree keep the version they started with."),
    CommandSpec("ivr.report", P_SUPERVISE, {"from": Arg((int, float)), "to": Arg((int, float))},
                "IVR figures between two times (epoch seconds): abandons before and in the IVR by node, "
                "calls and durations per path, choices per menu, waits from IVR entry."),
)
EVENTS = ()


@dataclass
class IvrSettings:
    """[ivr] in config.toml."""

    file: str = ""  # the tree file; empty: <config dir>/ivr.toml if it exists (no IVR otherwise)
    speed: int = 150  # espeak-ng words per minute
    # How Asterisk finds the PBX's sounds folder ([pbx] sounds_dir, where prompts are written): the
    # sandbox's <root>/var/lib/asterisk/sounds/custom is this path inside its chroot.
    media_prefix: str = "sound:/var/lib/asterisk/sounds/custom/"

    @classmethod
    def from_settings(cls, settings: Settings) -> IvrSettings:
        return settings.section("ivr", cls)

    @property
    def tree_path(self) -> Path:
        return Path(self.file) if self.file else config_dir() / "ivr.toml"


class _Hooks(CallHooks):
    def __init__(self, runner: IvrRunner) -> None:
        self.runner = runner

    def call_ended(self, call: Any, kind: str) -> None:
        self.runner.call_ended(call, kind)


class Ivr(Capability):
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = IvrSettings.from_settings(ctx.settings)
        pbx = ctx.settings.pbx
        self.tts = Tts(pbx.sounds_path, self.settings.media_prefix, speed=self.settings.speed)
        self.runner = IvrRunner(ctx.engine, ctx.store, self.tts, clock=ctx.engine.clock, spawn=ctx.spawn)
        ctx.engine.front = self.runner
        # Code nodes ask the verified-calling capability, through its one typed method, when it is loaded.
        verified = ctx.capabilities.get("verified")
        if isinstance(verified, CodeChecker):
            self.runner.code_checker = verified.check_code
        ctx.add_hooks(_Hooks(self.runner))
        # The first load now, as the routing file's is, so the trees are there before the first
        # resync (a call in a tree across a restart goes back into it); reloads run in a thread.
        try:
            self.runner.use(self._load())
        except (TreeError, OSError) as exc:
            log.error("IVR trees not loaded, calls go straight to their queues: %s", exc)

    def handlers(self) -> dict[str, Handler]:
        return {"ivr.reload": self._reload, "ivr.report": self._report}

    def add_routes(self, app: web.Application) -> None:
        # Beside the general-problem message's upload (PUT /api/queues/{queue}/problem), which it follows.
        app.router.add_put("/api/ivr/{tree}/{node}/prompt", self._upload_prompt)
        app.router.add_delete("/api/ivr/{tree}/{node}/prompt", self._delete_prompt)

    def _admin(self, request: web.Request) -> Any:
        try:
            p = self.ctx.principals.from_headers(request.headers)
        except ProtocolError as exc:
            raise web.HTTPUnauthorized(text=exc.message) from None
        if P_ADMIN not in p.permissions:
            raise web.HTTPForbidden(text="only an admin may change the IVR's prompts")
        return p

    def _prompt_file(self, request: web.Request) -> tuple[str, str, Path]:
        tree, node = request.match_info["tree"], request.match_info["node"]
        t = self.runner.cfg.trees.get(tree)
        if t is None or node not in t.nodes:
            raise web.HTTPNotFound(text=f"no node {node!r} in an IVR tree {tree!r}")
        return tree, node, self.tts.folder / f"{recorded_name(tree, node)}.wav"

    async def _upload_prompt(self, request: web.Request) -> web.Response:
        """PUT a WAV (8 kHz, 16-bit, mono): the node plays it instead of its spoken prompt."""
        from cc_console.server import problem_upload
        p = self._admin(request)
        tree, node, dest = self._prompt_file(request)
        await asyncio.to_thread(dest.parent.mkdir, parents=True, exist_ok=True)
        s = self.ctx.settings.server
        audio = await problem_upload.receive(request, dest, max_bytes=s.upload_max_bytes,
                                             read_timeout=s.upload_read_timeout)
        self.ctx.store.record("ivr.prompt_uploaded", ts=self.ctx.engine.clock(),
                              data={"tree": tree, "node": node, "by": p.username, "seconds": audio.seconds})
        return web.json_response({"tree": tree, "node": node, "seconds": round(audio.seconds, 2)})

    async def _delete_prompt(self, request: web.Request) -> web.Response:
        """Back to the spoken prompt."""
        p = self._admin(request)
        tree, node, dest = self._prompt_file(request)
        await asyncio.to_thread(dest.unlink, missing_ok=True)
        self.ctx.store.record("ivr.prompt_removed", ts=self.ctx.engine.clock(),
                              data={"tree": tree, "node": node, "by": p.username})
        return web.json_response({"tree": tree, "node": node, "spoken": True})

    async def stop(self) -> None:
        await self.runner.close()

    def _load(self) -> IvrConfig:
        """Load and check the tree file (blocking); raises TreeError naming every problem."""
        path = self.settings.tree_path
        if not path.exists():
            if self.settings.file:
                raise TreeError(f"the IVR tree file {path} does not exist")
            return self.runner.cfg
        cfg = load_trees(path)
        problems = check(cfg, queues=set(self.ctx.engine.cfg.queues), sounds=self.ctx.settings.pbx.sounds_path,
                         media_prefix=self.settings.media_prefix)
        if problems:
            raise TreeError("; ".join(problems))
        log.info("IVR: %d tree(s) from %s", len(cfg.trees), path)
        return cfg

    async def reload(self) -> IvrConfig:
        """Load the tree file again; a file with problems is refused (Invalid, naming every problem)
        and the old trees stay."""
        try:
            cfg = await asyncio.to_thread(self._load)
        except (TreeError, OSError) as exc:
            raise Invalid(f"IVR trees not reloaded, the old ones stay: {exc}") from exc
        self.runner.use(cfg)
        return cfg

    async def _reload(self, caller: Any, r: Request) -> dict[str, Any]:
        cfg = await self.reload()
        return {"trees": sorted(cfg.trees), "nodes": sum(len(t.nodes) for t in cfg.trees.values())}

    async def _report(self, caller: Any, r: Request) -> dict[str, Any]:
        frm, to = float(r.args["from"]), float(r.args["to"])
        return await asyncio.to_thread(ivr_report, self.ctx.store, frm, to)


def make(ctx: Context) -> Capability:
    return Ivr(ctx)
