"""The sandbox PBX: Asterisk 22 (and baresip phones) in a Debian chroot on this machine.

Plain synchronous subprocess code, wired to `cc-console pbx up|down|status`. Everything listens on
loopback only. The chroot is built once (debootstrap + apt inside it), into a temporary directory
that is renamed into place only when complete, so a half-built chroot is never reused.

Needs root (debootstrap, chroot, mount).
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
import wave
from collections.abc import Callable
from pathlib import Path

import httpx

from cc_console.config import PbxSettings

Log = Callable[[str], None]

TEMPLATES = Path(__file__).with_name("templates")
CONFIG_FILES = (
    "asterisk.conf",
    "modules.conf",
    "logger.conf",
    "http.conf",
    "ari.conf",
    "manager.conf",
    "rtp.conf",
    "musiconhold.conf",
    "extensions.conf",
    "pjsip.conf",
    "stasis.conf",
)
# Packages installed inside the chroot.
CHROOT_PACKAGES = (
    "asterisk",
    "asterisk-modules",
    "asterisk-core-sounds-en-wav",
    "asterisk-moh-opsound-wav",
    "baresip-core",
    "sox",
    "libc6-dev",
    "tcc",  # compiles the bind-to-loopback shim (templates/bind_loopback.c) inside the chroot
)
SHIM = "/usr/local/lib/cc-bind-loopback.so"  # LD_PRELOADed into Asterisk and the phones
CALLER_TONE_FREQ = 440  # Hz, [cc-test-caller] extension `tone`
MOH_TONE_FREQ = 350  # Hz, the `cc-tone` music-on-hold class
ARI_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
_HASH_FILE = ".cc-console-config.sha256"
_MOUNTS = (("proc", "proc", ["-t", "proc", "proc"]), ("sys", "sysfs", ["-t", "sysfs", "sysfs"]),
           ("dev", "bind", ["--bind", "/dev"]))


class SandboxError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------
# small helpers


def _run(cmd: list[str], *, check: bool = True, timeout: float | None = None, **kw) -> subprocess.CompletedProcess:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise SandboxError(f"{' '.join(cmd)} failed ({p.returncode}):\n{(p.stdout + p.stderr)[-3000:]}")
    return p


def _chroot(s: PbxSettings, *cmd: str, check: bool = True, timeout: float | None = None) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LANG": "C.UTF-8",
           "DEBIAN_FRONTEND": "noninteractive"}
    return _run(["chroot", str(s.root_path), *cmd], check=check, timeout=timeout, env=env)


def _is_built(root: Path) -> bool:
    return (root / "usr/sbin/asterisk").exists() and (root / "usr/bin/baresip").exists()


def _mounts_under(root: Path) -> list[str]:
    """Mount points at or below root (as the kernel spells them), in mount order."""
    base = os.path.realpath(root)
    out = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == base or mp.startswith(base + "/"):
                out.append(mp)
    return out


def _mount_all(root: Path, log: Log) -> None:
    mounted = set(_mounts_under(root))
    for sub, _kind, args in _MOUNTS:
        target = os.path.realpath(root / sub)
        if target in mounted:
            continue
        os.makedirs(target, exist_ok=True)
        _run(["mount", *args, target])
        log(f"mounted {target}")


def _unmount_all(root: Path, log: Log) -> None:
    for _ in range(3):
        mps = _mounts_under(root)
        if not mps:
            return
        for mp in reversed(mps):
            p = _run(["umount", mp], check=False)
            if p.returncode != 0:
                _run(["umount", "-l", mp], check=False)
            log(f"unmounted {mp}")
    if _mounts_under(root):
        raise SandboxError(f"could not unmount everything under {root}: {_mounts_under(root)}")


def _safe_rmtree(path: Path, log: Log) -> None:
    """rm -rf a (temporary) chroot, never while anything is mounted inside it (a bound /dev!)."""
    if not path.exists():
        return
    _kill_chroot_processes(path, log)
    _unmount_all(path, log)
    if _mounts_under(path):
        raise SandboxError(f"refusing to delete {path}: still mounted")
    shutil.rmtree(path)


def _proc_root(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/root")
    except OSError:
        return None


def _proc_cmdline(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
    except OSError:
        return []


def _chroot_pids(root: Path, name: str | None = None) -> list[int]:
    """Processes whose root directory is this chroot (optionally with a given comm)."""
    base = os.path.realpath(root)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        pid = int(entry)
        if pid == os.getpid() or _proc_root(pid) != base:
            continue
        if name is not None:
            try:
                with open(f"/proc/{pid}/comm") as fh:
                    if fh.read().strip() != name:
                        continue
            except OSError:
                continue
        pids.append(pid)
    return pids


def _kill_pids(pids: list[int], timeout: float = 5.0) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.1)
    for pid in pids:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _kill_chroot_processes(root: Path, log: Log) -> None:
    pids = _chroot_pids(root)
    if pids:
        log(f"killing {len(pids)} process(es) left in {root}")
        _kill_pids(pids)


# --------------------------------------------------------------------------------------------
# building the chroot


def host_mirror() -> str:
    """The main Debian archive URI from this machine's apt sources (not -security)."""
    candidates: list[tuple[str, list[str]]] = []
    d = Path("/etc/apt/sources.list.d")
    for f in sorted(d.glob("*.sources")) if d.is_dir() else []:
        for stanza in re.split(r"\n\s*\n", f.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.strip()
            if "deb" not in fields.get("types", "").split() or fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                candidates.append((uri, fields.get("suites", "").split()))
    files = [Path("/etc/apt/sources.list")] + (sorted(d.glob("*.list")) if d.is_dir() else [])
    for f in files:
        if not f.is_file():
            continue
        for line in f.read_text(errors="replace").splitlines():
            parts = line.split("#", 1)[0].split()
            if not parts or parts[0] != "deb":
                continue
            parts = parts[1:]
            if parts and parts[0].startswith("["):
                while parts and not parts[0].endswith("]"):
                    parts = parts[1:]
                parts = parts[1:]
            if len(parts) >= 2:
                candidates.append((parts[0], [parts[1]]))
    for uri, suites in candidates:
        if "security" in uri or any(x.endswith("-security") for x in suites):
            continue
        if not uri.startswith(("http://", "https://", "file:/")):
            continue
        if "debian" in uri or any(x in ("sid", "unstable", "trixie", "bookworm", "testing", "stable") for x in suites):
            return uri.rstrip("/")
    raise SandboxError("no Debian archive found in /etc/apt/sources.list(.d); set [pbx] mirror")


def _ensure_debootstrap(log: Log) -> None:
    if shutil.which("debootstrap"):
        return
    log("installing debootstrap on the host")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    p = subprocess.run(["apt-get", "install", "-y", "debootstrap"], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        _run(["apt-get", "update"], env=env)
        _run(["apt-get", "install", "-y", "debootstrap"], env=env)


def _build(s: PbxSettings, log: Log) -> None:
    root = s.root_path
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / (root.name + ".building")
    _safe_rmtree(tmp, log)
    if root.exists():  # an old, incomplete chroot: never reused
        log(f"{root} is incomplete; rebuilding it")
        _safe_rmtree(root, log)
    _ensure_debootstrap(log)
    mirror = s.mirror or host_mirror()
    buildlog = root.parent / "build.log"
    log(f"debootstrap {s.suite} into {tmp} (log: {buildlog})")
    with buildlog.open("w") as out:
        p = subprocess.run(["debootstrap", "--variant=minbase", s.suite, str(tmp), mirror],
                           stdout=out, stderr=subprocess.STDOUT)
    if p.returncode != 0:
        raise SandboxError(f"debootstrap failed; tail of {buildlog}:\n{_tail(buildlog)}")
    # Snapshot mirrors serve Release files past their Valid-Until date.
    (tmp / "etc/apt/apt.conf.d/99cc-console").write_text('Acquire::Check-Valid-Until "false";\n'
                                                         'APT::Install-Recommends "false";\n')
    policy = tmp / "usr/sbin/policy-rc.d"  # no service starts from package scripts
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    tmp_s = PbxSettings(**{**s.__dict__, "root": str(tmp)})
    _mount_all(tmp, log)
    try:
        _chroot_apt_install(tmp, list(CHROOT_PACKAGES), buildlog, log)
        if not _is_built(tmp):
            raise SandboxError(f"packages installed but asterisk/baresip missing in {tmp}")
        _chroot(tmp_s, "asterisk", "-V")
    finally:
        _kill_chroot_processes(tmp, log)
        _unmount_all(tmp, log)
    tmp.rename(root)
    log(f"chroot ready at {root}")


def _chroot_apt_install(root: Path, packages: list[str], buildlog: Path, log: Log) -> None:
    """apt-get update + install inside the chroot, with the host's resolv.conf lent for the duration."""
    log(f"apt-get install {' '.join(packages)} in the chroot")
    resolv = root / "etc/resolv.conf"
    saved = resolv.read_bytes() if resolv.is_file() and not resolv.is_symlink() else None
    if resolv.is_symlink():
        resolv.unlink()
    if Path("/etc/resolv.conf").exists():
        shutil.copyfile("/etc/resolv.conf", resolv, follow_symlinks=True)
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
    try:
        with buildlog.open("a") as out:
            for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", *packages],
                        ["apt-get", "clean"]):
                p = subprocess.run(["chroot", str(root), *cmd], stdout=out, stderr=subprocess.STDOUT, env=env)
                if p.returncode != 0:
                    raise SandboxError(f"{' '.join(cmd)} failed in the chroot; tail of {buildlog}:\n{_tail(buildlog)}")
    finally:
        if saved is not None:
            resolv.write_bytes(saved)


def _ensure_shim(s: PbxSettings, log: Log) -> bool:
    """Compile templates/bind_loopback.c into the chroot (once per source change)."""
    root = s.root_path
    src = (TEMPLATES / "bind_loopback.c").read_bytes()
    digest = hashlib.sha256(src).hexdigest()
    stamp = root / (SHIM.lstrip("/") + ".sha256")
    if (root / SHIM.lstrip("/")).exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return False
    if not (root / "usr/bin/tcc").exists() or not (root / "usr/include/dlfcn.h").exists():
        _chroot_apt_install(root, ["tcc", "libc6-dev"], root.parent / "build.log", log)
    (root / "tmp/cc-bind-loopback.c").write_bytes(src)
    (root / "usr/local/lib").mkdir(parents=True, exist_ok=True)
    _chroot(s, "tcc", "-shared", "-fPIC", "-o", SHIM, "/tmp/cc-bind-loopback.c")
    stamp.write_text(digest + "\n")
    log(f"compiled {SHIM} in the chroot")
    return True


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} unreadable)"


