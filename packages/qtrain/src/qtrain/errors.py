"""Errors qtrain raises for bad input.

Every user-facing problem (a missing dataset, a malformed file, an unknown
model) is a :class:`qformat.errors.QFormatError`: one line naming *what*,
*where* and *why*. The CLI turns it into ``qtrain: <line>`` on stderr and
exit code 2.
"""

from __future__ import annotations

from qformat.errors import QFormatError

__all__ = ["QFormatError", "DataError", "ConfigError"]


class DataError(QFormatError):
    """A dataset path is missing, unreadable or malformed."""


class ConfigError(QFormatError):
    """A bad option: unknown model, impossible shape, bad precision, ..."""
