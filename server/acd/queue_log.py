"""Asterisk-compatible queue_log writer (and a small independent reader).

app_queue cannot be driven over ARI, so this server is the ACD; to keep existing queue_log
reporting tools working it writes the lines app_queue would have written.

Where the fields come from
--------------------------
* Asterisk documentation, page "Queue Logs" (Operation > Logging > Queue Logs, source
  ``docs/Operation/Logging/Queue-Logs.md`` in the asterisk/documentation repository): the event
  list and the meaning of each parameter.
* Asterisk source ``main/logger.c``, ``ast_queue_log()``: the file line is
  ``snprintf("%ld|%s|%s|%s|%s|", time(NULL), callid, queuename, agent, event)`` followed by the
  event's own printf format, then ``"\\n"`` and ``fflush``. So:

  - the time is integer epoch seconds;
  - the header is ``time|callid|queuename|agent|event|`` -- the ``|`` after the event is always
    written, so an event without parameters ends in ``|`` (``...|CONFIGRELOAD|``);
  - only the parameters the event has are written: the file is *not* padded to data1..data5.
    Padding to five columns happens only for a realtime (database) ``queue_log`` whose table has
    data1..data5 ("adaptive" realtime, which splits the parameter string on ``|``); a realtime
    table with a single ``data`` column gets the parameter string as is. Realtime rows carry a
    ``%F %T.%6q`` datetime (local time, or GMT with ``queue_log_realtime_use_gmt``), not epoch.
    With realtime configured, the file is written only if ``queue_log_to_file = yes``.
    This module writes the file format only.
  - ``QUEUESTART`` (first use of the queue log) and ``CONFIGRELOAD`` (logger reload) are written
    by logger.c as ``NONE|NONE|NONE|<event>|``.
* Asterisk source ``apps/app_queue.c``, the ``ast_queue_log()`` calls: which of callid / queue /
  agent is ``"NONE"`` for each event, the exact parameter formats, and the units:

  ===================  ===========  =======  ==========  ==============================================
  event                callid       queue    agent       parameters (units)
  ===================  ===========  =======  ==========  ==============================================
  ENTERQUEUE           caller uid   queue    NONE        url|callerid|origposition[|calleridname]
  CONNECT              caller uid   queue    member      holdtime s|member channel uid|ringtime s
  COMPLETECALLER       caller uid   queue    member      holdtime s|calltime s|origposition
  COMPLETEAGENT        caller uid   queue    member      holdtime s|calltime s|origposition
  ABANDON              caller uid   queue    NONE        position|origposition|waittime s
  EXITWITHTIMEOUT      caller uid   queue    NONE        position|origposition|waittime s
  EXITEMPTY            caller uid   queue    NONE        position|origposition|waittime s
  EXITWITHKEY          caller uid   queue    NONE        key|position|origposition|waittime s
  RINGNOANSWER         caller uid   queue    member      ringtime ms
  RINGCANCELED         caller uid   queue    member      ringtime ms (documented without parameters)
  BLINDTRANSFER        caller uid   queue    member      extension|context|holdtime s|calltime s|origpos
  ATTENDEDTRANSFER     caller uid   queue    member      method|method data...|holdtime s|calltime s|origpos
  AGENTDUMP            caller uid   queue    member      (none)
  SYSCOMPAT            caller uid   queue    member      (none)
  ADDMEMBER            see below    queue    member      "" (or "PAUSED" when added paused over AMI)
  REMOVEMEMBER         see below    queue    member      ""
  PAUSE / UNPAUSE      NONE         queue    member      reason ("" if none)
  PAUSEALL/UNPAUSEALL  NONE         NONE     member      reason ("" if none)
  AGENTLOGIN           agent chan   NONE     agent       channel name
  AGENTLOGOFF          agent chan   NONE     agent       channel name|logintime s
  QUEUESTART           NONE         NONE     NONE        (none)
  CONFIGRELOAD         NONE         NONE     NONE        (none)
  ===================  ===========  =======  ==========  ==============================================

  "member" is the queue member's name (membername; it defaults to the interface).
  ADDMEMBER/REMOVEMEMBER's callid is the uniqueid of the channel running
  AddQueueMember/RemoveQueueMember, or the literal ``MANAGER`` (AMI) or ``CLI``.
  AGENTLOGIN/AGENTLOGOFF are written by app_queue for app_agent_pool agents (AgentLogin()),
  once per agent, with queue ``NONE`` -- dynamic queue members log ADDMEMBER/REMOVEMEMBER instead.
  ATTENDEDTRANSFER's method is ``BRIDGE|<bridge uid>``, ``APP|<application>`` or
  ``LINK|<channel 1>|<channel 2>`` -- so a LINK transfer has six parameters.
  RINGNOANSWER is milliseconds (when app_queue computes it from a busy/congestion/hangup it is
  whole seconds times 1000); every other duration is whole seconds.

  How app_queue gets those whole seconds matters to anyone comparing a queue_log with exact
  figures: it subtracts two ``time(NULL)`` readings (``time(NULL) - qe->start``, ``callstart -
  qe->start``, ``time(NULL) - callstart``), it does not truncate an exact duration. Entered at
  .9 and answered 10.2 s later is a holdtime of 11, not 10. ``clock_seconds`` is that rule; the
  engine passes its results. CONNECT's ringtime is the exception: app_queue derives it from the
  milliseconds left on the ring timer, so it is the exact ring time truncated.

  Positions: ``position`` / ``origposition`` count every caller in the queue's list, callers
  being rung included (app_queue removes a caller from the list only when a member answers),
  and a caller is inserted behind every caller of its priority or higher.

Asterisk itself does not escape ``|`` or newlines in the values it logs (its newer
``log_cidname`` option replaces ``|`` with ``_`` in the caller ID name); here every field is
sanitised: ``|`` becomes ``_`` and CR/LF become a space, so every line parses back into the
same fields.
"""
from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

