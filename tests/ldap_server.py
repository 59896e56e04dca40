"""A real OpenLDAP server (Debian's slapd) for the tests: its own folder, free ports, plain LDAP
(for StartTLS) and LDAPS with a certificate from a CA made by trustme, the memberOf overlay as
Active Directory has it, and a small directory of people and groups."""
from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.ports import free_port as _free_port

SLAPD = "/usr/sbin/slapd"
SUFFIX = "dc=example,dc=org"
ROOT_DN = f"cn=admin,{SUFFIX}"
ROOT_PW = "root-secret-1"
USER_PW = "Directory-pass-1"

PEOPLE = [
    # uid, cn, groups, departmentNumber (team), l (site)
    ("anna", "Anna Agent", ["cc-agents"], "team-north", "Bergen"),
    ("sven", "Sven Supervisor", ["cc-supervisors", "cc-agents"], "team-north", "Oslo"),
    ("nils", "Nils Nobody", ["staff"], "", ""),
]


@dataclass
class Slapd:
    folder: Path
    ldap_port: int
    ldaps_port: int
    ca_file: str
    proc: subprocess.Popen[bytes]

    @property
    def ldap_url(self) -> str:
        return f"ldap://127.0.0.1:{self.ldap_port}"

    @property
    def ldaps_url(self) -> str:
        return f"ldaps://127.0.0.1:{self.ldaps_port}"

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_slapd(folder: Path) -> Slapd:
    if not Path(SLAPD).exists():
        raise RuntimeError("Debian's slapd is missing: run ./scripts/setup (scripts/debian-packages.d/identity.txt)")
    import trustme
    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    cert = ca.issue_cert("localhost", "127.0.0.1")
    ca_file, cert_file, key_file = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    (folder / "db").mkdir(exist_ok=True)
    conf = folder / "slapd.conf"
    conf.write_text(f"""
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {folder}/slapd.pid
TLSCACertificateFile {ca_file}
TLSCertificateFile {cert_file}
TLSCertificateKeyFile {key_file}
database mdb
suffix "{SUFFIX}"
rootdn "{ROOT_DN}"
rootpw {ROOT_PW}
directory {folder}/db
overlay memberof
""")
    ldap_port, ldaps_port = _free_port(), _free_port()
    proc = subprocess.Popen([SLAPD, "-f", str(conf), "-h", f"ldap://127.0.0.1:{ldap_port}/ ldaps://127.0.0.1:{ldaps_port}/",
                             "-d", "0"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    srv = Slapd(folder, ldap_port, ldaps_port, str(ca_file), proc)
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", ldap_port), timeout=0.2).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                err = proc.stderr.read().decode() if proc.stderr else ""
                srv.stop()
                raise RuntimeError(f"slapd did not start: {err[-2000:]}") from None
            time.sleep(0.05)
    _populate(srv)
    return srv


def _populate(srv: Slapd) -> None:
    import ldap3
    conn = ldap3.Connection(ldap3.Server(srv.ldap_url), ROOT_DN, ROOT_PW, auto_bind=True)
    conn.add(SUFFIX, ["dcObject", "organization"], {"o": "Example", "dc": "example"})
    conn.add(f"ou=people,{SUFFIX}", ["organizationalUnit"], {"ou": "people"})
    conn.add(f"ou=groups,{SUFFIX}", ["organizationalUnit"], {"ou": "groups"})
    conn.add(f"cn=svc-cc,{SUFFIX}", ["inetOrgPerson"], {"sn": "svc", "userPassword": "Service-pass-1"})
    for uid, cn, _groups, team, site in PEOPLE:
        attrs = {"cn": cn, "sn": cn.split()[-1], "userPassword": USER_PW, "mail": f"{uid}@example.org"}
        if team:
            attrs["departmentNumber"] = team
        if site:
            attrs["l"] = site
        assert conn.add(f"uid={uid},ou=people,{SUFFIX}", ["inetOrgPerson"], attrs), conn.result
    groups: dict[str, list[str]] = {}
    for uid, _cn, gs, _t, _s in PEOPLE:
        for g in gs:
            groups.setdefault(g, []).append(f"uid={uid},ou=people,{SUFFIX}")
    for g, members in groups.items():
        assert conn.add(f"cn={g},ou=groups,{SUFFIX}", ["groupOfNames"], {"member": members}), conn.result
    conn.unbind()

