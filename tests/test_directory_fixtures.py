"""Sample directory data shared by the directory tests (no tests here)."""
from __future__ import annotations

from pathlib import Path

UNITS_CSV = """id,name,parent
KOM,Oslo kommune,
PLAN,Plan- og bygningsetaten,KOM
BYGG,Byggesak,PLAN
"""

PERSONS_CSV = """id,given_name,family_name,title,unit,desk,mobile,switchboard,email,location,subjects,substitutes,username
p1,Øyvind,Hansen,Saksbehandler,BYGG,1001,+47 900 11 001,,oyvind.hansen@oslo.example,Rådhuset 3. etg,building permits;byggesak,p2,agent1
p2,Kari,Nordmann,Seksjonssjef,PLAN,+47 22 24 45 90,+47 900 11 002,,kari.nordmann@oslo.example,Rådhuset,reguleringsplan,p5,
p3,Antonín,Dvořák,Rådgiver,PLAN,1003,,,antonin.dvorak@oslo.example,,noise;music,p1,agent2
p4,Anneke,IJsselmeer,Direktør,KOM,1009,,2200,anneke@oslo.example,,,p2,sup1
p5,Ola,Nordmann,Konsulent,BYGG,1005,+47 900 11 005,,ola.nordmann@oslo.example,,building permits,p1,
p6,Oddvar,Olanes,Arkivar,KOM,1006,,,,,archive,,
"""

BERGEN_UNITS_CSV = """id,name,parent
BK,Bergen kommune,
"""

BERGEN_PERSONS_CSV = """id,given_name,family_name,title,unit,desk,email
b1,Oyvind,Berg,Rådgiver,BK,5501,oyvind.berg@bergen.example
"""


def write(tmp: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    p = tmp / name
    p.write_bytes(text.encode(encoding))
    return p


def load_sample(service, tenant: str = "oslo") -> None:
    """Load the sample organisations into a DirectoryService."""
    r = service.import_files(units=UNITS_CSV.encode(), persons=PERSONS_CSV.encode(), tenant=tenant, full=True)
    assert not r.persons.rejected and not r.units.rejected, r.text()
    r = service.import_files(units=BERGEN_UNITS_CSV.encode(), persons=BERGEN_PERSONS_CSV.encode(),
                             tenant="bergen", full=True)
    assert not r.persons.rejected, r.text()
