"""Recording search: latency of metadata searches among many recordings.

    python bench/recordings_search.py [--recordings 500000] [--agents 400] [--categories 25]
                                      [--days 365] [--queries 3000] [--seed 1]

Generated (seeded): `--recordings` metadata rows over `--days` days, spread over `--agents`
agents, 12 queues, `--categories` categories, call types and callers, in a RecordingStore (SQLite,
WAL, the indexes the server uses) in a temporary folder.

Figures (one per line, `name: value [unit]`):
  load_s           bulk insert of all rows, indexes included
  p50/p95/p99/max  RecordingStore.search() for the first page (50 rows, newest first) of a search
                   by agent, date range (1 to 90 days) and category, mixed with searches by agent +
                   date range and by category + date range (a third each). Headline: `p99: <value> ms`.
  hits_avg         rows per first page, on average
"""
from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cc_console.server.recordings.store import RecordingStore  # noqa: E402

DAY = 86400.0


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def rows(n: int, agents: int, categories: int, days: int, t_end: float, rnd: random.Random):
    types = ["inbound"] * 8 + ["outbound", "lost", "not_reached"]
    for i in range(n):
        started = t_end - rnd.random() * days * DAY
        a = rnd.randrange(agents)
        q = rnd.randrange(12)
        lost = rnd.random() < 0.08
        yield {"id": f"r{i:08d}", "call_id": f"c{i:08d}", "leg": 1, "name": f"cc-rec-c{i:08d}-1",
               "agent_id": "" if lost else f"agent{a}", "agent_name": "" if lost else f"Agent {a}",
               "agent_number": str(1000 + a), "started": started, "ended": started + 200,
               "queue_time": rnd.random() * 120, "talk": rnd.random() * 600,
               "call_type": "lost" if lost else rnd.choice(types), "queue": f"q{q}", "queue_number": str(5000 + q),
               "queue_name": f"queue {q}", "category": f"cat{rnd.randrange(categories)}",
               "caller": f"06{rnd.randrange(10**8):08d}", "status": "no_audio" if lost else "stored",
               "file": "" if lost else f"x/{i}.wav", "sha256": "0" * 64, "duration": 200.0,
               "expires": started + 183 * DAY}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recordings", type=int, default=500_000)
    ap.add_argument("--agents", type=int, default=400)
    ap.add_argument("--categories", type=int, default=25)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--queries", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    t_end = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        store = RecordingStore(Path(tmp) / "rec.sqlite3")
        t0 = time.perf_counter()
        store.insert_many(rows(args.recordings, args.agents, args.categories, args.days, t_end, rnd))
        store._db.execute("ANALYZE")
        load = time.perf_counter() - t0
        times, hits = [], 0
        for i in range(args.queries):
            span = rnd.uniform(1, 90) * DAY
            frm = t_end - rnd.random() * (args.days * DAY - span) - span
            crit = {"agent": f"agent{rnd.randrange(args.agents)}", "category": f"cat{rnd.randrange(args.categories)}"}
            if i % 3 == 1:
                crit.pop("category")
            elif i % 3 == 2:
                crit.pop("agent")
            t = time.perf_counter()
            found, _ = store.search(date_from=frm, date_to=frm + span, limit=50, **crit)
            times.append((time.perf_counter() - t) * 1000)
            hits += len(found)
        store.close()
    print(f"p99: {pct(times, 99):.3f} ms")
    print(f"recordings: {args.recordings}")
    print(f"queries: {len(times)}")
    print(f"load_s: {load:.1f} s")
    print(f"p50: {statistics.median(times):.3f} ms")
    print(f"p95: {pct(times, 95):.3f} ms")
    print(f"max: {max(times):.3f} ms")
    print(f"hits_avg: {hits / len(times):.1f}")


if __name__ == "__main__":
    main()
