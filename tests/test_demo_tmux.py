"""The real demo (`cc-console demo`, sandbox Asterisk, server, phones, bots, callers) in tmux, started
from a plain terminal, from inside a tmux pane, and with a tmux server already running on its
socket. The panes are read with capture-pane: they must show the signed-in consoles, never a
sign-in form; afterwards no demo session is left behind.

Every tmux server here has a socket name of its own (`-L`), so a developer's tmux is never touched.
"""
from __future__ import annotations

import fcntl
import os
import pty
import shlex
import shutil
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

import pytest

from tests.ports import free_port

pytestmark = [pytest.mark.asterisk,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")]

SESSION = "cc-console-demo"
ROWS, COLS = 50, 200


def tmux(sock: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    p = subprocess.run(["tmux", "-L", sock, *args], capture_output=True, text=True, env=env, check=False)
    if check and p.returncode:
        raise AssertionError(f"tmux {' '.join(args)}: {p.stderr}")
    return p


def wait_for(read, *texts: str, timeout: float = 60.0, context=lambda: "") -> str:
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        last = read()
        if all(t in last for t in texts):
            return last
        time.sleep(0.2)
    raise AssertionError(f"{texts!r} not shown within {timeout:.0f} s:\n{last}\n--- the demo said:\n{context()}")


def pane(sock: str, index: int):
    return lambda: tmux(sock, "capture-pane", "-p", "-t", f"{SESSION}:0.{index}", check=False).stdout


@pytest.fixture
def demo_env(sandbox, tmp_path: Path) -> dict[str, str]:
    """The demo's environment: this sandbox, a free server port, data and config in tmp_path."""
    config = tmp_path / "config.toml"
    config.write_text(f"[server]\nport = {free_port()}\n")
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(CC_CONSOLE_CONFIG=str(config), CC_CONSOLE_DATA_DIR=str(tmp_path / "data"),
               CC_CONSOLE_CONFIG_DIR=str(tmp_path / "config"), CC_CONSOLE_PBX_ROOT=str(sandbox.root_path),
               CC_CONSOLE_ARI_PORT=str(sandbox.http_port), CC_CONSOLE_SIP_PORT=str(sandbox.sip_port),
               CC_CONSOLE_RTP_START=str(sandbox.rtp_start), CC_CONSOLE_DEMO_TMUX_SOCKET=f"cc-demo-test-{os.getpid()}",
               TERM="xterm-256color")
    env.pop("CC_CONSOLE_PASSWORD", None)  # the panes must get it from the demo, not from us
    return env


def demo_argv(*extra: str) -> list[str]:
    # A safety net only: each test ends the demo itself well before this.
    return [sys.executable, "-m", "cc_console.cli", "demo", "--calls-every", "3", "--duration", "240", *extra]


class InTerminal:
    """The demo in a pseudo-terminal of its own: a plain terminal, no tmux around it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))

        def controlling_tty() -> None:
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     preexec_fn=controlling_tty, close_fds=True)
        os.close(slave)
        self.master = master
        self.out = bytearray()
        self.reader = threading.Thread(target=self._drain, daemon=True)
        self.reader.start()

    def _drain(self) -> None:
        while True:
            try:
                chunk = os.read(self.master, 65536)
            except OSError:
                return
            if not chunk:
                return
            self.out += chunk

    def text(self) -> str:
        return self.out.decode(errors="replace")

    def finish(self, timeout: float = 90) -> int:
        code = self.proc.wait(timeout)
        self.reader.join(5)
        os.close(self.master)
        return code

    def kill(self) -> None:
        """As a closed terminal would: the demo cleans up on SIGTERM/SIGHUP; SIGKILL only if it hangs."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def assert_signed_in(sock: str, said=lambda: "") -> None:
    shown = wait_for(pane(sock, 0), "agent1 · agent", "Ada (you)", "LOGGED OUT", context=said)
    assert "sign in" not in shown
    shown = wait_for(pane(sock, 1), "sup1 · supervisor", "Agents (4)", "agent2", context=said)
    assert "sign in" not in shown
    shown = wait_for(pane(sock, 2), "wall1 · wallboard", "Service level", context=said)
    assert "sign in" not in shown


def assert_no_demo_session(sock: str, server_gone: bool) -> None:
    assert tmux(sock, "has-session", "-t", f"={SESSION}", check=False).returncode != 0, "the demo session is left"
    if server_gone:
        assert tmux(sock, "list-sessions", check=False).returncode != 0, "the demo's tmux server is left"


@pytest.mark.timeout(600)
def test_demo_from_a_plain_terminal(demo_env):
    sock = demo_env["CC_CONSOLE_DEMO_TMUX_SOCKET"]
    term = InTerminal(demo_argv(), demo_env)
    try:
        assert_signed_in(sock, lambda: term.text()[-3000:])
        # The directory is seeded: D opens it, a few letters find people, some away with a substitute.
        tmux(sock, "send-keys", "-t", f"{SESSION}:0.0", "D")
        wait_for(pane(sock, 0), "Search")
        tmux(sock, "send-keys", "-t", f"{SESSION}:0.0", "-l", "hansen")
        shown = wait_for(pane(sock, 0), "Hansen")
        assert shown.count("Hansen") >= 3, shown
        # Quitting tmux ends the demo: the session is killed here as a person closing it would.
        tmux(sock, "kill-session", "-t", f"={SESSION}")
        assert term.finish() == 0, term.text()[-3000:]
    finally:
        term.kill()
        tmux(sock, "kill-server", check=False)
    out = term.text()
    assert "sessions should be nested" not in out
    assert "Demo stopped" in out
    assert_no_demo_session(sock, server_gone=True)
    # The closing message names the config that points the command line at the demo's data.
    config = Path(demo_env["CC_CONSOLE_DATA_DIR"]) / "demo" / "config.toml"
    assert f"report queue --config {config}" in out.replace("\r\n", "\n")
    cli_env = {k: v for k, v in demo_env.items() if k != "CC_CONSOLE_CONFIG"}  # as a person's shell would be
    report = subprocess.run([sys.executable, "-m", "cc_console.cli", "report", "queue", "--config", str(config)],
                            env=cli_env, capture_output=True, text=True, timeout=120, check=False)
    assert report.returncode == 0, report.stderr
    row = next(line for line in report.stdout.splitlines() if line.startswith("support,"))
    assert int(row.split(",")[1]) >= 1, report.stdout  # calls received while the demo ran
    # The demo's server has stopped: the directory is searched in its database file (--db); with a
    # running server the command asks the server.
    from cc_console.config import load_settings
    from cc_console.server.directory import default_path
    directory_db = default_path(load_settings(config).server.db_file)
    found = subprocess.run([sys.executable, "-m", "cc_console.cli", "directory", "search", "hansen", "--config",
                            str(config), "--db", str(directory_db)], env=cli_env, capture_output=True, text=True,
                           timeout=120, check=False)
    assert found.returncode == 0 and found.stdout.count("Hansen") >= 3, found.stdout + found.stderr


@pytest.mark.timeout(600)
def test_demo_from_inside_tmux(demo_env):
    """Started in a pane of someone's tmux (TMUX set): no nesting refusal; detaching ends the demo."""
    sock = demo_env["CC_CONSOLE_DEMO_TMUX_SOCKET"]
    outer = f"cc-demo-test-outer-{os.getpid()}"
    envargs = [a for k, v in demo_env.items() if k.startswith("CC_CONSOLE_") for a in ("-e", f"{k}={v}")]
    script = f"{shlex.join(demo_argv())}; echo DEMO-EXIT=$?; exec sleep 300"
    tmux(outer, "new-session", "-d", "-x", str(COLS), "-y", str(ROWS), *envargs, script)
    outer_pane = lambda: tmux(outer, "capture-pane", "-p", "-S", "-200", "-t", "0", check=False).stdout  # noqa: E731
    try:
        assert_signed_in(sock, outer_pane)
        assert "sessions should be nested" not in outer_pane()
        # Detach with the demo's own prefix (C-a inside another tmux): the demo stops and cleans up.
        tmux(outer, "send-keys", "-t", "0", "C-a", "d")
        shown = wait_for(outer_pane, "DEMO-EXIT=", timeout=90)
        assert "DEMO-EXIT=0" in shown, shown
        assert "Demo stopped" in shown and "--config" in shown
        assert "sessions should be nested" not in shown
    finally:
        tmux(outer, "kill-server", check=False)
        tmux(sock, "kill-server", check=False)
    assert_no_demo_session(sock, server_gone=True)


@pytest.mark.timeout(600)
def test_demo_with_a_tmux_server_already_running(demo_env):
    """A tmux server already runs on the demo's socket, started with an environment that has none of
    the demo's settings: the panes still sign in, and the other session survives the demo."""
    sock = demo_env["CC_CONSOLE_DEMO_TMUX_SOCKET"]
    subprocess.run(["env", "-i", f"PATH={os.environ['PATH']}", "tmux", "-L", sock, "new-session", "-d", "-s",
                    "someone-else", "sleep 600"], check=True)
    term = InTerminal(demo_argv(), demo_env)
    try:
        assert_signed_in(sock, lambda: term.text()[-3000:])
        # The supervisor has a phone: listening to a bot on a call gets as far as an active monitor.
        agent2 = lambda: next((ln for ln in pane(sock, 1)().splitlines() if ln.lstrip().startswith("agent2")), "")  # noqa: E731
        tmux(sock, "send-keys", "-t", f"{SESSION}:0.1", "Down")  # from agent1 to agent2
        for attempt in range(4):  # the bot may hang up just as L is pressed: then on its next call
            wait_for(agent2, "ON CALL")
            tmux(sock, "send-keys", "-t", f"{SESSION}:0.1", "L")
            try:
                wait_for(pane(sock, 1), "Monitoring agent2 · LISTEN · active", timeout=15)
                break
            except AssertionError:
                if attempt == 3:
                    raise
        tmux(sock, "kill-session", "-t", f"={SESSION}")
        assert term.finish() == 0, term.text()[-3000:]
        assert_no_demo_session(sock, server_gone=False)
        assert tmux(sock, "has-session", "-t", "=someone-else", check=False).returncode == 0
    finally:
        term.kill()
        tmux(sock, "kill-server", check=False)


@pytest.mark.timeout(120)
def test_a_second_demo_says_one_is_running_and_leaves_it_alone(tmp_path):
    """No Asterisk needed: the check comes before anything starts."""
    sock = f"cc-demo-test-second-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "TMUX_PANE")}
    env.update(CC_CONSOLE_DEMO_TMUX_SOCKET=sock, CC_CONSOLE_DATA_DIR=str(tmp_path / "data"),
               CC_CONSOLE_CONFIG_DIR=str(tmp_path / "config"), TERM="xterm-256color")
    tmux(sock, "new-session", "-d", "-s", SESSION, "sleep 600")
    term = InTerminal(demo_argv(), env)
    try:
        assert term.finish(60) == 1
        assert "A demo is already running" in term.text() and f"tmux -L {sock} attach" in term.text()
        assert tmux(sock, "has-session", "-t", f"={SESSION}", check=False).returncode == 0
        assert not (tmp_path / "data" / "demo").exists(), "nothing was started"
    finally:
        term.kill()
        tmux(sock, "kill-server", check=False)