__all__ = [
    "NONE",
    "MANAGER",
    "CLI",
    "QueueLog",
    "QueueLogLine",
    "parse_line",
    "read_queue_log",
    "sanitise",
    "clock_seconds",
]

NONE = "NONE"  # what app_queue writes for "no call" / "no queue" / "no agent"
MANAGER = "MANAGER"  # callid of ADDMEMBER/REMOVEMEMBER done through AMI
CLI = "CLI"  # callid of ADDMEMBER/REMOVEMEMBER done from the Asterisk CLI

_ATTENDED_METHODS = {"BRIDGE": 1, "APP": 1, "LINK": 2}  # method -> number of method-data values


def sanitise(value: object) -> str:
    """A field as text that cannot break a queue_log line: '|' -> '_', CR/LF -> ' '; None -> ''."""
    if value is None:
        return ""
    text = str(value)
    if "|" in text or "\n" in text or "\r" in text:
        text = text.replace("|", "_").replace("\r\n", " ").replace("\r", " ").replace("\n", " ")
    return text


def clock_seconds(start: float, end: float) -> int:
    """Whole seconds from ``start`` to ``end`` as app_queue counts them: the difference of two
    ``time(NULL)`` readings, i.e. ``floor(end) - floor(start)`` (10.9 -> 21.1 is 11 s, 10.0 -> 10.99 is 0 s)."""
    return math.floor(end) - math.floor(start)


def _int(value: int | float) -> int:
    """Durations and positions are C integers in app_queue; a float is truncated like a C cast."""
    return int(value)


