"""``python -m accelsim`` = the ``accelsim`` command."""

from .cli import main

main()
