"""The CLI's exit codes, one registry for every command (documented in docs/student-guide.md).

    0  accepted (or, for commands without a verdict, success)
    1  graded, not accepted (wrong_answer, runtime_error, compile_error, ...)
    2  usage error or a request the server refused (bad arguments, unknown problem, not
       signed in, a file the judge will not take)
    3  infrastructure: the server cannot be reached, a 5xx, a system_error, a timeout
"""

from __future__ import annotations

import typer

ACCEPTED = 0
NOT_ACCEPTED = 1
USAGE = 2
INFRASTRUCTURE = 3


def fail(message: str, code: int = USAGE) -> None:
    """Print `error: message` on stderr and exit with `code`."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def for_verdict(verdict: str | None, status: str = "done") -> int:
    """The exit code for a finished grade: 0 only for accepted."""
    if status == "failed" or verdict == "system_error":
        return INFRASTRUCTURE
    if verdict is None:
        return INFRASTRUCTURE if status in ("queued", "running") else NOT_ACCEPTED
    return ACCEPTED if verdict == "accepted" else NOT_ACCEPTED
