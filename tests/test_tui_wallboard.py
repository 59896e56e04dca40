"""Pilot tests of the wallboard: layout file (tiles, groups, thresholds, theme) and its live reload,
threshold colours, figures on screen within a second of the event, the grid at any size, STALE,
figures in block digits filling their tiles, one board per queue list, tenant or layout group."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cc_console.screens.demo import demo_client, demo_snapshot
from cc_console.screens.wallboard import BoardFilter, WallboardScreen, grid_shape, load_layout, parse_layout
from cc_console.widgets.bigdigits import BigFigure
from cc_console.widgets.tile import Tile

from .test_tui_pilot import make_app


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CC_CONSOLE_CONFIG_DIR", str(tmp_path))
    return tmp_path


def wb_app(snapshot=None, **kw):
    client = demo_client(snapshot or demo_snapshot("wb", "wallboard"))
    return client, make_app(client, mode="wallboard", **kw)


def test_layout_parsing(tmp_path: Path) -> None:
    assert load_layout(tmp_path / "missing.toml").tiles[0] == "sl"
    lay = parse_layout({"tiles": ["waiting", "sl"], "groups": [{"name": "Sales", "queues": ["sales"]}],
                        "thresholds": {"longest_alert": 90}})
    assert lay.tiles == ("waiting", "sl") and lay.groups[0].queues == ("sales",)
    assert lay.thresholds.longest_alert == 90 and lay.queue_names == {"sales"}
    for bad in ({"tiles": ["nope"]}, {"colour": 1}, {"thresholds": {"x": 1}}, {"columns": -1}):
        with pytest.raises(ValueError):
            parse_layout(bad)


def test_grid_shape_fills_the_screen() -> None:
    assert grid_shape(9, 80, 18)[:2] == (3, 3)
    assert grid_shape(9, 200, 54)[:2] == (3, 3)
    cols, rows, fits = grid_shape(9, 400, 110)
    assert fits and cols * rows >= 9 and 400 / cols >= 20
    assert grid_shape(8, 80, 18, columns=4) == (4, 2, True)


async def test_layout_file_and_live_reload(config_dir: Path) -> None:
    path = config_dir / "wallboard.toml"
    path.write_text('title = "Sales floor"\ntiles = ["waiting", "longest"]\nqueues = ["sales"]\n'
                    '[thresholds]\nlongest_warn = 60\nlongest_alert = 120\n')
    client, app = wb_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, WallboardScreen)
        assert [t.id for t in screen.query(Tile)] == ["tile-waiting", "tile-longest"]
        assert screen.query_one("#tile-waiting", Tile).value == "1"  # sales only
        longest = screen.query_one("#tile-longest", Tile)
        assert longest.value == "01:15" and longest.level == "warn"
        path.write_text('theme = "cc-high-contrast"\ntiles = ["sl", "waiting"]\n'
                        '[[groups]]\nname = "Support"\nqueues = ["support"]\n'
                        '[[groups]]\nname = "Sales"\nqueues = ["sales"]\n')
        st = path.stat()
        os.utime(path, (st.st_atime, st.st_mtime + 5))
        await screen.check_layout()  # what the 2-second timer does
        await pilot.pause()
        assert [t.id for t in screen.query(Tile)] == ["tile-sl", "tile-waiting", "tile-sl-1", "tile-waiting-1"]
        assert screen.query_one("#tile-sl", Tile).value == "86%"
        assert screen.query_one("#tile-sl-1", Tile).level == "warn"  # sales 65%: below 80, above 60
        assert app.theme == "cc-high-contrast"
        path.write_text('tiles = ["waiting"]\n')
        await pilot.press("R")
        await pilot.pause()
        assert [t.id for t in screen.query(Tile)] == ["tile-waiting"]
        assert screen.query_one("#tile-waiting", Tile).value == "2"
        path.write_text('tiles = [\n')  # a broken file keeps the current layout
        await pilot.press("R")
        await pilot.pause()
        assert [t.id for t in screen.query(Tile)] == ["tile-waiting"]
        assert any("layout" in (n.title or "") for n in app._notifications)


async def test_layout_path_from_the_app(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text('tiles = ["abandoned"]\n')
    client, app = wb_app(wallboard_layout=path)
    async with app.run_test(size=(80, 24)):
        assert [t.id for t in app.screen.query(Tile)] == ["tile-abandoned"]


async def test_figures_change_within_a_second_of_the_event() -> None:
    client, app = wb_app()
    async with app.run_test(size=(80, 24)) as pilot:
        tile = app.screen.query_one("#tile-waiting", Tile)
        assert tile.value == "2"
        data = dict(client.state.queues["support"], waiting=7)
        client.state.apply("queue.stats", data)
        client._emit("queue.stats", data)
        # Drawn by the batch timer, with no manual flush (how fast is the bench's business).
        await _until(pilot, lambda: tile.value == "8" and tile.level == "alert")


@pytest.mark.parametrize("size", [(80, 24), (200, 60), (400, 120)])
async def test_every_tile_is_readable_at_any_size(size: tuple[int, int]) -> None:
    client, app = wb_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        tiles = list(app.screen.query(Tile))
        assert len(tiles) == 9
        for t in tiles:
            assert t.region.height >= 6 and t.region.width >= 20, (t.id, t.region)
            assert t.region.bottom <= size[1] - 1  # above the footer
        if size[0] >= 200:
            assert max(t.region.height for t in tiles) >= size[1] // 4  # they grow with the screen


async def _until(pilot, pred, timeout: float = 5.0) -> None:
    """Let the app work until pred() holds (renders are batched: under load they take longer)."""
    for _ in range(int(timeout / 0.05)):
        if pred():
            return
        await pilot.pause(0.05)
    assert pred()


async def test_stale_banner_and_dimmed_tiles_then_live_again() -> None:
    client, app = wb_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        banner = screen.query_one("#stale-banner")
        assert not banner.has_class("-visible") and not screen.has_class("-stale")
        client.stale = True
        client.connected.clear()
        client._emit("connection", {"connected": False})
        await _until(pilot, lambda: banner.has_class("-visible") and screen.has_class("-stale"))
        assert "STALE" in str(banner.render())
        for t in screen.query(Tile):
            assert t.region.height >= 6  # the banner pushes the queue table out, not the digits
        client.connected.set()
        client.stale = False
        client._emit("snapshot", demo_snapshot("wb", "wallboard"))
        await _until(pilot, lambda: not banner.has_class("-visible") and not screen.has_class("-stale"))


def _ink_rows(figure: BigFigure) -> list[int]:
    """The rows of the figure's region where something is drawn."""
    return [y for y in range(figure.size.height) if figure.render_line(y).text.strip()]


