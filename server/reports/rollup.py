"""The aggregates' rows summed by SQLite from the per-call rows, as figures.add_raw sums them in Python.

The first build of a year's read model folds millions of segments and spans; summing them into the
per-slot and per-day rows in Python (a QueueAcc per slot, a dict per histogram) was most of its time.
Each statement here is one INSERT ... SELECT ... GROUP BY over the rows the refresh has just written,
in the refresh's own transaction, and gives exactly the Python figures: the same whole-microsecond
rounding (`us`), the same histogram classes (`ans_class`, `aband_class`), the same floor of a time
into its slot or day. tests/test_reports_rollup.py checks every row against the Python reference.
"""
from __future__ import annotations

from .figures import AGENT_TIMES, HIST_MAX, RAW_COUNTS

_END = '"end"'  # a keyword: quoted


def us(x: str) -> str:
    """figures.us: seconds -> whole microseconds, int(x * 1e6 + 0.5) (CAST truncates as int() does)."""
    return f"CAST(({x}) * 1e6 + 0.5 AS INTEGER)"


def ceil(x: str) -> str:
    return f"(CAST(({x}) AS INTEGER) + (({x}) > CAST(({x}) AS INTEGER)))"


def floor(x: str) -> str:
    return f"(CAST(({x}) AS INTEGER) - (({x}) < CAST(({x}) AS INTEGER)))"


def floor_div(x: str, n: int) -> str:
    """int(x // n) for a time x in seconds: x / n is rounded to the nearest double, so its integer part may
    be one above the exact floor (x just under a multiple of n); the product, exact, tells."""
    q = f"CAST({x} / {n}.0 AS INTEGER)"
    return f"({q} - ({q} * {n} > {x}))"


def ans_class(w: str) -> str:
    return f"CASE WHEN {w} <= 0 THEN 0 WHEN {w} <= {HIST_MAX} THEN {ceil(w)} ELSE {HIST_MAX + 1} END"


def aband_class(w: str) -> str:
    return f"CASE WHEN {w} < 0 THEN -1 WHEN {w} < {HIST_MAX} THEN {floor(w)} ELSE {HIST_MAX} END"


# Each call's closed wrap-up by agent, in microseconds (each span rounded on its own), is summed once into
# `wraps` as its spans are written (spans never change): a segment then finds its agent's wrap-up by key
# instead of searching the spans for each call, in every aggregate and report that needs it.
WRAPS_ADD = (f"INSERT INTO wraps SELECT call_id, agent, SUM({us(_END + ' - start')}) FROM spans "
             "WHERE rowid > ? AND state = 'wrap_up' AND call_id IS NOT NULL AND call_id != '' "
             "GROUP BY call_id, agent ON CONFLICT (call_id, agent) DO UPDATE SET us = us + excluded.us")
# the wrap-up of segment s's agent on s's call (NULL: none closed)
WRAP = "(SELECT w.us FROM wraps w WHERE w.call_id = s.call_id AND w.agent = s.agent)"

# -- queues: per slot (by the time offered), queue and category ---------------------------------------
_REST = "s.outcome NOT IN ('outbound', 'closed')"  # offered (received and in hours)
_ANS = "s.outcome = 'answered'"
_AB = "s.outcome = 'abandoned'"
_OV = "s.outcome = 'overflow'"
_COUNT = {
    "received": "s.outcome != 'outbound'",
    "closed": "s.outcome = 'closed'",
    "offered": _REST,
    "overflow_in": f"{_REST} AND s.entry = 'overflow'",
    "transferred_in": f"{_REST} AND s.entry = 'transfer'",
    "queued": f"{_REST} AND s.queued_ts IS NOT NULL",
    "answered": _ANS,
    "transferred_out": f"{_ANS} AND s.transferred_out",
    "abandoned": _AB,
    **{f"abandoned_{st}": f"{_AB} AND s.stage = '{st}'"
       for st in ("announcement", "queue", "ringing", "before_ivr", "ivr")},
    "overflowed": _OV,
    **{f"overflowed_{w}": f"{_OV} AND s.overflow_when = '{w}'" for w in ("no_agents", "max_length", "max_wait")},
    "ended_other": "s.outcome = 'ended'",
    "in_progress": "s.outcome NOT IN ('outbound', 'closed', 'answered', 'abandoned', 'overflow', 'callback', "
                   "'voicemail', 'ended')",
    "callbacks_requested": f"{_REST} AND s.callback",
    "callbacks_completed": f"{_REST} AND s.callback AND s.callback_done",
    "voicemails": "s.outcome != 'outbound' AND s.voicemail",
    "outbound": "s.outcome = 'outbound'",
}


