"""Errors qviz raises when the input cannot give the asked-for picture."""

from __future__ import annotations

from qformat import QFormatError


class CannotPlot(QFormatError):
    """The input lacks what a plot needs (an artifact kind, columns, tensors).

    A :class:`qformat.QFormatError`, so the CLI prints it as one line and exits 2;
    ``qviz auto`` and ``qviz report`` catch it and note the skipped plot instead.
    """


class MissingColumns(CannotPlot):
    """A table lacks columns a plot needs; ``missing`` names them."""

    def __init__(self, what: str, plot: str, missing: list[str], have: list[str]):
        self.missing = list(missing)
        shown = ", ".join(have[:14]) + (f", ... ({len(have)} columns)" if len(have) > 14 else "")
        super().__init__(what, "", f"missing column(s) {', '.join(missing)} needed by the '{plot}' plot "
                                   f"(columns present: {shown or 'none'})")
