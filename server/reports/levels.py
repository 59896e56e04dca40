"""The aggregates' time levels above the day, and wait histograms kept as cumulative counts.

A long range summed day by day reads a year of day rows; summed by blocks it reads a few dozen.
Level 1 is a UTC day; levels 2..TOP are blocks of 4, 16, 64, 256 days aligned on the epoch, each
the sum of its four children. Any run of days is at most three pieces per level on either side (the
greedy cut in `day_pieces`), so a year costs about as much as a month.

The wait histograms (answered waits, abandon waits, rings, by whole second) are many rows per day:
summed over a year they were most of a report's time. From the day up they are kept as one blob per
key (queue and category, or agent and queue): for each of the three kinds the cumulative count by
class, so "how many waited at most b seconds" is one lookup whatever b is, and a block is the sum of
its children's vectors. A vector stops where its count stops growing (the rest equals the last entry).
"""
from __future__ import annotations

from array import array
from collections.abc import Iterable
from operator import add

TOP = 5
BLOCK_DAYS = {1: 1, 2: 4, 3: 16, 4: 64, 5: 256}
FAN = 4  # children per block
KINDS = 3  # 0 answered wait, 1 abandon wait, 2 ring (as in the histogram rows)


def day_pieces(dx: int, dy: int) -> list[tuple[int, int, int]]:
    """Days [dx, dy) as (lvl, lo, hi): blocks lo..hi-1 of that level, the largest aligned ones that fit."""
    out: list[tuple[int, int, int]] = []
    x = dx
    while x < dy:
        lvl = TOP
        while lvl > 1 and (x % BLOCK_DAYS[lvl] or x + BLOCK_DAYS[lvl] > dy):
            lvl -= 1
        size = BLOCK_DAYS[lvl]
        b = x // size
        if out and out[-1][0] == lvl and out[-1][2] == b:
            out[-1] = (lvl, out[-1][1], b + 1)
        else:
            out.append((lvl, b, b + 1))
        x += size
    return out


# -- cumulative vectors ----------------------------------------------------------------------------
# A histogram class c (-1 .. HIST_MAX + 1) is at index c + 1; vec[i] counts the entries at index <= i.

def cumulate(pairs: Iterable[tuple[int, int]]) -> array:
    """(class, count) pairs, classes ascending -> the cumulative vector."""
    vec = array("I")
    total = 0
    for c, n in pairs:
        i = c + 1
        if i >= len(vec):
            vec.extend([total] * (i + 1 - len(vec)))
        total += n
        vec[i] = total
    return vec


def add_vec(a: array, b: array) -> array:
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return array("I", a)
    if len(b) < len(a):
        b = b + array("I", [b[-1]]) * (len(a) - len(b))
    return array("I", map(add, a, b))


def pack(vecs: list[array]) -> bytes:
    head = array("I", [len(v) for v in vecs])
    return head.tobytes() + b"".join(v.tobytes() for v in vecs)


def unpack(blob: bytes) -> list[array]:
    allv = array("I")
    allv.frombytes(blob)
    out, at = [], KINDS
    for n in allv[:KINDS]:
        out.append(allv[at:at + n])
        at += n
    return out


class Cuts:
    """The lookups a report makes in one cumulative vector, planned once for all its vectors: the count at
    or below each class in `first`, then the count in each band of `bounds` as the SQL CASE over the
    per-second rows cuts them (the first bound a class is at or below wins; a bound not above an earlier
    one takes nothing; the last band is the rest)."""

    def __init__(self, first: list[int], bounds: list[float]) -> None:
        self.nf = len(first)
        bs = [int(b) for b in bounds]
        self.idx = [c + 1 for c in first] + [b + 1 for b in bs]
        self.plan: list[tuple[int, int]] = []  # per band: (its position in idx, the position to subtract or -1)
        top = -1  # position of the largest bound so far
        for j, b in enumerate(bs):
            pos = self.nf + j
            if top < 0:
                self.plan.append((pos, -1))
                top = pos
            elif b > bs[top - self.nf]:
                self.plan.append((pos, top))
                top = pos
            else:
                self.plan.append((-1, -1))
        self.top = top

    def __call__(self, vec: array) -> list[int]:
        n = len(vec)
        if not n:
            return [0] * (self.nf + len(self.plan) + 1)
        last = vec[-1]
        c = [vec[i] if i < n else last for i in self.idx]
        out = c[:self.nf]
        out += [(c[p] - (c[q] if q >= 0 else 0)) if p >= 0 else 0 for p, q in self.plan]
        out.append(last - (c[self.top] if self.top >= 0 else 0))
        return out


def sum_blobs(blobs: Iterable[bytes]) -> bytes:
    acc: list[array] = [array("I") for _ in range(KINDS)]
    for blob in blobs:
        acc = [add_vec(x, y) for x, y in zip(acc, unpack(blob))]
    return pack(acc)
