"""Command-line interface of qformat."""

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="The shared, versioned interchange format of qstack (Zarr v3 tensors, Arrow tables) and its numpy reference interpreter.")


@app.command()
def version() -> None:
    """Print the version of qformat."""
    typer.echo(__version__)


def main() -> None:
    app()
