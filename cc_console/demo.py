"""`cc-console demo`: the whole thing live in one command.

Brings up the sandbox Asterisk, a server with seeded users, one queue and a directory of a few
hundred persons (cc_console/demo_directory.py), real baresip phones for three agents (two of them
simulated: bots that take calls and hang up after a while) and for the supervisor (listen, whisper,
barge), a gentle stream of callers (Local channels that play a tone and give up if they wait too
long), and opens the screens: agent, supervisor and wallboard panes in a tmux session of the
demo's own (cc_console/demo_tmux.py), or just the agent screen.

The demo keeps its data in <data dir>/demo (wiped at each start) and writes a config.toml there
that points `cc-console report|directory ... --config` at it.
"""
from __future__ import annotations

import asyncio
import logging
import os
import random
import shutil
import signal
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
PANE_ENV = ("CC_CONSOLE_CONFIG", "CC_CONSOLE_CONFIG_DIR", "CC_CONSOLE_DATA_DIR")  # handed to the panes
SUP_PHONE = 1008  # the supervisor's, as in the tests
PHONES = (1001, 1002, 1003, SUP_PHONE)
USERS = [
    ("agent1", "agent", "Ada (you)", "PJSIP/1001", "console"),
    ("agent2", "agent", "Bob (bot)", "PJSIP/1002", "phone"),
    ("agent3", "agent", "Cleo (bot)", "PJSIP/1003", "phone"),
    ("sup1", "supervisor", "Sam Supervisor", f"PJSIP/{SUP_PHONE}", "console"),  # listen, whisper, barge
    ("wall1", "wallboard", "Wallboard", "", "console"),
]


def seed(settings: Settings) -> None:
    from cc_console.server.auth import Auth
    from cc_console.server.store import SQLiteStore
    db = settings.server.db_file
    for p in db.parent.glob(db.name + "*"):
        p.unlink()
    if settings.server.recordings_dir:  # the demo's own (run_demo sets it), never a configured one
        shutil.rmtree(settings.server.recordings_dir, ignore_errors=True)
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
            try:  # not wait_for: it can swallow a cancellation (server/waits.py)
                async with asyncio.timeout(random.uniform(every * 0.5, every * 1.5)):
                    await stop.wait()
            except TimeoutError:
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
    phones = [Phone(settings.pbx, n, answermode="auto") for n in PHONES]
    server = None
    try:  # whatever fails on the way up, no phone or server is left running
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
    finally:
        if server is not None:
            await server.stop()
        for ph in phones:
            await ph.stop()


def demo_paths() -> tuple[Path, Path]:
    """(the demo's data folder, the config file that points the CLI at it)."""
    folder = data_dir() / "demo"
    return folder, folder / "config.toml"


def write_demo_config(settings: Settings, path: Path) -> None:
    """A config for `cc-console report|directory|recordings|admin ... --config <path>`: the demo's
    database, queue_log, recordings and queue, so what the demo recorded can be looked at after it."""
    import tomli_w
    s = settings.server
    data = {"server": {"host": s.host, "port": s.port, "db_path": s.db_path, "queue_log_path": s.queue_log_path,
                       "recordings_dir": s.recordings_dir},
            "queues": [{"name": q.name, "tenant": q.tenant, "dids": q.dids, "service_level": q.service_level}
                       for q in settings.queues]}
    path.write_text("# Written by `cc-console demo` at each start (the demo's data is wiped then too).\n"
                    + tomli_w.dumps(data))


def _cli() -> str:
    """How to spell our command for the person reading: the virtual environment's, when we run from one."""
    exe = Path(sys.executable).parent / "cc-console"
    return str(exe) if exe.exists() else "cc-console"


