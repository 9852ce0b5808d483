"""Entry point of the `tensorjudge` console script."""

from __future__ import annotations

import typer

from cli.account import login_command, logout_command, whoami_command
from cli.admin import admin_app
from cli.courses import course_app
from cli.local import grade_command, problem_app
from cli.remote import leaderboard_command, run_command, submit_command
from cli.serve import serve_command
from cli.similarity import similarity_command

app = typer.Typer(help="TensorJudge: an online judge for PyTorch and LLM exercises.", no_args_is_help=True)
app.command("grade")(grade_command)
app.add_typer(problem_app, name="problem")
app.command("serve")(serve_command)
app.add_typer(admin_app, name="admin")
app.add_typer(course_app, name="course")
app.add_typer(course_app, name="courses", hidden=True)  # the same commands, as people also type it
app.command("submit")(submit_command)
app.command("run")(run_command)
app.command("login")(login_command)
app.command("whoami")(whoami_command)
app.command("logout")(logout_command)
app.command("leaderboard")(leaderboard_command)
app.command("similarity")(similarity_command)


def main() -> None:
    """Run the CLI."""
    app()


if __name__ == "__main__":
    main()
