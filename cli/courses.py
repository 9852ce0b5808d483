"""`tensorjudge course ...`: courses, rosters, assignments, extensions, gradebooks and templates
on a server, over the same API the pages use."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

ServerOpt = Annotated[
    str, typer.Option("--server", "-s", envvar="TENSORJUDGE_SERVER", help="e.g. http://127.0.0.1:8000")
]


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _check(r: httpx.Response) -> Any:
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        _fail(f"{r.status_code}: {detail}", 3 if r.status_code >= 500 else 2)
    return r.json()


def _client(server: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=server.rstrip("/") + "/api/v1", headers={"Authorization": f"Bearer {token}"},
                        timeout=60.0)


course_app = typer.Typer(help="Run a course: roster, assignments, extensions, gradebook, templates.",
                         no_args_is_help=True)
assignment_app = typer.Typer(help="Create and change assignments.", no_args_is_help=True)
template_app = typer.Typer(help="Ready-made courses.", no_args_is_help=True)
course_app.add_typer(assignment_app, name="assignment")
course_app.add_typer(template_app, name="template")

TokenOpt = Annotated[str, typer.Option("--token", "-t", envvar="TENSORJUDGE_TOKEN", help="your API token")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print the server's JSON")]


def _call(server: str, token: str, method: str, path: str, **kwargs: Any) -> Any:
    try:
        with _client(server, token) as client:
            r = client.request(method, path, **kwargs)
            if r.status_code == 204:
                return None
            if r.headers.get("content-type", "").startswith("text/csv") and r.status_code < 400:
                return r.text
            return _check(r)
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {server}: {exc}", 3)


def _time(value: str | None, what: str) -> str | None:
    """An ISO time with a zone (a bare date or time is taken as UTC)."""
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        _fail(f"{what}: not an ISO date/time: {value!r} (e.g. 2026-03-01T23:59+08:00)")
        raise
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).isoformat()


def _problems(specs: list[str] | None) -> list[dict[str, Any]] | None:
    if not specs:
        return None
    out = []
    for spec in specs:
        slug, _, points = spec.partition(":")
        try:
            out.append({"slug": slug, "points": float(points) if points else 100.0})
        except ValueError:
            _fail(f"--problem {spec!r}: use SLUG or SLUG:POINTS")
    return out


@course_app.command("create")
def create_command(
    slug: Annotated[str, typer.Argument(help="the course's short name, e.g. llm-2026")],
    title: Annotated[str, typer.Option("--title", help="the course's title")],
    server: ServerOpt, token: TokenOpt,
    term: Annotated[str, typer.Option(help="e.g. 2026 spring")] = "",
    late_days: Annotated[int, typer.Option("--late-days", help="late days per student for late_days assignments")] = 0,
) -> None:
    """Create a course (you become its instructor)."""
    course = _call(server, token, "POST", "/courses",
                   json={"slug": slug, "title": title, "term": term, "late_days": late_days})
    typer.echo(f"course {course['slug']} created")


@course_app.command("roster")
def roster_command(
    course: Annotated[str, typer.Argument(help="the course")],
    csv_file: Annotated[Path, typer.Argument(help="CSV with username, display_name, email, section[, role]")],
    server: ServerOpt, token: TokenOpt, as_json: JsonOpt = False,
) -> None:
    """Import a roster; prints what happened to each row, exits 1 if any row was refused."""
    try:
        data = csv_file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {csv_file.name}: {exc.strerror}")
        return
    report = _call(server, token, "POST", f"/courses/{course}/roster", files={"file": (csv_file.name, data)})
    if as_json:
        typer.echo(json.dumps(report))
    else:
        for row in report["rows"]:
            if row["action"] != "unchanged":
                typer.echo(f"  line {row['line']:>4}  {row['username'] or '-':<24} {row['action']:<9} {row['detail']}")
        counts = report["counts"]
        typer.echo(", ".join(f"{n} {a}" for a, n in counts.items()) + f" ({report['new_accounts']} new accounts)")
    if report["counts"]["refused"]:
        raise typer.Exit(1)


@course_app.command("invites")
def invites_command(
    course: Annotated[str, typer.Argument(help="the course")],
    server: ServerOpt, token: TokenOpt,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="write the CSV here (default: print it)")] = None,
    user: Annotated[list[str] | None, typer.Option("--user", "-u", help="only this student; repeat")] = None,
) -> None:
    """One-time links that set a first password, for the course's students without one, as a
    CSV (user,name,email,link) for a mail merge: nothing is mailed. A new link replaces a
    student's older unused one."""
    body = {"users": user} if user else {}
    result = _call(server, token, "POST", f"/courses/{course}/invites", json=body)
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["user", "name", "email", "link"])  # the columns of the roster page's download
    for row in result["invites"]:
        writer.writerow([row["user"], row["name"], row["email"], row["link"]])
    if out is None:
        typer.echo(buf.getvalue(), nl=False)
    else:
        try:
            out.write_text(buf.getvalue(), encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write {out.name}: {exc.strerror}")
        typer.echo(f"{len(result['invites'])} invites written to {out}", err=True)
    for skipped in result["skipped"]:
        typer.echo(f"skipped {skipped['user']}: {skipped['reason']}", err=True)


def _assignment_body(**opts: Any) -> dict[str, Any]:
    body = {k: v for k, v in opts.items() if v is not None and v is not False}
    for key in ("release_at", "due_at", "hard_close_at"):
        if key in body:
            body[key] = _time(body[key], key)
    if "problems" in body:
        body["problems"] = _problems(body["problems"])
    return body


ReleaseOpt = Annotated[str | None, typer.Option("--release", help="release time (ISO)")]
DueOpt = Annotated[str | None, typer.Option("--due", help="due time (ISO)")]
CloseOpt = Annotated[str | None, typer.Option("--hard-close", help="no submissions after this (ISO)")]
PolicyOpt = Annotated[str | None, typer.Option("--late-policy", help="none, per_day, per_hour or late_days")]
PenaltyOpt = Annotated[float | None, typer.Option("--penalty", help="percent off per day/hour late")]
ProblemOpt = Annotated[list[str] | None, typer.Option("--problem", "-p", help="SLUG[:POINTS], repeat in order")]
QuotaDayOpt = Annotated[int | None, typer.Option("--quota-per-day", help="submissions per problem per 24 h")]
QuotaTotalOpt = Annotated[int | None, typer.Option("--quota-total", help="submissions per problem in all")]
ResultsOpt = Annotated[str | None, typer.Option("--results", help="immediate or after_due")]
BoardOpt = Annotated[str | None, typer.Option("--leaderboard", help="on, off or anonymous")]
TitleOpt = Annotated[str | None, typer.Option("--title")]


@assignment_app.command("create")
def assignment_create_command(
    course: Annotated[str, typer.Argument()], slug: Annotated[str, typer.Argument()],
    server: ServerOpt, token: TokenOpt, title: TitleOpt = None, release: ReleaseOpt = None, due: DueOpt = None,
    hard_close: CloseOpt = None, late_policy: PolicyOpt = None, penalty: PenaltyOpt = None,
    problem: ProblemOpt = None, quota_per_day: QuotaDayOpt = None, quota_total: QuotaTotalOpt = None,
    results: ResultsOpt = None, leaderboard: BoardOpt = None,
) -> None:
    """Add an assignment to a course."""
    body = _assignment_body(slug=slug, title=title or slug, release_at=release, due_at=due, hard_close_at=hard_close,
                            late_policy=late_policy, late_penalty_pct=penalty, problems=problem,
                            quota_per_day=quota_per_day, quota_total=quota_total, results_policy=results,
                            leaderboard=leaderboard)
    a = _call(server, token, "POST", f"/courses/{course}/assignments", json=body)
    typer.echo(f"assignment {course}/{a['slug']} created, due {a['due_at']}")


@assignment_app.command("update")
def assignment_update_command(
    course: Annotated[str, typer.Argument()], slug: Annotated[str, typer.Argument()],
    server: ServerOpt, token: TokenOpt, title: TitleOpt = None, release: ReleaseOpt = None, due: DueOpt = None,
    hard_close: CloseOpt = None, late_policy: PolicyOpt = None, penalty: PenaltyOpt = None,
    problem: ProblemOpt = None, quota_per_day: QuotaDayOpt = None, quota_total: QuotaTotalOpt = None,
    results: ResultsOpt = None, leaderboard: BoardOpt = None,
    no_hard_close: Annotated[bool, typer.Option("--no-hard-close", help="remove the hard close")] = False,
    no_quotas: Annotated[bool, typer.Option("--no-quotas", help="remove both quotas")] = False,
) -> None:
    """Change an assignment; options left out stay as they are."""
    body = _assignment_body(title=title, release_at=release, due_at=due, hard_close_at=hard_close,
                            late_policy=late_policy, late_penalty_pct=penalty, problems=problem,
                            quota_per_day=quota_per_day, quota_total=quota_total, results_policy=results,
                            leaderboard=leaderboard, clear_hard_close=no_hard_close, clear_quotas=no_quotas)
    a = _call(server, token, "PATCH", f"/courses/{course}/assignments/{slug}", json=body)
    typer.echo(f"assignment {course}/{a['slug']} updated, due {a['due_at']}")


@course_app.command("update")
def update_command(
    course: Annotated[str, typer.Argument(help="the course")],
    server: ServerOpt, token: TokenOpt,
    title: Annotated[str | None, typer.Option("--title", help="the course's title")] = None,
    term: Annotated[str | None, typer.Option(help="e.g. 2026 spring")] = None,
    late_days: Annotated[int | None, typer.Option("--late-days", help="late days per student")] = None,
) -> None:
    """Change a course's title, term or late-day budget (its instructors); options left out stay."""
    body = {k: v for k, v in {"title": title, "term": term, "late_days": late_days}.items() if v is not None}
    if not body:
        _fail("nothing to change: give --title, --term or --late-days")
    c = _call(server, token, "PATCH", f"/courses/{course}", json=body)
    typer.echo(f"course {c['slug']}: {c['title']!r}, term {c['term'] or '-'}, {c['late_days']} late days")


@course_app.command("extension")
def extension_command(
    course: Annotated[str, typer.Argument()], assignment: Annotated[str, typer.Argument()],
    user: Annotated[str, typer.Argument(help="the student's user name")],
    server: ServerOpt, token: TokenOpt,
    due: Annotated[str | None, typer.Option("--due", help="the student's own due time (ISO)")] = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="take the student's extension back")] = False,
    reason: Annotated[str, typer.Option(help="kept with the extension")] = "",
) -> None:
    """Give a student their own due time on an assignment (--due), or take it back (--revoke)."""
    path = f"/courses/{course}/assignments/{assignment}/extensions/{user}"
    if revoke == (due is not None):
        _fail("give either --due TIME or --revoke")
    if revoke:
        _call(server, token, "DELETE", path)
        typer.echo(f"{user}: extension revoked; the assignment's due time applies")
        return
    ext = _call(server, token, "PUT", path, json={"due_at": _time(due, "--due"), "reason": reason})
    typer.echo(f"{user}: due {ext['due_at']}")