def run_demo(settings: Settings, *, layout: str = "tmux", calls_every: float = 20.0, duration: float = 0) -> int:
    from cc_console.server.pbx import sandbox
    if layout not in ("tmux", "agent", "headless"):
        print(f"Unknown layout {layout!r}: use tmux, agent or headless.", file=sys.stderr)
        return 2
    if layout == "tmux" and not sys.stdout.isatty():
        print("Not a terminal: running without screens (as --layout headless).")
        layout = "headless"
    if layout == "tmux" and shutil.which("tmux") is None:
        print("The demo's screens need tmux, which is not installed: run ./scripts/setup "
              "(or apt-get install tmux), or use --layout agent.", file=sys.stderr)
        return 1
    if layout == "tmux":
        from cc_console.demo_tmux import DemoTmux
        if DemoTmux().exists():
            print(f"A demo is already running (see it with: tmux -L {DemoTmux().socket} attach); stop it first.",
                  file=sys.stderr)
            return 1
    print("Bringing up the sandbox Asterisk (the first time builds a Debian sid chroot: about four minutes)…")
    sandbox.up(settings.pbx, log=print)
    demo_dir, demo_config = demo_paths()
    demo_dir.mkdir(parents=True, exist_ok=True)
    settings.server.db_path = str(demo_dir / "demo.sqlite3")
    settings.server.queue_log_path = str(demo_dir / "queue_log")
    settings.server.recordings_dir = str(demo_dir / "recordings")
    settings.queues = [QueueSettings(name="support", dids=["5000"], service_level=20)]
    seed(settings)
    from cc_console.demo_directory import seed_directory
    persons, away = seed_directory(settings.server.db_file)
    write_demo_config(settings, demo_config)
    log_file = demo_dir / "demo.log"
    # The server's log goes to a file: written to the terminal it would tear through tmux's screen.
    logging.basicConfig(filename=log_file, level=logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    url = f"ws://{settings.server.host}:{settings.server.port}/ws"

    ready, stop_flag = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def backend() -> None:
        try:
            asyncio.run(_backend(settings, calls_every, ready, stop_flag))
        except BaseException as exc:  # shown to the user below
            logging.getLogger("cc_console.demo").exception("the demo's server side failed")
            errors.append(exc)
            ready.set()

    def stop_on_signal(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # a closed terminal or a kill: stop the phones and remove the tmux session too

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop_on_signal)
    thread = threading.Thread(target=backend, name="demo-backend", daemon=True)
    thread.start()
    code = 0
    try:
        if not ready.wait(120) or errors:
            why = (str(errors[0]) or type(errors[0]).__name__) if errors else "not ready within two minutes"
            print(f"The demo could not start ({why}); the details are in {log_file}.", file=sys.stderr)
            return 1
        print(f"Server at {url}. Users: agent1 (you), sup1 (supervisor, phone {SUP_PHONE}: listen, whisper, "
              f"barge), wall1 — password {DEMO_PASSWORD!r}. A call arrives every ~{calls_every:.0f} s; agent2 "
              f"and agent3 are bots. The directory (D) has {persons} persons, {away} of them away now.")
        # Only what the consoles read: a pane's command line is visible to others on the machine.
        env = {**{k: v for k in PANE_ENV if (v := os.environ.get(k))}, "CC_CONSOLE_PASSWORD": DEMO_PASSWORD}
        if layout == "headless":
            stop_flag.wait(duration or None)
        elif layout == "tmux":
            code = _run_tmux(url, env, duration)
        else:
            from cc_console.tui import CCConsoleApp
            app = CCConsoleApp(url=url, mode="agent", username=HUMAN, password=DEMO_PASSWORD)
            timer = threading.Timer(duration, lambda: app.call_from_thread(app.exit))
            timer.daemon = True
            if duration:
                timer.start()
            app.run()
            timer.cancel()
    except KeyboardInterrupt:
        pass
    finally:
        stop_flag.set()
        thread.join(30)
    cli = _cli()
    print(f"Demo stopped. Its data stays in {demo_dir} until the next demo starts (log: {log_file}). "
          "Look at it with --config:\n"
          f"  {cli} report queue --config {demo_config}\n"
          f"  {cli} directory search hansen --db {demo_dir / 'demo.sqlite3.directory.sqlite3'}")
    return code


def _run_tmux(url: str, env: dict[str, str], duration: float) -> int:
    from cc_console.demo_tmux import DemoTmux, TmuxError, console_argv
    tm = DemoTmux()
    nested = bool(os.environ.get("TMUX"))
    timer = None
    try:
        tm.open([("agent1 (you)", console_argv("agent", url, HUMAN)),
                 ("supervisor sup1", console_argv("supervisor", url, "sup1")),
                 ("wallboard wall1", console_argv("wallboard", url, "wall1"))], env, nested)
        if nested:
            print("You are inside tmux: the demo opens its own tmux here; its prefix key is C-a. "
                  "Click a pane to use it.")
        if duration:
            timer = threading.Timer(duration, tm.close)
            timer.start()
        tm.attach()
    except TmuxError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    finally:
        if timer:
            timer.cancel()
        tm.close()
    return 0


def main() -> None:  # pragma: no cover - `python -m cc_console.demo`
    from cc_console.config import load_settings
    raise SystemExit(run_demo(load_settings(), layout="headless", duration=float(os.environ.get("DEMO_SECONDS", "0"))))


if __name__ == "__main__":  # pragma: no cover
    main()


__all__ = ["demo_paths", "run_demo", "seed"]
