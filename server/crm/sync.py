"""Contact synchronisation with the insurer's central system, and the export of our records.

In: a bulk load or a delta, streamed as NDJSON (one JSON object a line) or CSV (a header line),
read as it arrives and written in batches through the contacts capability's bulk upsert, so a
million records never sit in memory at once. Each record is keyed by ``external_id`` (it becomes
the contact's id), which makes a load idempotent: sending it again changes nothing. A delta's
record has ``op``: ``upsert`` (the default) or ``delete``.

Out: the calls that ended in a period with their notes, category, outcome, contact and recording
references, as NDJSON or CSV, a page at a time; the page's last event number is the cursor the
next request continues from, so an interrupted export resumes where it stopped.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from cc_console.protocol import ErrorCode, ProtocolError

KEY = "external_id"
END_KINDS = ("call.completed", "call.abandoned", "call.voicemail", "call.ended")
EXPORT_FIELDS = ("cursor", "call_id", "direction", "caller", "queue", "agent", "enqueued", "answered", "ended",
                 "outcome", "category", "contact_id", "notes", "recordings")


def bad(msg: str) -> ProtocolError:
    return ProtocolError(ErrorCode.BAD_REQUEST, msg)


@dataclass(frozen=True)
class Op:
    line: int
    op: str  # upsert or delete
    record: dict[str, Any]


def _op(line: int, rec: Any, delta: bool) -> Op:
    if not isinstance(rec, dict):
        raise bad(f"line {line}: a record is a JSON object")
    rec = {k: v for k, v in rec.items() if v is not None}
    op = str(rec.pop("op", "upsert")) if delta else "upsert"
    if op not in ("upsert", "delete"):
        raise bad(f"line {line}: op is upsert or delete, not {op!r}")
    key = rec.pop(KEY, None)
    if key is None or str(key).strip() == "":
        raise bad(f"line {line}: the record has no {KEY}")
    rec = {k: (v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v))
           for k, v in rec.items()}
    rec["id"] = str(key).strip()
    return Op(line, op, rec)


async def _lines(stream: Any) -> AsyncIterator[str]:
    n = 0
    async for raw in stream:
        n += 1
        try:
            yield raw.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError:
            raise bad(f"line {n}: not UTF-8") from None


async def read_ops(stream: Any, fmt: str, *, delta: bool) -> AsyncIterator[Op]:
    """The records of an upload as they arrive (stream: an aiohttp StreamReader or any async byte lines)."""
    line = 0
    if fmt == "ndjson":
        async for text in _lines(stream):
            line += 1
            if not text.strip():
                continue
            try:
                rec = json.loads(text)
            except ValueError:
                raise bad(f"line {line}: not valid JSON") from None
            yield _op(line, rec, delta)
        return
    header: list[str] | None = None
    pending = ""
    async for text in _lines(stream):
        line += 1
        pending += text
        if pending.count('"') % 2:  # a quoted field goes on over the next line
            continue
        chunk, pending = pending, ""
        if not chunk.strip():
            continue
        row = next(csv.reader(io.StringIO(chunk)))
        if header is None:
            header = [h.strip() for h in row]
            if KEY not in header:
                raise bad(f"line {line}: the CSV header has no {KEY} column")
            continue
        if len(row) != len(header):
            raise bad(f"line {line}: {len(row)} fields where the header has {len(header)}")
        yield _op(line, {h: v for h, v in zip(header, row) if v != "" or h == KEY}, delta)
    if pending.strip():
        raise bad(f"line {line}: a quoted field is not closed")


# -- export -------------------------------------------------------------------------------------------
def export_rows(events: Iterable[Any], since: float, until: float, limit: int, metas: Any, notes: Any,
                recordings: Any) -> tuple[list[dict[str, Any]], int | None]:
    """(rows, next cursor): the calls that ended in [since, until) after the cursor, at most limit.
    Blocking (reads the databases): run it off the event loop."""
    rows: list[dict[str, Any]] = []
    last = None
    for ev in events:
        if ev.kind not in END_KINDS:
            continue
        if not (since <= ev.ts < until):
            continue
        if len(rows) >= limit:
            return rows, last
        call = (ev.data or {}).get("call") or {}
        cid = ev.call_id or call.get("id", "")
        meta = metas(cid) or {}
        rows.append({"cursor": ev.seq, "call_id": cid, "direction": call.get("direction", ""),
                     "caller": call.get("caller", ""), "queue": call.get("queue") or "",
                     "agent": call.get("agent") or "", "enqueued": call.get("enqueued"),
                     "answered": call.get("answered"), "ended": ev.ts,
                     "outcome": ev.kind.removeprefix("call.") if ev.kind != "call.ended"
                     else (ev.data or {}).get("outcome", "ended"),
                     "category": meta.get("category", ""), "contact_id": meta.get("contact_id") or "",
                     "notes": notes(cid), "recordings": recordings(cid)})
        last = ev.seq
    return rows, None


def to_ndjson(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in rows).encode()


def to_csv(rows: list[dict[str, Any]], header: bool) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf)
    if header:
        w.writerow(EXPORT_FIELDS)
    for r in rows:
        w.writerow([json.dumps(r[f]) if isinstance(r[f], (list, dict)) else ("" if r[f] is None else r[f])
                    for f in EXPORT_FIELDS])
    return buf.getvalue().encode()
