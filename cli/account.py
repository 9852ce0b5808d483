"""Signing the CLI in: login (name + password -> a stored token), whoami, logout."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from cli import credentials
from cli.exits import INFRASTRUCTURE, USAGE, fail
from cli.remote import OptionalServerOpt, OptionalTokenOpt, api_client, check


def login_command(
    server: Annotated[str, typer.Option("--server", "-s", envvar="TENSORJUDGE_SERVER",
                                        help="the server, e.g. http://127.0.0.1:8000")],
    name: Annotated[str | None, typer.Option("--name", "-u", help="your user name (prompted if left out)")] = None,
) -> None:
    """Sign in with your name and password; the token is kept in your config dir (mode 0600)."""
    if name is None:
        name = typer.prompt("name")
    password = typer.prompt("password", hide_input=True)
    server = server.rstrip("/")
    try:
        with api_client(server) as client:
            r = client.post("/auth/login", json={"name": name, "password": password})
    except httpx.HTTPError as exc:
        fail(f"cannot reach {server}: {exc.__class__.__name__}", INFRASTRUCTURE)
        return
    if r.status_code in (401, 429):
        fail(str(r.json().get("detail", "sign-in refused")), USAGE)
    body = check(r)
    path = credentials.save(credentials.Credentials(server, body["token"], body["user"]["name"]))
    typer.echo(f"signed in to {server} as {body['user']['name']} ({body['user']['role']}); token saved in {path}")


def whoami_command(server: OptionalServerOpt = None, token: OptionalTokenOpt = None) -> None:
    """Print who the stored (or given) token signs you in as, and on which server."""
    creds = credentials.resolve(server, token)
    if not creds.token:
        fail(f"not signed in to {creds.server}: run `tensorjudge login --server {creds.server}`")
    try:
        with api_client(creds.server, creds.token) as client:
            me = check(client.get("/auth/me"))
    except httpx.HTTPError as exc:
        fail(f"cannot reach {creds.server}: {exc.__class__.__name__}", INFRASTRUCTURE)
        return
    typer.echo(f"{me['name']} ({me['role']}) at {creds.server}")


def logout_command() -> None:
    """Revoke the stored token on its server (when reachable) and forget it."""
    stored = credentials.load()
    if stored is None:
        typer.echo("not signed in")
        return
    revoked = False
    if stored.token:
        try:
            with api_client(stored.server, stored.token) as client:
                revoked = client.delete("/auth/tokens/current").status_code == 200
        except httpx.HTTPError:
            pass
    credentials.forget()
    note = "token revoked" if revoked else "the server was not told: revoke the token on its /tokens page"
    typer.echo(f"signed out of {stored.server} ({note})")
