"""Command-line interface of cimnoise."""

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Compute-in-memory noise: statistical estimator and Monte-Carlo crossbar simulator.")


@app.command()
def version() -> None:
    """Print the version of cimnoise."""
    typer.echo(__version__)


def main() -> None:
    app()