# --------------------------------------------------------------------------------------------
# configuration


def _moddir(root: Path) -> str:
    for d in sorted(root.glob("usr/lib/*/asterisk/modules")):
        return "/" + str(d.relative_to(root))
    return "/usr/lib/asterisk/modules"


def _fill(text: str, values: dict[str, object]) -> str:
    def sub(m: re.Match) -> str:
        key = m.group(1)
        if key not in values:
            raise KeyError(f"template placeholder @@{key}@@ has no value")
        return str(values[key])

    return re.sub(r"@@(\w+)@@", sub, text)


def render_configs(s: PbxSettings) -> dict[str, str]:
    """The Asterisk config files (name -> text) for these settings."""
    values: dict[str, object] = {
        "host": s.host,
        "http_port": s.http_port,
        "http_tls_port": s.tls_port,
        "ari_user": s.ari_user,
        "ari_password": s.ari_password,
        "app": s.app,
        "sip_port": s.sip_port,
        "rtp_start": s.rtp_start,
        "rtp_end": s.rtp_end,
        "inbound_context": s.inbound_context,
        "endpoint_password": s.endpoint_password,
        "last_endpoint": 1000 + s.agent_endpoints,
        "caller_tone_freq": CALLER_TONE_FREQ,
        "moh_tone_freq": MOH_TONE_FREQ,
        "moddir": _moddir(s.root_path),
    }
    ep_tmpl = (TEMPLATES / "pjsip_endpoint.tmpl").read_text()
    values["endpoints"] = "".join(_fill(ep_tmpl, {**values, "number": n}) for n in endpoint_numbers(s))
    return {name: _fill((TEMPLATES / name).read_text(), values) for name in CONFIG_FILES}


