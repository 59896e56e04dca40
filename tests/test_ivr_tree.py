"""IVR tree files: loading, the checks `cc-console admin ivr check` runs, and the drawing of `show`."""
from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cc_console.cli import app
from cc_console.server.ivr.tree import TreeError, check, draw, load_trees, parse_trees

GOOD = """
[trees.main]
tenant = "insurer"
dids = ["5100"]
queue = "support"
language = "en"
start = "root"

[trees.main.nodes.root]
prompt = "Welcome. For claims press 1. For applications press 2."
options = { "1" = "goto:claims", "2" = "goto:apps", "*" = "repeat" }
on_timeout = "queue:support"

[trees.main.nodes.claims]
prompt = "Car claims press 1, home claims press 2."
tags = { problem = "claims" }
options = { "1" = "goto:car", "2" = "queue:support", "0" = "goto:root" }

[trees.main.nodes.car]
prompt = "To speak to a car expert press 1."
tags = { product = "car" }
skills = ["car"]
priority = 5
options = { "1" = "queue:sales", "9" = "voicemail" }

[trees.main.nodes.apps]
prompt = "Thank you."
lookup = { url = "http://127.0.0.1:1/app?caller={caller}", say = "Your application was received on {received}." }
next = "queue:support"
"""


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "ivr.toml"
    p.write_text(textwrap.dedent(text))
    return p


def test_a_good_tree_loads_and_passes_the_checks(tmp_path):
    cfg = load_trees(_write(tmp_path, GOOD))
    assert check(cfg, queues={"support", "sales"}) == []
    tree = cfg.trees["main"]
    assert cfg.did_map() == {"5100": "main"}
    assert tree.nodes["car"].skills == ("car",) and tree.nodes["car"].priority == 5
    assert str(tree.nodes["claims"].options["1"]) == "goto:car"


def test_check_finds_unreachable_nodes_loops_missing_prompts_and_unknown_targets(tmp_path):
    bad = GOOD + """
[trees.main.nodes.orphan]
prompt = "Nobody comes here."
next = "hangup"

[trees.loop]
dids = ["5101"]
queue = "support"
[trees.loop.nodes.main]
prompt = "Press 1."
options = { "1" = "goto:b" }
on_timeout = "goto:b"
on_invalid = "repeat"
[trees.loop.nodes.b]
options = { "1" = "goto:main" }
on_timeout = "goto:main"
on_invalid = "goto:main"
[trees.loop.nodes.c]
prompt = "x"
options = { "1" = "goto:nowhere", "2" = "tree:nosuch", "3" = "queue:nosuch" }
"""
    problems = check(parse_trees(__import__("tomllib").loads(bad)), queues={"support", "sales"})
    text = "\n".join(problems)
    assert "tree main, node orphan: unreachable from the start node root" in text
    assert "tree loop, node main: a loop without exit" in text
    assert "tree loop, node b: a loop without exit" in text
    assert "tree loop, node b: missing prompt" in text
    assert "goto:nowhere - no such node" in text
    assert "tree:nosuch - no such tree" in text
    assert "queue:nosuch - not in the routing file" in text


def test_a_recorded_prompt_whose_file_is_missing_is_an_error(tmp_path):
    text = GOOD.replace('prompt = "Thank you."', 'media = "sound:/x/cc-ivr-thanks"')
    cfg = parse_trees(__import__("tomllib").loads(text))
    (tmp_path / "sounds").mkdir()
    problems = check(cfg, sounds=tmp_path / "sounds", media_prefix="sound:/x/")
    assert len(problems) == 1 and "node apps: missing prompt file" in problems[0]
    (tmp_path / "sounds" / "cc-ivr-thanks.wav").write_bytes(b"RIFF")
    assert check(cfg, sounds=tmp_path / "sounds", media_prefix="sound:/x/") == []


def test_more_than_thirty_trees_for_one_tenant_are_refused():
    trees = {f"t{i}": {"tenant": "insurer", "queue": "support",
                       "nodes": {"main": {"prompt": "Hello.", "next": "queue:support"}}} for i in range(31)}
    problems = check(parse_trees({"trees": trees}))
    assert problems == ["tenant insurer: 31 trees; at most 30 are allowed"]
    del trees["t30"]
    assert check(parse_trees({"trees": trees})) == []


@pytest.mark.parametrize("text, message", [
    ('[trees.a.nodes.main]\noptions = { "x" = "hangup" }', "option 'x' is not a phone key"),
    ('[trees.a.nodes.main]\nnext = "dance"', "'dance' is not an action"),
    ('[trees.a.nodes.main]\nnext = "queue"', "must say which queue"),
    ('[trees.a]\nlanguage = "de"', "language 'de'"),
    ('[trees.a.nodes.main]\ncolour = "red"', "unknown key(s) colour"),
])
def test_malformed_trees_are_refused_with_the_node_named(text, message):
    with pytest.raises(TreeError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_trees(__import__("tomllib").loads(text))


def test_draw_shows_every_node_and_where_each_key_leads(tmp_path):
    out = draw(load_trees(_write(tmp_path, GOOD)).trees["main"])
    assert out.splitlines()[0].startswith("main  (tenant insurer, en, numbers 5100, home queue support)")
    assert "key 1 → claims" in out and "key 1 → car" in out and "key 1 → queue:sales" in out
    assert "key 0 → root (above)" in out
    assert "on_timeout → queue:support" in out
    assert "tags product=car" in out and "skills car" in out and "priority 5" in out


def test_cli_check_and_show(tmp_path):
    runner = CliRunner()
    good = _write(tmp_path, GOOD)
    routing = tmp_path / "routing.toml"
    routing.write_text('[queues.support]\ndids = ["5000"]\n[queues.sales]\ndids = ["5001"]\n')
    r = runner.invoke(app, ["admin", "ivr", "check", str(good), "--routing", str(routing)])
    assert r.exit_code == 0, r.output
    assert "ok: 1 tree(s) (main), 4 node(s)" in r.output
    routing.write_text('[queues.support]\ndids = ["5000"]\n')
    r = runner.invoke(app, ["admin", "ivr", "check", str(good), "--routing", str(routing)])
    assert r.exit_code == 1
    assert "error: tree main, node car, key 1: queue:sales - not in the routing file" in r.output
    # A recorded prompt the PBX's sounds folder lacks: named with the node.
    recorded = _write(tmp_path, GOOD.replace('prompt = "Thank you."', 'media = "sound:/p/cc-ivr-thanks"'))
    cfg_file = tmp_path / "config.toml"
    cfg_file.write_text(f'[pbx]\nsounds_dir = "{tmp_path}"\n[ivr]\nmedia_prefix = "sound:/p/"\n')
    r = runner.invoke(app, ["admin", "ivr", "check", str(recorded), "--config", str(cfg_file)])
    assert r.exit_code == 1 and "node apps: missing prompt file" in r.output
    (tmp_path / "cc-ivr-thanks.wav").write_bytes(b"RIFF")
    r = runner.invoke(app, ["admin", "ivr", "check", str(recorded), "--config", str(cfg_file)])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["admin", "ivr", "show", str(good)])
    assert r.exit_code == 0 and "key 2 → apps" in r.output
    r = runner.invoke(app, ["admin", "ivr", "show", str(good), "--tree", "nope"])
    assert r.exit_code == 1 and "no tree 'nope'" in r.output
