"""What the consoles tell a person when the server refuses a command: a sentence for an agent or a
supervisor ("No call to hang up"), never a command name or an error code (those go to the log).

One table from (command, error code) to a sentence; where one code covers several situations the
server's message picks the sentence. What the table does not know gets a sentence per code.
UI-free: every screen and the CLI may use it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

# The action a key or a button started, as the person would name it (the notification's title).
ACTIONS: dict[str, str] = {
    "call.answer": "Answer", "call.hangup": "Hang up", "call.hold": "Hold", "call.mute": "Mute",
    "call.dtmf": "Send digits", "call.transfer": "Transfer", "call.consult": "Consult",
    "call.consult_complete": "Complete the transfer", "call.consult_cancel": "Cancel the consultation",
    "call.consult_swap": "Swap", "call.conference": "Conference", "call.dial": "Call",
    "agent.ready": "Ready", "agent.pause": "Pause", "agent.pause_cancel": "Cancel the pause",
    "agent.login": "Log in to queues", "agent.logout": "Log out of queues",
    "agent.set_state": "Change the agent's state", "agent.set_queues": "Change the agent's queues",
    "monitor.start": "Monitor", "monitor.stop": "End monitoring", "queue.problem": "Problem message",
    "report.run": "Report", "contacts.call": "Caller's records", "contacts.link": "Customer record",
    "contacts.save": "Customer record", "notes.add": "Note", "call.category": "Category",
    "contacts.history": "Caller's history", "callbacks.worklist": "Callbacks", "callback.claim": "Claim",
    "callback.release": "Give back", "callback.dial": "Call back", "callback.reschedule": "Reschedule",
    "callback.done": "Done", "agent.figures": "My figures", "transfer.targets": "Transfer panel",
    "recording.optout": "Recording", "directory.search": "Directory", "admin.reload": "Reload",
    "transfer.share": "Send the caller's details",
    "campaign.list": "Campaigns", "campaign.report": "Campaign figures", "campaign.start": "Start the campaign",
    "campaign.pause": "Pause the campaign", "script.get": "Call script", "script.answer": "Script answer",
    "campaign.reschedule": "Reschedule",
}

Sentence = str | Callable[[str], str]


def _consult(message: str) -> str:
    if "already" in message:
        return "A consultation is already going on: complete or cancel it first."
    if "not free" in message:
        who = message.split(" ", 1)[0]
        return f"{who} is not free to take a consultation right now."
    return "No connected call to consult from."


def _swap(message: str) -> str:
    if "answered" in message or "ringing" in message:
        return "The other party has not answered yet: wait, or cancel the consultation."
    return "No consultation to swap to."


def _complete(message: str) -> str:
    if "not answered" in message:
        return "The other party has not answered yet: wait, or cancel the consultation."
    return "No consultation to complete."


def _transfer(message: str) -> str:
    if "logged out" in message:
        return f"{message.split(' ', 1)[0]} is logged out: choose someone else."
    return "No connected call to transfer."


def _pause(message: str) -> str:
    if "unknown pause reason" in message:
        return "That pause reason is not on the list; pick one from it."
    return "You cannot pause right now."


def _login(message: str) -> str:
    if "no device" in message:
        return "You have no phone set up; ask a supervisor."
    if "no queue" in message:
        return "You are not a member of any queue; ask a supervisor."
    return "You cannot log in to your queues right now."


def _as_said(message: str) -> str:
    """The server's own words, where they are written for a supervisor ("agent3 is not on a call")."""
    if not message:
        return "Not possible right now."
    return message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")


def _share_missing(message: str) -> str:
    if "no person" in message:
        return "That person is not in the directory."
    return "That call has already ended."


_NOT_MINE = "That call is not yours."
_CALL_OVER = "That call has already ended."

