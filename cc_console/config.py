"""Configuration: TOML files under platformdirs paths, overridable by environment variables.

Everything that has a timer or a port is here so tests can make it short or move it.
The core never imports Textual; this module is shared by the server, the CLI and the consoles.
"""
from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar

import platformdirs

from cc_console.service_level import DEFAULT_THRESHOLD

_T = TypeVar("_T")

APP_NAME = "cc-console"


def config_dir() -> Path:
    return Path(os.environ.get("CC_CONSOLE_CONFIG_DIR") or platformdirs.user_config_dir(APP_NAME))


def data_dir() -> Path:
    return Path(os.environ.get("CC_CONSOLE_DATA_DIR") or platformdirs.user_data_dir(APP_NAME))


@dataclass
class PbxSettings:
    """Where Asterisk is and how we reach it. Defaults fit the sandbox; point them at your own PBX."""

    # The sandbox chroot (only used by `cc-console pbx ...`).
    root: str = ""  # empty: <data_dir>/pbx/root
    # Debian suite for the sandbox; the mirror URI is read from this machine's apt sources.
    suite: str = "sid"
    mirror: str = ""  # empty: taken from /etc/apt/sources.list(.d)
    host: str = "127.0.0.1"
    http_port: int = 18088
    ari_user: str = "cc-console"
    ari_password: str = "cc-console-sandbox"
    app: str = "cc-console"
    sip_port: int = 15060
    rtp_start: int = 21000
    rtp_end: int = 21999
    # Dialplan context that inbound DIDs land in (it sends them into our Stasis app).
    inbound_context: str = "cc-inbound"
    # PJSIP endpoints created for agent phones in the sandbox: 1001 .. 1000+agent_endpoints.
    agent_endpoints: int = 8
    endpoint_password: str = "cc-phone-sandbox"
    # Where uploaded announcements (the general-problem message) are written so that Asterisk can
    # play them, and the media URI prefix Asterisk knows that folder by. Empty: the sandbox's
    # <root>/var/lib/asterisk/sounds/custom, played as sound:recordings/<name>.
    sounds_dir: str = ""
    sounds_media_prefix: str = "sound:recordings/"
    moh_class: str = "default"  # music on hold for waiting and held callers
    # How a bare number (a transfer target, a directory phone number) is dialled.
    dial_template: str = "PJSIP/{number}"
    # ARI over HTTPS and WSS (docs/identity.md). The sandbox always serves TLS beside plain HTTP, on
    # http_port + 1 unless set, with a certificate from a CA of its own (<root>/etc/asterisk/keys).
    ari_tls: bool = False
    ari_tls_port: int = 0
    ari_ca_file: str = ""  # the CA that signed Asterisk's certificate; empty: the sandbox's own

    @property
    def tls_port(self) -> int:
        return self.ari_tls_port or self.http_port + 1

    @property
    def ari_tls_url(self) -> str:
        return f"https://{self.host}:{self.tls_port}/ari"

    @property
    def ari_ca_path(self) -> Path:
        return Path(self.ari_ca_file) if self.ari_ca_file else self.root_path / "etc/asterisk/keys/ca.pem"

    @property
    def root_path(self) -> Path:
        return Path(self.root) if self.root else data_dir() / "pbx" / "root"

    @property
    def sounds_path(self) -> Path:
        return Path(self.sounds_dir) if self.sounds_dir else self.root_path / "var/lib/asterisk/sounds/custom"

    @property
    def ari_url(self) -> str:
        return f"http://{self.host}:{self.http_port}/ari"


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    db_path: str = ""  # empty: <data_dir>/cc-console.sqlite3
    queue_log_path: str = ""  # empty: <data_dir>/queue_log
    routing_file: str = ""  # empty: <config_dir>/routing.toml if it exists, else [[queues]] below
    reports_schedule: str = ""  # empty: <config_dir>/reports.toml if it exists (reports e-mailed on schedule)
    tls_cert: str = ""
    tls_key: str = ""
    # Timers, all short-able in tests.
    ring_timeout: float = 15.0
    callback_digit_timeout: float = 5.0  # seconds to key a preferred callback time
    session_ttl: float = 12 * 3600.0
    login_max_failures: int = 5
    login_window: float = 300.0
    # Password checks run at most this many at once (argon2 is CPU and memory by design); waiting
    # sign-ins queue fairly per address, at most login_queue_max, beyond which they are refused.
    login_hash_workers: int = 2
    login_queue_max: int = 1000
    totp_valid_window: int = 1
    ari_reconnect_min: float = 0.2
    ari_reconnect_max: float = 10.0
    # Overload (docs/ARCHITECTURE.md, "Overload"): how long one ARI request may take, how many
    # failures in a row open the breaker and how long it stays open, how often the engine checks
    # its calls and agents against Asterisk's channels, and how re-offers of a call are bounded.
    ari_timeout: float = 10.0
    ari_breaker_failures: int = 5
    ari_breaker_cooldown: float = 5.0
    reconcile_interval: float = 5.0
    offer_failures_max: int = 3  # failed offers in a row before a call waits offer_backoff
    offer_backoff: float = 10.0  # seconds a call (or an agent whose device failed) is not offered
    # Per-connection outbound buffer; a client that falls this far behind is dropped and resumes.
    client_queue_max: int = 2000
    # A connection must send a complete HTTP request (a console: its websocket upgrade) within this
    # many seconds, and an idle keep-alive HTTP connection is closed after it.
    handshake_timeout: float = 10.0
    # Uploads (the general-problem message): a hard size limit, and how long a chunk may take to arrive.
    upload_max_bytes: int = 20 * 1024 * 1024
    upload_read_timeout: float = 30.0
    # Call recording (docs/recordings.md).
    recordings_dir: str = ""  # empty: <folder of db_path>/recordings
    recordings_key_file: str = ""  # a 256-bit key (hex): recordings are AES-GCM encrypted at rest
    recording_retention_days: int = 183  # about 6 months
    recording_retention: dict[str, int] = field(default_factory=dict)  # "queue:NAME"/"tenant:NAME" -> days
    recording_optout_users: list[str] = field(default_factory=list)  # agents who may switch recording off
    recording_skip_prefixes: list[str] = field(default_factory=list)  # destinations (numbers) never recorded
    recording_purge_interval: float = 3600.0  # seconds between purge runs; 0: only on demand
    # REST API (docs/api.md): each API client or user may make api_rate requests a second on average,
    # in bursts of up to api_burst.
    api_rate: float = 20.0
    api_burst: int = 100

    @property
    def db_file(self) -> Path:
        return Path(self.db_path) if self.db_path else data_dir() / "cc-console.sqlite3"

    @property
    def queue_log_file(self) -> Path:
        return Path(self.queue_log_path) if self.queue_log_path else data_dir() / "queue_log"