class QueueLog:
    """Appends Asterisk-format queue_log lines to ``path`` (or, with ``path=None``, to ``.lines``).

    The file is opened in append mode, line-buffered, and flushed after each line; each line is
    written with a single write call. If an existing file does not end in a newline (a previous
    writer died mid-line), a newline is written first so the new line starts on its own.

    Every event method returns the line it wrote (without the newline).
    """

    def __init__(self, path: Path | str | None) -> None:
        self.path: Path | None = Path(path) if path is not None else None
        self.lines: list[str] = []  # used only when path is None
        self._lock = threading.Lock()
        self._fh: TextIO | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            needs_newline = False
            if self.path.exists() and self.path.stat().st_size > 0:
                with open(self.path, "rb") as f:
                    f.seek(-1, os.SEEK_END)
                    needs_newline = f.read(1) != b"\n"
            self._fh = open(self.path, "a", buffering=1, encoding="utf-8", newline="\n")
            if needs_newline:
                self._fh.write("\n")
                self._fh.flush()

    # -- plumbing -------------------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def __enter__(self) -> QueueLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def format(ts: float, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
        """The line (without newline): ``epoch|callid|queue|agent|EVENT|`` + data joined by '|'."""
        head = [str(int(ts)), sanitise(callid), sanitise(queue), sanitise(agent), sanitise(event)]
        return "|".join(head) + "|" + "|".join(sanitise(d) for d in data)

    def write(self, ts: float, callid: str, queue: str, agent: str, event: str, *data: object) -> str:
        """Write one line. ``ts`` is epoch seconds (float ok, written truncated to an integer)."""
        line = self.format(ts, callid, queue, agent, event, *data)
        with self._lock:
            if self.path is None:
                self.lines.append(line)
            else:
                if self._fh is None:
                    raise ValueError("queue log is closed")
                self._fh.write(line + "\n")
                self._fh.flush()
        return line

    # -- caller events --------------------------------------------------------------------------

    def enterqueue(self, ts: float, callid: str, queue: str, callerid: str, position: int,
                   url: str = "", calleridname: str | None = None) -> str:
        """ENTERQUEUE(url|callerid|origposition[|calleridname]); agent is NONE.

        ``position`` is the caller's (original) position on entry, 1-based. ``calleridname`` is
        written only if given (Asterisk's ``log_cidname = yes``).
        """
        data: list[object] = [url, callerid, _int(position)]
        if calleridname is not None:
            data.append(calleridname)
        return self.write(ts, callid, queue, NONE, "ENTERQUEUE", *data)

    def connect(self, ts: float, callid: str, queue: str, agent: str, holdtime: int,
                bridged_uniqueid: str, ringtime: int) -> str:
        """CONNECT(holdtime|bridgedchanneluniqueid|ringtime): seconds, member channel uid, seconds."""
        return self.write(ts, callid, queue, agent, "CONNECT", _int(holdtime), bridged_uniqueid, _int(ringtime))

    def completecaller(self, ts: float, callid: str, queue: str, agent: str, holdtime: int,
                       calltime: int, origposition: int) -> str:
        """COMPLETECALLER(holdtime|calltime|origposition): the caller hung up; seconds, seconds."""
        return self.write(ts, callid, queue, agent, "COMPLETECALLER",
                          _int(holdtime), _int(calltime), _int(origposition))

    def completeagent(self, ts: float, callid: str, queue: str, agent: str, holdtime: int,
                      calltime: int, origposition: int) -> str:
        """COMPLETEAGENT(holdtime|calltime|origposition): the agent hung up; seconds, seconds."""
        return self.write(ts, callid, queue, agent, "COMPLETEAGENT",
                          _int(holdtime), _int(calltime), _int(origposition))

    def abandon(self, ts: float, callid: str, queue: str, position: int, origposition: int,
                waittime: int, agent: str = NONE) -> str:
        """ABANDON(position|origposition|waittime): waittime in seconds.

        The agent is NONE, except when the caller hangs up after a member answered but before
        the bridge (app_queue then writes the member's name).
        """
        return self.write(ts, callid, queue, agent, "ABANDON", _int(position), _int(origposition), _int(waittime))

    def exitwithtimeout(self, ts: float, callid: str, queue: str, position: int, origposition: int,
                        waittime: int) -> str:
        """EXITWITHTIMEOUT(position|origposition|waittime): waittime in seconds; agent NONE."""
        return self.write(ts, callid, queue, NONE, "EXITWITHTIMEOUT",
                          _int(position), _int(origposition), _int(waittime))

    def exitempty(self, ts: float, callid: str, queue: str, position: int, origposition: int,
                  waittime: int) -> str:
        """EXITEMPTY(position|origposition|waittime): waittime in seconds; agent NONE."""
        return self.write(ts, callid, queue, NONE, "EXITEMPTY", _int(position), _int(origposition), _int(waittime))

    def exitwithkey(self, ts: float, callid: str, queue: str, key: str, position: int, origposition: int,
                    waittime: int) -> str:
        """EXITWITHKEY(key|position|origposition|waittime): the digit(s) pressed; waittime s."""
        return self.write(ts, callid, queue, NONE, "EXITWITHKEY",
                          key, _int(position), _int(origposition), _int(waittime))

    def ringnoanswer(self, ts: float, callid: str, queue: str, agent: str, ringtime_ms: int) -> str:
        """RINGNOANSWER(ringtime): MILLISECONDS the member rang without answering."""
        return self.write(ts, callid, queue, agent, "RINGNOANSWER", _int(ringtime_ms))

    def ringcanceled(self, ts: float, callid: str, queue: str, agent: str, ringtime_ms: int) -> str:
        """RINGCANCELED(ringtime): the caller left while the member rang; MILLISECONDS.

        The docs list RINGCANCELED without parameters; app_queue.c writes the ms rung.
        """
        return self.write(ts, callid, queue, agent, "RINGCANCELED", _int(ringtime_ms))

    def agentdump(self, ts: float, callid: str, queue: str, agent: str) -> str:
        """AGENTDUMP: the member hung up during the announcement, before the bridge."""
        return self.write(ts, callid, queue, agent, "AGENTDUMP", "")

    def syscompat(self, ts: float, callid: str, queue: str, agent: str) -> str:
        """SYSCOMPAT: answered, but dropped because the channels could not be made compatible."""
        return self.write(ts, callid, queue, agent, "SYSCOMPAT", "")

    def blindtransfer(self, ts: float, callid: str, queue: str, agent: str, extension: str, context: str,
                      holdtime: int, calltime: int, origposition: int) -> str:
        """BLINDTRANSFER(extension|context|holdtime|calltime|origposition): seconds, seconds."""
        return self.write(ts, callid, queue, agent, "BLINDTRANSFER", extension, context,
                          _int(holdtime), _int(calltime), _int(origposition))

    def attendedtransfer(self, ts: float, callid: str, queue: str, agent: str, method: str,
                         method_data: str | Sequence[str], holdtime: int, calltime: int,
                         origposition: int) -> str:
        """ATTENDEDTRANSFER(method|method-data|holdtime|calltime|origposition): seconds, seconds.

        method ``BRIDGE`` (data: the bridge uniqueid), ``APP`` (the application) or ``LINK``
        (data: the two channel names -- pass a pair; they become two fields, as in app_queue).
        """
        values = [method_data] if isinstance(method_data, str) else list(method_data)
        want = _ATTENDED_METHODS.get(method)
        if want is None:
            raise ValueError(f"attended transfer method must be one of {sorted(_ATTENDED_METHODS)}, not {method!r}")
        if len(values) != want:
            raise ValueError(f"{method} takes {want} method-data value(s), got {len(values)}")
        return self.write(ts, callid, queue, agent, "ATTENDEDTRANSFER", method, *values,
                          _int(holdtime), _int(calltime), _int(origposition))

    # -- member / agent events ------------------------------------------------------------------

    def addmember(self, ts: float, queue: str, agent: str, callid: str = MANAGER, paused: bool = False) -> str:
        """ADDMEMBER: a dynamic member joined ``queue``; data is ``PAUSED`` if added paused, else ''."""
        return self.write(ts, callid, queue, agent, "ADDMEMBER", "PAUSED" if paused else "")

    def removemember(self, ts: float, queue: str, agent: str, callid: str = MANAGER) -> str:
        """REMOVEMEMBER: a dynamic member left ``queue``; one empty parameter."""
        return self.write(ts, callid, queue, agent, "REMOVEMEMBER", "")

    def agentlogin(self, ts: float, queue: str, agent: str, channel: str, callid: str = NONE) -> str:
        """AGENTLOGIN(channel). Asterisk writes it once per agent with queue ``NONE`` and the
        agent channel's uniqueid as callid; pass ``queue=NONE`` to match it exactly."""
        return self.write(ts, callid, queue, agent, "AGENTLOGIN", channel)

    def agentlogoff(self, ts: float, queue: str, agent: str, channel: str, logintime: int,
                    callid: str = NONE) -> str:
        """AGENTLOGOFF(channel|logintime): logintime in seconds. Queue ``NONE`` in Asterisk."""
        return self.write(ts, callid, queue, agent, "AGENTLOGOFF", channel, _int(logintime))

    def pause(self, ts: float, queue: str, agent: str, reason: str = "") -> str:
        """PAUSE(reason): callid NONE; the reason is '' when none was given."""
        return self.write(ts, NONE, queue, agent, "PAUSE", reason)

    def unpause(self, ts: float, queue: str, agent: str, reason: str = "") -> str:
        """UNPAUSE(reason): callid NONE."""
        return self.write(ts, NONE, queue, agent, "UNPAUSE", reason)

    def pauseall(self, ts: float, agent: str, reason: str = "") -> str:
        """PAUSEALL(reason): queue and callid NONE. app_queue writes it before the per-queue PAUSEs
        when a member is paused without naming a queue."""
        return self.write(ts, NONE, NONE, agent, "PAUSEALL", reason)

    def unpauseall(self, ts: float, agent: str, reason: str = "") -> str:
        """UNPAUSEALL(reason): queue and callid NONE; followed by per-queue UNPAUSEs."""
        return self.write(ts, NONE, NONE, agent, "UNPAUSEALL", reason)

    # -- system events --------------------------------------------------------------------------

    def configreload(self, ts: float) -> str:
        """CONFIGRELOAD: ``NONE|NONE|NONE|CONFIGRELOAD|``."""
        return self.write(ts, NONE, NONE, NONE, "CONFIGRELOAD", "")

    def queuestart(self, ts: float) -> str:
        """QUEUESTART: ``NONE|NONE|NONE|QUEUESTART|`` -- the queue log's first use this session."""
        return self.write(ts, NONE, NONE, NONE, "QUEUESTART", "")


