"""The IVR's spoken prompts: the shared espeak-ng renderer (server/tts.py, also used by the outbound
dialer's abandon message)."""
from cc_console.server.tts import VOICES, Tts, TtsError, recorded_name

__all__ = ["VOICES", "Tts", "TtsError", "recorded_name"]
