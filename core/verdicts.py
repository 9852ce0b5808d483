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


class MessageKey(str, Enum):
    """Which text a case's verdict carries; the verdict table picks one, TEXTS words it."""

    GENERIC = "generic"  # the verdict's own message (MESSAGES)
    DETAIL = "detail"  # what the submission, the driver or the comparison said, as it said it
    CASE_TIME_LIMIT = "case_time_limit"
    PRINTED_TOO_MUCH = "printed_too_much"
    CPU_TIME = "cpu_time"
    MEMORY_KILLED = "memory_killed"
    KILLED_BY_SIGNAL = "killed_by_signal"
    EXITED_EARLY = "exited_early"
    RUN_WALL = "run_wall"
    RUN_OUTPUT = "run_output"
    RUN_OOM = "run_oom"
    RUN_LOST = "run_lost"
    OUTPUTS_UNREADABLE = "outputs_unreadable"
    NO_OUTPUTS = "no_outputs"
    TIMING_MISSING = "timing_missing"
    OVER_BUDGET = "over_budget"


# Public cases show these (filled in from the case's facts); hidden cases only MESSAGES.
TEXTS: dict[MessageKey, str] = {
    MessageKey.GENERIC: "",
    MessageKey.DETAIL: "{detail}",
    MessageKey.CASE_TIME_LIMIT: "the case ran past its {case_time_s:g} s limit",
    MessageKey.PRINTED_TOO_MUCH: "the submission printed too much",
    MessageKey.CPU_TIME: "CPU time limit exceeded",
    MessageKey.MEMORY_KILLED: "killed by the memory limit",
    MessageKey.KILLED_BY_SIGNAL: "the process was killed by {signal}",
    MessageKey.EXITED_EARLY: "exited with code {exit_code} before producing a result",
    MessageKey.RUN_WALL: "the run hit its wall-clock limit before this case",
    MessageKey.RUN_OUTPUT: "the run produced more output than allowed",
    MessageKey.RUN_OOM: "the run was killed by the memory limit",
    MessageKey.RUN_LOST: "the sandbox stopped before this case finished",
    MessageKey.OUTPUTS_UNREADABLE: "the outputs could not be read back",
    MessageKey.NO_OUTPUTS: "no outputs came back",
    MessageKey.TIMING_MISSING: "the timing run did not finish",
    MessageKey.OVER_BUDGET: "{ratio:.1f}x the reference's time (budget {budget:g}x)",
}


def case_message(verdict: Verdict, key: MessageKey, **facts: object) -> str:
    """A public case's message: the key's text with the case's facts, else the verdict's own."""
    return TEXTS[key].format(**facts) or MESSAGES[verdict]
