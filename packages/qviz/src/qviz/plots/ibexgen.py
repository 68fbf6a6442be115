"""ibexgen plots: cycles per layer for each target (baseline vs xmpq), with speed-ups and sizes."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..columns import Columns, unique_in_order
from ..registry import is_table, register
from ..style import color, figure, styled

_TOTAL_NAMES = {"total", "network", "all", "__total__", "sum"}


@register("ibex-cycles", "ibexgen", "Cycles per layer for each target (baseline vs xmpq), speed-up on top; code and data bytes.",
          "an ibexgen.bench table (target, layer, cycles)", is_table("ibexgen.bench"))
@styled
def ibex_cycles(table: Any, bundle: Any = None, **_: Any):
    """Grouped bars of cycles per layer and target on a log axis, the baseline/other speed-up written over
    each layer; a second panel of code and data bytes per target when the table has them."""
    cols = Columns(table, "ibex-cycles")
    cols.require("target", "layer", "cycles")
    tgt, lay, cyc = cols.strings("target"), cols.strings("layer"), cols.floats("cycles")
    targets = unique_in_order(tgt)
    if "baseline" in targets:
        targets = ["baseline"] + [t for t in targets if t != "baseline"]
    layers = [L for L in unique_in_order(lay) if L.lower() not in _TOTAL_NAMES]
    sizes = cols.has("code_bytes") or cols.has("data_bytes")
    fig = figure(max(6.0, 1.5 + 0.9 * len(layers)) + (3.5 if sizes else 0), 4.0)
    axes = fig.subplots(1, 2, width_ratios=[max(2, len(layers)), 2]) if sizes else [fig.add_subplot()]
    ax = axes[0]
    width = 0.8 / max(1, len(targets))
    grid_ = np.full((len(targets), len(layers)), np.nan)
    for i, t in enumerate(targets):
        for j, L in enumerate(layers):
            sel = (tgt == t) & (lay == L)
            if sel.any():
                grid_[i, j] = np.nansum(cyc[sel])
        ax.bar(np.arange(len(layers)) + (i - (len(targets) - 1) / 2) * width, grid_[i], width=width, color=color(i),
               label=t)
    ax.set_yscale("log")
    top = np.nanmax(grid_) if np.isfinite(grid_).any() else 1.0
    ax.set_ylim(top=top * 6)                       # headroom for the legend and the speed-up labels
    ax.set_xticks(np.arange(len(layers)), layers, rotation=45 if len(layers) > 6 else 0,
                  ha="right" if len(layers) > 6 else "center")
    ax.set_xlabel("layer")
    ax.set_ylabel("cycles (log scale)")
    if len(targets) >= 2 and targets[0] == "baseline":
        for j in range(len(layers)):
            fast = np.nanmin(grid_[1:, j]) if np.isfinite(grid_[1:, j]).any() else np.nan
            if np.isfinite(fast) and fast > 0 and np.isfinite(grid_[0, j]):
                ax.annotate(f"{grid_[0, j] / fast:.1f}x", (j, np.nanmax(grid_[:, j])), ha="center", va="bottom",
                            fontsize=7, xytext=(0, 2), textcoords="offset points")
        tb, tf = np.nansum(grid_[0]), np.nansum(grid_[1])
        ax.set_title(f"network: {tb:,.0f} vs {tf:,.0f} cycles ({tb / max(tf, 1):.1f}x faster with {targets[1]})",
                     fontsize=9)
    ax.legend(loc="upper right", ncols=len(targets))
    if sizes:
        bx = axes[1]
        parts = [r for r in ("code_bytes", "data_bytes") if cols.has(r)]
        x = np.arange(len(targets))
        bottom = np.zeros(len(targets))
        for k, r in enumerate(parts):
            vals = cols.floats(r)
            per = np.array([np.nansum(vals[(tgt == t) & np.isin(lay, layers)]) for t in targets])
            bx.bar(x, per, bottom=bottom, color=color(k + 3), label=r.replace("_", " "))
            bottom += per
        bx.set_xticks(x, targets)
        bx.set_ylabel("bytes")
        bx.set_xlabel("target")
        bx.set_title("program size", fontsize=9)
        bx.legend(loc="upper right")
    fig.suptitle("Ibex cycles per layer")
    return fig
