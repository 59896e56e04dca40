"""The agent's e-mail threads: one line per open thread, the picked thread's messages (HTML mail
arrives as text; attachments named with their download address) and a reply box. Hidden while the
agent has no e-mail, so a voice-only floor loses no room.

``E`` on the agent screen picks the next thread (accepting it when it is offered to me) and puts
the cursor in the reply box. Ctrl+O opens the box's text in the agent's own editor ($VISUAL or
$EDITOR; widgets/editor.py) and brings it back. Ctrl+S sends the box; its first line may act on the
thread instead:

  /template <name>   the rest of the box follows the template   /close [category]
  /transfer <agent>   /transfer queue:<name>

Ids a test can read: #email-list, #email-log (Static), #email-reply (TextArea); the panel's
``emails`` (id -> thread with ``messages``), ``order`` and ``current``.
"""
from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Static, TextArea

from cc_console.protocol import ProtocolError

from .editor import edit_text
from .fmt import duration

HINT = "Ctrl+S sends · Ctrl+O your editor · first line /template name, /close [category] or /transfer who"
_STATE = {"offered": "new, press E", "active": "", "queued": "waiting"}


class EmailsPanel(Vertical):
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", id="emails.send", show=False,
                tooltip="Send the reply box (or its /template or /close line)"),
        Binding("ctrl+o", "editor", "Editor", id="emails.editor", show=False,
                tooltip="Write the reply in your own editor ($VISUAL or $EDITOR)"),
        Binding("escape", "leave", "Leave the reply box", id="emails.leave", show=False,
                tooltip="Back to the console's keys"),
    ]
    DEFAULT_CSS = """
    EmailsPanel { width: 1fr; height: 100%; border: round $accent; display: none; }
    EmailsPanel #email-list { height: auto; max-height: 6; }
    EmailsPanel #email-log { height: 1fr; overflow-y: auto; border-top: solid $panel; }
    EmailsPanel #email-reply { height: 5; }
    EmailsPanel #email-hint { height: 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.emails: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.current: str | None = None
        self.border_title = "E-mail"

    def compose(self) -> ComposeResult:
        yield Static("", id="email-list")
        yield Static("", id="email-log")
        box = TextArea(id="email-reply", soft_wrap=True, show_line_numbers=False)
        box.can_focus = False  # not before there is a thread: it would take the console's keys
        yield box
        yield Static(HINT, id="email-hint", markup=False)

    def on_mount(self) -> None:
        self.reload()

    @property
    def client(self) -> Any:
        return self.screen.client  # type: ignore[attr-defined]

    def _me(self) -> str:
        return str(self.screen.state.me.get("user") or "")  # type: ignore[attr-defined]

    def reload(self) -> None:
        if not getattr(self.screen, "lookups", False):
            return
        self._run("email.list", {}, self._loaded, quiet=True)

    def _loaded(self, result: dict[str, Any]) -> None:
        me = self._me()  # a supervisor's email.list has every thread: the panel keeps their own
        self.emails = {t["id"]: t for t in result.get("emails", []) if t.get("agent") == me}
        self.order = [i for i in self.order if i in self.emails] + [i for i in self.emails if i not in self.order]
        self.show()

    def email_event(self, kind: str, data: dict[str, Any]) -> None:
        """A pushed email.* event (the screen hands them over)."""
        tid = data.get("id", "")
        if kind == "email.offer":
            self.emails[tid] = dict(data)
            if tid not in self.order:
                self.order.append(tid)
            self.app.bell()
        elif kind == "email.update" and tid in self.emails:
            if data.get("state") in ("closed", "queued") or data.get("agent") != self._me():
                self._drop(tid)
            else:
                self.emails[tid].update({k: v for k, v in data.items() if k != "messages"})
        elif kind == "email.message" and tid in self.emails:
            msgs = self.emails[tid].setdefault("messages", [])
            if not msgs or msgs[-1]["n"] < data["message"]["n"]:
                msgs.append(data["message"])
        elif kind == "snapshot":
            self.reload()
            return
        else:
            return
        self.show()

    def _drop(self, tid: str) -> None:
        self.emails.pop(tid, None)
        if tid in self.order:
            self.order.remove(tid)
        if self.current == tid:
            self.current = None

    # -- keys --------------------------------------------------------------------------------------
    def pick_next(self) -> None:
        if not self.order:
            self.app.notify("No e-mail for you now.", timeout=3)
            return
        offered = [t for t in self.order if self.emails[t].get("state") == "offered"]
        if offered:
            tid = offered[0]
        elif self.current in self.order:
            tid = self.order[(self.order.index(self.current) + 1) % len(self.order)]
        else:
            tid = self.order[0]
        self.current = tid
        if self.emails[tid].get("state") == "offered":
            self._run("email.accept", {"id": tid}, lambda r: self._update(tid, r.get("email", {})))
        self.show()
        self.query_one("#email-reply", TextArea).focus()

    def action_leave(self) -> None:
        self.screen.set_focus(None)

    async def action_editor(self) -> None:
        if self.current is None or self.current not in self.emails:
            self.app.notify("Pick an e-mail with E first.", severity="warning", timeout=3)
            return
        box = self.query_one("#email-reply", TextArea)
        text = await edit_text(self.app, box.text)
        if text is not None:
            box.text = text.rstrip("\n")
            box.focus()
            self.app.notify("Ctrl+S sends it.", timeout=3)

    def action_send(self) -> None:
        box = self.query_one("#email-reply", TextArea)
        text = box.text.strip()
        tid = self.current
        if not text:
            return
        if tid is None or tid not in self.emails:
            self.app.notify("Pick an e-mail with E first.", severity="warning", timeout=3)
            return
        first, _, rest = text.partition("\n")
        args: dict[str, Any] = {"id": tid, "text": text}
        if first.startswith("/close"):
            self._run("email.close", {"id": tid, "category": first[6:].strip()},
                      lambda r: self._gone(tid, "E-mail closed."))
            box.text = ""
            return
        if first.startswith("/transfer") and first[9:].strip():
            to = first[9:].strip()
            self._run("email.transfer", {"id": tid, "queue": to[6:]} if to.startswith("queue:") else
                      {"id": tid, "agent": to}, lambda r: self._gone(tid, "E-mail transferred."))
            box.text = ""
            return
        if first.startswith("/template"):
            args = {"id": tid, "template": first[9:].strip(), "text": rest.strip()}
        elif first.startswith("/"):
            self.app.notify(HINT, title="E-mail", severity="warning", timeout=6)
            return
        self._run("email.reply", args, lambda r: self._sent(tid, r, box))

    def _sent(self, tid: str, result: dict[str, Any], box: TextArea) -> None:
        box.text = ""  # only once the server took it: a refused reply stays in the box to try again
        m = result.get("message")
        if m and tid in self.emails:
            self.email_event("email.message", {"id": tid, "message": m})
        self.app.notify("Answer sent.", timeout=3)

    def _update(self, tid: str, data: dict[str, Any]) -> None:
        if tid in self.emails:
            self.emails[tid].update(data)
        self.show()

    def _gone(self, tid: str, note: str) -> None:
        self._drop(tid)
        self.app.notify(note, timeout=3)
        self.show()

    def _run(self, cmd: str, args: dict[str, Any], then: Any, *, quiet: bool = False) -> None:
        async def go() -> None:
            try:
                result = await self.client.call(cmd, args)
            except ProtocolError as exc:
                if not quiet:  # the server's messages are written for the agent
                    self.app.notify(exc.message, title="E-mail: not done", severity="error", timeout=6)
                return
            except (TimeoutError, ConnectionError, OSError):
                if not quiet:
                    self.app.notify("Not connected to the server; reconnecting.", title="E-mail: not done",
                                    severity="error", timeout=6)
                return
            then(result or {})
        self.run_worker(go(), group="emails", name=f"email:{cmd}", exit_on_error=False)

    # -- drawing -----------------------------------------------------------------------------------
    def show(self) -> None:
        if not self.is_mounted:
            return
        self.display = bool(self.order)
        self.query_one("#email-reply", TextArea).can_focus = bool(self.order)
        clock = getattr(self.screen, "now", None)
        now = clock() if callable(clock) else time.time()
        lines = Text()
        for tid in self.order:
            t = self.emails[tid]
            since = t.get("accepted") or t.get("enqueued") or t.get("created") or now
            state = _STATE.get(t.get("state", ""), t.get("state", ""))
            mark = "▶ " if tid == self.current else "  "
            style = "bold reverse" if t.get("state") == "offered" else ("bold" if tid == self.current else "")
            lines.append(f"{mark}{t.get('name', '')} · {t.get('subject', '')} · {duration(now - since)}"
                         + (f" · {state}" if state else "") + "\n", style=style)
        self.query_one("#email-list", Static).update(lines)
        log = Text()
        thread = self.emails.get(self.current or "")
        for m in (thread or {}).get("messages", [])[-50:]:
            who = {"in": thread.get("name", "") if thread else "", "ack": "acknowledgement"}.get(
                m["direction"], m.get("author", ""))
            log.append(f"{who} · {m.get('subject', '')}\n", style="bold" if m["direction"] == "in" else "dim")
            log.append(m.get("text", "") + "\n")  # Text, not markup: a customer's brackets stay text
            for a in m.get("attachments", []):
                log.append(f"Attachment: {a['filename']} ({a['size']} bytes) {a['url']}\n", style="italic")
            log.append("\n")
        self.query_one("#email-log", Static).update(log)
        self.border_subtitle = f"{len(self.order)} open"
