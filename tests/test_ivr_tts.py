"""Spoken prompts: espeak-ng in each of the five languages, rendered to what Asterisk plays as it is
(8 kHz, 16-bit, mono), cached by text; the real espeak-ng and sox (Debian packages, scripts/setup)."""
from __future__ import annotations

import shutil
import wave

import pytest

from cc_console.server.ivr.tts import Tts, TtsError

TEXTS = {"cs": "Dobrý den, pro škody stiskněte jedna.", "nb": "God dag, trykk en for skader.",
         "nl": "Goedendag, druk op één voor schade.", "it": "Buongiorno, premere uno per i sinistri.",
         "en": "Good morning, press one for claims."}


def _need_tools() -> None:
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run ./scripts/setup (scripts/debian-packages.d/ivr.txt)")


@pytest.mark.parametrize("lang", sorted(TEXTS))
async def test_each_language_is_spoken_at_the_pbx_rate(tmp_path, lang):
    _need_tools()
    tts = Tts(tmp_path, "sound:/sounds/")
    media = await tts.media(TEXTS[lang], lang)
    path = tts.path(TEXTS[lang], lang)
    assert media == "sound:/sounds/" + path.stem and path.parent == tmp_path
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
        assert 1.0 < w.getnframes() / 8000 < 6.0
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written file left


async def test_the_same_text_is_rendered_once_and_a_new_text_is_a_new_file(tmp_path):
    _need_tools()
    tts = Tts(tmp_path, "sound:/s/")
    first = await tts.render(TEXTS["en"], "en")
    mtime = first.stat().st_mtime_ns
    again = await tts.render(TEXTS["en"], "en")
    assert again == first and again.stat().st_mtime_ns == mtime
    assert tts.path(TEXTS["en"] + " Thank you.", "en") != first
    assert tts.path(TEXTS["en"], "nl") != first  # another voice, another file


async def test_an_unknown_language_is_refused_with_the_choices(tmp_path):
    with pytest.raises(TtsError, match="use one of cs, nb, nl, it, en"):
        await Tts(tmp_path, "sound:/s/").render("Hallo", "de")
