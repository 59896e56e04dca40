"""Call scripts: questions, their answers and where each answer leads, written by supervisors as
TOML and checked before a campaign takes them.

    start = "interest"                  # the first question (default: the first one written)
    [questions.interest]
    text = "Would you like to hear about our home insurance?"
    answers = { yes = "budget", no = "end", later = "end" }
    [questions.budget]
    text = "What do you pay a year now?"
    next = "end"                        # a free answer (no choices), then this question

``end`` ends the script. The checker finds unknown targets, questions no path reaches, and loops a
call can never leave (questions from which no path reaches ``end``).
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from typing import Any

END = "end"


class ScriptError(ValueError):
    pass


@dataclass
class Question:
    key: str
    text: str
    answers: dict[str, str] = field(default_factory=dict)  # answer -> next question (or END)
    next: str = ""  # free answer -> next question

    def targets(self) -> list[str]:
        return list(self.answers.values()) if self.answers else [self.next]

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "text": self.text, "answers": self.answers, "next": self.next}


@dataclass
class Script:
    start: str
    questions: dict[str, Question]

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start, "questions": [q.to_dict() for q in self.questions.values()]}

    def next_after(self, key: str, answer: str) -> str:
        """Where an answer to question ``key`` leads; ScriptError for an answer the script does not offer."""
        q = self.questions.get(key)
        if q is None:
            raise ScriptError(f"The script has no question {key}")
        if q.answers:
            if answer not in q.answers:
                raise ScriptError(f"{answer!r} is not an answer to {key} ({', '.join(q.answers)})")
            return q.answers[answer]
        return q.next


def load_script(text: str) -> Script:
    """Parse a script (structure only: check() finds the flow's mistakes)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScriptError(f"Not valid TOML: {exc}") from None
    raw = data.get("questions")
    if not isinstance(raw, dict) or not raw:
        raise ScriptError("The script has no [questions.<name>] tables")
    questions: dict[str, Question] = {}
    for key, q in raw.items():
        if key == END:
            raise ScriptError(f"'{END}' ends a script and cannot name a question")
        if not isinstance(q, dict) or not isinstance(q.get("text"), str) or not q["text"].strip():
            raise ScriptError(f"Question {key} needs a text")
        answers = q.get("answers", {})
        if not isinstance(answers, dict) or not all(isinstance(v, str) for v in answers.values()):
            raise ScriptError(f"Question {key}: answers map each answer to the next question's name")
        nxt = q.get("next", "")
        if not isinstance(nxt, str):
            raise ScriptError(f"Question {key}: next names a question")
        if answers and nxt:
            raise ScriptError(f"Question {key} has both answers and next: branch by the answers")
        if not answers and not nxt:
            raise ScriptError(f"Question {key} leads nowhere: give answers or next (\"{END}\" to finish)")
        questions[key] = Question(key, q["text"], {str(k): v for k, v in answers.items()}, nxt)
    start = data.get("start", next(iter(questions)))
    if not isinstance(start, str):
        raise ScriptError("start names the first question")
    return Script(start, questions)


def check(script: Script) -> list[str]:
    """The flow's mistakes, each a sentence for the script's author; empty: the script is good."""
    problems: list[str] = []
    qs = script.questions
    if script.start not in qs:
        problems.append(f"start names an unknown question: {script.start}")
    for q in qs.values():
        for target in q.targets():
            if target != END and target not in qs:
                problems.append(f"question {q.key} leads to an unknown question: {target}")
    # reachable from the start
    seen: set[str] = set()
    todo = [script.start] if script.start in qs else []
    while todo:
        k = todo.pop()
        if k in seen:
            continue
        seen.add(k)
        todo.extend(t for t in qs[k].targets() if t in qs)
    for k in qs:
        if k not in seen:
            problems.append(f"question {k} is never reached")
    # questions that can reach the end (backwards from every question that leads there); an unknown
    # target counts as an end here, as it is reported above and is no loop
    ends: set[str] = set()
    changed = True
    while changed:
        changed = False
        for q in qs.values():
            if q.key not in ends and any(t == END or t in ends or t not in qs for t in q.targets()):
                ends.add(q.key)
                changed = True
    for k in qs:
        if k in seen and k not in ends:
            problems.append(f"question {k} is in a loop that never reaches the end")
    return problems


def parse_and_check(text: str) -> Script:
    script = load_script(text)
    problems = check(script)
    if problems:
        raise ScriptError("; ".join(problems))
    return script
