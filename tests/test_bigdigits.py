"""Block digits for the wallboard: the fonts, the size chosen for a region, the rendered rows."""
from __future__ import annotations

import time

import pytest

from cc_console.widgets.bigdigits import (
    FONTS,
    GLYPHS,
    LETTERS_3X5,
    SIZES,
    GlyphSize,
    caption_rows,
    pick,
    render_rows,
)


@pytest.mark.parametrize("font", sorted(FONTS))
def test_every_glyph_is_a_rectangle_of_the_fonts_height(font: str) -> None:
    glyphs = FONTS[font]
    assert set(glyphs) == GLYPHS
    height = len(glyphs["0"])
    for char, rows in glyphs.items():
        assert len(rows) == height, char
        assert len({len(r) for r in rows}) == 1 and set("".join(rows)) <= {"#", "."}, char
        assert char == " " or "#" in "".join(rows), char


def test_the_smallest_sizes_cover_3_5_7_9_and_15_rows() -> None:
    heights = {s.rows for s in SIZES}
    assert {3, 4, 5, 7, 8, 10, 11, 14, 15, 18, 21} <= heights
    assert min(heights) == 3 and max(heights) >= 100


def test_render_draws_the_bitmap_in_half_blocks() -> None:
    # 3x5 at one half row per pixel: five pixel rows in three cells, the last half empty.
    assert render_rows("2", GlyphSize("3x5", 1, 1)) == ("▀▀█", "█▀▀", "▀▀▀")
    # Two half rows per pixel: full blocks, one row per pixel row; kx=2 doubles the columns.
    assert render_rows("1", GlyphSize("3x5", 2, 2)) == ("  ██  ", "████  ", "  ██  ", "  ██  ", "██████")
    assert render_rows("7:", GlyphSize("3x5", 2, 1))[1] == "  █ █"  # one blank pixel column between glyphs


@pytest.mark.parametrize("text", ["0", "86%", "01:15", "--", "100%", "12.5", "45s", "3m", "1h"])
@pytest.mark.parametrize("size", [GlyphSize("3x5", 1, 1), GlyphSize("5x7", 3, 2), GlyphSize("5x7", 10, 7)])
def test_rendered_rows_are_a_block_of_the_promised_size(text: str, size: GlyphSize) -> None:
    rows = render_rows(text, size)
    assert len(rows) == size.rows
    assert {len(r) for r in rows} == {size.width(text)}
    assert set("".join(rows)) <= {" ", "▀", "▄", "█"}
    if text != "--":
        assert rows[0].strip() and rows[-1].strip()  # ink from the top row to the bottom one


def test_pick_takes_the_tallest_size_that_fits_both_ways() -> None:
    # A 65x20 tile (200x60, 3x3) less its border, padding and label: the figure gets 61x17.
    for text in ("7", "86%", "01:15"):
        size = pick(text, 61, 17)
        assert size is not None and size.rows >= 15, (text, size)
        assert size.width(text) <= 61
        taller = [s for s in SIZES if s.rows > size.rows]
        assert all(s.rows > 17 or s.width(text) > 61 for s in taller), text
    # Wider regions never give a smaller figure; a narrow one condenses the pixels first.
    assert pick("01:15", 200, 17).rows >= pick("01:15", 40, 17).rows
    narrow = pick("01:15", 40, 17)
    assert narrow.kx < narrow.ky


def test_pick_falls_back_to_plain_text() -> None:
    assert pick("01:15", 10, 20) is None  # too narrow for even the 3-row font (17 columns)
    assert pick("7", 3, 2) is None  # too low
    assert pick("n/a", 80, 40) is None  # no glyphs for these letters
    assert pick("", 80, 40) is None


def test_rendering_is_cached_and_fast() -> None:
    pick.cache_clear()
    render_rows.cache_clear()
    size = pick("99:59", 130, 35)
    rows = render_rows("99:59", size)
    assert render_rows("99:59", size) is rows
    start = time.perf_counter()
    for _ in range(10_000):  # a wallboard redraws every tile on every update
        render_rows("99:59", pick("99:59", 130, 35))
    assert time.perf_counter() - start < 0.5


def test_captions_in_block_capitals_where_there_is_room() -> None:
    assert all(len(rows) == 5 and len({len(r) for r in rows}) == 1 for rows in LETTERS_3X5.values())
    assert set("ABCDEFGHIJKLMNOPQRSTUVWXYZ") <= set(LETTERS_3X5)
    rows = caption_rows("Callbacks waiting", 129, 6)  # a 400x120 tile: 5 rows, pixels condensed to fit
    assert rows is not None and len(rows) == 5 and len(rows[0]) <= 129
    assert caption_rows("Longest wait", 129, 4)[0] == caption_rows("LONGEST WAIT", 129, 4)[0]
    assert len(caption_rows("Longest wait", 129, 4)) == 3
    assert caption_rows("Longest wait", 129, 2) is None  # less than 3 rows: plain text
    assert caption_rows("Longest wait", 20, 6) is None  # too narrow
    assert caption_rows("Queue #1", 129, 6) is None  # no glyph for '#'
