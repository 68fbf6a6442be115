"""Errors of ibexgen. Every user-facing problem is one line: what, and why.

They derive from :class:`qformat.QFormatError`, so ``qformat.cli_util.cli_errors``
turns them into one line on stderr and exit code 2.
"""

from __future__ import annotations

from qformat.errors import QFormatError


class IbexgenError(QFormatError):
    """Bad input or an unsupported model/target combination: ``what: why``."""

    def __init__(self, what: str, why: str):
        self.what = what
        super().__init__(what, "", why)


class ToolchainError(IbexgenError):
    """No usable RISC-V compiler, or a compile/link step failed."""
