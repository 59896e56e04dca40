"""The [web] settings section: who may reach the public pages, how fast, and where links point."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WebSettings:
    # The public directory search answers only these networks (CIDR); everyone else gets 403.
    public_networks: list[str] = field(default_factory=lambda: ["127.0.0.0/8", "::1/128"])
    # Searches per second per address on the public page, on average, in bursts of search_burst:
    # search-as-you-type sends a request per key, so the burst covers a name typed quickly.
    search_rate: float = 5.0
    search_burst: int = 30
    search_limit: int = 20  # rows a public search returns
    # Users listed per organisation may edit the attributes only we keep (admins always may).
    directory_editors: dict[str, list[str]] = field(default_factory=dict)
    # Transfer receiver links: how long a link works, and the address the e-mail points to
    # (empty: http(s)://<server host>:<port> of this server).
    link_ttl: float = 3600.0
    base_url: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_from: str = "contact-centre@localhost"
    # Behind a TLS-terminating proxy the server itself sees http; the cookie must still be Secure.
    secure_cookies: bool = False
