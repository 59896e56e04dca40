"""The login form: server URL, user, password (masked), TOTP code; Enter submits.

The screen only collects input and shows results; the app does the network work (a worker) and
calls ``show_error`` / ``set_busy``. Ids: #url, #username, #password, #totp, #remember (only
when the app has a remember callback), #login-button, #login-error (``.error_code`` holds the
server's error code, e.g. "auth_failed", "totp_required", "rate_limited", "connection").
"""
from __future__ import annotations

from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Checkbox, Input, Label, Static

from cc_console.widgets.footer import ConsoleFooter

HINTS = {
    "auth_failed": "Check the user name, password and code, then try again.",
    "totp_required": "This account needs a one-time code: enter the current code from your authenticator app.",
    "totp_replayed": "That code was already used: wait for the next one.",
    "rate_limited": "Too many attempts: wait a while before trying again.",
    "connection": "Cannot reach the server: check the URL and that the server is running.",
    "forbidden": "This account may not use this console.",
}

TITLES = {
    "auth_failed": "Login refused",
    "totp_required": "One-time code required",
    "totp_replayed": "Code already used",
    "rate_limited": "Rate limited",
    "connection": "No connection",
    "forbidden": "Not allowed",
}


class RememberCheckbox(Checkbox, inherit_bindings=False):
    """Space toggles; Enter is left to the screen, so Enter submits from anywhere in the form."""

    BINDINGS = [Binding("space", "toggle_button", "Toggle", show=False)]


class LoginScreen(Screen):
    BINDINGS = [
        Binding("enter", "submit", "Log in", id="login.submit"),
        Binding("escape", "clear_error", "Clear", show=False, id="login.clear"),
    ]

    @dataclass
    class Submitted(Message):
        """The user asked to log in."""

        url: str
        username: str
        password: str
        totp: str
        remember: bool

    error: reactive[str] = reactive("", init=False)
    error_code: reactive[str] = reactive("", init=False)
    busy: reactive[bool] = reactive(False, init=False)

    def __init__(self, *, url: str = "", username: str = "", can_remember: bool = False,
                 error: str = "", error_code: str = "") -> None:
        super().__init__(id="login")
        self._url = url
        self._username = username
        self._can_remember = can_remember
        self._initial_error = (error, error_code)
        self._error_plain = ""

    def compose(self) -> ComposeResult:
        with Vertical(id="login-box"):
            yield Label("cc-console: sign in", id="login-title")
            with Grid(id="login-form"):
                yield Label("Server")
                yield Input(self._url, placeholder="ws://host:8765", id="url")
                yield Label("User")
                yield Input(self._username, placeholder="user name", id="username")
                yield Label("Password")
                yield Input(placeholder="password", password=True, id="password")
                yield Label("Code")
                yield Input(placeholder="6-digit code (if enabled)", id="totp", restrict=r"[0-9 ]*", max_length=10)
            with Horizontal(id="login-actions"):
                if self._can_remember:
                    yield RememberCheckbox("Remember password", id="remember")
                yield Button("Log in", id="login-button", variant="primary")
            yield Static("", id="login-error")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.watch_busy(self.busy)
        error, code = self._initial_error
        if error or code:
            self.show_error(error, code)
        target = "#username" if not self._username else "#password"
        if not self.query_one("#url", Input).value:
            target = "#url"
        self.query_one(target, Input).focus()

    # -- submit --------------------------------------------------------------------------------
    @on(Input.Submitted)
    @on(Button.Pressed, "#login-button")
    def submit(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        if self.busy:
            return
        url = self.query_one("#url", Input).value.strip()
        username = self.query_one("#username", Input).value.strip()
        password = self.query_one("#password", Input).value
        totp = self.query_one("#totp", Input).value.replace(" ", "")
        missing = [name for name, value in (("server URL", url), ("user", username), ("password", password))
                   if not value]
        if missing:
            self.show_error(f"Enter the {' and '.join(missing)}.", "missing")
            self.query_one("#url" if not url else "#username" if not username else "#password", Input).focus()
            return
        remember = False
        if self._can_remember:
            remember = self.query_one("#remember", Checkbox).value
        self.clear_error()
        self.post_message(self.Submitted(url, username, password, totp, remember))

    # -- feedback from the app -------------------------------------------------------------------
    def set_busy(self, busy: bool) -> None:
        self.busy = busy

    def watch_busy(self, busy: bool) -> None:
        if not self.is_mounted:
            return
        button = self.query_one("#login-button", Button)
        button.disabled = busy
        button.label = "Connecting…" if busy else "Log in"

    def show_error(self, message: str, code: str = "") -> None:
        self.busy = False
        self.error_code = code
        self.error = message or HINTS.get(code, "Login failed.")

    def clear_error(self) -> None:
        self.error = ""
        self.error_code = ""

    def action_clear_error(self) -> None:
        self.clear_error()

    def watch_error(self, error: str) -> None:
        if not self.is_mounted:
            return
        widget = self.query_one("#login-error", Static)
        widget.set_class(bool(error), "-error")
        if not error:
            self._error_plain = ""
            widget.update("")
            return
        code = self.error_code
        title = TITLES.get(code, "Error")
        hint = HINTS.get(code, "")
        text = f"[b]{title}[/b]: {_escape(error)}"
        if hint and hint.rstrip(".") not in error:
            text += f"\n{hint}"
        widget.update(text)
        self._error_plain = f"{title}: {error}" + (f"\n{hint}" if hint and hint.rstrip(".") not in error else "")
        if code in ("totp_required", "totp_replayed"):
            self.query_one("#totp", Input).focus()
        elif code == "auth_failed":
            self.query_one("#password", Input).focus()

    @property
    def error_text(self) -> str:
        """The error as shown (plain text)."""
        return self._error_plain


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
