"""Local commands: grade a file and validate a package, with no server."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.exits import for_verdict
from core import jsonsafe
from core.errors import InfrastructureError, ProblemError, TensorJudgeError
from core.grading import grade, validate
from core.problem import resolve_problem
from core.report import GradeReport
from core.services.submissions import upload_limits
from core.services.uploads import collect_local, normalize_upload
from core.settings import get_settings

problem_app = typer.Typer(help="Author and check problem packages.", no_args_is_help=True)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def print_report(report: GradeReport, as_json: bool) -> None:
    """One JSON object, or a human-readable table."""
    if as_json:
        typer.echo(jsonsafe.dumps(report.model_dump(mode="json")))
        return
    typer.echo(f"{report.problem} [{report.problem_version}]  {report.verdict.value}  "
               f"score {report.score:g}/{report.max_score:g}  ({report.wall_s}s)")
    for c in report.cases:
        timing = f"  {c.timings.ratio:.2f}x ref" if c.timings else ""
        typer.echo(f"  {c.name:<28} {c.visibility:<7} {c.verdict.value:<22} "
                   f"{c.points:g}/{c.max_points:g}{timing}  {c.message if c.visibility == 'public' else ''}")
    for symbol, where in report.graded.items():
        typer.echo(f"  graded {symbol}: {where}")
    for note in report.notes:
        typer.echo(f"  note: {note}")
    if report.verdict.value == "compile_error":
        typer.echo(report.message)


def grade_command(
    problem: str = typer.Argument(..., help="A slug under problems/ or a path to a package."),
    files: list[Path] = typer.Argument(
        ..., help="The submission: one file, several files (relative paths kept), a folder (your "
                  "repository or its src/), or a zip/tar of one."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Grade a submission locally in the sandbox, with no server (exit 0 only if accepted)."""
    # One grade, then the process exits: a sandbox started ahead would never be used.
    settings = get_settings().model_copy(update={"sandbox_warm": 0})
    try:
        prob = resolve_problem(problem, settings.problems_dir)
        contents = normalize_upload(collect_local(files), upload_limits(settings))
        report = grade(prob, contents, settings=settings)
    except (ProblemError, TensorJudgeError) as exc:
        _fail(str(exc))
        return
    except InfrastructureError as exc:
        _fail(f"system_error: {exc}", 3)
        return
    print_report(report, as_json)
    # 0 accepted, 1 graded but not accepted, 3 system_error (codes in cli.exits).
    raise typer.Exit(for_verdict(report.verdict.value))


@problem_app.command("validate")
def validate_command(
    path: str = typer.Argument(..., help="A package folder or a slug under problems/."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=64,
                             help="Grade this many solutions at once (timings get noisier)."),
) -> None:
    """Run the verdict matrix of solutions/ and report the tolerance margin."""
    settings = get_settings()
    try:
        prob = resolve_problem(path, settings.problems_dir)
        report = validate(prob, settings=settings, jobs=jobs)
    except ProblemError as exc:
        _fail(str(exc))
        return
    except InfrastructureError as exc:
        _fail(f"system_error: {exc}", 3)
        return
    if as_json:
        typer.echo(jsonsafe.dumps(report.model_dump(mode="json")))
    else:
        typer.echo(f"{report.problem} [{report.version}]: {'OK' if report.ok else 'FAILED'}")
        typer.echo(f"  reference: {report.reference_verdict}  timings(ms): {report.reference_timings_ms}")
        for s in report.solutions:
            mark = "ok " if s.ok else "BAD"
            ratio = "" if s.max_error_ratio is None else f"  max err/tol {s.max_error_ratio:.3g}"
            typer.echo(f"  {mark} {s.file:<48} expected {s.expected:<20} got {s.verdict}{ratio}")
        typer.echo(f"  accepted max err/tol: {report.accepted_max_error_ratio}  "
                   f"wrong min err/tol: {report.wrong_min_error_ratio}  margin: {report.margin}")
        for n in report.notes:
            typer.echo(f"  note: {n}")
        for e in report.errors:
            typer.echo(f"  error: {e}")
    if not report.ok:
        sys.exit(1)


@problem_app.command("new")
def new_command(
    slug: str = typer.Argument(..., help="The new problem's slug (lowercase letters, digits, '-')."),
    directory: Path | None = typer.Option(None, "--dir", help="Create it here (default: problems/)."),
) -> None:
    """Scaffold a problem package that validates as it stands (edit it from there)."""
    from core.scaffold import scaffold

    parent = directory if directory is not None else get_settings().problems_dir
    try:
        root = scaffold(slug, parent)
    except (ProblemError, OSError) as exc:
        _fail(str(exc))
        return
    typer.echo(f"created {root}")
    typer.echo(f"next: tensorjudge problem validate {root}")
