"""Access policy: which networks count as the office (outside them a second factor is required),
and the password policy for local accounts (length, character classes, history)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field


@dataclass
class AccessSettings:
    # Addresses inside these networks sign in with a password alone; from anywhere else a TOTP code
    # is required as well. Empty: a TOTP code is asked of the accounts that have one, wherever they are.
    office_networks: list[str] = field(default_factory=list)
    # The defaults are the old rule (8 characters); docs/identity.md gives the values a tender asks for
    # (e.g. 12 characters, 3 classes, history 5). Lockout: [server] login_max_failures / login_window.
    password_min_length: int = 8
    password_classes: int = 1  # of: lower case, upper case, digits, other characters
    password_history: int = 0  # a new password may not be any of the last N (0: no history kept)


class PasswordRefused(ValueError):
    """A password the policy refuses; the message says why, for the person choosing it."""


class AccessPolicy:
    def __init__(self, settings: AccessSettings | None = None) -> None:
        self.settings = settings or AccessSettings()
        self.networks = [ipaddress.ip_network(n, strict=False) for n in self.settings.office_networks]

    def needs_second_factor(self, remote: str) -> bool | None:
        """True outside the office networks, False inside; None when no office networks are set."""
        if not self.networks:
            return None
        try:
            addr = ipaddress.ip_address(remote.split("%", 1)[0])
        except ValueError:
            return True  # an address we cannot read is not the office
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
            addr = addr.ipv4_mapped
        return not any(addr in n for n in self.networks)

    def check_password(self, password: str, username: str = "") -> None:
        s = self.settings
        if len(password) < s.password_min_length:
            raise PasswordRefused(f"A password needs at least {s.password_min_length} characters.")
        classes = sum((any(c.islower() for c in password), any(c.isupper() for c in password),
                       any(c.isdigit() for c in password), any(not c.isalnum() for c in password)))
        if classes < s.password_classes:
            raise PasswordRefused(f"A password needs {s.password_classes} of: lower case, upper case, digits, "
                                  "other characters.")
        if username and username.lower() in password.lower():
            raise PasswordRefused("A password may not contain the user name.")
