"""`tensorjudge similarity PROBLEM`: the similarity report of a problem (staff only)."""

from __future__ import annotations

import json
from typing import Annotated

import httpx
import typer

from cli import credentials
from cli.exits import INFRASTRUCTURE, fail
from cli.remote import OptionalServerOpt, OptionalTokenOpt, api_client, check


def similarity_command(
    problem: Annotated[str, typer.Argument(help="the problem's slug")],
    threshold: Annotated[float, typer.Option(min=0.0, max=1.0, help="least share of either's code")] = 0.5,
    server: OptionalServerOpt = None,
    token: OptionalTokenOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """List pairs of students whose latest submissions to PROBLEM are alike (instructors)."""
    creds = credentials.resolve(server, token)
    try:
        with api_client(creds.server, creds.token) as client:
            report = check(client.get(f"/problems/{problem}/similarity", params={"threshold": threshold}))
    except httpx.HTTPError as exc:
        fail(f"cannot reach {creds.server}: {exc.__class__.__name__}", INFRASTRUCTURE)
        return
    if as_json:
        typer.echo(json.dumps(report))
        return
    if not report["pairs"]:
        typer.echo(f"{problem}: no pair of students reaches {threshold:.0%}")
    for p in report["pairs"]:
        typer.echo(f"{p['a']['user']} (#{p['a']['submission_id']}) ~ {p['b']['user']} "
                   f"(#{p['b']['submission_id']}): {p['similarity_a']:.0%} / {p['similarity_b']:.0%}, "
                   f"{p['overlapping_tokens']} tokens")
