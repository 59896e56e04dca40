"""The predictive pacer (server/outbound/pacing.py) on the simulated floor of bench/dialer.py: it keeps
abandonment under the cap while it keeps agents busier than progressive dialing, and it never bets
without figures."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from cc_console.server.outbound.pacing import Pacer, PacerSettings

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_dialer", ROOT / "bench" / "dialer.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_dialer"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_predictive_stays_under_the_cap_and_beats_progressive():
    sim = _bench().simulate
    for agents in (20, 50):
        kw = dict(hours=2.0, p_answer=0.35, p_machine=0.10, p_busy=0.10, aht=180.0, wrap=15.0, cap=0.03, seed=3,
                  decision_ns=[])
        prog = sim(agents, "progressive", **kw)
        pred = sim(agents, "predictive", **kw)
        assert prog["abandon"] == 0.0
        assert pred["abandon"] < 0.03, pred
        assert pred["occupancy"] > prog["occupancy"], (pred, prog)


def test_no_bet_without_figures_and_none_over_the_cap():
    p = Pacer(PacerSettings(min_samples=30))
    # Too few outcomes measured: one call per free agent, as progressive.
    assert p.to_dial(mode="predictive", free=5, busy_remaining=[], in_flight=0, now=0, aht=195) == 5
    for _ in range(40):
        p.placed_outcome(False)
    for _ in range(10):
        p.placed_outcome(True)
    ahead = p.to_dial(mode="predictive", free=5, busy_remaining=[5.0, 50.0], in_flight=0, now=0, aht=195)
    assert ahead > 5  # now it dials ahead of the free agents
    # Over the abandon cap: back to one call per free agent at most.
    for t in range(10):
        p.answered(float(t), abandoned=True)
    assert p.to_dial(mode="predictive", free=5, busy_remaining=[], in_flight=0, now=10, aht=195) == 5
    assert p.to_dial(mode="preview", free=5, busy_remaining=[], in_flight=0, now=10, aht=195) == 0
    assert p.to_dial(mode="progressive", free=5, busy_remaining=[], in_flight=3, now=10, aht=195) == 2