@dataclass
class QueueSettings:
    name: str = "support"
    tenant: str = "default"
    dids: list[str] = field(default_factory=lambda: ["5000"])
    ring_timeout: float | None = None  # None: the server's ring_timeout
    service_level: float = DEFAULT_THRESHOLD


@dataclass
class Settings:
    pbx: PbxSettings = field(default_factory=PbxSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    queues: list[QueueSettings] = field(default_factory=lambda: [QueueSettings()])
    # Every other top-level table ([crm], [chat], [ivr], ...): a capability's own settings section,
    # read by that capability with section() against its own dataclass (server/capability.py).
    sections: dict[str, dict[str, Any]] = field(default_factory=dict)

    def section(self, name: str, cls: type[_T]) -> _T:
        """A capability's settings section as its dataclass; unknown keys are refused by name."""
        built: _T = _build(cls, self.sections.get(name, {}))
        return built


@dataclass
class ConsoleSettings:
    """[console]: where the consoles connect. `servers` (a high-availability pair: the consoles move to
    the live one and resume) wins over `server`; neither: the [server] table's own host and port."""
    server: str = ""
    servers: list[str] = field(default_factory=list)


def console_url(settings: Settings) -> str:
    """The consoles' server address(es), several joined by commas (cc_console.client reads either)."""
    c = settings.section("console", ConsoleSettings)
    if c.servers:
        return ",".join(c.servers)
    return c.server or f"ws://{settings.server.host}:{settings.server.port}/ws"


def _build(cls: type, data: dict[str, Any]) -> Any:
    known = {f.name: f for f in fields(cls)}
    unknown = set(data) - set(known)
    if unknown:
        raise ValueError(f"unknown setting(s) in [{cls.__name__}]: {', '.join(sorted(unknown))}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if is_dataclass(default) and isinstance(value, dict):
            kwargs[name] = _build(type(default), value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def load_settings(path: Path | None = None) -> Settings:
    """Load settings from TOML (default: <config_dir>/config.toml); a missing file means defaults.

    Environment overrides for the things tests and CI move: CC_CONSOLE_PBX_ROOT,
    CC_CONSOLE_ARI_PORT, CC_CONSOLE_SIP_PORT, CC_CONSOLE_RTP_START (so that several sandboxes
    can run side by side).
    """
    path = path or Path(os.environ.get("CC_CONSOLE_CONFIG") or config_dir() / "config.toml")
    data: dict[str, Any] = {}
    if path.exists():
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    pbx = _build(PbxSettings, data.get("pbx", {}))
    server = _build(ServerSettings, data.get("server", {}))
    queues = [_build(QueueSettings, q) for q in data.get("queues", [])] or [QueueSettings()]
    if os.environ.get("CC_CONSOLE_PBX_ROOT"):
        pbx.root = os.environ["CC_CONSOLE_PBX_ROOT"]
    if os.environ.get("CC_CONSOLE_ARI_PORT"):
        pbx.http_port = int(os.environ["CC_CONSOLE_ARI_PORT"])
    if os.environ.get("CC_CONSOLE_SIP_PORT"):
        pbx.sip_port = int(os.environ["CC_CONSOLE_SIP_PORT"])
    if os.environ.get("CC_CONSOLE_RTP_START"):
        # A second sandbox beside the first: its own 1000 RTP ports.
        pbx.rtp_start = int(os.environ["CC_CONSOLE_RTP_START"])
        pbx.rtp_end = pbx.rtp_start + 999
    sections = {k: v for k, v in data.items() if k not in ("pbx", "server", "queues") and isinstance(v, dict)}
    return Settings(pbx=pbx, server=server, queues=queues, sections=sections)
