"""The one error type every qstack reader raises for bad input."""

from __future__ import annotations


class QFormatError(Exception):
    """A problem with an artifact, reported as one line: what, where, why.

    ``artifact`` names the source (a path, ``<stdin>``, a URL), ``where`` the place
    inside it (a key, a layer, a JSON path) and ``why`` the reason. CLIs print
    ``str(err)`` on stderr and exit with code 2.
    """

    def __init__(self, artifact: str, where: str, why: str):
        self.artifact = artifact or "<artifact>"
        self.where = where
        self.why = why
        super().__init__(self.line())

    def line(self) -> str:
        parts = [self.artifact]
        if self.where:
            parts.append(self.where)
        parts.append(self.why)
        return ": ".join(parts)

    def with_artifact(self, artifact: str) -> QFormatError:
        """Return the same error attributed to ``artifact`` (for errors raised deep down)."""
        if self.artifact in ("<artifact>", "", None):
            return QFormatError(artifact, self.where, self.why)
        return self
