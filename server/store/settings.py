"""The `[store]` table of config.toml: where the server keeps its events, users and sessions.

Absent (or ``url`` empty), the store is the embedded SQLite file `[server] db_path`. A
``postgresql://user:password@host:port/dbname`` URL puts them in PostgreSQL instead (docs/storage.md).
The environment variable CC_CONSOLE_STORE_URL overrides it (the tests' second backend run).
"""
from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass
class StoreSettings:
    url: str = ""

    def resolved_url(self) -> str:
        return os.environ.get("CC_CONSOLE_STORE_URL", "") or self.url
