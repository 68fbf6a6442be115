"""``python -m qtrain`` = the ``qtrain`` command."""

from .cli import main

main()
