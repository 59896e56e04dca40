"""`cc-console demo`: the whole thing live in one command.

Brings up the sandbox Asterisk, a server with seeded users and one queue, real baresip phones for
three agents (two of them simulated: bots that take calls and hang up after a while), a gentle
stream of callers (Local channels that play a tone and give up if they wait too long), and opens
the screens: a tmux layout with agent, supervisor and wallboard panes, or just the agent screen.
"""
from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx

from cc_console.client import ConsoleClient
from cc_console.config import QueueSettings, Settings, data_dir

DEMO_PASSWORD = "demo-password"
HUMAN = "agent1"
BOTS = ["agent2", "agent3"]
USERS = [
    ("agent1", "agent", "Ada (you)", "PJSIP/1001", "console"),
    ("agent2", "agent", "Bob (bot)", "PJSIP/1002", "phone"),
    ("agent3", "agent", "Cleo (bot)", "PJSIP/1003", "phone"),
    ("sup1", "supervisor", "Sam Supervisor", "", "console"),
    ("wall1", "wallboard", "Wallboard", "", "console"),
]


def seed(settings: Settings) -> None:
    from cc_console.server.auth import Auth
    from cc_console.server.store import SQLiteStore
    db = settings.server.db_file
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    store = SQLiteStore(db)
    auth = Auth(store)
    for name, role, full, device, mode in USERS:
        auth.add_user(name, DEMO_PASSWORD, role, name=full, device=device, answer_mode=mode, queues=["support"])
    store.close()


async def _bot(url: str, user: str, stop: asyncio.Event) -> None:
    """A simulated agent: ready, takes what comes (its phone auto-answers), talks, hangs up."""
    client = ConsoleClient(url)
    await client.connect()
    await client.login(user, DEMO_PASSWORD)
    await client.call("agent.login")
    talking: set[str] = set()

    def on_event(kind: str, data: dict) -> None:
        if kind == "call.update" and data.get("state") == "connected" and data["id"] not in talking:
            talking.add(data["id"])
            asyncio.get_running_loop().create_task(hang_up_later(data["id"]))
        elif kind == "agent.state" and data.get("id") == user and data.get("state") == "paused":
            asyncio.get_running_loop().create_task(client.call("agent.ready"))

    async def hang_up_later(call_id: str) -> None:
        await asyncio.sleep(random.uniform(15, 40))
        try:
            await client.call("call.hangup", {"call_id": call_id})
        except Exception:
            pass  # the caller may have gone first

    client.add_listener(on_event)
    await stop.wait()
    await client.close()


async def _callers(settings: Settings, every: float, stop: asyncio.Event) -> None:
    p = settings.pbx
    async with httpx.AsyncClient(base_url=p.ari_url, auth=(p.ari_user, p.ari_password), timeout=10) as http:
        n = 0
        while not stop.is_set():
            n += 1
            tag = uuid.uuid4().hex[:8]
            number = f"06{random.randint(10_000_000, 99_999_999)}"
            try:
                await http.post(f"/channels/demo-{tag}", params={
                    "endpoint": f"Local/{settings.queues[0].dids[0]}@{p.inbound_context}/n",
                    "context": "cc-test-caller", "extension": f"tone-{random.choice([350, 440, 523])}",
                    "callerId": f'"Caller {n}" <{number}>', "timeout": 30})
                asyncio.get_running_loop().create_task(_give_up(http, f"demo-{tag}", random.uniform(60, 150)))
            except httpx.HTTPError:
                pass
            try:
                await asyncio.wait_for(stop.wait(), random.uniform(every * 0.5, every * 1.5))
            except asyncio.TimeoutError:
                pass
        # Leave no caller behind in Asterisk when the demo stops.
        try:
            for ch in (await http.get("/channels")).json():
                if ch["id"].startswith("demo-"):
                    await http.delete(f"/channels/{ch['id']}")
        except httpx.HTTPError:
            pass


