"""A push to many SMS subscribers through a real Kannel: how fast the SMS reach the SMSC and how
fast Kannel's delivery reports are counted.

    python bench/push.py [--subscribers 5000] [--sends-at-once 8]

Ours: a real `Server` in this process (aiohttp, the SMS capability with its SQLite file; its ARI
points at a closed port, no Asterisk is needed), Debian's Kannel (bearerbox + smsbox, tests/kannel.py:
config in a tmp folder, free ports) and a fake SMSC in Kannel's fakesmsc protocol on bearerbox's fake
link, which takes every SMS at once (so Kannel and our server set the pace). --subscribers numbers
subscribe to one topic (through the service: the public form is rate-limited per address); one
event is published; we take the time until the SMSC has every message and until `push.event`
counts every delivery report as delivered.

Output: one figure per line (`name: value [unit]`): subscribers, set-up, all at the SMSC, all
reports counted, server RSS peak, CPU of this process (server and fake SMSC); the headline, last,
is `sms_per_s: <value>` (subscribers / time until every report was counted).
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SECRET = "bench-callback-key-0123456789"


async def _run(args: argparse.Namespace) -> int:
    from cc_console.config import QueueSettings, Settings, load_settings
    from cc_console.server.app import Server
    from tests.kannel import FakeSmsc, Kannel  # the same Kannel and fake SMSC as the tests

    logging.basicConfig(level=logging.ERROR)
    tmp = Path(tempfile.mkdtemp(prefix="cc-bench-push-"))
    base = load_settings(tmp / "none.toml")
    s = Settings(pbx=base.pbx, server=base.server, queues=[QueueSettings(name="support", dids=["5000"])])
    s.server.port = 0
    s.server.db_path = str(tmp / "cc.sqlite3")
    s.server.queue_log_path = str(tmp / "queue_log")
    s.pbx.http_port = 9
    kannel = Kannel()
    s.sections["sms"] = {"enabled": True, "sendsms_url": kannel.sendsms_url, "username": kannel.username,
                         "password": kannel.password, "sender": "1234", "secret": SECRET,
                         "sends_at_once": args.sends_at_once, "push_topics": {"news": "News"}}
    server = Server(s)
    await server.start()
    fake: FakeSmsc | None = None
    try:
        url = f"http://127.0.0.1:{server.port}"
        cap = server.capabilities["sms"]
        cap.settings.callback_url = url
        kannel.start(f"{url}/sms/kannel/inbound?key={SECRET}&id=%I&from=%p&to=%P&coding=%c&charset=%C&bin=%b")
        fake = FakeSmsc(kannel.smsc_port)
        await fake.connect()
        t0 = time.monotonic()
        for i in range(args.subscribers):
            await cap.push.subscribe("news", "sms", f"+42060{i:07d}", by="bench")
        setup = time.monotonic() - t0
        cpu0, t0 = time.process_time(), time.monotonic()
        event = await cap.push.publish("news", "Kraj", "Krajský úřad: nové kurzy pro seniory od 1. 12.", by="bench")
        await fake.expect(args.subscribers, timeout=max(60.0, args.subscribers / 10))
        at_smsc = time.monotonic() - t0
        while True:
            summary = await cap.store.run(cap.store.event_summary, event["id"])
            if summary and summary["by_state"].get("delivered", 0) == args.subscribers:
                break
            if time.monotonic() - t0 > max(120.0, args.subscribers / 5):
                print(f"delivery reports counted: {summary and summary['by_state']}")
                return 1
            await asyncio.sleep(0.05)
        counted = time.monotonic() - t0
        cpu = time.process_time() - cpu0
    finally:
        if fake is not None:
            await fake.close()
        await server.stop()
        kannel.stop()
    print(f"subscribers: {args.subscribers}")
    print(f"sends_at_once: {args.sends_at_once}")
    print(f"setup: {setup:.1f} s")
    print(f"all_at_smsc: {at_smsc:.2f} s")
    print(f"all_reports_counted: {counted:.2f} s")
    print(f"server_rss_peak: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MiB")
    print(f"cpu: {100 * cpu / counted:.0f} %")
    print(f"sms_per_s: {args.subscribers / counted:.0f}")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--subscribers", type=int, default=5000)
    p.add_argument("--sends-at-once", type=int, default=8)
    return asyncio.run(_run(p.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
