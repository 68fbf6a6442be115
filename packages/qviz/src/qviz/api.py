"""The library entry points: read sources, draw one plot, pick every plot that fits a bundle.

>>> import qviz, qviz.samples as s
>>> fig = qviz.draw("weight-hist", s.kmeans_model())
>>> [ax.get_xlabel() for ax in fig.axes][:1]
['weight value']
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO, Optional

import qformat as qf
from qformat import QFormatError

from . import plots as _plots  # noqa: F401  (registers every plot)
from .errors import CannotPlot
from .registry import PLOTS, PlotSpec


def as_bundle(obj: Any) -> qf.Bundle:
    """A bundle from a bundle, one artifact, or a list of artifacts."""
    if isinstance(obj, qf.Bundle):
        return obj
    if isinstance(obj, (list, tuple)):
        return qf.Bundle(obj)
    return qf.Bundle([obj])


def _read_path(src: str) -> qf.Bundle:
    try:
        return qf.read_bundle(src)
    except QFormatError as e:
        # The original accelerator's JSON weight file: import it the way `qformat import` does.
        if src.lower().endswith(".json") and "neither a qformat artifact" in str(e):
            from qformat.importers import import_kmeans_json

            return qf.Bundle([import_kmeans_json(src)])
        raise


def read_stdin(stream: Optional[BinaryIO] = None) -> tuple[qf.Bundle, bytes]:
    """Read every artifact piped in; returns the bundle and the raw bytes (for ``--passthrough``)."""
    stream = stream if stream is not None else sys.stdin.buffer
    if getattr(stream, "isatty", lambda: False)():
        raise QFormatError("<stdin>", "", "no input: stdin is a terminal (pipe an artifact in or name a file)")
    raw = stream.read()
    if not raw:
        raise QFormatError("<stdin>", "", "empty input: nothing was piped in")
    try:
        return qf.read_bundle(raw), raw
    except QFormatError as e:
        if raw.lstrip()[:1] == b"{" and "neither a qformat artifact" in str(e):
            from qformat.importers import import_kmeans_json

            return qf.Bundle([import_kmeans_json(io.StringIO(raw.decode()), name="<stdin>")]), raw
        raise QFormatError("<stdin>", e.where, e.why) from None


def read_sources(sources: Iterable[str] = (), stdin: Optional[BinaryIO] = None) -> tuple[qf.Bundle, Optional[bytes]]:
    """Every artifact of every source (paths, URLs, ``-`` for stdin; none = stdin) as one bundle.

    The second value is the raw stdin bytes when stdin was the only source, else None.
    """
    sources = list(sources) or ["-"]
    items: list = []
    raw = None
    for s in sources:
        if s == "-":
            b, raw = read_stdin(stdin)
        else:
            b = _read_path(s)
        items.extend(b)
    return qf.Bundle(items), (raw if sources == ["-"] else None)


def spec(kind: str) -> PlotSpec:
    """The :class:`PlotSpec` of a plot kind; ValueError listing the kinds when unknown."""
    if kind not in PLOTS:
        raise ValueError(f"unknown plot {kind!r} (plots: {', '.join(PLOTS)})")
    return PLOTS[kind]


def _describe_kinds(bundle: qf.Bundle) -> str:
    parts = [a.table_kind if a.kind == "table" else a.kind for a in bundle]
    return ", ".join(parts) or "nothing"


def candidates(kind: str, data: Any) -> list:
    """The artifacts of ``data`` (a bundle or artifact) that plot ``kind`` can draw from."""
    s = spec(kind)
    return [a for a in as_bundle(data) if s.accepts(a)]


def draw(kind: str, data: Any, pick: int = 0, **options: Any):
    """Draw plot ``kind`` from ``data`` (an artifact or a bundle): the ``pick``-th artifact it accepts.

    Options (``layer``, ``neuron``, ``order``, ``semantics``, ``x``, ``y``, ``shape`` ...) are passed on;
    ``None`` values are dropped. Raises :class:`CannotPlot` (a ``QFormatError``) naming what is missing.
    """
    s = spec(kind)
    bundle = as_bundle(data)
    found = [a for a in bundle if s.accepts(a)]
    if not found:
        raise CannotPlot("input", "", f"the '{kind}' plot needs {s.needs}; the input holds {_describe_kinds(bundle)}")
    if not 0 <= pick < len(found):
        raise CannotPlot("input", "--pick", f"{pick} out of range: {len(found)} artifact(s) fit the '{kind}' plot")
    opts = {k: v for k, v in options.items() if v is not None}
    return s.draw(found[pick], bundle, **opts)


@dataclass
class AutoItem:
    """One picture chosen by :func:`auto` (``figure``), or why it was skipped (``note``)."""

    index: int                 # position of the artifact in the bundle
    artifact: Any
    plot: Optional[str]
    figure: Any = None
    note: Optional[str] = None


def auto(data: Any, only: Optional[Iterable[str]] = None) -> list[AutoItem]:
    """Every plot that fits every artifact of ``data``; a note for plots that cannot be drawn
    (missing columns ...) and for artifacts no plot covers."""
    bundle = as_bundle(data)
    wanted = set(only) if only else None
    out: list[AutoItem] = []
    for i, art in enumerate(bundle):
        matched = False
        for s in PLOTS.values():
            if wanted is not None and s.name not in wanted:
                continue
            if not s.accepts(art):
                continue
            try:
                if not s.auto(art, bundle):
                    matched = True
                    continue
            except (CannotPlot, KeyError, ValueError):
                pass
            matched = True
            try:
                out.append(AutoItem(i, art, s.name, figure=s.draw(art, bundle)))
            except (QFormatError, KeyError, ValueError) as e:
                msg = e.why if isinstance(e, QFormatError) else (e.args[0] if e.args else str(e))
                out.append(AutoItem(i, art, s.name, note=f"skipped '{s.name}': {msg}"))
        if not matched:
            what = f"table kind {art.table_kind}" if art.kind == "table" else art.kind
            out.append(AutoItem(i, art, None, note=f"no plot for {what}"))
    return out
