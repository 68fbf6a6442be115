"""Look and feel: colour-blind-safe colours, figure creation, headless rendering.

Figures are plain :class:`matplotlib.figure.Figure` objects (no pyplot, no global
state, no display): they render with the Agg canvas and save as PNG, SVG or PDF.
Categorical colours are the Okabe-Ito palette; continuous data use ``viridis``
(sequential) and ``RdBu_r`` (diverging, centred at zero); both stay readable with
the common colour-vision deficiencies and in greyscale.
"""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Callable

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

#: Okabe & Ito (2008) colour-blind-safe palette, most distinct first.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")
#: names of the palette colours, for documentation and tests
PALETTE_NAMES = ("blue", "orange", "bluish green", "vermillion", "reddish purple", "sky blue", "yellow", "black")
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"
#: colour of infeasible / missing cells in heat-maps
MISSING = "#d9d9d9"
HIGHLIGHT = "#D55E00"
GREY = "#9a9a9a"

RC = {
    "axes.prop_cycle": matplotlib.cycler(color=list(PALETTE)),
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "image.cmap": SEQUENTIAL,
    "svg.fonttype": "none",          # keep text as text in SVG (searchable, smaller)
    "pdf.fonttype": 42,
    "font.family": "DejaVu Sans",
}


def color(i: int) -> str:
    """The ``i``-th categorical colour (cycles through the palette)."""
    return PALETTE[i % len(PALETTE)]


def styled(func: Callable) -> Callable:
    """Run a drawing function with qviz's style (rcParams are restored afterwards)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper


def figure(width: float = 6.4, height: float = 4.0) -> Figure:
    """A new headless figure with qviz's layout engine."""
    with matplotlib.rc_context(RC):
        return Figure(figsize=(width, height), layout="constrained")


def grid(n: int, max_cols: int = 4, panel: tuple[float, float] = (3.6, 2.9), projection: str | None = None,
         extra_height: float = 0.0, sharex: bool = False, sharey: bool = False):
    """A figure with ``n`` panels in a grid of at most ``max_cols`` columns; returns ``(fig, axes list)``."""
    n = max(1, n)
    cols = min(n, max_cols)
    rows = math.ceil(n / cols)
    fig = figure(panel[0] * cols, panel[1] * rows + extra_height)
    axes = []
    first = None
    for i in range(n):
        kw = {}
        if projection:
            kw["projection"] = projection
        elif first is not None:
            if sharex:
                kw["sharex"] = first
            if sharey:
                kw["sharey"] = first
        ax = fig.add_subplot(rows, cols, i + 1, **kw)
        first = first or ax
        axes.append(ax)
    return fig, axes


def missing_cmap(name: str = SEQUENTIAL, bad=MISSING, under=None):
    """Colormap ``name`` painting NaN (infeasible) cells ``bad`` (light grey) and values below the range ``under``."""
    kw = {"bad": bad}
    if under is not None:
        kw["under"] = under
    return matplotlib.colormaps[name].with_extremes(**kw)


def fmt_bytes(n: float) -> str:
    """Bytes as B / KiB / MiB with one decimal."""
    if n is None or not np.isfinite(n):
        return "n/a"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


def note(ax, text: str) -> None:
    """Write a small grey note in the lower-left corner of an axes."""
    ax.text(0.01, 0.01, text, transform=ax.transAxes, fontsize=7, color="#555555", ha="left", va="bottom")
