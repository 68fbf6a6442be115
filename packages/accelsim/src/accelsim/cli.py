"""Command-line interface of accelsim."""

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Cycle-accurate simulator of a k-means weight-sharing accelerator.")


@app.command()
def version() -> None:
    """Print the version of accelsim."""
    typer.echo(__version__)


def main() -> None:
    app()
