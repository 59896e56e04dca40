"""The agent's SMS conversations: one line per open conversation, the picked one's messages with
each sent SMS's delivery state, and a reply box. Hidden while the agent has no conversation and no
draft, so a voice-only floor loses no room.

``S`` on the agent screen picks the next conversation (accepting it when it is offered to me);
``M`` starts an SMS to the customer on the contact card (the linked record's phone, else the
caller's number): the box then writes to that number, and the conversation it opens is mine. Ctrl+S
sends the box; a first line ``/close [category]`` or ``/transfer <agent>`` / ``/transfer
queue:<name>`` acts on the conversation instead; ``/template <name>`` puts a template first.

Ids a test can read: #sms-list, #sms-log (Static), #sms-reply (TextArea); the panel's ``convs``
(id -> conversation with ``messages``), ``order``, ``current`` and ``draft_to``.
"""
from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static, TextArea

from cc_console.protocol import ProtocolError

from .fmt import duration

HINT = "Ctrl+S sends · first line /template name, /close [category] or /transfer who"
_STATE = {"offered": "new, press S", "active": "", "queued": "waiting"}
_STATUS = {"accepted": "sent", "submitted": "at the operator", "buffered": "waiting at the operator",
           "delivered": "delivered", "failed": "NOT delivered", "not sent": "NOT sent", "sending": "sending"}


