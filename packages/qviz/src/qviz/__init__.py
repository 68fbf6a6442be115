"""qviz: every qstack artifact as a picture, and a self-contained HTML report.

>>> import qviz, qviz.samples as samples
>>> fig = qviz.draw("sweep-heatmap", samples.everything())     # a matplotlib Figure
>>> qviz.save_figure(fig, "sweep.svg")                          # doctest: +SKIP
>>> qviz.write_report(samples.everything(), "report.html")      # doctest: +SKIP

Headless (Agg), torch-free; reads any qformat artifact or bundle.
"""

__version__ = "0.1.0"

from .api import AutoItem, auto, candidates, draw, read_sources, spec  # noqa: E402
from .errors import CannotPlot, MissingColumns  # noqa: E402
from .registry import PLOTS, PlotSpec  # noqa: E402
from .render import FORMATS, figure_bytes, save_figure  # noqa: E402
from .report import build_html, write_report  # noqa: E402

__all__ = [
    "AutoItem", "CannotPlot", "FORMATS", "MissingColumns", "PLOTS", "PlotSpec", "__version__", "auto", "build_html",
    "candidates", "draw", "figure_bytes", "read_sources", "save_figure", "spec", "write_report",
]
