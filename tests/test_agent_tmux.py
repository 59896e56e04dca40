"""The real agent console in a real terminal (tmux) against a real server: log in with `l`, see
READY; the callbacks list and the keys modal open from the keyboard; quit with q."""
from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
import time

import pytest

from .conftest import PASSWORD

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


async def tmux(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec("tmux", *args, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"tmux {' '.join(args)}: {err.decode()}")
    return out.decode()


async def test_agent_console_in_tmux(server, tmp_path):
    sock = f"cc-agent-test-{os.getpid()}"
    exe = shutil.which("cc-console")
    cmd = f"{shlex.quote(exe)} agent" if exe else f"{shlex.quote(sys.executable)} -m cc_console.cli agent"
    cmd += f" --url {shlex.quote(server.url)} --user agent1"
    env = {"CC_CONSOLE_PASSWORD": PASSWORD, "CC_CONSOLE_CONFIG_DIR": str(tmp_path / "config"),
           "CC_CONSOLE_DATA_DIR": str(tmp_path / "data"), "TERM": "xterm-256color",
           "COLUMNS": "120", "LINES": "40"}  # pytest may have set 80x24 in its environment
    envargs = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    await tmux("-L", sock, "new-session", "-d", "-x", "120", "-y", "40", *envargs, cmd)
    try:  # a detached session may keep tmux's default size: make it 120x40
        await tmux("-L", sock, "resize-window", "-t", "0", "-x", "120", "-y", "40")
    except RuntimeError:
        pass

    async def screen() -> str:
        return await tmux("-L", sock, "capture-pane", "-p", "-t", "0")

    async def wait_for(*texts: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                last = await screen()
            except RuntimeError:  # the console exited
                break
            if all(text in last for text in texts):
                return last
            await asyncio.sleep(0.1)
        raise AssertionError(f"{texts!r} not on the screen:\n{last}")

    async def keys(*k: str) -> None:
        await tmux("-L", sock, "send-keys", "-t", "0", *k)

    try:
        # the panels mount one after the other: a capture can come between them
        await wait_for("LOGGED OUT", "Customer", "My queues")
        await keys("l")
        await wait_for("READY")
        assert server.engine.agents["agent1"].state == "ready"
        server.store.save_callback({"id": "cbt", "kind": "callback", "caller": "+442079460042", "queue": "support",
                                    "tenant": "default", "call_id": "x", "requested": time.time() - 60,
                                    "enqueued": time.time() - 90, "preferred": None, "state": "open", "agent": None})
        await keys("b")
        await wait_for("+442079460042")
        await keys("c")  # claim it
        await wait_for("mine")
        assert server.store.callbacks("all")[0]["agent"] == "agent1"
        await keys("Escape")
        await wait_for("My queues")
        await keys("?")
        shown = await wait_for("Identify", "Transfer panel")
        assert "agent.identify" not in shown  # keys for people, no binding ids
        await keys("Escape")
        await wait_for("My queues")
        await keys("q")
        await wait_for("Quit the console?")  # still READY in the queues: it asks first
        await keys("q")  # quit, stay logged in
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                await screen()
            except RuntimeError:
                break
            await asyncio.sleep(0.1)
    finally:
        try:
            await tmux("-L", sock, "kill-server")
        except RuntimeError:
            pass
