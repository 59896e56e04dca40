"""The demo's switchboard directory: a municipality of a few hundred persons in units, some of them
away right now (lunch, a meeting, sick, on vacation) with someone covering, so that `D` in the
agent console has something to find. Generated the same way every time (a fixed seed), relative
to now so that the absences are current whenever the demo starts.
"""
from __future__ import annotations

import csv
import io
import random
import time
from pathlib import Path

TENANT = "default"
PERSONS = 320
SEED = 11

GIVEN = ["Ingrid", "Per", "Marit", "Lars", "Nils", "Siri", "Eirik", "Tove", "Anders", "Hanne", "Jan", "Line",
         "Mette", "Ørjan", "Kari", "Ola", "Åse", "Øyvind", "Bjørg", "Kjersti", "Ståle", "Tone", "Geir", "Randi",
         "Hilde", "Knut", "Sigrid", "Trond", "Astrid", "Morten", "Elin", "Helge", "Camilla", "Jonas", "Nora"]
FAMILY = ["Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen", "Jensen",
          "Karlsen", "Haugen", "Berg", "Lund", "Strand", "Dahl", "Moen", "Solberg", "Bakken", "Sæther", "Østby",
          "Aasen", "Brække", "Ødegård", "Nordmann", "Eide", "Holm", "Lie", "Vik", "Sandvik", "Hagen"]
# (department, sections, titles, subjects)
DEPARTMENTS = [
    ("Plan- og bygningsetaten", ["Byggesak", "Regulering", "Kart og oppmåling"],
     ["Saksbehandler", "Arkitekt", "Ingeniør"], ["building permits", "byggesak", "zoning", "reguleringsplan", "maps"]),
    ("Helseetaten", ["Legevakt", "Helsestasjon", "Smittevern"],
     ["Lege", "Helsesykepleier", "Rådgiver"], ["health", "helse", "vaccination", "vaksine"]),
    ("Utdanningsetaten", ["Skoler", "Barnehager", "Spesialpedagogikk"],
     ["Rådgiver", "Konsulent", "Pedagog"], ["schools", "kindergarten", "barnehage", "school places"]),
    ("Vann- og avløpsetaten", ["Vannforsyning", "Avløp", "Kundeservice VA"],
     ["Ingeniør", "Driftsoperatør", "Konsulent"], ["water", "vann og avløp", "water bills", "leaks"]),
    ("Renovasjonsetaten", ["Innsamling", "Gjenvinning"],
     ["Konsulent", "Driftsleder"], ["waste", "renovasjon", "recycling"]),
    ("Bymiljøetaten", ["Parkering", "Vei og gate", "Parker"],
     ["Saksbehandler", "Ingeniør", "Parkeringsvakt"], ["parking", "roads", "veg", "parks", "snow clearing"]),
    ("Eiendomsskattekontoret", ["Taksering", "Klagesaker"],
     ["Takstmann", "Jurist", "Saksbehandler"], ["property tax", "eiendomsskatt", "appeals"]),
    ("Kundesenteret", ["Sentralbord", "Publikumsmottak"],
     ["Kundeveileder", "Teamleder"], ["switchboard", "general questions"]),
]
# Away now (share of persons, kind, how long from a little while ago, message)
AWAY_NOW = [
    (0.04, "lunch", 1800, "Back after lunch"),
    (0.05, "meeting", 5400, "In a meeting"),
    (0.03, "sick", 86400, ""),
    (0.05, "vacation", 7 * 86400, "On vacation, back next week"),
    (0.02, "course", 2 * 86400, "On a course"),
    (0.02, "travel", 86400, "Travelling"),
]


def _number(rnd: random.Random, prefix: str) -> str:
    return f"{prefix} {rnd.randint(10, 99)} {rnd.randint(10, 99)} {rnd.randint(10, 99)}"


