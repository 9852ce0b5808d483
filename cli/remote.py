"""Commands that talk to a TensorJudge server over HTTP: submit, run (a trial on the public
cases) and leaderboard. Server and token come from the options, their environment variables,
or the stored `tensorjudge login`; exit codes are those of cli.exits."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from cli import credentials
from cli.exits import INFRASTRUCTURE, USAGE, fail, for_verdict
from core.errors import SubmissionError
from core.services.uploads import collect_local, zip_files

OptionalServerOpt = Annotated[str | None, typer.Option(
    "--server", "-s", envvar="TENSORJUDGE_SERVER",
    help="e.g. http://127.0.0.1:8000 (default: the server of `tensorjudge login`)")]
OptionalTokenOpt = Annotated[str | None, typer.Option(
    "--token", "-t", envvar="TENSORJUDGE_TOKEN", help="an API token (default: the one `tensorjudge login` stored)")]
FilesArg = Annotated[list[Path], typer.Argument(
    help="one file, several files (relative paths kept), a folder (your repository or its src/), or one zip/tar")]
_FINISHED = {"done", "failed", "superseded"}
_SUBMIT_TRIES = 4  # the same Idempotency-Key each time: a retry never makes a second submission


def check(r: httpx.Response) -> Any:
    """The response's JSON, or exit 2 (refused) / 3 (server error) with the server's detail."""
    if r.status_code >= 400:
        try:
            detail = r.json().get("detail", r.text)
        except ValueError:
            detail = r.text
        fail(f"{r.status_code}: {detail}", INFRASTRUCTURE if r.status_code >= 500 else USAGE)
    return r.json()


def api_client(server: str, token: str | None = None, timeout_s: float = 60.0) -> httpx.Client:
    """An HTTP client on the server's /api/v1, carrying the token if any."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.rstrip("/") + "/api/v1", headers=headers, timeout=timeout_s)


def report_of(sub: dict[str, Any]) -> dict[str, Any]:
    """The `--json` object: verdict, score, max_score, cases and the submission id."""
    return {
        "id": sub["id"],
        "kind": sub.get("kind", "submission"),
        "problem": sub["problem"],
        "status": sub["status"],
        "verdict": sub["verdict"],
        "score": sub["score"],
        "max_score": sub["max_score"],
        "speed_ratio": sub.get("speed_ratio"),
        "message": sub.get("message", ""),
        "graded": sub.get("graded", {}),
        "notes": sub.get("notes", []),
        "cases": sub["cases"],
        "queue": sub.get("queue"),
        "superseded_by": sub.get("superseded_by"),
        "rejudged": sub.get("rejudged"),
    }


def queue_line(sub: dict[str, Any]) -> str:
    """"queued: 3 ahead (live lane), about 40 s" for a queued submission, else ""."""
    place = sub.get("queue")
    if sub.get("status") != "queued" or not place:
        return ""
    wait = place.get("estimated_wait_s")
    eta = "no worker online yet" if wait is None else f"about {wait:.0f} s"
    return f"submission {sub['id']} queued: {place['position']} ahead ({place['lane']} lane), {eta}"


