"""Command-line interface of qsearch."""

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Mixed-precision search under hardware budgets: DNAS, DSE, sensitivity+ILP, cost models.")


@app.command()
def version() -> None:
    """Print the version of qsearch."""
    typer.echo(__version__)


def main() -> None:
    app()
