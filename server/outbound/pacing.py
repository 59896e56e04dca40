"""How many calls to place now: progressive (one per free agent) and predictive.

Predictive pacing dials ahead of free agents, betting that not every callee answers and that agents
on calls will be free by the time one does. It is a controller over measured figures, not a guess:

- the answer rate p (human answers per call placed), an exponentially weighted mean of outcomes;
- the handling time (talk + wrap-up), so that agents about to be free count as partly free;
- the abandon rate over the regulation window (by default 24 hours): answered calls for which no
  agent was free within the connect limit (2 s), over all answered calls.

The number of calls in flight is aimed at `(free + soon_free) / p`, scaled by a gain that the
controller lowers as the measured abandon rate nears the cap and raises when it is well below, and
never above `max_ratio` calls per available agent. Below `min_samples` outcomes it dials
progressively: no bet without figures. Over the cap it stops dialing ahead at all.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field


@dataclass
class PacerSettings:
    abandon_cap: float = 0.03  # the regulator's limit over the window
    window: float = 24 * 3600.0
    min_samples: int = 30  # outcomes measured before dialing ahead
    max_ratio: float = 3.0  # at most this many calls in flight per available agent
    alpha: float = 0.05  # weight of each new outcome in the answer rate
    gain_min: float = 0.2
    gain_max: float = 1.2
    soon_free_horizon: float = 20.0  # an agent this close to the end of the expected handling time counts


@dataclass
class Figures:
    answer_rate: float = 0.5
    samples: int = 0
    answered: deque[tuple[float, bool]] = field(default_factory=deque)  # (time, abandoned)

    def abandon_rate(self, now: float, window: float) -> float:
        while self.answered and self.answered[0][0] < now - window:
            self.answered.popleft()
        if not self.answered:
            return 0.0
        return sum(1 for _, a in self.answered if a) / len(self.answered)


class Pacer:
    """One per campaign; fed with outcomes, asked how many calls to place."""

    def __init__(self, settings: PacerSettings | None = None) -> None:
        self.s = settings or PacerSettings()
        self.f = Figures()
        self.gain = 1.0

    # -- what happened ------------------------------------------------------------------------------
    def placed_outcome(self, human_answer: bool) -> None:
        """A placed call ended its ringing: answered by a person, or not (busy, no answer, machine, failed)."""
        a = self.s.alpha if self.f.samples >= 10 else 1.0 / (self.f.samples + 1)
        self.f.answer_rate += a * ((1.0 if human_answer else 0.0) - self.f.answer_rate)
        self.f.samples += 1

    def answered(self, now: float, abandoned: bool) -> None:
        """A person answered: connected to an agent in time, or abandoned (no agent within the limit)."""
        self.f.answered.append((now, abandoned))
        rate = self.f.abandon_rate(now, self.s.window)
        cap = self.s.abandon_cap
        # The controller: well below the cap, dial a little more boldly; near or over it, back off hard.
        if rate > cap:
            self.gain = max(self.s.gain_min, self.gain * 0.7)
        elif rate > 0.7 * cap:
            self.gain = max(self.s.gain_min, self.gain * 0.95)
        elif rate < 0.4 * cap:
            self.gain = min(self.s.gain_max, self.gain * 1.02)

    # -- what to do ---------------------------------------------------------------------------------
    def to_dial(self, *, mode: str, free: int, busy_remaining: list[float], in_flight: int, now: float,
                aht: float) -> int:
        """How many more calls to place now. `busy_remaining`: for each agent on a call, the expected
        seconds until free (handling time so far subtracted from the average); `in_flight`: calls
        placed and not yet answered or failed."""
        if mode == "preview":
            return 0  # the agent dials from the preview
        if mode == "progressive" or self.f.samples < self.s.min_samples:
            return max(0, free - in_flight)
        if self.f.abandon_rate(now, self.s.window) > self.s.abandon_cap:
            return max(0, free - in_flight)  # over the cap: no calls ahead of free agents
        horizon = self.s.soon_free_horizon
        soon = sum(max(0.0, 1.0 - max(0.0, r) / horizon) for r in busy_remaining if r < horizon)
        available = free + soon
        if available <= 0:
            return 0
        p = max(0.05, self.f.answer_rate)
        target = min(available * self.s.max_ratio, self.gain * available / p)
        return max(0, math.floor(target) - in_flight) if target >= free else max(0, free - in_flight)
