"""The verdict table: how a case ended, how its outputs compared and how its timing came out
decide its verdict and which message it carries. Pure: no sandbox, no files, no clocks.

Rows are tried in order and the first that matches wins; `None` in a row matches anything.
A new rule is one `Ending` member (sandbox/protocol.py), one row here and one test row
(tests/core/test_verdict_table.py); its text, if new, goes into core/verdicts.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from core.report import CaseTiming
from core.verdicts import MessageKey, Verdict
from sandbox.protocol import Ending


class Compared(str, Enum):
    """What comparing the outputs with the reference's gave."""

    NOT_COMPARED = "not_compared"  # the case ended before there were outputs to compare
    PASSED = "passed"
    FAILED = "failed"  # a value, shape, dtype, device, NaN, gradient or mutation check failed
    UNREADABLE = "unreadable"  # the outputs came back but could not be read


class Timed(str, Enum):
    """How the case's timing came out."""

    UNTIMED = "untimed"  # the case is not timed
    MISSING = "missing"  # timed, but no timing came back
    WITHIN_BUDGET = "within_budget"
    OVER_BUDGET = "over_budget"


@dataclass(frozen=True)
class Row:
    """One rule: where ending, compared and timed match (None: any), the verdict and key."""

    ending: Ending | None
    compared: Compared | None
    timed: Timed | None
    verdict: Verdict
    key: MessageKey


V, K, E, C, T = Verdict, MessageKey, Ending, Compared, Timed

TABLE: tuple[Row, ...] = (
    # The child's own result.
    Row(E.WRONG, None, None, V.WRONG_ANSWER, K.DETAIL),
    Row(E.ERROR, None, None, V.RUNTIME_ERROR, K.DETAIL),
    Row(E.OOM, None, None, V.MEMORY_LIMIT_EXCEEDED, K.DETAIL),
    Row(E.COMPILE_ERROR, None, None, V.COMPILE_ERROR, K.DETAIL),
    Row(E.RULE_VIOLATION, None, None, V.RULE_VIOLATION, K.DETAIL),
    # The supervisor's view of the case.
    Row(E.CASE_TIMEOUT, None, None, V.TIME_LIMIT_EXCEEDED, K.CASE_TIME_LIMIT),
    Row(E.OUTPUT_FLOOD, None, None, V.OUTPUT_LIMIT_EXCEEDED, K.PRINTED_TOO_MUCH),
    Row(E.CPU_LIMIT, None, None, V.TIME_LIMIT_EXCEEDED, K.CPU_TIME),
    Row(E.SIGNALED, None, None, V.RUNTIME_ERROR, K.KILLED_BY_SIGNAL),
    Row(E.EXITED, None, None, V.RUNTIME_ERROR, K.EXITED_EARLY),
    Row(E.PROTOCOL_ERROR, None, None, V.RUNTIME_ERROR, K.DETAIL),
    # The backend's view of the run.
    Row(E.MEMORY_KILLED, None, None, V.MEMORY_LIMIT_EXCEEDED, K.MEMORY_KILLED),
    Row(E.RUN_WALL, None, None, V.TIME_LIMIT_EXCEEDED, K.RUN_WALL),
    Row(E.RUN_OUTPUT, None, None, V.OUTPUT_LIMIT_EXCEEDED, K.RUN_OUTPUT),
    Row(E.RUN_OOM, None, None, V.MEMORY_LIMIT_EXCEEDED, K.RUN_OOM),
    Row(E.RUN_LOST, None, None, V.RUNTIME_ERROR, K.RUN_LOST),
    # Outputs came back: the comparison, then the timing.
    Row(E.OK, C.UNREADABLE, None, V.WRONG_ANSWER, K.OUTPUTS_UNREADABLE),
    Row(E.OK, C.NOT_COMPARED, None, V.RUNTIME_ERROR, K.NO_OUTPUTS),
    Row(E.OK, C.FAILED, None, V.WRONG_ANSWER, K.DETAIL),
    Row(E.OK, C.PASSED, T.UNTIMED, V.ACCEPTED, K.GENERIC),
    Row(E.OK, C.PASSED, T.MISSING, V.RUNTIME_ERROR, K.TIMING_MISSING),
    Row(E.OK, C.PASSED, T.OVER_BUDGET, V.TIME_LIMIT_EXCEEDED, K.OVER_BUDGET),
    Row(E.OK, C.PASSED, T.WITHIN_BUDGET, V.ACCEPTED, K.GENERIC),
)


def decide(ending: Ending, compared: Compared, timed: Timed) -> tuple[Verdict, MessageKey]:
    """The verdict and message key of the first row that matches."""
    for row in TABLE:
        if ((row.ending is None or row.ending is ending)
                and (row.compared is None or row.compared is compared)
                and (row.timed is None or row.timed is timed)):
            return row.verdict, row.key
    # Unreachable while the table covers every ending (its test checks): the judge's fault.
    return Verdict.SYSTEM_ERROR, MessageKey.GENERIC


def classify_timing(is_timed: bool, timing: CaseTiming | None) -> Timed:
    """Where a case's timing falls: untimed, missing, or within or over its budget."""
    if not is_timed:
        return Timed.UNTIMED
    if timing is None:
        return Timed.MISSING
    return Timed.OVER_BUDGET if timing.ratio > timing.budget_ratio else Timed.WITHIN_BUDGET