def generate(persons: int = PERSONS, seed: int = SEED) -> tuple[bytes, bytes]:
    """(units CSV, persons CSV) in the directory's import format (docs/directory.md)."""
    rnd = random.Random(seed)
    units = [("kommune", "Demo kommune", "")]
    sections: list[tuple[str, int]] = []
    for d, (dep, secs, _titles, _subjects) in enumerate(DEPARTMENTS):
        units.append((f"d{d}", dep, "kommune"))
        for s, sec in enumerate(secs):
            units.append((f"d{d}s{s}", sec, f"d{d}"))
            sections.append((f"d{d}s{s}", d))
    rows: list[dict[str, str]] = []
    for i in range(persons):
        unit, d = sections[i % len(sections)]
        _dep, _secs, titles, subjects = DEPARTMENTS[d]
        given, family = rnd.choice(GIVEN), rnd.choice(FAMILY)
        pid = f"p{i:04d}"
        rows.append({"id": pid, "given_name": given, "family_name": family,
                     "title": "Seksjonssjef" if i < len(sections) else rnd.choice(titles), "unit": unit,
                     "desk": _number(rnd, "+47 21"),
                     "mobile": _number(rnd, f"+47 9{rnd.randint(0, 9)}{rnd.randint(0, 9)}"),
                     "email": f"{given}.{family}.{i}@demo-kommune.example".lower().replace(" ", ""),
                     "location": f"Rådhuset, {rnd.randint(1, 6)}. etasje",
                     "subjects": ";".join(rnd.sample(subjects, rnd.randint(1, 2))), "substitutes": "", "username": ""})
    # Substitutes: colleagues in the same section, the section head first.
    by_unit: dict[str, list[str]] = {}
    for r in rows:
        by_unit.setdefault(r["unit"], []).append(r["id"])
    for r in rows:
        mates = [m for m in by_unit[r["unit"]] if m != r["id"]]
        r["substitutes"] = ";".join(mates[:1] + rnd.sample(mates[1:], min(1, len(mates) - 1)))
    # The demo's own people, at the phones of the sandbox, in the customer centre's switchboard section.
    switchboard = next(u for u, d in sections if DEPARTMENTS[d][0] == "Kundesenteret")
    for n, (user, given, family) in enumerate([("agent1", "Ada", "Operatør"), ("agent2", "Bob", "Bot"),
                                               ("agent3", "Cleo", "Bot"), ("sup1", "Sam", "Supervisor")]):
        rows.append({"id": user, "given_name": given, "family_name": family,
                     "title": "Teamleder" if user == "sup1" else "Kundeveileder", "unit": switchboard,
                     "desk": str(1008 if user == "sup1" else 1001 + n), "mobile": "",
                     "email": f"{user}@demo-kommune.example",
                     "location": "Rådhuset, 1. etasje", "subjects": "switchboard",
                     "substitutes": "sup1" if user != "sup1" else "agent1", "username": user})
    return _csv(["id", "name", "parent"], units), _csv(list(rows[0]), rows)


def _csv(header: list[str], rows: list) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(header)
    for r in rows:
        w.writerow([r[h] for h in header] if isinstance(r, dict) else r)
    return out.getvalue().encode()


def absences(keys: list[str], now: float, seed: int = SEED) -> list[dict]:
    """Absences for some of the persons: in force now, and a few coming later this month."""
    rnd = random.Random(seed + 1)
    pool = list(keys)
    rnd.shuffle(pool)
    out: list[dict] = []
    for share, kind, length, message in AWAY_NOW:
        for _ in range(max(1, int(share * len(keys)))):
            if not pool:
                break
            start = now - rnd.randint(5, 25) * 60
            out.append({"key": pool.pop(), "type": kind, "from": start, "until": start + length, "message": message})
    for key in pool[: len(keys) // 10]:
        start = now + rnd.randint(1, 30) * 86400
        out.append({"key": key, "type": rnd.choice(["vacation", "course", "travel"]), "from": start,
                    "until": start + rnd.randint(1, 10) * 86400, "message": ""})
    return out


def seed_directory(db_file: Path, now: float | None = None) -> tuple[int, int]:
    """Fill the directory beside the demo's database; returns (persons, absences now in force)."""
    from cc_console.server.directory import DirectoryService, DirectoryStore, default_path
    now = time.time() if now is None else now
    svc = DirectoryService(DirectoryStore(default_path(db_file)), clock=lambda: now)
    try:
        units, persons = generate()
        report = svc.import_files(units=units, persons=persons, tenant=TENANT, full=True)
        if report.units.rejected or report.persons.rejected:
            raise ValueError(f"the demo directory did not import cleanly:\n{report.text()}")
        keys = [k for k in svc.index.keys if not k.endswith((":agent1", ":agent2", ":agent3", ":sup1"))]
        away = absences(keys, now)
        for a in away:
            svc.add_absence("demo", a["key"], a["type"], a["from"], a["until"], a["message"], source="manual")
        return len(svc.index.keys), sum(1 for a in away if a["from"] <= now)
    finally:
        svc.store.close()