@pytest.mark.parametrize("size", [(80, 24), (200, 60), (400, 120)])
async def test_figures_fill_their_tiles(size: tuple[int, int]) -> None:
    _client, app = wb_app()
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        tiles = list(app.screen.query(Tile))
        assert len(tiles) == 9
        for t in tiles:
            fig = t.query_one(BigFigure)
            inner = t.content_region
            ink = _ink_rows(fig)
            assert fig.glyph_size is not None, (t.id, fig.value, inner)  # block digits, not plain text
            drawn = "".join(fig.render_line(y).text for y in ink)
            assert set(drawn) <= {" ", "▀", "▄", "█"} and "█" in drawn, t.id
            height = ink[-1] - ink[0] + 1
            if size[0] >= 200:
                assert height >= 0.6 * inner.height, (t.id, height, inner)
            else:
                assert height >= 3, (t.id, height)
            assert max(len(fig.render_line(y).text.rstrip()) for y in ink) <= inner.width
            label = t.query_one("Label")
            assert label.region.y == inner.y and fig.region.y == label.region.bottom  # caption above the figure
            if size[0] >= 400:  # room for the caption in block capitals too: it reads from afar as well
                assert t.caption_rows and label.region.height == len(t.caption_rows) >= 5, t.id
                assert all(label.render_line(y).text.strip() for y in range(label.region.height))
            else:
                assert t.caption_rows is None and str(label.render()).strip() == t.caption


async def test_a_figure_too_wide_for_block_digits_shows_as_plain_text() -> None:
    _client, app = wb_app()
    async with app.run_test(size=(80, 24)) as pilot:
        tile = app.screen.query_one("#tile-answered", Tile)
        tile.show("123456789")
        await pilot.pause()
        fig = tile.query_one(BigFigure)
        assert fig.glyph_size is None
        assert [fig.render_line(y).text.strip() for y in _ink_rows(fig)] == ["123456789"]
        tile.show("68")
        await pilot.pause()
        assert fig.glyph_size is not None and len(_ink_rows(fig)) >= 3


async def test_figure_colours_follow_the_thresholds() -> None:
    _client, app = wb_app()
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        screen = app.screen
        colour = {tid: screen.query_one(f"#{tid}", Tile).query_one(BigFigure).rich_style.color
                  for tid in ("tile-longest", "tile-waiting", "tile-ready", "tile-answered")}
        levels = [screen.query_one(f"#{tid}", Tile).level for tid in colour]
        assert levels == ["alert", "warn", "ok", ""]
        assert len(set(colour.values())) == 4, colour


