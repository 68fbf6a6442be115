"""``python -m ibexgen`` runs the CLI."""

from .cli import main

main()
