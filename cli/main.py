"""Entry point of the `tensorjudge` console script."""

from __future__ import annotations

import typer

from cli.local import grade_command, problem_app

app = typer.Typer(help="TensorJudge: an online judge for PyTorch and LLM exercises.", no_args_is_help=True)
app.command("grade")(grade_command)
app.add_typer(problem_app, name="problem")


def main() -> None:
    """Run the CLI."""
    app()


if __name__ == "__main__":
    main()
