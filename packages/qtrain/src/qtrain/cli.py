"""Command-line interface of qtrain."""

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Datasets, model zoo, float training, QAT, PTQ and activation probing.")


@app.command()
def version() -> None:
    """Print the version of qtrain."""
    typer.echo(__version__)


def main() -> None:
    app()
