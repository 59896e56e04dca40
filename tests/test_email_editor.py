"""The agent writes an e-mail reply in their own editor: the real agent console in a real terminal
(tmux), EDITOR set to a small script, a real Dovecot and SMTP server (tests/test_email.py's
fixtures). Ctrl+O suspends the console, runs the editor on a temp file holding the reply box's text,
and brings back what it saved; Ctrl+S sends it. docs/email.md."""
from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import stat
import sys
import time

import pytest

from tests.conftest import PASSWORD
from tests.test_agent_tmux import tmux
from tests.test_email import ca, customer_mail, deliver, dovecot, outbox, settings  # noqa: F401 (fixtures)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


async def test_the_agent_writes_the_reply_in_their_own_editor(server, dovecot, outbox, tmp_path):  # noqa: F811
    seen = tmp_path / "seen.txt"
    editor = tmp_path / "editor.sh"
    # the agent's "editor": keeps what it was given (to check it) and adds a paragraph in Czech
    editor.write_text(f"#!/bin/sh\ncp \"$1\" {shlex.quote(str(seen))}\n"
                      "printf 'Fakturu posíláme znovu, řůč.\\n' >> \"$1\"\n")
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)

    sock = f"cc-editor-test-{os.getpid()}"
    exe = shutil.which("cc-console")
    cmd = f"{shlex.quote(exe)} agent" if exe else f"{shlex.quote(sys.executable)} -m cc_console.cli agent"
    cmd += f" --url {shlex.quote(server.url)} --user agent1"
    env = {"CC_CONSOLE_PASSWORD": PASSWORD, "CC_CONSOLE_CONFIG_DIR": str(tmp_path / "config"),
           "CC_CONSOLE_DATA_DIR": str(tmp_path / "data"), "TERM": "xterm-256color", "COLUMNS": "160",
           "LINES": "48", "EDITOR": str(editor), "VISUAL": "", "LANG": "C.UTF-8"}
    envargs = [a for k, v in env.items() for a in ("-e", f"{k}={v}")]
    await tmux("-L", sock, "new-session", "-d", "-x", "160", "-y", "48", *envargs, cmd)

    async def screen() -> str:
        return await tmux("-L", sock, "capture-pane", "-p", "-t", "0")

    async def wait_for(pred, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                last = await screen()
            except RuntimeError:
                break
            if pred(last):
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{what}: not on the screen:\n{last}")

    async def keys(*k: str) -> None:
        await tmux("-L", sock, "send-keys", "-t", "0", *k)

    try:
        cap = server.capabilities["email"]
        await asyncio.wait_for(cap.reader.connected.wait(), 15)
        await wait_for(lambda s: "LOGGED OUT" in s, "the console")
        await keys("l")
        await wait_for(lambda s: "READY" in s, "ready")
        mail = customer_mail("Faktura 2026/11", "Kde je moje faktura?")
        await deliver(dovecot, mail)
        await wait_for(lambda s: "Faktura 2026/11" in s, "the offered e-mail")
        await keys("E")
        await wait_for(lambda s: "Kde je moje faktura?" in s, "the accepted e-mail")
        await keys("-l", "Dobrý den,")
        await wait_for(lambda s: "Dobrý den," in s, "typed in the box")
        await keys("C-o")
        await wait_for(lambda s: "Fakturu posíláme znovu" in s, "the editor's text back in the box")
        assert seen.read_text(encoding="utf-8") == "Dobrý den,\n", "the editor got the box's text"
        await keys("C-s")
        reply = await outbox.expect(lambda m: str(m["Subject"]).startswith("Re:"))
        assert reply.get_content().strip().splitlines() == ["Dobrý den,", "Fakturu posíláme znovu, řůč."]
        assert reply["In-Reply-To"] == mail["Message-ID"]
    finally:
        try:
            await tmux("-L", sock, "kill-server")
        except RuntimeError:
            pass
