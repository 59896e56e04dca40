"""The supervisor's virtualised agents table (widgets/agents_table.py): a change to a row out of view
leaves the table's layout alone and paints nothing; the row shows its new value, and its time in
state is brought up to date, when it scrolls into view. No server: a fake client."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cc_console.screens.demo import DEMO_NOW, demo_snapshot
from cc_console.widgets.agents_table import AgentsTable
from cc_console.widgets.fmt import long_duration, state_label

from .test_tui_pilot import FakeClient, make_app
from .test_tui_supervisor import QUIET, Clock, settle

SIZE = (120, 30)
N_AGENTS = 200


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path))
    (tmp_path / "supervisor.toml").write_text(QUIET)
    return tmp_path


def many_agents() -> dict[str, Any]:
    snap = demo_snapshot("sup1", "supervisor")
    model = next(a for a in snap["agents"] if a["id"] == "agent1")
    snap["agents"] = [dict(model, id=f"a{i:03d}", name=f"Agent {i:03d}", state="ready", call_id=None,
                           state_since=DEMO_NOW - 60 - i) for i in range(N_AGENTS)]
    return snap


async def wait_for(pilot: Any, predicate: Any, what: str) -> None:
    for _ in range(200):
        if predicate():
            return
        await pilot.pause()
    raise AssertionError(f"not reached: {what}")


def line_text(table: AgentsTable, key: str) -> str:
    """The painted line of a row in view, as the terminal would get it."""
    y = table.get_row_index(key) - int(table.scroll_y) + table.header_height
    return "".join(seg.text for seg in table.render_line(y))


async def test_a_change_out_of_view_leaves_the_layout_alone_and_shows_when_scrolled_to() -> None:
    client = FakeClient(many_agents())
    app = make_app(client, mode="supervisor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#agents", AgentsTable)
        assert table.row_count == N_AGENTS
        far = table.row_keys[-1]
        assert not table.is_row_visible(far) and table.is_row_visible(table.row_keys[0])
        layout, offscreen = table._update_count, table.offscreen_updates

        agent = dict(client.state.agents[far], state="paused", reason="lunch")
        client.emit("agent.state", agent)
        await settle(pilot)
        assert table.cells(far)[3] == "lunch"  # the table holds the new value...
        assert table._update_count == layout  # ...without rebuilding its row layout
        assert table.offscreen_updates > offscreen

        table.move_cursor(row=table.get_row_index(far), animate=False)
        await wait_for(pilot, lambda: table.is_row_visible(far), "the last row scrolled into view")
        await pilot.pause()
        assert state_label("paused") in line_text(table, far) and "lunch" in line_text(table, far)


async def test_a_change_in_view_is_painted() -> None:
    client = FakeClient(many_agents())
    app = make_app(client, mode="supervisor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#agents", AgentsTable)
        near = table.row_keys[1]
        assert state_label("ready") in line_text(table, near)
        client.emit("agent.state", dict(client.state.agents[near], state="paused", reason="admin"))
        await settle(pilot)
        assert state_label("paused") in line_text(table, near) and "admin" in line_text(table, near)


async def test_time_in_state_is_current_for_rows_in_view_and_when_a_row_comes_into_view() -> None:
    clock = Clock()
    client = FakeClient(many_agents())
    app = make_app(client, mode="supervisor", now=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        table = screen.query_one("#agents", AgentsTable)
        near, far = table.row_keys[0], table.row_keys[-1]
        since = {k: client.state.agents[k]["state_since"] for k in (near, far)}
        before_far = table.cells(far)[4]
        clock.t += 125
        screen.mark_dirty()
        await settle(pilot)
        assert table.cells(near)[4] == long_duration(clock.t - since[near])
        assert table.cells(far)[4] == before_far  # out of view: not rebuilt every second

        table.move_cursor(row=table.get_row_index(far), animate=False)
        await wait_for(pilot, lambda: table.is_row_visible(far), "the last row scrolled into view")
        await wait_for(pilot, lambda: table.cells(far)[4] == long_duration(clock.t - since[far]),
                         "the row's time brought up to date once in view")
        assert long_duration(clock.t - since[far]) in line_text(table, far)


async def test_events_of_a_burst_share_one_message_and_keep_their_order() -> None:
    """A console at 1,000 events a second paid Textual's dispatch once per event, twice (app, then
    screen): events that arrive before the app got to the last message join it."""
    from cc_console.tui import ClientEvent

    client = FakeClient(many_agents())
    app = make_app(client, mode="supervisor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        seen: list[tuple[str, str]] = []
        posted: list[Any] = []
        real_changed, real_post = screen.state_changed, app.post_message
        screen.state_changed = lambda kind, data: (seen.append((kind, data.get("id", ""))),  # type: ignore[method-assign]
                                                   real_changed(kind, data))
        app.post_message = lambda m: (posted.append(m) if isinstance(m, ClientEvent) else None,  # type: ignore[method-assign]
                                      real_post(m))[1]
        ids = ["a005", "a002", "a007"]
        for aid in ids:  # in one go, as frames a socket buffered while the app was busy
            client.emit("agent.state", dict(client.state.agents[aid], state="paused", reason="break"))
        await settle(pilot)
        assert len(posted) == 1
        assert seen == [("agent.state", aid) for aid in ids]
        table = screen.query_one("#agents", AgentsTable)
        assert all(table.cells(aid)[3] == "break" for aid in ids)


async def test_a_paint_asks_for_the_tables_style_once_not_per_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """DataTable asked for rich_style (a walk over every ancestor's styles) on every line it
    painted, cached lines included: a third of the console's CPU at 2,000 agents."""
    from textual.dom import DOMNode

    client = FakeClient(many_agents())
    app = make_app(client, mode="supervisor")
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        table = app.screen.query_one("#agents", AgentsTable)
        asked: list[int] = []
        real = DOMNode.rich_style

        def counted(node: DOMNode) -> Any:
            if node is table:
                asked.append(1)
            return real.fget(node)  # type: ignore[attr-defined]

        monkeypatch.setattr(DOMNode, "rich_style", property(counted))
        table._styles_cache.clear()  # every line painted again, as after a scroll
        strips = table.render_lines(table.region.reset_offset)
        assert len(strips) > 10 and len(asked) <= 2, (len(strips), len(asked))
