"""Contact synchronisation over REST (streamed NDJSON and CSV, idempotent, deltas with deletions)
and the export of the centre's records for a period, page by page with a cursor. No Asterisk: the
calls to export are written to the server's real event store as the engine writes them."""
from __future__ import annotations

import csv
import io
import json
import time

import aiohttp
import pytest

from cc_console.server.api.rest import PREFIX


@pytest.fixture
async def http(server):
    async with aiohttp.ClientSession(f"http://127.0.0.1:{server.port}") as s:
        yield s


@pytest.fixture
def hdr(server):
    return {"Authorization": f"Bearer {server.api_clients.add('insurer', 'admin')}"}


async def post(http, path, body: bytes, ctype: str, hdr, status=200):
    async def chunks():  # streamed, as the insurer's system sends a big file
        for i in range(0, len(body), 7):
            yield body[i:i + 7]
    async with http.post(f"{PREFIX}/crm/contacts/{path}", data=chunks(),
                         headers={**hdr, "Content-Type": ctype}) as r:
        out = await r.json(content_type=None)
        assert r.status == status, out
        return out


def ndjson(*recs):
    return "".join(json.dumps(r) + "\n" for r in recs).encode()


async def test_bulk_load_and_delta_are_idempotent(server, http, hdr):
    recs = [{"external_id": f"INS-{i}", "first_name": f"Name{i}", "last_name": "Novak",
             "phone": f"+420 601 000 {i:03d}"} for i in range(50)]
    assert await post(http, "bulk", ndjson(*recs), "application/x-ndjson", hdr) == \
        {"upserted": 50, "deleted": 0, "lines": 50}
    assert await post(http, "bulk", ndjson(*recs), "application/x-ndjson", hdr) == \
        {"upserted": 50, "deleted": 0, "lines": 50}  # sent again: the same records, no duplicates
    found = server.contacts.search(number="00420601000007")
    assert [c["id"] for c in found] == ["INS-7"] and found[0]["first_name"] == "Name7"
    assert len(server.contacts.search(q="novak", limit=500)) == 50

    text = 'op,external_id,first_name,city\nupsert,INS-7,"Jana, Marie","Brno\nsever"\ndelete,INS-8,,\ndelete,NOPE,,\n'
    assert await post(http, "delta", text.encode(), "text/csv", hdr) == {"upserted": 1, "deleted": 2, "lines": 5}
    assert await post(http, "delta", text.encode(), "text/csv", hdr) == {"upserted": 1, "deleted": 2, "lines": 5}
    seven = server.contacts.contact("INS-7")
    assert seven["first_name"] == "Jana, Marie" and seven["city"] == "Brno\nsever"
    assert "phone" not in seven  # the synchronised record is the whole truth: what it no longer sends goes
    assert server.contacts.search(number="+420601000008") == []
    assert server.store.call("x") is None

    bad = await post(http, "bulk", ndjson(recs[0]) + b'{"first_name": "no id"}\n', "application/x-ndjson", hdr,
                     status=400)
    assert "line 2" in bad["detail"] and "external_id" in bad["detail"]
    bad = await post(http, "delta", b'{"op": "merge", "external_id": "A"}\n', "application/x-ndjson", hdr, status=400)
    assert "line 1" in bad["detail"] and "upsert or delete" in bad["detail"]
    bad = await post(http, "bulk", b'{"external_id": "A", "shoe_size": "44"}\n', "application/x-ndjson", hdr,
                     status=400)
    assert "shoe_size" in bad["detail"]
    async with http.post(f"{PREFIX}/crm/contacts/bulk", data=b"x", headers={"Content-Type": "text/csv"}) as r:
        assert r.status == 401


async def test_export_of_a_period_resumes_by_cursor(server, http, hdr):
    now = time.time()
    for i in range(5):
        call = {"id": f"c{i}", "caller": f"+42060100{i}", "queue": "support", "agent": "agent1",
                "direction": "inbound", "enqueued": now - 100 + i, "answered": now - 90 + i, "state": "ended"}
        server.store.record("call.completed", ts=now - 80 + i, call=call, data={"by": "caller"}, agent_id="agent1")
    server.store.record("call.abandoned", ts=now - 5000, call={"id": "old", "caller": "1"}, data={})
    server.contacts.store.set_meta("c1", now, category="Complaint", contact_id="INS-1", caller="+420601001")
    server.contacts.store.add_note("c1", "wants a refund", "agent1", now, "INS-1")
    getattr(server.store, "flush", lambda: None)()
    rows, cursor = [], None
    pages = 0
    while cursor != "":
        params = {"from": str(now - 1000), "limit": "2", **({"cursor": cursor} if cursor else {})}
        async with http.get(f"{PREFIX}/crm/export", params=params, headers=hdr) as r:
            assert r.status == 200 and r.content_type == "application/x-ndjson"
            cursor = r.headers["X-Next-Cursor"]
            rows += [json.loads(x) for x in (await r.text()).splitlines()]
        pages += 1
        assert pages < 10
    assert [r["call_id"] for r in rows] == ["c0", "c1", "c2", "c3", "c4"] and pages == 3
    c1 = rows[1]
    assert c1["outcome"] == "completed" and c1["category"] == "Complaint" and c1["contact_id"] == "INS-1"
    assert c1["notes"][0]["text"] == "wants a refund" and c1["recordings"] == []
    async with http.get(f"{PREFIX}/crm/export", params={"from": str(now - 1000), "format": "csv"},
                        headers=hdr) as r:
        table = list(csv.DictReader(io.StringIO(await r.text())))
        assert r.content_type == "text/csv" and r.headers["X-Next-Cursor"] == ""
    assert [t["call_id"] for t in table] == ["c0", "c1", "c2", "c3", "c4"]
    assert json.loads(table[1]["notes"])[0]["text"] == "wants a refund"


async def test_crm_routes_are_rate_limited(server, http, hdr):
    # served by the REST API: the same token bucket per principal as every other /api/v1 route
    server.rest.limits.rate, server.rest.limits.burst = 0.5, 3
    statuses = []
    for _ in range(5):
        async with http.get(f"{PREFIX}/crm/webhooks", headers=hdr) as r:
            statuses.append(r.status)
            if r.status == 429:
                assert int(r.headers["Retry-After"]) >= 1
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]


async def test_a_record_the_contacts_refuse_stops_the_load_and_says_what_was_saved(server, http, hdr, monkeypatch):
    monkeypatch.setattr("cc_console.server.crm.rest.BATCH", 2)  # two records per transaction
    recs = [{"external_id": "REF-1", "last_name": "Dvorak"}, {"external_id": "REF-2", "last_name": "Dvorak"},
            {"external_id": "REF-3", "last_name": "Dvorak", "shoe_size": "44"}]
    out = await post(http, "bulk", ndjson(*recs), "application/x-ndjson", hdr, status=400)
    assert out["code"] == "bad_request" and "unknown field 'shoe_size'" in out["detail"]
    # the contacts service's refusal is told like a bad line: what came before it is kept
    assert out["detail"].endswith("(records before it were saved; sending the file again is safe)")
    assert server.contacts.contact("REF-2")["last_name"] == "Dvorak"
