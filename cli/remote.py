"""Commands that talk to a TensorJudge server over HTTP: submit and leaderboard."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from core.errors import SubmissionError
from core.services.uploads import collect_local, zip_files

ServerOpt = Annotated[
    str, typer.Option("--server", "-s", envvar="TENSORJUDGE_SERVER", help="e.g. http://127.0.0.1:8000")
]
_FINISHED = {"done", "failed", "superseded"}
_SUBMIT_TRIES = 4  # the same Idempotency-Key each time: a retry never makes a second submission


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


def _client(server: str, token: str | None = None, timeout_s: float = 60.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.rstrip("/") + "/api/v1", headers=headers, timeout=timeout_s)


def report_of(sub: dict[str, Any]) -> dict[str, Any]:
    """The `--json` object: verdict, score, max_score, cases and the submission id."""
    return {
        "id": sub["id"],
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


def post_submission(client: httpx.Client, problem: str, uploads: list[Any]) -> dict[str, Any]:
    """POST the submission with an Idempotency-Key, retrying connection failures and 503s with
    the same key (so the server makes at most one submission)."""
    headers = {"Idempotency-Key": uuid.uuid4().hex}
    for attempt in range(1, _SUBMIT_TRIES + 1):
        try:
            r = client.post("/submissions", data={"problem": problem}, files=uploads, headers=headers)
        except httpx.TransportError:
            if attempt == _SUBMIT_TRIES:
                raise
            time.sleep(0.5 * attempt)
            continue
        if r.status_code == 503 and attempt < _SUBMIT_TRIES:
            time.sleep(min(5.0, float(r.headers.get("Retry-After", "1") or 1)))
            continue
        result: dict[str, Any] = _check(r)
        return result
    raise AssertionError("unreachable")


def _print_human(sub: dict[str, Any]) -> None:
    score = "-" if sub["score"] is None else f"{sub['score']:g}"
    typer.echo(
        f"submission {sub['id']}: {sub['status']}  {sub['verdict'] or ''}  score {score}/{sub['max_score'] or 0:g}"
    )
    for c in sub["cases"]:
        ratio = f"  {c['timings']['ratio']:.2f}x ref" if c.get("timings") else ""
        typer.echo(
            f"  {c['name']:<28} {c['visibility']:<7} {c['verdict']:<22} "
            f"{c['points']:g}/{c['max_points']:g}{ratio}  {c.get('message') or ''}"
        )
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


def submit_command(
    problem: Annotated[str, typer.Argument(help="the problem's slug")],
    files: Annotated[list[Path], typer.Argument(
        help="one file, several files (relative paths kept), a folder (your repository or its src/), or one zip/tar")],
    server: ServerOpt,
    token: Annotated[str, typer.Option("--token", "-t", envvar="TENSORJUDGE_TOKEN", help="your API token")],
    wait: Annotated[bool, typer.Option("--wait", help="wait for the verdict")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for the verdict")] = 900.0,
) -> None:
    """Submit a solution to a server (and with --wait, print its verdict)."""
    try:
        collected = collect_local(files)
    except SubmissionError as exc:
        _fail(str(exc))
        return
    if any(f.is_dir() for f in files):
        # A folder travels as one zip, so the server sees the tree as it stands.
        collected = [("submission.zip", zip_files(collected))]
    uploads = [("files", (name, data)) for name, data in collected]
    try:
        with _client(server, token) as client:
            sub = post_submission(client, problem, uploads)
            deadline = time.monotonic() + timeout_s
            delay = 0.2
            shown = ""
            while wait and sub["status"] not in _FINISHED:
                if (line := queue_line(sub)) and line != shown:
                    typer.echo(line, err=True)  # stderr: --json keeps stdout one object
                    shown = line
                if time.monotonic() > deadline:
                    _fail(f"submission {sub['id']} not graded after {timeout_s:g}s", 3)
                time.sleep(delay)
                delay = min(delay * 1.5, 2.0)
                sub = _check(client.get(f"/submissions/{sub['id']}"))
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {server}: {exc}", 3)
        return
    if as_json:
        typer.echo(json.dumps(report_of(sub)))
    elif wait:
        _print_human(sub)
    else:
        typer.echo(queue_line(sub) or f"submission {sub['id']} queued")
    if sub["status"] == "failed":
        raise typer.Exit(3)


def leaderboard_command(
    problem: Annotated[str, typer.Argument(help="the problem's slug")],
    server: ServerOpt,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Print a problem's leaderboard."""
    try:
        with _client(server) as client:
            board = _check(client.get(f"/leaderboard/{problem}"))
    except httpx.HTTPError as exc:
        _fail(f"cannot reach {server}: {exc}", 3)
        return
    if as_json:
        typer.echo(json.dumps(board))
        return
    typer.echo(f"{board['problem']}: {board['title']}")
    for e in board["entries"]:
        ratio = "" if e["speed_ratio"] is None else f"{e['speed_ratio']:.2f}x"
        typer.echo(f"  {e['rank']:>3}. {e['user']:<24} {e['score']:g}/{e['max_score'] or 0:g}  {ratio}")
