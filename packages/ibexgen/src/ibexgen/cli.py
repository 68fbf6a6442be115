"""Command-line interface of ibexgen."""

import typer

from . import __version__

app = typer.Typer(no_args_is_help=True, add_completion=False, help="C code generation for Ibex RV32IMC (with mixed-precision instructions) and an instruction-set simulator.")


@app.command()
def version() -> None:
    """Print the version of ibexgen."""
    typer.echo(__version__)


def main() -> None:
    app()
