"""`tensorjudge admin ...`: user and database management on the server's own database."""

from __future__ import annotations

from typing import Annotated

import typer

from core.settings import get_settings

admin_app = typer.Typer(
    help="Manage users and the database (runs against TENSORJUDGE_DATABASE_URL).", no_args_is_help=True
)


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@admin_app.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (idempotent)."""
    from core.db.migrate import upgrade

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    typer.echo("database is up to date")


@admin_app.command("create-user")
def create_user_command(
    name: Annotated[str, typer.Argument(help="the new user's name")],
    role: Annotated[str, typer.Option("--role", "-r", help="student, instructor or admin")] = "student",
    password: Annotated[str | None, typer.Option(help="a password for web login (optional)")] = None,
) -> None:
    """Create a user and print an API token for them (the token is the last line)."""
    from core.db.base import session_scope
    from core.db.migrate import upgrade
    from core.errors import TensorJudgeError
    from core.services import users as user_service

    settings = get_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.effective_database_url)
    with session_scope(settings.effective_database_url) as session:
        try:
            user = user_service.create_user(session, name, user_service.parse_role(role), password)
            token = user_service.issue_token(session, user, "cli")
        except TensorJudgeError as exc:
            _fail(str(exc))
            return
        session.commit()
    typer.echo(f"created {user.role.value} {user.name} (id {user.id}); API token:")
    typer.echo(token)


@admin_app.command("issue-token")
def issue_token_command(name: Annotated[str, typer.Argument(help="an existing user's name")]) -> None:
    """Issue another API token for an existing user (printed as the last line)."""
    from core.db.base import session_scope
    from core.services import users as user_service

    settings = get_settings()
    with session_scope(settings.effective_database_url) as session:
        user = user_service.get_user_by_name(session, name)
        if user is None:
            _fail(f"no user {name!r}")
            return
        token = user_service.issue_token(session, user, "cli")
        session.commit()
    typer.echo(token)


@admin_app.command("publish-bundled")
def publish_bundled_command() -> None:
    """Stage and publish every package under TENSORJUDGE_PROBLEMS_DIR."""
    from core.db.base import session_scope
    from core.services.bootstrap import publish_bundled

    settings = get_settings()
    with session_scope(settings.effective_database_url) as session:
        slugs = publish_bundled(session, settings.problems_dir)
    typer.echo(f"published: {', '.join(slugs) or '(none)'}")


@admin_app.command("requeue")
def requeue_command() -> None:
    """Send every queued or running submission to the broker again (safe to repeat)."""
    from cli.serve import requeue_unfinished

    typer.echo(f"requeued {requeue_unfinished(get_settings())} submission(s)")
