"""The console audio websocket's wire format: the server's relay (server/audio) and the console (audio.py).

Binary frames carry audio: a 2-byte big-endian sequence number, then 16-bit little-endian mono PCM
at RATE (20 ms is FRAME_BYTES). The sequence number lets the receiver's jitter buffer see a lost
frame (the link may drop or hold back frames) and conceal it instead of playing late audio.
Text frames are JSON control messages: {"type": "start", "rate": 16000} when a call's audio begins
for this console, {"type": "stop"} when it ends.
"""
from __future__ import annotations

import struct

RATE = 16000
FRAME_MS = 20
FRAME_SAMPLES = RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
CODEC = "slin16"  # Asterisk's name for RATE Hz 16-bit signed linear
PATH = "/audio/ws"
TAKEN = 4001  # close code: another console of the same person took the audio (the first does not reconnect)

_SEQ = struct.Struct(">H")


def pack(seq: int, pcm: bytes) -> bytes:
    return _SEQ.pack(seq & 0xFFFF) + pcm


def unpack(frame: bytes) -> tuple[int, bytes]:
    if len(frame) < _SEQ.size:
        raise ValueError("audio frame shorter than its header")
    return _SEQ.unpack_from(frame)[0], frame[_SEQ.size:]
