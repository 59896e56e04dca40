"""Block digits scaled to the space they get: a figure such as ``86%`` or ``01:15`` drawn as big as
its region allows, for a wallboard read from across a room.

Two bitmap fonts (3x5 and 5x7 pixels) are scaled by whole numbers of half rows (``▀ ▄ █`` give two
pixels per cell vertically, so a 1x1-cell-wide, half-row-tall pixel is about square) and columns:
3, 4, 5, 7, 8, 10, 11, 13, 14, 15, 18 … rows. :func:`pick` chooses the tallest size whose glyphs
fit both the width and the height (narrower pixels before a smaller size, down to half as wide as
tall); text that fits at no size is shown as it is, on one line. Rendered rows are cached per
(text, size) and the choice per (text, width, height): a wallboard redraws on every update.

:func:`caption_rows` draws a tile's caption in block capitals (3x5, with letters) where a tile is
big enough to give it 3 rows or more. The rendering part is pure (no Textual); :class:`BigFigure`
is the widget.
"""
from __future__ import annotations

from bisect import bisect_left
from functools import lru_cache
from typing import NamedTuple

from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.reactive import reactive
from textual.strip import Strip
from textual.widget import Widget

# '#' is ink. Glyphs of one font share its height; widths vary (':' and '.' are one pixel wide).
FONT_3X5: dict[str, tuple[str, ...]] = {
    "0": ("###", "#.#", "#.#", "#.#", "###"),
    "1": (".#.", "##.", ".#.", ".#.", "###"),
    "2": ("###", "..#", "###", "#..", "###"),
    "3": ("###", "..#", "###", "..#", "###"),
    "4": ("#.#", "#.#", "###", "..#", "..#"),
    "5": ("###", "#..", "###", "..#", "###"),
    "6": ("###", "#..", "###", "#.#", "###"),
    "7": ("###", "..#", "..#", "..#", "..#"),
    "8": ("###", "#.#", "###", "#.#", "###"),
    "9": ("###", "#.#", "###", "..#", "###"),
    ":": (".", "#", ".", "#", "."),
    ".": (".", ".", ".", ".", "#"),
    "-": ("...", "...", "###", "...", "..."),
    "%": ("#.#", "..#", ".#.", "#..", "#.#"),
    " ": ("..", "..", "..", "..", ".."),
    "s": ("...", ".##", "#..", "..#", "##."),
    "m": (".....", "####.", "#.#.#", "#.#.#", "#.#.#"),
    "h": ("#..", "#..", "###", "#.#", "#.#"),
}

FONT_5X7: dict[str, tuple[str, ...]] = {
    "0": (".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."),
    "1": ("..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."),
    "2": (".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"),
    "3": ("#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."),
    "4": ("...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."),
    "5": ("#####", "#....", "####.", "....#", "....#", "#...#", ".###."),
    "6": ("..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."),
    "7": ("#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."),
    "8": (".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."),
    "9": (".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."),
    ":": (".", ".", "#", ".", "#", ".", "."),
    ".": (".", ".", ".", ".", ".", ".", "#"),
    "-": ("...", "...", "...", "###", "...", "...", "..."),
    "%": ("##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"),
    " ": ("...", "...", "...", "...", "...", "...", "..."),
    "s": (".....", ".....", ".####", "#....", ".###.", "....#", "####."),
    "m": (".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"),
    "h": ("#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"),
}

