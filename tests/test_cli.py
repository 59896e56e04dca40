"""The command line: help for every subcommand, user administration, keyring behaviour."""
from __future__ import annotations

import keyring
import pytest
from keyring.backends import fail
from typer.testing import CliRunner

from cc_console import credentials
from cc_console.cli import app
from cc_console.server.auth import Auth, verify_password
from cc_console.server.store import SQLiteStore

runner = CliRunner()


@pytest.mark.parametrize("args", [[], ["server"], ["agent"], ["supervisor"], ["wallboard"], ["pbx"], ["pbx", "up"],
                                  ["pbx", "down"], ["pbx", "status"], ["admin"], ["admin", "user"],
                                  ["admin", "user", "add"], ["admin", "user", "list"], ["admin", "user", "passwd"],
                                  ["admin", "user", "totp"], ["admin", "api-client"],
                                  ["admin", "api-client", "add"], ["admin", "api-client", "list"],
                                  ["admin", "api-client", "revoke"], ["demo"]])
def test_every_command_has_help(args):
    r = runner.invoke(app, [*args, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output and len(r.output) > 200


def test_admin_user_add_list_passwd_totp(tmp_path):
    db = tmp_path / "u.sqlite3"
    r = runner.invoke(app, ["admin", "user", "add", "ann", "--role", "agent", "--device", "PJSIP/1001",
                            "-q", "support", "--password-stdin", "--db", str(db)], input="first-password\n")
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["admin", "user", "add", "ann", "--role", "agent", "--password-stdin", "--db", str(db)],
                      input="first-password\n")
    assert r.exit_code == 1 and "already exists" in r.output
    r = runner.invoke(app, ["admin", "user", "add", "bob", "--role", "pilot", "--password-stdin", "--db", str(db)],
                      input="first-password\n")
    assert r.exit_code != 0
    r = runner.invoke(app, ["admin", "user", "list", "--db", str(db)])
    assert "ann" in r.output and "PJSIP/1001" in r.output and "totp=off" in r.output
    assert "first-password" not in r.output and "argon2" not in r.output
    r = runner.invoke(app, ["admin", "user", "passwd", "ann", "--password-stdin", "--db", str(db)],
                      input="second-password\n")
    assert r.exit_code == 0
    r = runner.invoke(app, ["admin", "user", "totp", "ann", "--db", str(db)])
    assert r.exit_code == 0 and "otpauth://totp/" in r.output
    store = SQLiteStore(db)
    user = store.get_user("ann")
    assert verify_password(user["password_hash"], "second-password") and user["totp_secret"]
    assert Auth(store).store.get_user("ann")["queues"] == ["support"]
    r = runner.invoke(app, ["admin", "user", "totp", "ghost", "--db", str(db)])
    assert r.exit_code == 1 and "no user" in r.output


def test_no_secret_service_is_said_and_nothing_stored(monkeypatch):
    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    called = []
    monkeypatch.setattr(keyring, "set_password", lambda *a: called.append(a))
    st = credentials.remember("ws://x/ws", "ann", "pw-123456")
    assert not st.usable and "plain text" in st.message and "SSH" in st.message
    assert called == []
    assert credentials.recall("ws://x/ws", "ann") is None


def test_plaintext_keyring_refused(monkeypatch):
    class PlaintextKeyring:  # what keyrings.alt would give
        priority = 0.5
    monkeypatch.setattr(keyring, "get_keyring", lambda: PlaintextKeyring())
    assert not credentials.keyring_status().usable


def test_secure_keyring_used(monkeypatch):
    store: dict = {}

    class SecretService:
        priority = 5
    monkeypatch.setattr(keyring, "get_keyring", lambda: SecretService())
    monkeypatch.setattr(keyring, "set_password", lambda s, k, p: store.__setitem__((s, k), p))
    monkeypatch.setattr(keyring, "get_password", lambda s, k: store.get((s, k)))
    assert credentials.remember("ws://x/ws", "ann", "pw-123456").usable
    assert credentials.recall("ws://x/ws", "ann") == "pw-123456"


def test_no_locals_in_tracebacks_anywhere():
    """Locals can hold passwords and tokens: every Typer app hides them from tracebacks."""
    import typer

    from cc_console import cli as main_cli
    from cc_console import cli_directory, cli_recordings, cli_reports
    apps = [v for m in (main_cli, cli_directory, cli_recordings, cli_reports) for v in vars(m).values()
            if isinstance(v, typer.Typer)]
    assert len(apps) >= 7
    assert all(a.pretty_exceptions_show_locals is False for a in apps)