async def _give_up(http: httpx.AsyncClient, channel: str, after: float) -> None:
    await asyncio.sleep(after)
    try:
        await http.delete(f"/channels/{channel}")
    except httpx.HTTPError:
        pass


async def _backend(settings: Settings, every: float, ready: threading.Event, stop_flag: threading.Event) -> None:
    from cc_console.server.app import Server
    from cc_console.server.pbx.phones import Phone
    phones = [Phone(settings.pbx, n, answermode="auto") for n in (1001, 1002, 1003)]
    for ph in phones:
        await ph.start()
        await ph.wait_registered(timeout=15)
    server = Server(settings)
    await server.start()
    await asyncio.wait_for(server.ari.connected.wait(), 30)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(_bot(server.url, b, stop)) for b in BOTS]
    tasks.append(asyncio.create_task(_callers(settings, every, stop)))
    ready.set()
    while not stop_flag.is_set():
        await asyncio.sleep(0.2)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    await server.stop()
    for ph in phones:
        await ph.stop()


def run_demo(settings: Settings, *, layout: str = "tmux", calls_every: float = 20.0, duration: float = 0) -> int:
    from cc_console.server.pbx import sandbox
    print("Bringing up the sandbox Asterisk (the first time builds a Debian sid chroot: a minute or two)…")
    sandbox.up(settings.pbx, log=print)
    demo_dir = data_dir() / "demo"
    settings.server.db_path = str(demo_dir / "demo.sqlite3")
    settings.server.queue_log_path = str(demo_dir / "queue_log")
    settings.queues = [QueueSettings(name="support", dids=["5000"], service_level=20)]
    seed(settings)
    url = f"ws://{settings.server.host}:{settings.server.port}/ws"

    ready, stop_flag = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def backend() -> None:
        try:
            asyncio.run(_backend(settings, calls_every, ready, stop_flag))
        except BaseException as exc:  # shown to the user below
            errors.append(exc)
            ready.set()

    thread = threading.Thread(target=backend, name="demo-backend", daemon=True)
    thread.start()
    ready.wait(120)
    if errors:
        print(f"demo failed to start: {errors[0]}", file=sys.stderr)
        return 1
    print(f"Server at {url}. Users: agent1 (you), sup1, wall1 — password {DEMO_PASSWORD!r}. "
          "A call arrives every ~{:.0f} s; agent2 and agent3 are bots.".format(calls_every))
    env = {**os.environ, "CC_CONSOLE_PASSWORD": DEMO_PASSWORD}
    try:
        if layout == "headless" or (layout == "tmux" and not sys.stdout.isatty()):
            if duration:
                stop_flag.wait(duration)
            else:
                stop_flag.wait()
        elif layout == "tmux" and shutil.which("tmux"):
            exe = [sys.executable, "-m", "cc_console.cli"]
            session = "cc-console-demo"
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            cmd = lambda mode, user: " ".join([*exe, mode, "--url", url, "--user", user])  # noqa: E731
            subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "200", "-y", "50",
                            cmd("agent", HUMAN)], env=env, check=True)
            subprocess.run(["tmux", "split-window", "-h", "-t", session, cmd("supervisor", "sup1")], env=env, check=True)
            subprocess.run(["tmux", "split-window", "-v", "-t", session, cmd("wallboard", "wall1")], env=env, check=True)
            subprocess.run(["tmux", "select-pane", "-t", f"{session}:0.0"], check=True)
            subprocess.run(["tmux", "attach", "-t", session])
        else:
            from cc_console.tui import CCConsoleApp
            CCConsoleApp(url=url, mode="agent", username=HUMAN, password=DEMO_PASSWORD).run()
    except KeyboardInterrupt:
        pass
    finally:
        stop_flag.set()
        thread.join(30)
    return 0


def main() -> None:  # pragma: no cover - `python -m cc_console.demo`
    from cc_console.config import load_settings
    raise SystemExit(run_demo(load_settings(), layout="headless", duration=float(os.environ.get("DEMO_SECONDS", "0"))))


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["run_demo", "seed", "Path"]