def _two_tenants() -> dict:
    snap = demo_snapshot("wb", "wallboard")
    for q in snap["queues"]:
        if q["name"] in ("sales", "billing"):
            q["tenant"] = "acme"
    return snap


def _figures(screen: WallboardScreen, suffix: str = "") -> dict[str, str]:
    return {t.id.removeprefix("tile-").removesuffix(suffix): t.value for t in screen.query(Tile)
            if t.id.endswith(suffix)}


async def test_a_board_per_tenant_or_queue_list() -> None:
    _client, app = wb_app(_two_tenants(), wallboard_filter=BoardFilter(tenant="acme"))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        screen = app.screen
        # sales and billing only: Alice (ringing), Carol and Frank (ready), Dan (paused); Bob serves support.
        assert _figures(screen) == {"sl": "65%", "waiting": "1", "longest": "01:15", "answered": "17",
                                    "abandoned": "3", "ready": "2", "busy": "1", "paused": "1", "callbacks": "1"}
        assert sorted(screen.query_one("#wallboard-queues").rows) == ["billing", "sales"]
        assert "acme" in str(screen.query_one("#wallboard-title").render())
    _client, app = wb_app(_two_tenants(), wallboard_filter=BoardFilter(tenant="default"))
    async with app.run_test(size=(200, 60)) as pilot:
        await pilot.pause()
        assert _figures(app.screen) == {"sl": "86%", "waiting": "1", "longest": "00:18", "answered": "51",
                                             "abandoned": "4", "ready": "1", "busy": "2", "paused": "0",
                                             "callbacks": "0"}
    _client, app = wb_app(wallboard_filter=BoardFilter.from_query({"queues": "billing, sales"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert _figures(app.screen)["answered"] == "17" and _figures(app.screen)["ready"] == "2"
        assert sorted(app.screen.query_one("#wallboard-queues").rows) == ["billing", "sales"]


async def test_a_board_for_one_group_of_the_layout_file(config_dir: Path) -> None:
    (config_dir / "wallboard.toml").write_text(
        'tiles = ["waiting", "answered"]\n'
        '[[groups]]\nname = "Support"\nqueues = ["support"]\n'
        '[[groups]]\nname = "Acme"\ntenant = "acme"\n')
    _client, app = wb_app(_two_tenants())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert _figures(app.screen, "-1") == {"waiting": "1", "answered": "17"}  # the tenant's group
    _client, app = wb_app(_two_tenants(), wallboard_filter=BoardFilter(group="acme"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert [t.id for t in app.screen.query(Tile)] == ["tile-waiting", "tile-answered"]
        assert _figures(app.screen) == {"waiting": "1", "answered": "17"}
        assert "Acme" in str(app.screen.query_one("#tile-waiting", Tile).caption)
    _client, app = wb_app(_two_tenants(), wallboard_filter=BoardFilter(group="Nowhere"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        # A board for a group that is not there shows nothing rather than every queue's figures.
        assert _figures(app.screen) == {"waiting": "0", "answered": "0"}
        assert any("Nowhere" in n.message and "Support, Acme" in n.message for n in app._notifications)


def test_board_filter_from_a_query_and_layout_tenant() -> None:
    f = BoardFilter.from_query({"queues": "a, b,", "tenant": " acme ", "group": ""})
    assert f == BoardFilter(queues=("a", "b"), tenant="acme") and f
    assert not BoardFilter.from_query({})
    lay = parse_layout({"tenant": "acme"})
    assert lay.groups[0].tenant == "acme" and lay.groups[0].queues is None
    lay = parse_layout({"tenant": "acme", "groups": [{"name": "S", "queues": ["s"]}, {"tenant": "other"}]})
    assert [(g.name, g.queues, g.tenant) for g in lay.groups] == [("S", ("s",), "acme"), ("other", None, "other")]
    for bad in ({"tenant": 3}, {"groups": [{"name": "x"}]}, {"groups": [{"tenant": ["a"]}]}):
        with pytest.raises(ValueError):
            parse_layout(bad)


def test_cli_wallboard_per_queue_list_tenant_or_group(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from cc_console.cli import app as cli
    from cc_console.tui import CCConsoleApp

    seen: list[CCConsoleApp] = []
    monkeypatch.setattr(CCConsoleApp, "run", lambda self: seen.append(self))
    r = CliRunner().invoke(cli, ["wallboard", "--queues", "sales,billing", "--tenant", "acme", "--group", "Floor"])
    assert r.exit_code == 0, r.output
    assert seen[0].wallboard_filter == BoardFilter(queues=("sales", "billing"), tenant="acme", group="Floor")
    screen = seen[0].make_mode_screen("wallboard")
    assert isinstance(screen, WallboardScreen) and screen.board_filter == seen[0].wallboard_filter
    r = CliRunner().invoke(cli, ["wallboard", "--help"])
    assert "--tenant" in r.output and "--queues" in r.output and "--group" in r.output


async def test_figures_rescale_when_the_terminal_is_resized() -> None:
    _client, app = wb_app()
    async with app.run_test(size=(80, 24)) as pilot:
        fig = app.screen.query_one("#tile-longest", Tile).query_one(BigFigure)
        await pilot.pause()
        small = len(_ink_rows(fig))
        await pilot.resize_terminal(200, 60)
        await _until(pilot, lambda: len(_ink_rows(fig)) >= 0.6 * fig.parent.content_region.height)
        assert len(_ink_rows(fig)) >= 4 * small
        await pilot.resize_terminal(80, 24)
        await _until(pilot, lambda: len(_ink_rows(fig)) == small)


async def test_a_queues_new_figures_show_without_waiting_for_the_agents_refresh(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The full refresh (a pass over every agent) is held back far longer than the test waits: a
    # queue's new figures must not wait for it (before, they waited up to MIN_GAP behind it).
    monkeypatch.setattr(WallboardScreen, "MIN_GAP", 30.0)
    monkeypatch.setattr(WallboardScreen, "BATCH_SECONDS", 60.0)
    monkeypatch.setattr(WallboardScreen, "TICK_SECONDS", 60.0)
    client, app = wb_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, WallboardScreen)
        abandoned = screen.query_one("#tile-abandoned", Tile)
        ready = screen.query_one("#tile-ready", Tile)
        ready_before, full_before = ready.value, screen.refreshes
        data = dict(client.state.queues["support"])
        data["abandoned"] = int(data.get("abandoned") or 0) + 40
        client.state.apply("queue.stats", data)
        client._emit("queue.stats", data)
        total = sum(int(q.get("abandoned") or 0) for q in client.state.queues.values())
        await _until(pilot, lambda: abandoned.value == str(total), timeout=2.0)
        assert screen.queue_refreshes >= 1 and screen.refreshes == full_before  # no pass over the agents
        assert ready.value == ready_before  # the agents' counts kept from the last full refresh
        row = screen.query_one("#wallboard-queues").cells("support")
        assert row is not None and str(row[8]) == str(data["abandoned"])


async def test_a_refresh_with_the_same_banner_does_not_lay_the_screen_out_again() -> None:
    client, app = wb_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        await pilot.pause()
        banner = screen.query_one("#stale-banner")
        updates: list[object] = []
        update = banner.update

        def counted(*args: object, **kwargs: object) -> None:
            updates.append(args)
            update(*args, **kwargs)
        banner.update = counted  # type: ignore[method-assign]
        for _ in range(3):
            screen._refresh()
        assert updates == []  # each update relaid the screen out: 18 ms a refresh at 2,000 agents
        client.stale = True
        screen._refresh()
        assert len(updates) == 1 and "STALE" in str(banner.render())


async def test_a_new_figure_repaints_its_digits_and_a_queues_figures_its_line_alone() -> None:
    """What the terminal is sent when a queue's figures change: the digits of the tiles whose value
    changed and that queue's line of the table; not the tiles' borders and captions, not the other
    queues' lines (both were repainted whole: a millisecond a tile, the table at every push)."""
    from .test_tui_pilot import wait_until
    from .test_tui_supervisor import frames_sent
    client, app = wb_app()
    async with app.run_test(size=(200, 60)) as pilot:
        screen = app.screen
        table = screen.query_one("#wallboard-queues")
        await _until(pilot, lambda: table.display and table.cells("sales") is not None)
        await pilot.pause(0.2)
        sent = frames_sent(app)
        data = dict(client.state.queues["sales"], offered=77)
        data["abandoned"] = int(data.get("abandoned") or 0) + 1
        client.state.apply("queue.stats", data)
        client._emit("queue.stats", data)
        await wait_until(pilot, lambda: any("77" in frame for frame in sent))
        await pilot.pause(0.2)
        painted = "".join(sent)
        assert "sales" in painted and "support" not in painted and "billing" not in painted
        assert "Abandoned" not in painted and "Calls waiting" not in painted