@course_app.command("gradebook")
def gradebook_command(
    course: Annotated[str, typer.Argument()], assignment: Annotated[str, typer.Argument()],
    server: ServerOpt, token: TokenOpt, as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="print the CSV export")] = False,
) -> None:
    """Print an assignment's gradebook: per student and problem, points, lateness and penalty."""
    base = f"/courses/{course}/assignments/{assignment}"
    if as_csv:
        typer.echo(_call(server, token, "GET", f"{base}/gradebook.csv"), nl=False)
        return
    book = _call(server, token, "GET", f"{base}/gradebook")
    if as_json:
        typer.echo(json.dumps(book))
        return
    for row in book["rows"]:
        cells = "  ".join(f"{p['problem']} {p['earned']:g}/{p['points']:g} ({p['lateness']})" for p in row["problems"])
        typer.echo(f"{row['user']:<20} {row['total']:>7g}/{book['max_total']:g}  {cells}")


@template_app.command("list")
def template_list_command(server: ServerOpt, token: TokenOpt) -> None:
    """The ready-made courses."""
    for t in _call(server, token, "GET", "/course-templates"):
        typer.echo(f"{t['name']:<16} {t['title']} ({len(t['assignments'])} assignments)")


@template_app.command("instantiate")
def template_instantiate_command(
    name: Annotated[str, typer.Argument(help="the template, e.g. nju-llm-2025")],
    slug: Annotated[str, typer.Argument(help="the new course's short name")],
    start: Annotated[str, typer.Option("--start", help="day 0 of the course (ISO); every date counts from it")],
    server: ServerOpt, token: TokenOpt, title: TitleOpt = None,
) -> None:
    """Create a course from a template, all its dates shifted to start at --start."""
    course = _call(server, token, "POST", f"/course-templates/{name}/instantiate",
                   json={"slug": slug, "start": _time(start, "--start"), "title": title})
    typer.echo(f"course {course['slug']} created from {name}:")
    for a in course["assignments"]:
        typer.echo(f"  {a['slug']:<10} release {a['release_at']}  due {a['due_at']}")
