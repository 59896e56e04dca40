"""Remembering console credentials with keyring, and saying plainly when we cannot.

Over SSH or on a headless machine there is usually no Secret Service. keyring then falls back to
its "fail" backend (or to a plaintext one if someone installed keyrings.alt); we refuse both
rather than silently write a password to disk, and tell the user what happened.
"""
from __future__ import annotations

from dataclasses import dataclass

import keyring
from keyring.errors import KeyringError

SERVICE = "cc-console"
_INSECURE = ("fail", "null", "plaintext", "unencrypted")


@dataclass
class KeyringStatus:
    usable: bool
    backend: str
    message: str


def keyring_status() -> KeyringStatus:
    try:
        kr = keyring.get_keyring()
    except Exception as exc:  # a broken keyring configuration
        return KeyringStatus(False, "error", f"keyring could not be loaded ({type(exc).__name__}); "
                                             "credentials will not be remembered")
    name = f"{type(kr).__module__}.{type(kr).__name__}"
    low = name.lower()
    priority = getattr(kr, "priority", 0)
    if any(word in low for word in _INSECURE) or (isinstance(priority, (int, float)) and priority < 1):
        return KeyringStatus(False, name, "no secure keyring (Secret Service, macOS Keychain, Windows "
                             "Credential Locker) is available here — typical over SSH or on a headless "
                             "machine. cc-console will not store your password in plain text: it "
                             "will ask for it each time.")
    return KeyringStatus(True, name, f"credentials are kept in {name}")


def _key(server: str, username: str) -> str:
    return f"{username}@{server}"


def remember(server: str, username: str, password: str) -> KeyringStatus:
    status = keyring_status()
    if not status.usable:
        return status
    try:
        keyring.set_password(SERVICE, _key(server, username), password)
    except KeyringError as exc:
        return KeyringStatus(False, status.backend, f"the keyring refused to store it: {exc}")
    return status


def recall(server: str, username: str) -> str | None:
    if not keyring_status().usable:
        return None
    try:
        return keyring.get_password(SERVICE, _key(server, username))
    except KeyringError:
        return None


def forget(server: str, username: str) -> None:
    if not keyring_status().usable:
        return
    try:
        keyring.delete_password(SERVICE, _key(server, username))
    except KeyringError:
        pass
