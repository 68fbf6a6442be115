"""``python -m cimnoise`` runs the command line."""

from .cli import main

main()