SENTENCES: dict[tuple[str, str], Sentence] = {
    ("call.answer", "conflict"): "No call is ringing for you.",
    ("call.answer", "not_found"): "That call is no longer ringing for you.",
    ("call.hangup", "conflict"): "No call to hang up.",
    ("call.hangup", "not_found"): "No call to hang up: it has already ended.",
    ("call.hangup", "forbidden"): _NOT_MINE,
    ("call.hold", "conflict"): "No connected call to hold.",
    ("call.mute", "conflict"): "No connected call to mute.",
    ("call.dtmf", "conflict"): "No connected call to send digits on.",
    ("call.dtmf", "bad_request"): "Digits are 0-9, *, # and A-D, at most 40.",
    ("call.transfer", "conflict"): _transfer,
    ("call.transfer", "not_found"): "No such queue or agent to transfer to.",
    ("call.transfer", "bad_request"): "Transfer to a number, agent:ID or queue:NAME (not to yourself).",
    ("call.consult", "conflict"): _consult,
    ("call.consult", "not_found"): "No such agent to consult.",
    ("call.consult", "bad_request"): "Consult a number or agent:ID (not yourself, not a queue).",
    ("call.consult_complete", "conflict"): _complete,
    ("call.consult_cancel", "conflict"): "No consultation to cancel.",
    ("call.consult_swap", "conflict"): _swap,
    ("call.conference", "conflict"): _complete,
    ("call.dial", "conflict"): "Finish the current call first.",
    ("call.dial", "bad_request"): "Dial a number (digits, optionally with +).",
    ("agent.ready", "conflict"): "You cannot become ready during a call.",
    ("agent.pause", "conflict"): _pause,
    ("agent.pause", "bad_request"): _pause,
    ("agent.pause_cancel", "conflict"): "No pause is pending.",
    ("agent.login", "conflict"): _login,
    ("agent.login", "forbidden"): "You may not log yourself in or out of queues; ask a supervisor.",
    ("agent.logout", "conflict"): "Finish the current call before logging out.",
    ("agent.logout", "forbidden"): "You may not log yourself in or out of queues; ask a supervisor.",
    ("monitor.start", "conflict"): _as_said,
    ("monitor.stop", "conflict"): "You are not monitoring anyone.",
    ("agent.set_state", "conflict"): "Not possible while the agent is on a call.",
    ("callback.claim", "conflict"): "Someone else has this one already, or it is done.",
    ("transfer.share", "conflict"): "This person has no e-mail address in the directory; tell them by phone.",
    ("transfer.share", "unavailable"): "The mail server did not take the message; try again in a moment.",
    ("transfer.share", "forbidden"): _NOT_MINE,
    ("transfer.share", "not_found"): _share_missing,
    # the campaign service words its refusals for a supervisor ("The campaign is already running")
    ("campaign.start", "conflict"): _as_said,
    ("campaign.pause", "conflict"): _as_said,
    ("script.answer", "conflict"): _as_said,
    ("script.get", "not_found"): "This call is not part of a campaign.",
    ("campaign.reschedule", "conflict"): _as_said,
    ("campaign.reschedule", "not_found"): _as_said,
}

BY_CODE: dict[str, str] = {
    "conflict": "Not possible right now.",
    "not_found": "It is no longer there: it may have ended or been removed.",
    "forbidden": "You are not allowed to do that.",
    "unauthenticated": "You are no longer logged in; log in again.",
    "unavailable": "The phone system cannot be reached right now; try again in a moment.",
    "rate_limited": "Too many attempts; wait a little and try again.",
    "internal": "Something went wrong on the server (it has been logged); try again.",
    "connection": "Not connected to the server; reconnecting.",
}


def action_name(cmd: str) -> str:
    return ACTIONS.get(cmd, cmd.rsplit(".", 1)[-1].replace("_", " ").capitalize())


def sentence(cmd: str, code: str, message: str = "") -> str:
    """The sentence a person reads when `cmd` came back with `code` (and the server's `message`)."""
    log.info("%s refused: %s (%s)", cmd, code, message)
    found = SENTENCES.get((cmd, code))
    if callable(found):
        return found(message)
    if found:
        return found
    if code == "not_found" and cmd.startswith("call."):
        return _CALL_OVER
    if code == "bad_request" and message:
        return _as_said(message)  # what was typed was wrong; the server says what it expects
    return BY_CODE.get(code, "That did not work; try again.")


def refusal(cmd: str, code: str, message: str = "") -> tuple[str, str]:
    """(title, text) for a notification: what the person tried and why it did not happen."""
    return f"{action_name(cmd)}: not done", sentence(cmd, code, message)


__all__ = ["ACTIONS", "SENTENCES", "action_name", "refusal", "sentence"]
