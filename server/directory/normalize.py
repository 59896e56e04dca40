"""Folding for search: case- and diacritic-insensitive keys, and phone numbers as digits.

``fold("Øyvind Dvořák")`` is ``"oyvind dvorak"``; ``fold("IJsselmeer")`` is ``"ijsselmeer"``.
NFKD takes the accents off (ř → r, å → a, the Dutch ligature ĳ → ij); letters that are not a base
letter plus an accent (ø, æ, ß, ł, đ, œ, þ) are spelt out as their usual ASCII transliteration.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_SPECIAL = str.maketrans({
    "ø": "o", "Ø": "o", "æ": "ae", "Æ": "ae", "ß": "ss", "ẞ": "ss", "ł": "l", "Ł": "l",
    "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "œ": "oe", "Œ": "oe", "þ": "th", "Þ": "th",
    "ı": "i", "ŀ": "l", "ħ": "h", "ŧ": "t",
})
_WORD = re.compile(r"[^\W_]+")


@lru_cache(maxsize=1 << 16)
def fold(text: str) -> str:
    """Lower case, no diacritics, ASCII where there is a usual transliteration."""
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return "".join(c for c in text if not unicodedata.combining(c)).casefold()


def words(text: str) -> list[str]:
    """The folded words of ``text`` (letters and digits; punctuation and spaces separate)."""
    return _WORD.findall(fold(text))


_NOT_DIGIT = re.compile(r"\D+")


def digits(text: str) -> str:
    return _NOT_DIGIT.sub("", text)
