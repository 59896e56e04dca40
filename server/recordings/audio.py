"""Files at rest: checksums, AES-GCM encryption, and WAV/MP3 export.

Encrypted files are ``b"CCR1" + 12-byte nonce + AES-256-GCM(ciphertext || tag)`` of the whole WAV;
the recording's id is the associated data, so a file swapped between recordings fails to decrypt.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import io
import os
import wave
from pathlib import Path

MAGIC = b"CCR1"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load_key(path: str | os.PathLike) -> bytes:
    """A 256-bit key: 32 raw bytes, or 64 hex digits, or base64 of 32 bytes (whitespace ignored)."""
    raw = Path(path).read_bytes()
    if len(raw) == 32:
        return raw
    text = raw.strip()
    for decode in (binascii.unhexlify, base64.b64decode):
        try:
            key = decode(text)
        except (binascii.Error, ValueError):
            continue
        if len(key) == 32:
            return key
    raise ValueError(f"{path}: not a 256-bit key (32 bytes, 64 hex digits or base64)")


def new_key_file(path: str | os.PathLike) -> None:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(os.urandom(32).hex() + "\n")


def encrypt(key: bytes, data: bytes, aad: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    nonce = os.urandom(12)
    return MAGIC + nonce + AESGCM(key).encrypt(nonce, data, aad.encode())


def decrypt(key: bytes, blob: bytes, aad: str) -> bytes:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    if blob[:4] != MAGIC:
        raise ValueError("not an encrypted recording")
    return AESGCM(key).decrypt(blob[4:16], blob[16:], aad.encode())


def wav_seconds(data: bytes) -> float:
    with wave.open(io.BytesIO(data)) as w:
        return w.getnframes() / float(w.getframerate() or 1)


def wav_to_mp3(data: bytes, bitrate: int = 32) -> bytes:
    """MP3 (lameenc: LAME in a wheel, no system library) of a 16-bit PCM WAV, mono or stereo."""
    import lameenc
    with wave.open(io.BytesIO(data)) as w:
        if w.getsampwidth() != 2:
            raise ValueError("only 16-bit WAVs can be exported as MP3")
        rate, channels = w.getframerate(), w.getnchannels()
        pcm = w.readframes(w.getnframes())
    enc = lameenc.Encoder()
    enc.set_bit_rate(bitrate)
    enc.set_in_sample_rate(rate)
    enc.set_channels(channels)
    enc.set_quality(5)
    return bytes(enc.encode(pcm) + enc.flush())
