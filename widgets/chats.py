"""The agent's chats: one line per open chat (keys 1-9 pick one), the picked chat's messages, and
a reply line. Hidden while the agent has no chat, so a voice-only floor loses no room.

Picking a chat that is offered to me accepts it. In the reply line, Enter sends; a line starting
with a slash acts on the chat instead (the hint under the line lists them):

  /close [category] [notes]   /transfer <agent>   /transfer queue:<name>   /invite <user>
  /call <number>              /callback <number>

Ids a test can read: #chat-list (Static), #chat-log (Static), #chat-input (Input); the panel's
``chats`` (id -> conversation with ``messages``), ``order`` (ids by key) and ``current``.
"""
from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from cc_console.protocol import ProtocolError

from .fmt import duration

HINT = "Enter sends · /close [category] [notes] · /transfer agent|queue:name · /invite user · /call · /callback"
_STATE = {"offered": "new, press its key", "active": "", "queued": "waiting", "gone": "gone"}


class ChatsPanel(Vertical):
    BINDINGS = [Binding("escape", "leave", "Leave the reply line", id="chats.leave", show=False,
                        tooltip="Back to the console's keys (number keys pick a chat again)")]
    DEFAULT_CSS = """
    ChatsPanel { width: 1fr; height: 100%; border: round $accent; display: none; }
    ChatsPanel #chat-list { height: auto; max-height: 9; }
    ChatsPanel #chat-log { height: 1fr; overflow-y: auto; border-top: solid $panel; }
    ChatsPanel #chat-hint { height: 1; color: $text-muted; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.chats: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.current: str | None = None
        self.typing: dict[str, float] = {}
        self.border_title = "Chats"

    def compose(self) -> ComposeResult:
        yield Static("", id="chat-list")
        yield Static("", id="chat-log")
        reply = Input(placeholder="Pick a chat with its number key", id="chat-input")
        reply.can_focus = False  # not before there is a chat: it would take the console's keys
        yield reply
        yield Static(HINT, id="chat-hint", markup=False)

    def on_mount(self) -> None:
        self.reload()

    # -- the server's side -------------------------------------------------------------------------
    @property
    def client(self) -> Any:
        return self.screen.client  # type: ignore[attr-defined]

    def reload(self) -> None:
        """Fetch my open chats (on mount and after a reconnect's snapshot)."""
        if not getattr(self.screen, "lookups", False):
            return
        self._run("chat.list", {}, self._loaded, quiet=True)

    def _loaded(self, result: dict[str, Any]) -> None:
        self.chats = {c["id"]: c for c in result.get("chats", [])}
        self.order = [cid for cid in self.order if cid in self.chats] + \
            [cid for cid in self.chats if cid not in self.order]
        self.show()

    def chat_event(self, kind: str, data: dict[str, Any]) -> None:
        """A pushed chat.* event (the screen hands them over)."""
        cid = data.get("id", "")
        if kind in ("chat.offer", "chat.invite"):
            self.chats[cid] = dict(data)
            if cid not in self.order:
                self.order.append(cid)
            if kind == "chat.offer":
                self.app.bell()
        elif kind == "chat.update" and cid in self.chats:
            me = self._me()
            mine = data.get("agent") == me or me in data.get("invited", [])
            if data.get("state") in ("closed", "gone") or not mine:
                self._drop(cid)
            else:
                self.chats[cid].update({k: v for k, v in data.items() if k != "messages"})
        elif kind == "chat.message" and cid in self.chats:
            msgs = self.chats[cid].setdefault("messages", [])
            m = data["message"]
            if not msgs or msgs[-1]["n"] < m["n"]:
                msgs.append(m)
            if m["sender"] == "visitor":
                self.typing.pop(cid, None)
        elif kind == "chat.typing" and cid in self.chats:
            if data.get("on"):
                self.typing[cid] = time.time()
            else:
                self.typing.pop(cid, None)
        elif kind == "snapshot":
            self.reload()
            return
        else:
            return
        self.show()

    def _me(self) -> str:
        return str(self.screen.state.me.get("user") or "")  # type: ignore[attr-defined]

    def _drop(self, cid: str) -> None:
        self.chats.pop(cid, None)
        self.typing.pop(cid, None)
        if cid in self.order:
            self.order.remove(cid)
        if self.current == cid:
            self.current = None

    # -- keys --------------------------------------------------------------------------------------
    def pick(self, n: int) -> None:
        """Key n: show chat n (accepting it if it is offered to me) and put the cursor in the reply line."""
        if not 1 <= n <= len(self.order):
            self.app.notify(f"No chat number {n}.", severity="warning", timeout=3)
            return
        cid = self.order[n - 1]
        self.current = cid
        chat = self.chats[cid]
        if chat.get("state") == "offered" and chat.get("agent") == self._me():
            self._run("chat.accept", {"id": cid}, lambda r: self._accepted(cid, r))
        self.show()
        self.query_one("#chat-input", Input).focus()

    def action_leave(self) -> None:
        self.screen.set_focus(None)

    def _accepted(self, cid: str, result: dict[str, Any]) -> None:
        if cid in self.chats:
            self.chats[cid].update(result.get("chat", {}))
        self.show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        event.input.value = ""
        cid = self.current
        if not text:
            return
        if cid is None or cid not in self.chats:
            self.app.notify("Pick a chat with its number key first.", severity="warning", timeout=3)
            return
        if not text.startswith("/"):
            self._run("chat.send", {"id": cid, "text": text}, lambda r: None)
            return
        word, _, rest = text[1:].partition(" ")
        rest = rest.strip()
        if word == "close":
            category, _, notes = rest.partition(" ")
            self._run("chat.close", {"id": cid, "category": category, "notes": notes.strip()},
                      lambda r: self._gone(cid, "Chat closed."))
        elif word == "transfer" and rest:
            args = {"id": cid, "queue": rest[6:]} if rest.startswith("queue:") else {"id": cid, "agent": rest}
            self._run("chat.transfer", args, lambda r: self._gone(cid, "Chat transferred."))
        elif word == "invite" and rest:
            self._run("chat.invite", {"id": cid, "user": rest}, lambda r: self.app.notify("Invited.", timeout=3))
        elif word in ("call", "callback") and rest:
            self._run("chat.escalate", {"id": cid, "mode": word, "number": rest},
                      lambda r: self.app.notify("Calling the visitor." if word == "call" else "Callback booked.",
                                                timeout=3))
        else:
            self.app.notify(HINT, title="Chat", severity="warning", timeout=6)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        cid = self.current
        if cid and cid in self.chats and self.chats[cid].get("state") == "active" and event.value \
                and not event.value.startswith("/"):
            last = self.chats[cid].get("_typing_sent", 0.0)
            if time.time() - last > 3:  # a few a minute, not one per key
                self.chats[cid]["_typing_sent"] = time.time()
                self._run("chat.typing", {"id": cid, "on": True}, lambda r: None, quiet=True)

    def _gone(self, cid: str, note: str) -> None:
        self._drop(cid)
        self.app.notify(note, timeout=3)
        self.show()

    def _run(self, cmd: str, args: dict[str, Any], then: Any, *, quiet: bool = False) -> None:
        async def go() -> None:
            try:
                result = await self.client.call(cmd, args)
            except ProtocolError as exc:
                if not quiet:  # the server's chat messages are written for the agent
                    self.app.notify(exc.message, title="Chat: not done", severity="error", timeout=6)
                return
            except (TimeoutError, ConnectionError, OSError):
                if not quiet:
                    self.app.notify("Not connected to the server; reconnecting.", title="Chat: not done",
                                    severity="error", timeout=6)
                return
            then(result or {})
        self.run_worker(go(), group="chats", name=f"chat:{cmd}", exit_on_error=False)

    # -- drawing -----------------------------------------------------------------------------------
    def show(self) -> None:
        if not self.is_mounted:
            return
        self.display = bool(self.order)
        reply = self.query_one("#chat-input", Input)
        reply.can_focus = bool(self.order)
        shown = self.chats.get(self.current or "")
        reply.placeholder = f"Write to {shown.get('name', '')}" if shown else "Pick a chat with its number key"
        clock = getattr(self.screen, "now", None)
        now = clock() if callable(clock) else time.time()  # the screen's clock (frozen in snapshots)
        lines = Text()
        for i, cid in enumerate(self.order, 1):
            c = self.chats[cid]
            since = c.get("accepted") or c.get("enqueued") or c.get("created") or now
            state = _STATE.get(c.get("state", ""), c.get("state", ""))
            mark = "▶ " if cid == self.current else "  "
            style = "bold reverse" if c.get("state") == "offered" else ("bold" if cid == self.current else "")
            lines.append(f"{mark}{i} {c.get('name', '')} · {duration(now - since)}"
                         + (f" · {state}" if state else "")
                         + (" · typing…" if time.time() - self.typing.get(cid, 0) < 6 else "") + "\n", style=style)
        self.query_one("#chat-list", Static).update(lines)
        log = Text()
        chat = self.chats.get(self.current or "")
        if chat:
            for m in chat.get("messages", [])[-200:]:
                if m["sender"] == "system":
                    log.append(m["text"] + "\n", style="italic dim")
                else:
                    who = m.get("author") or m["sender"]
                    log.append(f"{who}: ", style="bold")
                    log.append(m["text"] + "\n")
        self.query_one("#chat-log", Static).update(log)
        self.border_subtitle = f"{len(self.order)} open"
