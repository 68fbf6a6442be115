"""Command-line interface of qviz."""

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Plots and HTML reports of every qstack artifact.")


@app.command()
def version() -> None:
    """Print the version of qviz."""
    typer.echo(__version__)


def main() -> None:
    app()
