"""What every qstack CLI shares: one-line errors, quiet broken pipes, binary stdout."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any

from .errors import QFormatError

__all__ = ["cli_errors", "QFormatError", "fail", "binary_stdout", "log", "exit_quietly_on_broken_pipe"]


def log(msg: str) -> None:
    """Write a log line to stderr (stdout is for data)."""
    print(msg, file=sys.stderr, flush=True)


def fail(tool: str, message: str, code: int = 2) -> None:
    """Print ``tool: message`` on stderr and exit with ``code``."""
    print(f"{tool}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(code)


def exit_quietly_on_broken_pipe() -> None:
    """The reader went away (``| head``): silence the final flush and exit 0."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except Exception:
        pass
    os._exit(0)


def binary_stdout():
    """stdout as a binary stream, refusing to write artifacts to a terminal."""
    if sys.stdout.isatty():
        raise QFormatError("<stdout>", "", "refusing to write binary data to a terminal (redirect with > file or | tool)")
    return sys.stdout.buffer


def cli_errors(func: Callable | None = None, *, tool: str | None = None) -> Callable:
    """Decorate a CLI command: bad input becomes one line on stderr and exit 2.

    ``QFormatError``, ``FileNotFoundError``, ``KeyError`` (missing artifact kinds)
    and ``ValueError`` from the library are user-facing; a closed pipe ends quietly.
    Set ``QSTACK_DEBUG=1`` to see tracebacks.
    """

    def deco(f: Callable) -> Callable:
        name = tool or f.__module__.split(".")[0]

        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any):
            debug = os.environ.get("QSTACK_DEBUG")
            try:
                return f(*args, **kwargs)
            except BrokenPipeError:
                exit_quietly_on_broken_pipe()
            except QFormatError as e:
                if debug:
                    raise
                fail(name, str(e))
            except FileNotFoundError as e:
                if debug:
                    raise
                fail(name, f"{e.filename or ''}: no such file or directory".lstrip(": "))
            except (KeyError, ValueError) as e:  # pydantic's ValidationError is a ValueError
                if debug:
                    raise
                if hasattr(e, "errors") and callable(e.errors):
                    from .spec import format_validation_error

                    fail(name, format_validation_error(e))
                msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
                fail(name, str(msg))
            except KeyboardInterrupt:
                fail(name, "interrupted", 130)

        return wrapper

    return deco(func) if func is not None else deco
