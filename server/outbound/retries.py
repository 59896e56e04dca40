"""Retry rules per outcome: after a busy line, no answer, a machine or a failed call, when to try
again and how many attempts a contact gets in all."""
from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    ANSWERED = "answered"  # a person, connected to an agent: the contact is done
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    MACHINE = "machine"
    FAILED = "failed"
    ABANDONED = "abandoned"  # answered with no agent free in time (predictive); not retried by default


RETRYABLE = (Outcome.BUSY, Outcome.NO_ANSWER, Outcome.MACHINE, Outcome.FAILED)


@dataclass(frozen=True)
class Rule:
    delay: float  # seconds after the attempt
    max_attempts: int  # attempts in all (the first one included) after which the contact is closed


DEFAULTS = {Outcome.BUSY: Rule(600, 5), Outcome.NO_ANSWER: Rule(3600, 3),
            Outcome.MACHINE: Rule(7200, 2), Outcome.FAILED: Rule(900, 3)}


class RetryError(ValueError):
    pass


@dataclass(frozen=True)
class RetryRules:
    rules: dict[Outcome, Rule]

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> RetryRules:
        rules = dict(DEFAULTS)
        for key, value in (d or {}).items():
            try:
                outcome = Outcome(key)
            except ValueError:
                raise RetryError(f"Retries are set for busy, no_answer, machine or failed (not {key})") from None
            if outcome not in RETRYABLE:
                raise RetryError(f"No retries for {key}")
            if not isinstance(value, dict):
                raise RetryError(f"The retry rule for {key} needs a delay and max_attempts")
            try:
                delay = float(value.get("delay", rules[outcome].delay))
                most = int(value.get("max_attempts", rules[outcome].max_attempts))
            except (TypeError, ValueError):
                raise RetryError(f"The retry rule for {key} needs numbers") from None
            if delay < 0 or most < 1:
                raise RetryError(f"The retry rule for {key}: delay 0 or more, at least 1 attempt")
            rules[outcome] = Rule(delay, most)
        return cls(rules)

    def to_dict(self) -> dict[str, Any]:
        return {str(o): {"delay": r.delay, "max_attempts": r.max_attempts} for o, r in self.rules.items()}

    def next_attempt(self, outcome: Outcome, attempts: int, now: float) -> float | None:
        """When to call again after ``attempts`` attempts ending in ``outcome``; None: no more."""
        rule = self.rules.get(outcome)
        if rule is None or attempts >= rule.max_attempts:
            return None
        return now + rule.delay
