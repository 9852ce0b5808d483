"""The closed set of verdicts and the user-facing message for each."""

from __future__ import annotations

from enum import Enum


class Verdict(str, Enum):
    """Outcome of a case or of a whole submission (snake_case on the wire)."""

    ACCEPTED = "accepted"
    WRONG_ANSWER = "wrong_answer"
    TIME_LIMIT_EXCEEDED = "time_limit_exceeded"
    MEMORY_LIMIT_EXCEEDED = "memory_limit_exceeded"
    OUTPUT_LIMIT_EXCEEDED = "output_limit_exceeded"
    RUNTIME_ERROR = "runtime_error"
    COMPILE_ERROR = "compile_error"
    RULE_VIOLATION = "rule_violation"
    SYSTEM_ERROR = "system_error"

    @property
    def is_final(self) -> bool:
        """Every verdict but system_error is final; system_error is the judge's fault."""
        return self is not Verdict.SYSTEM_ERROR


MESSAGES: dict[Verdict, str] = {
    Verdict.ACCEPTED: "All checks passed.",
    Verdict.WRONG_ANSWER: "The output does not match the reference.",
    Verdict.TIME_LIMIT_EXCEEDED: "Too slow: over the time budget.",
    Verdict.MEMORY_LIMIT_EXCEEDED: "The submission ran out of memory.",
    Verdict.OUTPUT_LIMIT_EXCEEDED: "The submission produced too much output.",
    Verdict.RUNTIME_ERROR: "The submission crashed.",
    Verdict.COMPILE_ERROR: "The submission could not be loaded.",
    Verdict.RULE_VIOLATION: "The submission used something this problem forbids.",
    Verdict.SYSTEM_ERROR: "The judge failed to grade this submission; it will be retried.",
}

# When cases disagree, the submission's verdict is the first non-accepted one in this order.
SEVERITY: list[Verdict] = [
    Verdict.SYSTEM_ERROR,
    Verdict.COMPILE_ERROR,
    Verdict.RULE_VIOLATION,
    Verdict.RUNTIME_ERROR,
    Verdict.MEMORY_LIMIT_EXCEEDED,
    Verdict.OUTPUT_LIMIT_EXCEEDED,
    Verdict.TIME_LIMIT_EXCEEDED,
    Verdict.WRONG_ANSWER,
    Verdict.ACCEPTED,
]