# -- reader ---------------------------------------------------------------------------------------


@dataclass
class QueueLogLine:
    """One parsed queue_log line. ``data`` has trailing empty fields removed, so the short file
    form (``...|CONFIGRELOAD|``) and a five-column padded export (``...|CONFIGRELOAD||||||``)
    read the same; inner empty fields (ENTERQUEUE's empty url) are kept."""

    time: int
    callid: str
    queue: str
    agent: str
    event: str
    data: list[str] = field(default_factory=list)

    def datum(self, n: int) -> str:
        """data<n>, 1-based as in the realtime table (data1..data5); '' when absent."""
        if n < 1:
            raise IndexError("data fields are numbered from 1")
        return self.data[n - 1] if n <= len(self.data) else ""


def parse_line(line: str) -> QueueLogLine:
    """Parse one queue_log line (short or padded form). Raises ValueError if it is not one."""
    text = line.rstrip("\r\n")
    parts = text.split("|")
    if len(parts) < 5:
        raise ValueError(f"not a queue_log line (fewer than 5 fields): {line!r}")
    stamp = parts[0].strip()
    try:
        when = int(stamp)
    except ValueError:
        try:
            when = int(float(stamp))
        except ValueError:
            raise ValueError(f"not a queue_log line (bad epoch {stamp!r}): {line!r}") from None
    data = parts[5:]
    while data and data[-1] == "":
        data.pop()
    return QueueLogLine(when, parts[1], parts[2], parts[3], parts[4], data)


def read_queue_log(path: Path | str, strict: bool = True) -> list[QueueLogLine]:
    """All lines of a queue_log file. Blank lines are skipped; a malformed line raises
    ValueError (with its line number), or is skipped with ``strict=False``."""
    out: list[QueueLogLine] = []
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        for number, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                out.append(parse_line(raw))
            except ValueError as e:
                if strict:
                    raise ValueError(f"{path}:{number}: {e}") from None
    return out