def post_submission(client: httpx.Client, problem: str, uploads: list[Any],
                    endpoint: str = "/submissions") -> dict[str, Any]:
    """POST the submission with an Idempotency-Key, retrying connection failures and 503s with
    the same key (so the server makes at most one submission)."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    for attempt in range(1, _SUBMIT_TRIES + 1):
        try:
            r = client.post(endpoint, data={"problem": problem}, files=uploads, headers=headers)
        except httpx.TransportError:
            if attempt == _SUBMIT_TRIES:
                raise
            time.sleep(0.5 * attempt)
            continue
        if r.status_code == 503 and attempt < _SUBMIT_TRIES:
            time.sleep(min(5.0, float(r.headers.get("Retry-After", "1") or 1)))
            continue
        result: dict[str, Any] = check(r)
        return result
    raise AssertionError("unreachable")


def _print_human(sub: dict[str, Any]) -> None:
    score = "-" if sub["score"] is None else f"{sub['score']:g}"
    what = "trial run" if sub.get("kind") == "trial" else "submission"
    typer.echo(f"{what} {sub['id']}: {sub['status']}  {sub['verdict'] or ''}  "
               f"score {score}/{sub['max_score'] or 0:g}")
    for c in sub["cases"]:
        ratio = f"  {c['timings']['ratio']:.2f}x ref time" if c.get("timings") else ""
        typer.echo(f"  {c['name']:<28} {c['visibility']:<7} {c['verdict']:<22} "
                   f"{c['points']:g}/{c['max_points']:g}{ratio}  {c.get('message') or ''}")
    for symbol, where in (sub.get("graded") or {}).items():
        typer.echo(f"  graded {symbol}: {where}")
    for note in sub.get("notes") or []:
        typer.echo(f"  note: {note}")
    if sub.get("rejudged"):
        notice = sub["rejudged"]
        score = "" if notice["was_score"] is None else format(notice["was_score"], "g")
        typer.echo(f"  rejudged on {str(notice['at'])[:10]}, was {notice['was_verdict'] or '-'} {score}".rstrip())
    if sub.get("superseded_by"):
        typer.echo(f"  superseded by submission {sub['superseded_by']} before it was graded")
    if sub.get("message"):
        typer.echo(sub["message"])


def _uploads(files: list[Path]) -> list[tuple[str, tuple[str, bytes]]]:
    try:
        collected = collect_local(files)
    except SubmissionError as exc:
        fail(str(exc))
        raise AssertionError from exc  # unreachable: fail() exits
    if any(f.is_dir() for f in files):
        # A folder travels as one zip, so the server sees the tree as it stands.
        collected = [("submission.zip", zip_files(collected))]
    return [("files", (name, data)) for name, data in collected]


def _send(endpoint: str, problem: str, files: list[Path], server: str | None, token: str | None,
          wait: bool, timeout_s: float) -> dict[str, Any]:
    uploads = _uploads(files)
    creds = credentials.resolve(server, token)
    if not creds.token:
        fail(f"not signed in to {creds.server}: run `tensorjudge login --server {creds.server}` or pass --token")
    try:
        with api_client(creds.server, creds.token) as client:
            sub = post_submission(client, problem, uploads, endpoint)
            deadline = time.monotonic() + timeout_s
            delay = 0.2
            shown = ""
            while wait and sub["status"] not in _FINISHED:
                if (line := queue_line(sub)) and line != shown:
                    typer.echo(line, err=True)  # stderr: --json keeps stdout one object
                    shown = line
                if time.monotonic() > deadline:
                    fail(f"{sub['id']} not graded after {timeout_s:g}s", INFRASTRUCTURE)
                time.sleep(delay)
                delay = min(delay * 1.5, 2.0)
                sub = check(client.get(f"/submissions/{sub['id']}"))
    except httpx.HTTPError as exc:
        fail(f"cannot reach {creds.server}: {exc.__class__.__name__}", INFRASTRUCTURE)
        raise AssertionError from exc  # unreachable: fail() exits
    result: dict[str, Any] = sub
    return result


def submit_command(
    problem: Annotated[str, typer.Argument(help="the problem's slug")],
    files: FilesArg,
    server: OptionalServerOpt = None,
    token: OptionalTokenOpt = None,
    wait: Annotated[bool, typer.Option("--wait", help="wait for the verdict; exit 0 only if accepted")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for the verdict")] = 900.0,
) -> None:
    """Submit a solution (with --wait, print its verdict; exit 0 accepted, 1 not, 2 refused, 3 infra)."""
    sub = _send("/submissions", problem, files, server, token, wait, timeout_s)
    if as_json:
        typer.echo(json.dumps(report_of(sub)))
    elif wait:
        _print_human(sub)
    else:
        typer.echo(queue_line(sub) or f"submission {sub['id']} queued")
    if wait or sub["status"] in _FINISHED:
        raise typer.Exit(for_verdict(sub["verdict"], sub["status"]))


def run_command(
    problem: Annotated[str, typer.Argument(help="the problem's slug")],
    files: FilesArg,
    server: OptionalServerOpt = None,
    token: OptionalTokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for the result")] = 900.0,
) -> None:
    """A trial run on the public cases, graded by the server: full feedback, not a submission
    (never on a leaderboard or in your history). Exit 0 if every public case passes, else 1."""
    sub = _send("/trials", problem, files, server, token, True, timeout_s)
    if as_json:
        typer.echo(json.dumps(report_of(sub)))
    else:
        _print_human(sub)
    raise typer.Exit(for_verdict(sub["verdict"], sub["status"]))


def leaderboard_command(
    problem: Annotated[str, typer.Argument(help="the problem's slug")],
    server: OptionalServerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Print a problem's leaderboard."""
    creds = credentials.resolve(server, None)
    try:
        with api_client(creds.server, creds.token) as client:
            board = check(client.get(f"/leaderboard/{problem}"))
    except httpx.HTTPError as exc:
        fail(f"cannot reach {creds.server}: {exc.__class__.__name__}", INFRASTRUCTURE)
        return
    if as_json:
        typer.echo(json.dumps(board))
        return
    typer.echo(f"{board['problem']}: {board['title']}")
    for e in board["entries"]:
        ratio = "" if e["speed_ratio"] is None else f"{e['speed_ratio']:.2f}x"
        typer.echo(f"  {e['rank']:>3}. {e['user']:<24} {e['score']:g}/{e['max_score'] or 0:g}  {ratio}")
