"""IVR trees: the file format, its loading and the checks an admin runs before a reload. Pure.

A tree file holds up to MAX_TREES_PER_TENANT trees per tenant. Each tree has nodes; a node speaks a
prompt, may set tags, skills and priority on the call (so the path the caller takes decides them),
and either waits for a key (`options`) or goes on (`next`). docs/ivr.md has the format.

Loaded trees are never changed: a reload builds new ones, and a call in the IVR keeps the tree it
started with, so a reload never drops or confuses a call.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cc_console.server.acd.hours import Schedule

MAX_TREES_PER_TENANT = 30
LANGUAGES = ("cs", "nb", "nl", "it", "en")
DIGITS = set("0123456789*#")
# Actions that end the IVR (the call leaves the tree); goto and repeat stay in it.
EXITS = ("queue", "number", "agent", "voicemail", "callback", "hangup", "tree")
NEEDS_TARGET = ("goto", "queue", "number", "agent", "tree")
KINDS = (*EXITS, "goto", "repeat")


class TreeError(ValueError):
    """A tree file that cannot be used; the message names the tree and node."""


@dataclass(frozen=True)
class Action:
    kind: str  # one of KINDS
    target: str = ""

    @classmethod
    def parse(cls, text: str, where: str) -> Action:
        kind, _, target = str(text).partition(":")
        kind, target = kind.strip(), target.strip()
        if kind not in KINDS:
            raise TreeError(f"{where}: {text!r} is not an action; start it with one of {', '.join(KINDS)}")
        if kind in NEEDS_TARGET and not target:
            raise TreeError(f"{where}: {text!r} must say which {kind} after the colon (e.g. {kind}:name)")
        if kind not in NEEDS_TARGET and target:
            raise TreeError(f"{where}: {kind!r} takes nothing after it")
        return cls(kind, target)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass(frozen=True)
class Lookup:
    """Ask an internal system over HTTP; its JSON answer fills the text that is spoken."""

    url: str  # {caller}, {did} and the call's tags are filled in
    say: str  # e.g. "Your application was received on {received}."
    fallback: str = ""  # spoken when the system does not answer or lacks a field
    timeout: float = 3.0


@dataclass(frozen=True)
class Node:
    name: str
    prompt: str = ""  # text spoken by text-to-speech in the tree's language
    media: str = ""  # a recorded prompt (ARI media URI) instead of the spoken text
    options: dict[str, Action] = field(default_factory=dict)  # key -> action
    next: Action | None = None  # a node without options goes on to this after its prompt
    timeout: float = 5.0  # seconds to wait for a key after the prompt
    retries: int = 2  # how many times the prompt is played again after a timeout or a wrong key
    on_timeout: Action = Action("hangup")
    on_invalid: Action = Action("hangup")
    invalid_prompt: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    skills: tuple[str, ...] = ()
    priority: int | None = None
    schedule: Schedule | None = None  # opening hours of this node; None: always open
    closed: Action | None = None  # where a caller goes when the node is closed
    lookup: Lookup | None = None

    def edges(self) -> list[tuple[str, Action]]:
        """(why, action) for every way out of this node."""
        out = [(f"key {k}", a) for k, a in self.options.items()]
        if self.next:
            out.append(("next", self.next))
        if self.options:
            out += [("on_timeout", self.on_timeout), ("on_invalid", self.on_invalid)]
        if self.closed:
            out.append(("closed", self.closed))
        return out


@dataclass(frozen=True)
class Tree:
    name: str
    tenant: str = "default"
    dids: tuple[str, ...] = ()
    queue: str = ""  # the home queue: reports, and a voicemail left from the tree
    language: str = "en"
    start: str = "main"
    welcome: str = ""  # spoken before the first menu (a caller who hangs up here is lost before the IVR)
    nodes: dict[str, Node] = field(default_factory=dict)


@dataclass(frozen=True)
class IvrConfig:
    trees: dict[str, Tree] = field(default_factory=dict)
    source: str = ""

    def did_map(self) -> dict[str, str]:
        return {did: t.name for t in self.trees.values() for did in t.dids}


_NODE_KEYS = {"prompt", "media", "options", "next", "timeout", "retries", "on_timeout", "on_invalid",
              "invalid_prompt", "tags", "skills", "priority", "timezone", "hours", "holidays", "exceptions",
              "closed", "lookup"}
_TREE_KEYS = {"tenant", "dids", "queue", "language", "start", "welcome", "timeout", "retries", "nodes"}


def _node(tree: str, name: str, d: dict[str, Any], defaults: dict[str, Any]) -> Node:
    where = f"tree {tree}, node {name}"
    if not isinstance(d, dict):
        raise TreeError(f"{where}: a node is a table")
    unknown = set(d) - _NODE_KEYS
    if unknown:
        raise TreeError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    options = {}
    for key, text in (d.get("options") or {}).items():
        key = str(key)
        if len(key) != 1 or key not in DIGITS:
            raise TreeError(f"{where}: option {key!r} is not a phone key (0-9, * or #)")
        options[key] = Action.parse(text, f"{where}, key {key}")
    schedule = None
    if d.get("hours") or d.get("holidays") or d.get("exceptions"):
        try:
            schedule = Schedule.from_config(d.get("timezone", "UTC"), d.get("hours"), d.get("holidays"),
                                            d.get("exceptions"))
        except ValueError as exc:
            raise TreeError(f"{where}: {exc}") from None
    lookup = None
    if d.get("lookup"):
        lk = d["lookup"]
        if not isinstance(lk, dict) or not lk.get("url") or not lk.get("say"):
            raise TreeError(f"{where}: lookup needs url and say")
        bad = set(lk) - {"url", "say", "fallback", "timeout"}
        if bad:
            raise TreeError(f"{where}: lookup: unknown key(s) {', '.join(sorted(bad))}")
        lookup = Lookup(str(lk["url"]), str(lk["say"]), str(lk.get("fallback", "")), float(lk.get("timeout", 3.0)))

    def act(key: str) -> Action | None:
        return Action.parse(d[key], f"{where}, {key}") if d.get(key) else None

    try:
        timeout = float(d.get("timeout", defaults.get("timeout", 5.0)))
        retries = int(d.get("retries", defaults.get("retries", 2)))
        priority = int(d["priority"]) if "priority" in d else None
    except (TypeError, ValueError):
        raise TreeError(f"{where}: timeout, retries and priority are numbers") from None
    if timeout <= 0 or retries < 0:
        raise TreeError(f"{where}: timeout must be above 0 and retries 0 or more")
    return Node(name=name, prompt=str(d.get("prompt", "")), media=str(d.get("media", "")), options=options,
                next=act("next"), timeout=timeout, retries=retries,
                on_timeout=act("on_timeout") or Action("hangup"), on_invalid=act("on_invalid") or Action("hangup"),
                invalid_prompt=str(d.get("invalid_prompt", "")),
                tags={str(k): str(v) for k, v in (d.get("tags") or {}).items()},
                skills=tuple(str(s) for s in d.get("skills") or ()), priority=priority, schedule=schedule,
                closed=act("closed"), lookup=lookup)


def parse_trees(data: dict[str, Any], source: str = "") -> IvrConfig:
    trees: dict[str, Tree] = {}
    raw = data.get("trees") or {}
    if not isinstance(raw, dict):
        raise TreeError("[trees] must be a table of trees")
    for name, td in raw.items():
        if not isinstance(td, dict):
            raise TreeError(f"tree {name}: a tree is a table")
        unknown = set(td) - _TREE_KEYS
        if unknown:
            raise TreeError(f"tree {name}: unknown key(s) {', '.join(sorted(unknown))}")
        lang = str(td.get("language", "en"))
        if lang not in LANGUAGES:
            raise TreeError(f"tree {name}: language {lang!r}; use one of {', '.join(LANGUAGES)}")
        defaults = {k: td[k] for k in ("timeout", "retries") if k in td}
        nodes = {str(n): _node(name, str(n), nd, defaults) for n, nd in (td.get("nodes") or {}).items()}
        trees[name] = Tree(name=name, tenant=str(td.get("tenant", "default")),
                           dids=tuple(str(x) for x in td.get("dids") or ()), queue=str(td.get("queue", "")),
                           language=lang, start=str(td.get("start", "main")), welcome=str(td.get("welcome", "")),
                           nodes=nodes)
    return IvrConfig(trees=trees, source=source)


def load_trees(path: Path) -> IvrConfig:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise TreeError(f"{path}: not valid TOML: {exc}") from None
    return parse_trees(data, str(path))


def check(cfg: IvrConfig, *, queues: set[str] | None = None, sounds: Path | None = None,
          media_prefix: str = "sound:recordings/") -> list[str]:
    """Every problem of the trees, each a sentence naming the tree and node; [] when usable.

    queues: the routing file's queue names (unknown queues are then errors). sounds: the folder
    recorded prompts are played from (a recorded prompt whose file is missing is then an error)."""
    problems: list[str] = []
    per_tenant: dict[str, list[str]] = {}
    dids: dict[str, str] = {}
    for tree in cfg.trees.values():
        per_tenant.setdefault(tree.tenant, []).append(tree.name)
        for did in tree.dids:
            if did in dids:
                problems.append(f"tree {tree.name}: number {did} is already taken by tree {dids[did]}")
            dids[did] = tree.name
        problems += _check_tree(cfg, tree, queues, sounds, media_prefix)
    for tenant, names in per_tenant.items():
        if len(names) > MAX_TREES_PER_TENANT:
            problems.append(f"tenant {tenant}: {len(names)} trees; at most {MAX_TREES_PER_TENANT} are allowed")
    return problems


def _check_tree(cfg: IvrConfig, tree: Tree, queues: set[str] | None, sounds: Path | None,
                media_prefix: str) -> list[str]:
    problems: list[str] = []
    t = f"tree {tree.name}"
    if not tree.nodes:
        return [f"{t}: has no nodes"]
    if tree.start not in tree.nodes:
        problems.append(f"{t}: the start node {tree.start!r} does not exist")
    if not tree.queue:
        problems.append(f"{t}: name its home queue (queue = ...): voicemail and reports need one")
    elif queues is not None and tree.queue not in queues:
        problems.append(f"{t}: home queue {tree.queue!r} is not in the routing file")
    for node in tree.nodes.values():
        where = f"{t}, node {node.name}"
        if node.options and node.next:
            problems.append(f"{where}: has both options and next; a menu waits for a key, a message goes on")
        if not node.options and not node.next:
            problems.append(f"{where}: leads nowhere; give it options or next")
        if not node.prompt and not node.media and not node.lookup:
            problems.append(f"{where}: missing prompt; the caller would hear nothing (set prompt or media)")
        if node.media and sounds is not None and node.media.startswith(media_prefix):
            f = sounds / f"{node.media[len(media_prefix):]}.wav"
            if not f.exists():
                problems.append(f"{where}: missing prompt file {f} for media {node.media}")
        if node.schedule and not node.closed:
            problems.append(f"{where}: has opening hours but no closed action")
        for why, a in node.edges():
            if a.kind == "goto" and a.target not in tree.nodes:
                problems.append(f"{where}, {why}: goto:{a.target} - no such node")
            elif a.kind == "tree" and a.target not in cfg.trees:
                problems.append(f"{where}, {why}: tree:{a.target} - no such tree")
            elif a.kind == "queue" and queues is not None and a.target not in queues:
                problems.append(f"{where}, {why}: queue:{a.target} - not in the routing file")
    if tree.start not in tree.nodes:
        return problems
    graph = {n.name: [a.target for _, a in n.edges() if a.kind == "goto" and a.target in tree.nodes]
             + ([n.name] if any(a.kind == "repeat" for _, a in n.edges()) else []) for n in tree.nodes.values()}
    seen: set[str] = set()
    todo = [tree.start]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += graph[n]
    for name in tree.nodes:
        if name not in seen:
            problems.append(f"{t}, node {name}: unreachable from the start node {tree.start}")
    # A node from which no exit can be reached traps the caller in a loop.
    exits = {n.name for n in tree.nodes.values() if any(a.kind in EXITS for _, a in n.edges())}
    changed = True
    while changed:
        changed = False
        for name, targets in graph.items():
            if name not in exits and any(x in exits for x in targets):
                exits.add(name)
                changed = True
    for name in sorted(seen - exits):
        problems.append(f"{t}, node {name}: a loop without exit; every way from here leads back into the tree "
                        f"(give it an option, on_timeout or on_invalid that leaves the IVR)")
    return problems


def draw(tree: Tree) -> str:
    """The tree as lines of text for a terminal: each node once, a node seen before shown by name."""
    lines = [f"{tree.name}  (tenant {tree.tenant}, {tree.language}, numbers {', '.join(tree.dids) or '-'}, "
             f"home queue {tree.queue or '-'})"]
    shown: set[str] = set()

    def label(node: Node) -> str:
        bits = [node.name]
        if node.prompt:
            text = node.prompt if len(node.prompt) <= 50 else node.prompt[:47] + "..."
            bits.append(f'"{text}"')
        elif node.media:
            bits.append(node.media)
        if node.tags:
            bits.append("tags " + ", ".join(f"{k}={v}" for k, v in node.tags.items()))
        if node.skills:
            bits.append("skills " + ", ".join(node.skills))
        if node.priority is not None:
            bits.append(f"priority {node.priority}")
        if node.schedule:
            bits.append("has hours")
        if node.lookup:
            bits.append("looks up " + node.lookup.url)
        return "  ".join(bits)

    def walk(name: str, prefix: str) -> None:
        node = tree.nodes[name]
        shown.add(name)
        edges = node.edges()
        for i, (why, a) in enumerate(edges):
            last = i == len(edges) - 1
            branch, more = ("└─ ", "   ") if last else ("├─ ", "│  ")
            if a.kind == "goto" and a.target in tree.nodes:
                if a.target in shown:
                    lines.append(f"{prefix}{branch}{why} → {a.target} (above)")
                else:
                    lines.append(f"{prefix}{branch}{why} → {label(tree.nodes[a.target])}")
                    walk(a.target, prefix + more)
            else:
                lines.append(f"{prefix}{branch}{why} → {a}")

    if tree.start in tree.nodes:
        lines.append(f"└─ {label(tree.nodes[tree.start])}")
        walk(tree.start, "   ")
    for name in tree.nodes:
        if name not in shown:
            lines.append(f"   (unreachable) {label(tree.nodes[name])}")
    return "\n".join(lines)