# Capitals for the tiles' captions on big screens (3x5 only: a caption gets a few rows at most).
LETTERS_3X5: dict[str, tuple[str, ...]] = {
    "A": (".#.", "#.#", "###", "#.#", "#.#"),
    "B": ("##.", "#.#", "##.", "#.#", "##."),
    "C": (".##", "#..", "#..", "#..", ".##"),
    "D": ("##.", "#.#", "#.#", "#.#", "##."),
    "E": ("###", "#..", "##.", "#..", "###"),
    "F": ("###", "#..", "##.", "#..", "#.."),
    "G": (".##", "#..", "#.#", "#.#", ".##"),
    "H": ("#.#", "#.#", "###", "#.#", "#.#"),
    "I": ("###", ".#.", ".#.", ".#.", "###"),
    "J": ("..#", "..#", "..#", "#.#", ".#."),
    "K": ("#.#", "#.#", "##.", "#.#", "#.#"),
    "L": ("#..", "#..", "#..", "#..", "###"),
    "M": ("#...#", "##.##", "#.#.#", "#...#", "#...#"),
    "N": ("#..#", "##.#", "#.##", "#..#", "#..#"),
    "O": (".#.", "#.#", "#.#", "#.#", ".#."),
    "P": ("##.", "#.#", "##.", "#..", "#.."),
    "Q": (".#.", "#.#", "#.#", "##.", ".##"),
    "R": ("##.", "#.#", "##.", "#.#", "#.#"),
    "S": (".##", "#..", ".#.", "..#", "##."),
    "T": ("###", ".#.", ".#.", ".#.", ".#."),
    "U": ("#.#", "#.#", "#.#", "#.#", "###"),
    "V": ("#.#", "#.#", "#.#", "#.#", ".#."),
    "W": ("#...#", "#...#", "#.#.#", "##.##", "#...#"),
    "X": ("#.#", "#.#", ".#.", "#.#", "#.#"),
    "Y": ("#.#", "#.#", ".#.", ".#.", ".#."),
    "Z": ("###", "..#", ".#.", "#..", "###"),
    "/": ("..#", "..#", ".#.", "#..", "#.."),
    ",": (".", ".", ".", "#", "#"),
    "'": ("#", "#", ".", ".", "."),
    "&": (".#.", "#.#", ".#.", "#.#", ".##"),
    "(": (".#", "#.", "#.", "#.", ".#"),
    ")": ("#.", ".#", ".#", ".#", "#."),
}

FONTS: dict[str, dict[str, tuple[str, ...]]] = {"3x5": FONT_3X5, "5x7": FONT_5X7}
GLYPHS = frozenset(FONT_3X5)
CAPTION_FONT = {**FONT_3X5, **LETTERS_3X5}
MAX_SCALE = 40  # half rows per pixel: a 5-pixel font 100 rows tall, more than any terminal


