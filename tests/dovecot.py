"""A real Dovecot IMAP server for the e-mail tests: its own config in a tmp folder, a passwd-file
user with a maildir, IMAPS on a free port (a trustme certificate), run in the foreground as the
test's own process and stopped after it. Never the system's service."""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.ports import free_port

DOVECOT = "/usr/sbin/dovecot"


class Dovecot:
    def __init__(self, cert_pem: str, key_pem: str, user: str = "support",
                 password: str = "mailbox-secret") -> None:
        if not Path(DOVECOT).exists():
            raise RuntimeError("Dovecot is not installed: install the Debian package dovecot-imapd "
                               "(scripts/debian-packages.d/email.txt; ./scripts/setup does it)")
        # not under pytest's tmp folder (0700): Dovecot's auth and mail processes drop root and must
        # reach the passwd file and the maildir
        root = Path(tempfile.mkdtemp(prefix="cc-dovecot-"))
        os.chmod(root, 0o711)
        self.root, self.user, self.password = root, user, password
        self.port = free_port()
        # Dovecot will not give mail to uid 0: as root the mailbox belongs to nobody
        me = pwd.getpwnam("nobody") if os.getuid() == 0 else pwd.getpwuid(os.getuid())
        self.uid, self.gid = me.pw_uid, me.pw_gid
        for d in ("run", "state", "home"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "cert.pem").write_text(cert_pem)
        (root / "key.pem").write_text(key_pem)
        os.chmod(root / "key.pem", 0o600)
        (root / "passwd").write_text(f"{user}:{{PLAIN}}{password}\n")
        if os.getuid() == 0:
            shutil.chown(root / "home", me.pw_name)
        internal = me.pw_name if os.getuid() != 0 else "dovecot"
        login = me.pw_name if os.getuid() != 0 else "dovenull"
        (root / "dovecot.conf").write_text(f"""
protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
default_internal_user = {internal}
default_login_user = {login}
first_valid_uid = {min(self.uid, 500)}
ssl = required
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
auth_mechanisms = plain
passdb {{
  driver = passwd-file
  args = {root}/passwd
}}
userdb {{
  driver = static
  args = uid={self.uid} gid={self.gid} home={root}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
""")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen([DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
                raise RuntimeError(f"dovecot did not start: {out}{self.log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def log(self) -> str:
        p = self.root / "dovecot.log"
        return p.read_text(errors="replace") if p.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