class SmsPanel(Vertical):
    BINDINGS = [
        Binding("ctrl+s", "send", "Send", id="sms.send", show=False,
                tooltip="Send the SMS box (or its /close or /transfer line)"),
        Binding("escape", "leave", "Leave the SMS box", id="sms.leave", show=False,
                tooltip="Back to the console's keys"),
    ]
    DEFAULT_CSS = """
    SmsPanel { width: 1fr; height: 100%; border: round $accent; display: none; }
    SmsPanel #sms-list { height: auto; max-height: 4; }
    SmsPanel #sms-scroll { height: 1fr; border-top: solid $panel; }
    SmsPanel #sms-log { height: auto; }
    SmsPanel #sms-reply { height: 4; }
    SmsPanel #sms-hint { height: 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.convs: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.current: str | None = None
        self.draft_to: str = ""  # a new SMS to this number (from the contact card)
        self.border_title = "SMS"

    def compose(self) -> ComposeResult:
        yield Static("", id="sms-list")
        with VerticalScroll(id="sms-scroll") as scroll:  # kept at its end: the newest SMS in view
            scroll.can_focus = False  # a focused scroll would take the console's keys (esc, arrows)
            yield Static("", id="sms-log")
        box = TextArea(id="sms-reply", soft_wrap=True, show_line_numbers=False)
        box.can_focus = False
        yield box
        yield Static(HINT, id="sms-hint", markup=False)

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
        self._run("sms.list", {}, self._loaded, quiet=True)

    def _loaded(self, result: dict[str, Any]) -> None:
        me = self._me()
        self.convs = {c["id"]: c for c in result.get("conversations", []) if c.get("agent") == me}
        self.order = [i for i in self.order if i in self.convs] + [i for i in self.convs if i not in self.order]
        self.show()

    def sms_event(self, kind: str, data: dict[str, Any]) -> None:
        """A pushed sms.* event (the screen hands them over)."""
        cid = data.get("id", "")
        if kind == "sms.offer":
            self.convs[cid] = dict(data)
            if cid not in self.order:
                self.order.append(cid)
            self.app.bell()
        elif kind == "sms.update":
            if data.get("state") in ("closed", "queued") or data.get("agent") != self._me():
                self._drop(cid)
            elif cid in self.convs:
                self.convs[cid].update({k: v for k, v in data.items() if k != "messages"})
            else:  # a conversation I opened from the contact card, or one handed to me
                self.convs[cid] = {**data, "messages": []}
                self.order.append(cid)
        elif kind == "sms.message" and cid in self.convs:
            msgs = self.convs[cid].setdefault("messages", [])
            if all(m["id"] != data["message"]["id"] for m in msgs):
                msgs.append(data["message"])
        elif kind == "sms.status" and cid in self.convs:
            for m in self.convs[cid].get("messages", []):
                if m["id"] == data.get("message"):
                    m["status"] = data.get("status", m.get("status"))
        elif kind == "snapshot":
            self.reload()
            return
        else:
            return
        self.show()

    def _drop(self, cid: str) -> None:
        self.convs.pop(cid, None)
        if cid in self.order:
            self.order.remove(cid)
        if self.current == cid:
            self.current = None

    # -- keys --------------------------------------------------------------------------------------
    def pick_next(self) -> None:
        if not self.order:
            self.app.notify("No SMS for you now.", timeout=3)
            return
        self.draft_to = ""
        offered = [c for c in self.order if self.convs[c].get("state") == "offered"]
        if offered:
            cid = offered[0]
        elif self.current in self.order:
            cid = self.order[(self.order.index(self.current) + 1) % len(self.order)]
        else:
            cid = self.order[0]
        self.current = cid
        if self.convs[cid].get("state") == "offered":
            self._run("sms.accept", {"id": cid}, lambda r: self._update(cid, r.get("sms", {})))
        self.show()
        self.query_one("#sms-reply", TextArea).focus()

    def write_to(self, number: str) -> None:
        """Start an SMS to ``number`` (the contact card's): its open conversation of mine, if any."""
        mine = next((c for c in self.order if self.convs[c].get("number") == number), None)
        self.current, self.draft_to = (mine, "") if mine else (None, number)
        self.show()
        self.query_one("#sms-reply", TextArea).focus()

    def action_leave(self) -> None:
        self.screen.set_focus(None)

    def action_send(self) -> None:
        box = self.query_one("#sms-reply", TextArea)
        text = box.text.strip()
        cid = self.current
        if not text:
            return
        first, _, rest = text.partition("\n")
        if cid is None or cid not in self.convs:
            if not self.draft_to:
                self.app.notify("Pick a conversation with S, or write to the customer with M.", severity="warning",
                                timeout=3)
                return
            args: dict[str, Any] = {"number": self.draft_to, "text": text}
            if first.startswith("/template"):
                args = {"number": self.draft_to, "template": first[9:].strip(), "text": rest.strip()}
            self._run("sms.send", args, lambda r: self._opened(r, box))
            return
        if first.startswith("/close"):
            self._run("sms.close", {"id": cid, "category": first[6:].strip()}, lambda r: self._gone(cid, "SMS closed."))
            box.text = ""
            return
        if first.startswith("/transfer") and first[9:].strip():
            to = first[9:].strip()
            self._run("sms.transfer", {"id": cid, "queue": to[6:]} if to.startswith("queue:") else
                      {"id": cid, "agent": to}, lambda r: self._gone(cid, "SMS transferred."))
            box.text = ""
            return
        args = {"id": cid, "text": text}
        if first.startswith("/template"):
            args = {"id": cid, "template": first[9:].strip(), "text": rest.strip()}
        elif first.startswith("/"):
            self.app.notify(HINT, title="SMS", severity="warning", timeout=6)
            return
        self._run("sms.send", args, lambda r: self._sent(cid, r, box))

    def _opened(self, result: dict[str, Any], box: TextArea) -> None:
        conv = result.get("sms") or {}
        cid = conv.get("id", "")
        if cid:
            self.convs.setdefault(cid, {**conv, "messages": []})
            if cid not in self.order:
                self.order.append(cid)
            self.current, self.draft_to = cid, ""
        self._sent(cid, result, box)

    def _sent(self, cid: str, result: dict[str, Any], box: TextArea) -> None:
        box.text = ""  # only once the server took it: a refused SMS stays in the box to try again
        m = result.get("message")
        if m and cid in self.convs:
            self.sms_event("sms.message", {"id": cid, "message": m})
        parts = (m or {}).get("parts", 1)
        self.app.notify("SMS sent." if parts == 1 else f"SMS sent ({parts} parts).", timeout=3)
        self.show()

    def _update(self, cid: str, data: dict[str, Any]) -> None:
        if cid in self.convs:
            self.convs[cid].update(data)
        self.show()

    def _gone(self, cid: str, note: str) -> None:
        self._drop(cid)
        self.app.notify(note, timeout=3)
        self.show()

    def _run(self, cmd: str, args: dict[str, Any], then: Any, *, quiet: bool = False) -> None:
        async def go() -> None:
            try:
                result = await self.client.call(cmd, args)
            except ProtocolError as exc:
                if not quiet:  # the server's messages are written for the agent
                    self.app.notify(exc.message, title="SMS: not done", severity="error", timeout=6)
                return
            except (TimeoutError, ConnectionError, OSError):
                if not quiet:
                    self.app.notify("Not connected to the server; reconnecting.", title="SMS: not done",
                                    severity="error", timeout=6)
                return
            then(result or {})
        self.run_worker(go(), group="sms", name=f"sms:{cmd}", exit_on_error=False)

    # -- drawing -----------------------------------------------------------------------------------
    def show(self) -> None:
        if not self.is_mounted:
            return
        self.display = bool(self.order) or bool(self.draft_to)
        self.query_one("#sms-reply", TextArea).can_focus = self.display
        clock = getattr(self.screen, "now", None)
        now = clock() if callable(clock) else time.time()
        lines = Text()
        for cid in self.order:
            c = self.convs[cid]
            since = c.get("accepted") or c.get("enqueued") or c.get("created") or now
            state = _STATE.get(c.get("state", ""), c.get("state", ""))
            mark = "▶ " if cid == self.current else "  "
            style = "bold reverse" if c.get("state") == "offered" else ("bold" if cid == self.current else "")
            lines.append(f"{mark}{c.get('number', '')} · {duration(now - since)}" + (f" · {state}" if state else "")
                         + "\n", style=style)
        if self.draft_to:
            lines.append(f"▶ new SMS to {self.draft_to}\n", style="bold")
        self.query_one("#sms-list", Static).update(lines)
        log = Text()
        conv = self.convs.get(self.current or "")
        for i, m in enumerate((conv or {}).get("messages", [])[-50:]):
            if i:
                log.append("\n")
            # Text, not markup: a customer's brackets stay text
            if m["direction"] == "in":
                log.append("← ", style="bold")
                log.append(m.get("text", ""), style="bold")
            else:
                status = _STATUS.get(m.get("status", ""), m.get("status", ""))
                parts = f", {m['parts']} parts" if m.get("parts", 1) > 1 else ""
                log.append("→ " + m.get("text", ""))
                log.append(f"  ({m.get('author', '')}: {status}{parts})",
                           style="bold red" if m.get("status") in ("failed", "not sent") else "dim")
        self.query_one("#sms-log", Static).update(log)
        self.query_one("#sms-scroll", VerticalScroll).scroll_end(animate=False)
        self.border_subtitle = f"{len(self.order)} open"
