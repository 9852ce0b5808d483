"""The verdict table, row by row, with no sandbox: (ending, comparison, timing) -> (verdict,
message key), and the registry's text for every key."""

from __future__ import annotations

import itertools

import pytest

from core.grading.verdict_table import TABLE, Compared, Timed, classify_timing, decide
from core.report import CaseTiming
from core.verdicts import MESSAGES, TEXTS, MessageKey, Verdict, case_message
from sandbox.protocol import Ending

V, K, E, C, T = Verdict, MessageKey, Ending, Compared, Timed
NC, UT = C.NOT_COMPARED, T.UNTIMED

# (how the case ended, how the outputs compared, how the timing came out) -> (verdict, key)
CASES: list[tuple[Ending, Compared, Timed, Verdict, MessageKey]] = [
    (E.WRONG, NC, UT, V.WRONG_ANSWER, K.DETAIL),
    (E.ERROR, NC, UT, V.RUNTIME_ERROR, K.DETAIL),
    (E.OOM, NC, UT, V.MEMORY_LIMIT_EXCEEDED, K.DETAIL),
    (E.COMPILE_ERROR, NC, UT, V.COMPILE_ERROR, K.DETAIL),
    (E.RULE_VIOLATION, NC, T.MISSING, V.RULE_VIOLATION, K.DETAIL),
    (E.CASE_TIMEOUT, NC, T.MISSING, V.TIME_LIMIT_EXCEEDED, K.CASE_TIME_LIMIT),
    (E.OUTPUT_FLOOD, NC, UT, V.OUTPUT_LIMIT_EXCEEDED, K.PRINTED_TOO_MUCH),
    (E.CPU_LIMIT, NC, UT, V.TIME_LIMIT_EXCEEDED, K.CPU_TIME),
    (E.SIGNALED, NC, UT, V.RUNTIME_ERROR, K.KILLED_BY_SIGNAL),
    (E.EXITED, NC, UT, V.RUNTIME_ERROR, K.EXITED_EARLY),
    (E.PROTOCOL_ERROR, NC, UT, V.RUNTIME_ERROR, K.DETAIL),
    (E.MEMORY_KILLED, NC, UT, V.MEMORY_LIMIT_EXCEEDED, K.MEMORY_KILLED),
    (E.RUN_WALL, NC, T.MISSING, V.TIME_LIMIT_EXCEEDED, K.RUN_WALL),
    (E.RUN_OUTPUT, NC, UT, V.OUTPUT_LIMIT_EXCEEDED, K.RUN_OUTPUT),
    (E.RUN_OOM, NC, UT, V.MEMORY_LIMIT_EXCEEDED, K.RUN_OOM),
    (E.RUN_LOST, NC, UT, V.RUNTIME_ERROR, K.RUN_LOST),
    (E.OK, C.UNREADABLE, UT, V.WRONG_ANSWER, K.OUTPUTS_UNREADABLE),
    (E.OK, NC, UT, V.RUNTIME_ERROR, K.NO_OUTPUTS),
    (E.OK, C.FAILED, UT, V.WRONG_ANSWER, K.DETAIL),
    (E.OK, C.FAILED, T.OVER_BUDGET, V.WRONG_ANSWER, K.DETAIL),  # wrong beats slow
    (E.OK, C.PASSED, UT, V.ACCEPTED, K.GENERIC),
    (E.OK, C.PASSED, T.WITHIN_BUDGET, V.ACCEPTED, K.GENERIC),
    (E.OK, C.PASSED, T.MISSING, V.RUNTIME_ERROR, K.TIMING_MISSING),
    (E.OK, C.PASSED, T.OVER_BUDGET, V.TIME_LIMIT_EXCEEDED, K.OVER_BUDGET),
]


@pytest.mark.parametrize(("ending", "compared", "timed", "verdict", "key"), CASES,
                         ids=[f"{c[0].value}-{c[1].value}-{c[2].value}" for c in CASES])
def test_row(ending: Ending, compared: Compared, timed: Timed, verdict: Verdict, key: MessageKey) -> None:
    assert decide(ending, compared, timed) == (verdict, key)


def test_every_ending_has_an_expectation_here() -> None:
    assert {c[0] for c in CASES} == set(Ending)


def test_every_combination_gets_a_real_verdict() -> None:
    """No hole in the table: a missing row would be the judge's fault (system_error)."""
    for combo in itertools.product(Ending, Compared, Timed):
        assert decide(*combo)[0] is not Verdict.SYSTEM_ERROR, combo


def test_every_key_used_by_a_row_has_a_text() -> None:
    assert {row.key for row in TABLE} <= set(TEXTS)
    assert set(TEXTS) == set(MessageKey)


FACTS = {"detail": "boom", "case_time_s": 4.0, "signal": "SIGSEGV", "exit_code": 3,
         "ratio": 7.25, "budget": 4.0}


@pytest.mark.parametrize(("key", "verdict", "text"), [
    (K.CASE_TIME_LIMIT, V.TIME_LIMIT_EXCEEDED, "the case ran past its 4 s limit"),
    (K.KILLED_BY_SIGNAL, V.RUNTIME_ERROR, "the process was killed by SIGSEGV"),
    (K.EXITED_EARLY, V.RUNTIME_ERROR, "exited with code 3 before producing a result"),
    (K.OVER_BUDGET, V.TIME_LIMIT_EXCEEDED, "7.2x the reference's time (budget 4x)"),
    (K.DETAIL, V.WRONG_ANSWER, "boom"),
    (K.GENERIC, V.ACCEPTED, MESSAGES[V.ACCEPTED]),
])
def test_message_registry_words_each_key(key: MessageKey, verdict: Verdict, text: str) -> None:
    assert case_message(verdict, key, **FACTS) == text


def test_empty_detail_falls_back_to_the_verdicts_message() -> None:
    assert case_message(V.RUNTIME_ERROR, K.DETAIL, **{**FACTS, "detail": ""}) == MESSAGES[V.RUNTIME_ERROR]


def _timing(ratio: float, budget: float) -> CaseTiming:
    return CaseTiming(submission_ms=ratio, reference_ms=1.0, ratio=ratio, budget_ratio=budget)


@pytest.mark.parametrize(("is_timed", "timing", "expected"), [
    (False, None, T.UNTIMED),
    (False, _timing(100.0, 4.0), T.UNTIMED),
    (True, None, T.MISSING),
    (True, _timing(4.0, 4.0), T.WITHIN_BUDGET),  # at the budget is still within it
    (True, _timing(4.01, 4.0), T.OVER_BUDGET),
    (True, _timing(float("inf"), 4.0), T.OVER_BUDGET),  # a reference that took no time
])
def test_classify_timing(is_timed: bool, timing: CaseTiming | None, expected: Timed) -> None:
    assert classify_timing(is_timed, timing) is expected