class GlyphSize(NamedTuple):
    """A font scaled: each pixel ``ky`` half rows tall and ``kx`` cells wide."""

    font: str
    ky: int
    kx: int

    @property
    def rows(self) -> int:
        return -(-len(FONTS[self.font]["0"]) * self.ky // 2)

    def width(self, text: str) -> int:
        font = FONTS[self.font]
        pixels = sum(len(font[c][0]) for c in text) + max(len(text) - 1, 0)  # one pixel between glyphs
        return pixels * self.kx


def _sizes() -> tuple[GlyphSize, ...]:
    """Every size, best first: taller, then the finer font, then wider pixels (closer to square)."""
    out = [GlyphSize(font, ky, kx) for font in FONTS for ky in range(1, MAX_SCALE + 1)
           for kx in range(max(1, (ky + 1) // 2), ky + 1)]
    return tuple(sorted(out, key=lambda s: (-s.rows, s.font != "5x7", -s.kx / s.ky)))


SIZES = _sizes()
_NEG_ROWS = [-s.rows for s in SIZES]  # ascending: bisect finds the first size no taller than a region


@lru_cache(maxsize=1024)
def figure_lines(text: str, width: int, height: int) -> tuple[str, ...]:
    """The figure centred in width x height cells, one string of exactly ``width`` per row."""
    size = pick(text, width, height)
    rows = render_rows(text, size) if size else (text[:width],)
    top = max((height - len(rows)) // 2, 0)
    blank = " " * width
    return tuple(blank if not top <= y < top + len(rows) else rows[y - top].center(width)[:width]
                 for y in range(height))


def drawable(text: str) -> bool:
    return bool(text) and all(c in GLYPHS for c in text)


@lru_cache(maxsize=256)
def caption_rows(caption: str, width: int, max_rows: int) -> tuple[str, ...] | None:
    """A caption in capitals of the 3x5 font, as tall as max_rows and width allow (3 rows at
    least; pixels down to half as wide as tall); None when it does not fit or has a character
    without a glyph."""
    text = caption.upper()
    if not text or any(c not in CAPTION_FONT for c in text):
        return None
    pixels = sum(len(CAPTION_FONT[c][0]) for c in text) + len(text) - 1
    for ky in range(min(2 * max_rows // 5, MAX_SCALE), 0, -1):
        kx = min(ky, width // pixels)
        if kx >= max(1, (ky + 1) // 2):
            return _draw(CAPTION_FONT, text, ky, kx)
    return None


@lru_cache(maxsize=4096)
def pick(text: str, width: int, height: int) -> GlyphSize | None:
    """The tallest size at which ``text`` fits width x height cells; None: show it as plain text."""
    if not drawable(text):
        return None
    for size in SIZES[bisect_left(_NEG_ROWS, -height):]:
        if size.width(text) <= width:
            return size
    return None


@lru_cache(maxsize=1024)
def render_rows(text: str, size: GlyphSize) -> tuple[str, ...]:
    """The figure as ``size.rows`` lines of equal width, in ``▀ ▄ █`` and spaces."""
    return _draw(FONTS[size.font], text, size.ky, size.kx)


def _draw(font: dict[str, tuple[str, ...]], text: str, ky: int, kx: int) -> tuple[str, ...]:
    height = len(font["0"])
    pixel_rows = []
    for r in range(height):
        parts = []
        for i, c in enumerate(text):
            if i:
                parts.append("." * kx)
            parts.append("".join(p * kx for p in font[c][r]))
        pixel_rows.append("".join(parts))
    half_rows = [row for row in pixel_rows for _ in range(ky)]
    if len(half_rows) % 2:
        half_rows.append("." * len(half_rows[0]))
    cells = {(True, True): "█", (True, False): "▀", (False, True): "▄", (False, False): " "}
    return tuple("".join(cells[top == "#", bottom == "#"] for top, bottom in zip(upper, lower))
                 for upper, lower in zip(half_rows[::2], half_rows[1::2]))


class BigFigure(Widget):
    """A figure drawn in block digits as large as the widget's content region allows.

    Colour and background come from CSS (``color``); ``glyph_size`` is the size in use (None when the
    text is shown plainly) and ``figure_rows`` how many rows the figure takes.
    """

    DEFAULT_CSS = """
    BigFigure { width: 1fr; height: 1fr; text-style: bold; }
    """

    value: reactive[str] = reactive("", layout=False)

    def __init__(self, value: str = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.set_reactive(BigFigure.value, value)

    def update(self, value: str) -> None:
        self.value = value

    @property
    def glyph_size(self) -> GlyphSize | None:
        region = self.content_region
        return pick(self.value, region.width, region.height)

    @property
    def figure_rows(self) -> int:
        size = self.glyph_size
        return size.rows if size else 1

    # Lines come as strips straight from caches, the style looked up once per render rather than
    # per line: a 4K wallboard redraws 35-row figures on every update.
    _strips: tuple[tuple[str, int, int, Style], tuple[Strip, ...]] | None = None

    def _prepare(self) -> tuple[Strip, ...]:
        size = self.content_region.size
        key = (self.value, size.width, size.height, self.rich_style)
        if self._strips is None or self._strips[0] != key:
            style = key[3]
            lines = figure_lines(self.value, size.width, size.height)
            self._strips = (key, tuple(Strip([Segment(line, style)], size.width) for line in lines))
        return self._strips[1]

    def render_lines(self, crop: Region) -> list[Strip]:
        self._prepare()
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        size = self.content_region.size
        cached = self._strips
        if cached is None or cached[0][:3] != (self.value, size.width, size.height):
            strips = self._prepare()
        else:
            strips = cached[1]
        return strips[y] if 0 <= y < len(strips) else Strip.blank(size.width)
