"""Browser consoles: N agent consoles open at once in real Chromium through `cc-console web`.

    python bench/web_consoles.py [--consoles 20] [--keys 30] [--settle 10]

In this process: a real `Server` (ARI pointed at a closed port: no calls are needed) with N agents,
and the browser front door (cc_console.web_consoles.WebConsoles, textual-serve's app service: one
console process per browser session). Debian's /usr/bin/chromium, driven by Playwright, opens N
pages of /agent at once, each in its own browser context.

Every page signs in on the front door's form (agent000…), and the agent screen opens live. Then
keystroke to screen: each console opens the directory search (``D``) and types ``--keys`` letters,
one after the other, all consoles at the same time; in each page a capture listener notes the time
of a keydown, and the first websocket frame from the console that draws that letter is timed to
the animation frame that follows it (the frame in which xterm.js paints it). p50/p99 are over every
key of every console. Last, for ``--settle`` seconds the console processes' CPU time and memory
(PSS) are read from /proc: per console, and for the server and front door process (this one) and
the browser.

Output: one figure per line; the headline is `p99: <value> ms` keystroke to screen.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PASSWORD = "bench-secret-pass"
TICK = os.sysconf("SC_CLK_TCK")

# Keydown of a letter -> the first frame from the console that draws that letter (the search field's
# echo; the screen's clock and figures draw only digits) -> the next animation frame: it is on screen.
PROBE = """
(() => {
  window.__lat = [];
  let pending = null;
  const text = new TextDecoder();
  document.addEventListener("keydown", (e) => {
    if (e.key.length === 1) pending = {t: performance.now(), key: e.key};
  }, true);
  const Native = window.WebSocket;
  function Probed(url, protocols) {
    const ws = protocols === undefined ? new Native(url) : new Native(url, protocols);
    ws.addEventListener("message", (m) => {
      if (pending === null) return;
      const s = typeof m.data === "string" ? m.data : text.decode(m.data);
      if (!s.includes(pending.key)) return;
      const t0 = pending.t; pending = null;
      requestAnimationFrame(() => window.__lat.push(performance.now() - t0));
    });
    return ws;
  }
  Probed.prototype = Native.prototype;
  Object.assign(Probed, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.WebSocket = Probed;
})();
"""


def children(pid: int) -> list[int]:
    """Every descendant of pid (from /proc's parent links)."""
    by_parent: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        by_parent.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        for c in by_parent.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def usage(pids: list[int]) -> tuple[float, int]:
    """CPU seconds (user + system) and proportional set size (PSS: shared pages divided among the
    processes that share them, so a sum over Chromium's processes is not counted many times over)."""
    cpu, pss = 0.0, 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
        except (OSError, IndexError, ValueError):
            continue
    return cpu, pss


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


async def steady(locator, every: float = 0.25, timeout: float = 60.0) -> None:
    last = await locator.screenshot()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(every)
        now = await locator.screenshot()
        if now == last:
            return
        last = now


async def main(args: argparse.Namespace) -> int:
    from playwright.async_api import async_playwright

    from cc_console.config import QueueSettings, Settings, load_settings
    from cc_console.server.app import Server
    from cc_console.server.auth import hash_password
    from cc_console.web_consoles import WebConsoles
    from tests.browser import FLAGS, chromium_path

    tmp = Path(tempfile.mkdtemp(prefix="cc-web-bench-"))
    os.environ["CC_CONSOLE_CONFIG_DIR"] = str(tmp)  # no developer's keymap in the consoles
    base = load_settings(tmp / "none.toml")
    s = Settings(pbx=base.pbx, server=base.server, queues=[QueueSettings(name="support", dids=["5000"])])
    s.server.port = 0
    s.server.db_path = str(tmp / "cc.sqlite3")
    s.server.queue_log_path = str(tmp / "queue_log")
    s.pbx.http_port = 9
    srv = Server(s)
    one_hash = hash_password(PASSWORD)
    for i in range(args.consoles):
        srv.store.add_user({"username": f"agent{i:03d}", "name": f"Agent {i}", "role": "agent",
                            "password_hash": one_hash, "device": "", "answer_mode": "console",
                            "queues": ["support"], "created": time.time()})
    await srv.start()
    front = WebConsoles(srv.url, port=0, max_sessions=args.consoles + 5)
    await front.start()
    url = f"http://127.0.0.1:{front.port}/agent"
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=chromium_path(), args=FLAGS, headless=True)
            pages = []
            for _ in range(args.consoles):
                ctx = await browser.new_context(viewport={"width": 1000, "height": 700})
                await ctx.add_init_script(PROBE)
                pages.append(await ctx.new_page())
            t_open = time.monotonic()

            async def sign_in(i: int, page) -> None:
                await page.goto(url)  # the front door's sign-in form first
                await page.get_by_label("User name").fill(f"agent{i:03d}")
                await page.get_by_label("Password").fill(PASSWORD)
                await page.get_by_role("button", name="Sign in").click()
                await page.wait_for_url("**/agent")
                await page.wait_for_selector("body.-first-byte", timeout=180_000)
                await page.locator(".xterm-helper-textarea").focus()
                await steady(page.locator("#terminal"))

            await asyncio.gather(*(sign_in(i, p) for i, p in enumerate(pages)))
            opened = time.monotonic() - t_open
            deadline = time.monotonic() + 120
            while sum(1 for x in srv.gateway.sessions if x.principal) < args.consoles:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
            signed_in = sum(1 for x in srv.gateway.sessions if x.principal)
            for p in pages:  # the directory search: a field that echoes what is typed
                await p.keyboard.press("D")
            await asyncio.gather(*(steady(p.locator("#terminal")) for p in pages))
            for p in pages:  # the "D" itself was timed too: only the letters typed into the field count
                await p.evaluate("window.__lat = []")

            async def type_keys(page) -> None:
                for k in range(args.keys):
                    before = await page.evaluate("window.__lat.length")
                    await page.keyboard.press("abcdefghijklmnopqrstuvwxyz"[k % 26])
                    for _ in range(1000):
                        if await page.evaluate("window.__lat.length") > before:
                            break
                        await asyncio.sleep(0.005)

            t_keys = time.monotonic()
            await asyncio.gather(*(type_keys(p) for p in pages))
            typing = time.monotonic() - t_keys
            lat: list[float] = []
            for p in pages:
                lat += await p.evaluate("window.__lat")

            me = os.getpid()
            everything = children(me)
            consoles = [pid for pid in everything if ("cc_console" in cmdline(pid) or "cc-console" in cmdline(pid))
                        and not cmdline(pid).startswith("/bin/sh")]
            browser_pids = [pid for pid in everything if "chrom" in cmdline(pid)]
            c0, _ = usage(consoles)
            b0, _ = usage(browser_pids)
            s0, _ = usage([me])
            await asyncio.sleep(args.settle)
            c1, c_rss = usage(consoles)
            b1, b_rss = usage(browser_pids)
            s1, s_rss = usage([me])
            await browser.close()
    finally:
        await front.stop()
        await srv.stop()

    lat.sort()
    n = len(lat)
    per = max(1, args.consoles)
    print(f"consoles: {args.consoles} (signed in: {signed_in}); console processes: {len(consoles)}; "
          f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"opened_all: {opened:.1f} s; typing: {typing:.1f} s for {n} keys")
    if n:
        print(f"p50: {statistics.median(lat):.1f} ms")
        print(f"p90: {lat[int(0.9 * (n - 1))]:.1f} ms")
        print(f"max: {lat[-1]:.1f} ms")
    print(f"console_cpu_per_console: {100 * (c1 - c0) / args.settle / per:.2f} % of a core (directory search open)")
    print(f"console_pss_per_console: {c_rss / per / 2**20:.1f} MiB")
    print(f"browser_cpu_per_console: {100 * (b1 - b0) / args.settle / per:.2f} % of a core")
    print(f"browser_pss_per_console: {b_rss / per / 2**20:.1f} MiB (PSS summed over Chromium's processes)")
    print(f"server_and_front_door: {100 * (s1 - s0) / args.settle:.2f} % of a core, {s_rss / 2**20:.1f} MiB")
    if n:
        print(f"p99: {lat[int(0.99 * (n - 1))]:.1f} ms")
    return 0 if n and signed_in == args.consoles else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--consoles", type=int, default=20)
    ap.add_argument("--keys", type=int, default=30, help="keys each console types")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds of CPU/memory measurement")
    sys.exit(asyncio.run(main(ap.parse_args())))