def endpoint_numbers(s: PbxSettings) -> list[int]:
    return list(range(1001, 1001 + s.agent_endpoints))


def write_tone_wav(path: Path, freq: float, seconds: float, rate: int = 8000, amplitude: float = 0.3) -> None:
    """A mono 16-bit sine tone. Integer frequencies repeat exactly every second, so one second is tiled."""
    import array
    import math

    one = array.array("h", (int(amplitude * 32767 * math.sin(2 * math.pi * freq * i / rate)) for i in range(rate)))
    data = one.tobytes()
    whole, frac = divmod(int(seconds * rate), rate)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data * whole + data[: frac * 2])


def _ensure_tls_keys(s: PbxSettings, keys: Path) -> None:
    """A CA of the sandbox's own and a certificate for Asterisk's HTTPS (ARI over TLS), made once."""
    if (keys / "asterisk.pem").exists() and (keys / "ca.pem").exists():
        return
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cc-console sandbox CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=3650))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    if s.host not in ("127.0.0.1", "localhost"):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(s.host)))
        except ValueError:
            names.append(x509.DNSName(s.host))
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cc-console sandbox Asterisk")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256()))
    keys.mkdir(parents=True, exist_ok=True)
    (keys / "asterisk.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                          serialization.PrivateFormat.TraditionalOpenSSL,
                                                          serialization.NoEncryption()))
    (keys / "asterisk.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (keys / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    os.chmod(keys / "asterisk.key", 0o640)
    _chroot(s, "chown", "-R", "root:asterisk", "/etc/asterisk/keys")


def _write_configs(s: PbxSettings, log: Log) -> tuple[bool, bool]:
    """Write configs into <root>/etc/asterisk. Returns (anything changed, modules.conf changed)."""
    root = s.root_path
    etc = root / "etc/asterisk"
    _ensure_tls_keys(s, etc / "keys")
    configs = render_configs(s)
    digest = hashlib.sha256("".join(f"{k}\0{v}\0" for k, v in sorted(configs.items())).encode()).hexdigest()
    mod_digest = hashlib.sha256(configs["modules.conf"].encode()).hexdigest()
    hash_file = etc / _HASH_FILE
    old = hash_file.read_text().split() if hash_file.exists() else []
    for name, text in configs.items():
        (etc / name).write_text(text)
        os.chmod(etc / name, 0o640)
    _chroot(s, "chown", "root:asterisk", *[f"/etc/asterisk/{n}" for n in configs])
    hash_file.write_text(f"{digest} {mod_digest}\n")
    # No nameservers inside: Asterisk's PJSIP (and baresip) would otherwise open DNS client sockets
    # bound to 0.0.0.0/[::]. The sandbox only ever uses IP addresses.
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or not resolv.exists() or "nameserver" in resolv.read_text():
        resolv.unlink(missing_ok=True)
        resolv.write_text("# cc-console sandbox: no DNS, everything is on 127.0.0.1\n")
    shim_changed = _ensure_shim(s, log)
    # runtime directories
    _chroot(s, "install", "-d", "-o", "asterisk", "-g", "asterisk", "/run/asterisk",
            "/var/spool/asterisk/recording", "/var/lib/asterisk/moh-cc-tone")
    tone = root / "var/lib/asterisk/moh-cc-tone/cc-tone.wav"
    if not tone.exists():
        write_tone_wav(tone, MOH_TONE_FREQ, 30)
    changed = old[:1] != [digest]
    mods_changed = old[1:2] != [mod_digest] or shim_changed
    if changed:
        log(f"wrote Asterisk configs into {etc}")
    return changed, mods_changed


# --------------------------------------------------------------------------------------------
# Asterisk process


def asterisk_pid(s: PbxSettings) -> int | None:
    """The pid of the Asterisk daemon running in this chroot, if any."""
    root = s.root_path
    pidfile = root / "run/asterisk/asterisk.pid"
    try:
        pid = int(pidfile.read_text().strip())
        if _alive(pid) and _proc_root(pid) == os.path.realpath(root):
            return pid
    except (OSError, ValueError):
        pass
    for pid in _chroot_pids(root, "asterisk"):
        args = _proc_cmdline(pid)
        if _alive(pid) and not any(a.startswith("-r") or a.startswith("-R") or a == "-x" for a in args[1:]):
            return pid
    return None


def asterisk_cli(s: PbxSettings, cmd: str, timeout: float = 20.0) -> str:
    """Run one Asterisk CLI command in the chroot (asterisk -rx) and return its output."""
    p = _chroot(s, "asterisk", "-rx", cmd, check=False, timeout=timeout)
    if p.returncode != 0:
        raise SandboxError(f"asterisk -rx {cmd!r} failed ({p.returncode}): {(p.stdout + p.stderr).strip()}")
    return p.stdout


def _start_asterisk(s: PbxSettings, log: Log) -> None:
    log("starting Asterisk")
    # Asterisk forks into the background itself (no -f); runuser/rungroup in asterisk.conf drop root.
    subprocess.run(
        ["chroot", str(s.root_path), "/usr/sbin/asterisk", "-U", "asterisk", "-G", "asterisk"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/var/lib/asterisk",
             "LD_PRELOAD": SHIM},
        check=True,
        timeout=60,
    )
    deadline = time.monotonic() + 20
    while asterisk_pid(s) is None:
        if time.monotonic() > deadline:
            raise SandboxError(f"Asterisk did not start; tail of its log:\n{_asterisk_log_tail(s)}")
        time.sleep(0.1)


def _stop_asterisk(s: PbxSettings, log: Log) -> None:
    pid = asterisk_pid(s)
    if pid is None:
        return
    log(f"stopping Asterisk (pid {pid})")
    try:
        _chroot(s, "asterisk", "-rx", "core stop now", check=False, timeout=15)
    except subprocess.TimeoutExpired:
        pass
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    leftovers = list(_chroot_pids(s.root_path, "asterisk"))
    if _alive(pid):
        log("Asterisk did not stop; killing it")
        leftovers.append(pid)
    _kill_pids(sorted(set(leftovers)))
    try:
        (s.root_path / "run/asterisk/asterisk.pid").unlink()
    except OSError:
        pass


def _asterisk_log_tail(s: PbxSettings, lines: int = 40) -> str:
    return _tail(s.root_path / "var/log/asterisk/messages.log", lines)


def ari_info(s: PbxSettings, timeout: float = 2.0) -> dict | None:
    """GET /asterisk/info, or None if ARI does not answer."""
    try:
        r = httpx.get(f"{s.ari_url}/asterisk/info", auth=(s.ari_user, s.ari_password), timeout=timeout)
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    return r.json()


def wait_for_ari(s: PbxSettings, timeout: float = ARI_TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        info = ari_info(s)
        if info is not None:
            return info
        if time.monotonic() > deadline:
            running = "running" if asterisk_pid(s) else "NOT running"
            raise SandboxError(
                f"ARI at {s.ari_url} did not answer within {timeout:.0f}s (Asterisk is {running}); "
                f"tail of {s.root_path}/var/log/asterisk/messages.log:\n{_asterisk_log_tail(s)}"
            )
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------
# public API


def up(s: PbxSettings, log: Log = print) -> None:
    """Build (once), mount, configure and start the sandbox; return when ARI answers. Idempotent."""
    root = s.root_path
    if not _is_built(root):
        _build(s, log)
    _mount_all(root, log)
    changed, mods_changed = _write_configs(s, log)
    if asterisk_pid(s) is None:
        _start_asterisk(s, log)
    elif mods_changed:
        log("modules.conf or the loopback shim changed: restarting Asterisk")
        _stop_asterisk(s, log)
        _start_asterisk(s, log)
    elif changed:
        log("configs changed: core reload")
        asterisk_cli(s, "core reload")
    info = wait_for_ari(s)
    log(f"Asterisk {info.get('system', {}).get('version', '?')} up; ARI at {s.ari_url}")


def down(s: PbxSettings, log: Log = print) -> None:
    """Stop Asterisk and the phones, unmount. Idempotent."""
    root = s.root_path
    if not root.exists():
        return
    _stop_asterisk(s, log)
    phones = _chroot_pids(root, "baresip")
    if phones:
        log(f"stopping {len(phones)} baresip phone(s)")
        _kill_pids(phones)
    _kill_chroot_processes(root, log)
    _unmount_all(root, log)


def restart_asterisk(s: PbxSettings, log: Log = print) -> None:
    """Stop and start Asterisk (configs re-written), then wait for ARI."""
    _mount_all(s.root_path, log)
    _stop_asterisk(s, log)
    _write_configs(s, log)
    _start_asterisk(s, log)
    wait_for_ari(s)


def status(s: PbxSettings) -> dict:
    root = s.root_path
    built = _is_built(root)
    mounts = _mounts_under(root) if root.exists() else []
    pid = asterisk_pid(s) if built else None
    info = ari_info(s) if pid else None
    return {
        "root": str(root),
        "built": built,
        "mounted": bool(mounts),
        "mounts": mounts,
        "asterisk_pid": pid,
        "running": pid is not None,
        "ari_url": s.ari_url,
        "ari_reachable": info is not None,
        "version": (info or {}).get("system", {}).get("version"),
        "phones": len(_chroot_pids(root, "baresip")) if root.exists() else 0,
    }