def _count(col: str) -> str:
    if col == "missed":
        return f"SUM(CASE WHEN {_REST} THEN s.missed ELSE 0 END)"
    return f"SUM(CASE WHEN {_COUNT[col]} THEN 1 ELSE 0 END)"


SLOT_OF = floor_div("s.offered_ts", 900)
# the columns of qagg after (lvl, t, queue, category): figures.add_raw's sums, in cache.QAGG_SUMS's order
_LONGEST = (f"MAX(0.0, COALESCE(MAX(CASE WHEN {_ANS} THEN s.wait "
            f"WHEN {_AB} AND s.stage IN ('queue', 'ringing') THEN s.wait "
            f"WHEN {_OV} AND s.queued_ts IS NOT NULL THEN s.wait END), 0.0))")
QAGG_SELECT = (
    f"SELECT 0, {SLOT_OF} AS t, s.queue, s.category, "
    + ", ".join(_count(c) for c in RAW_COUNTS) + ", "
    f"SUM(CASE WHEN s.outcome != 'outbound' AND s.seg = 0 THEN 1 ELSE 0 END), "
    f"SUM(CASE WHEN {_ANS} THEN {us('s.wait')} ELSE 0 END), "
    f"SUM(CASE WHEN {_AB} THEN {us('s.wait')} ELSE 0 END), "
    f"SUM(CASE WHEN {_ANS} THEN {us('s.talk')} ELSE 0 END), "
    f"SUM(CASE WHEN {_ANS} THEN {us('s.hold')} ELSE 0 END), "
    f"SUM(CASE WHEN {_ANS} THEN COALESCE({WRAP}, 0) ELSE 0 END), "
    f"SUM(CASE WHEN {_ANS} THEN {ceil('s.talk / 60.0')} ELSE 0 END), "
    f"{_LONGEST} "
    "FROM segs s WHERE s.offered_ts >= ? AND s.offered_ts < ? GROUP BY t, s.queue, s.category")

# wait histograms (kind 0 answered waits, 1 abandon waits, 2 rings), per second class
_OFFERED_IN = "FROM segs s WHERE s.offered_ts >= ? AND s.offered_ts < ?"
QHIST_SELECT = (
    f"SELECT t, queue, category, kind, sec, COUNT(*) FROM ("
    f"SELECT {SLOT_OF} AS t, s.queue, s.category, 0 AS kind, {ans_class('s.wait')} AS sec {_OFFERED_IN} AND {_ANS} "
    f"UNION ALL SELECT {SLOT_OF}, s.queue, s.category, 1, {aband_class('s.wait')} {_OFFERED_IN} AND {_AB} "
    f"UNION ALL SELECT {SLOT_OF}, s.queue, s.category, 2, {ans_class('s.ring')} {_OFFERED_IN} AND {_ANS}"
    ") GROUP BY t, queue, category, kind, sec")

# -- agents: per UTC day, by where a call was answered, rang out, or a state was held ------------------
DAY_OF_ANSWER = floor_div("s.answered_ts", 86400)
_ANSWERED_IN = (f"FROM segs s WHERE s.answered_ts >= ? AND s.answered_ts < ? AND {_ANS} "
                "AND s.agent IS NOT NULL AND s.agent != ''")
