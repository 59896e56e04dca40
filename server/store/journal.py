"""The store's spill file: events that could not be written to the database yet, as JSON lines.

While the database cannot be written (another process holds its lock, the disk is read-only) the
writer appends each event here, fsync'd before it counts as kept, so a crash or a restart loses
nothing. Once the database takes writes again the journal is replayed into it in order and then
emptied; the events' ids make a replay after a crash half-way through apply each event once.
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


def journal_path(db_path: str | Path) -> Path:
    return Path(f"{db_path}.journal")


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def read(self) -> list[str]:
        """The entries kept (each a JSON object on one line), oldest first. A torn last line (a
        crash mid-append) was never acknowledged as kept: it is dropped with a warning, and the
        file rewritten without it so the next append starts on a line of its own."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        entries = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                json.loads(line)
            except json.JSONDecodeError:
                log.warning("store journal %s: line %d is unreadable and skipped", self.path, n)
                continue
            entries.append(line)
        if text and (not text.endswith("\n") or len(entries) != len(text.splitlines())):
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text("".join(line + "\n" for line in entries), encoding="utf-8")
            with tmp.open("rb") as fh:
                os.fsync(fh.fileno())
            tmp.replace(self.path)
        return entries

    def append(self, lines: list[str]) -> None:
        """Add entries (JSON, one line each) and fsync; raises OSError when they could not be kept."""
        data = "".join(line + "\n" for line in lines)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            view = memoryview(data.encode("utf-8"))
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)

    def clear(self) -> None:
        """Empty the journal (after its entries are committed to the database)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_TRUNC)
        except FileNotFoundError:
            return
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
