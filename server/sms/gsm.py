"""Which coding an SMS needs and how many parts it takes (GSM 03.38 / 3GPP TS 23.038).

Kannel splits and concatenates the message itself (sendsms-user ``concatenation = true``); we count
the parts too, so that a delivery report per part can be matched to "all parts delivered" and the
daily record says what the insurer pays for.
"""
from __future__ import annotations

import math

# The GSM 7-bit default alphabet (one septet each) and its extension table (two septets: ESC + char).
# Norwegian æ ø å Æ Ø Å are in the default alphabet; Czech ř ů č are not (they need UCS-2).
BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà")
EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7, UCS2 = 0, 2  # Kannel's coding values (sendsms coding=0 / coding=2)


def coding(text: str) -> int:
    """GSM7 when every character has a septet, else UCS2."""
    return GSM7 if all(ch in BASIC or ch in EXTENSION for ch in text) else UCS2


def units(text: str, code: int) -> int:
    """The message's length in the units a part holds: septets (GSM7) or UTF-16 code units (UCS2)."""
    if code == GSM7:
        return sum(2 if ch in EXTENSION else 1 for ch in text)
    return len(text.encode("utf-16-be")) // 2


def parts(text: str, code: int | None = None) -> int:
    """Parts on the air: one part holds 160 septets or 70 UCS-2 units; a concatenated part loses
    six octets to its header (153 septets, 67 units)."""
    code = coding(text) if code is None else code
    n = units(text, code)
    single, multi = (160, 153) if code == GSM7 else (70, 67)
    return 1 if n <= single else math.ceil(n / multi)