ACALLS_SELECT = (
    f"SELECT 1, {DAY_OF_ANSWER} AS t, s.agent, s.queue, COUNT(*), "
    f"SUM({us('s.talk')} + {us('s.hold')} + COALESCE({WRAP}, 0)), SUM({us('s.hold')}), "
    f"SUM(CASE WHEN s.transferred_out THEN 1 ELSE 0 END) {_ANSWERED_IN} GROUP BY t, s.agent, s.queue")
AHIST_SELECT = (
    f"SELECT t, agent, queue, kind, sec, COUNT(*) FROM ("
    f"SELECT {DAY_OF_ANSWER} AS t, s.agent, s.queue, 0 AS kind, {ans_class('s.wait')} AS sec {_ANSWERED_IN} "
    f"UNION ALL SELECT {DAY_OF_ANSWER}, s.agent, s.queue, 2, {ans_class('s.ring')} {_ANSWERED_IN}"
    ") GROUP BY t, agent, queue, kind, sec")
AMISS_SELECT = (
    f"SELECT 1, {floor_div('m.ts', 86400)} AS t, m.agent, m.queue, COUNT(*), "
    "SUM(CASE WHEN m.why = 'declined' THEN 1 ELSE 0 END) FROM misses m "
    "WHERE m.ts >= ? AND m.ts < ? AND m.agent IS NOT NULL AND m.agent != '' GROUP BY t, m.agent, m.queue")

# Agent time: each closed span (but logged_out) cut at UTC midnights, in whole microseconds, summed into
# the columns figures.span_times names for its state. The spans are the ones with rowid > ? (this refresh's).
DAY_US = 86_400_000_000
_STATE_COL = {"ready": "ready", "ringing": "ringing", "talk": "on_call", "wrapup": "wrap_up", "paused": "paused"}


def _time_col(col: str) -> str:
    if col == "logged_in":
        return "SUM(d)"
    if col == "pause_work":
        return "SUM(CASE WHEN state = 'paused' AND kind = 'work' THEN d ELSE 0 END)"
    if col == "pause_private":  # any other kind, none included
        return "SUM(CASE WHEN state = 'paused' THEN CASE WHEN kind = 'work' THEN 0 ELSE d END ELSE 0 END)"
    return f"SUM(CASE WHEN state = '{_STATE_COL[col]}' THEN d ELSE 0 END)"


_DAY_A = f"(a / {DAY_US} - (a % {DAY_US} < 0))"  # floor: a may be before 1970
_DAY_B = f"((b - 1) / {DAY_US} - ((b - 1) % {DAY_US} < 0))"
# A span within one day (nearly all) is one part; only the others go through the recursive cut.
ATIME_SELECT = (
    "WITH RECURSIVE sp(agent, state, kind, a, b) AS ("
    f"SELECT agent, state, kind, {us('start')}, {us(_END)} FROM spans "
    "WHERE rowid > ? AND state != 'logged_out' AND \"end\" IS NOT NULL), "
    f"cut(agent, state, kind, a, b, day) AS (SELECT agent, state, kind, a, b, {_DAY_A} FROM sp "
    f"WHERE b > a AND {_DAY_A} < {_DAY_B} "
    f"UNION ALL SELECT agent, state, kind, a, b, day + 1 FROM cut WHERE (day + 1) * {DAY_US} < b), "
    f"part(agent, state, kind, day, d) AS (SELECT agent, state, kind, {_DAY_A}, b - a FROM sp "
    f"WHERE b > a AND {_DAY_A} = {_DAY_B} UNION ALL SELECT agent, state, kind, day, "
    f"MIN(b, (day + 1) * {DAY_US}) - MAX(a, day * {DAY_US}) FROM cut) "
    "SELECT day, agent, " + ", ".join(_time_col(c) for c in AGENT_TIMES) + " FROM part GROUP BY day, agent")
