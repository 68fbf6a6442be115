"""Probe-statistics plots: activation histograms, zero fractions, ranges per site."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..errors import CannotPlot
from ..registry import is_kind, register
from ..style import GREY, PALETTE, color, figure, grid, styled


def _sites(probe: Any, layer: Optional[str]) -> list[str]:
    sites = probe.sites()
    if layer is not None:
        sites = [s for s in sites if s.rsplit(".", 1)[0] == layer]
        if not sites:
            raise CannotPlot("probe", "layer", f"no statistics for layer {layer!r} (sites: {', '.join(probe.sites())})")
    if not sites:
        raise CannotPlot("probe", "sites", "the probe holds no activation statistics")
    return sites


def _stats(probe: Any, site: str):
    layer, where = site.rsplit(".", 1)
    return probe.site(layer, where)


@register("act-hist", "probe", "Activation histogram of every probed site (all channels), zero mass shown apart.",
          "probe statistics", is_kind("probe"), options=("layer",))
@styled
def act_hist(probe: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """Step histogram of the non-zero values summed over channels, log count axis; a grey bar at 0 holds
    the exact zeros (p_zero x n x channels)."""
    sites = _sites(probe, layer)
    fig, axes = grid(len(sites), max_cols=4, panel=(3.4, 2.7))
    for i, (ax, site) in enumerate(zip(axes, sites)):
        st = _stats(probe, site)
        counts = st.counts.sum(axis=0)
        ax.stairs(counts, st.edges, fill=True, color=color(i), alpha=0.85, label="non-zero values")
        zeros = float((st.p_zero * st.n).sum()) if st.n else 0.0
        if zeros > 0:
            width = float(np.diff(st.edges).mean())
            ax.bar([0.0], [zeros], width=width, color=GREY, label="exact zeros", zorder=3)
        if counts.max(initial=0) > 0 or zeros > 0:
            ax.set_yscale("log")
        ax.set_title(f"{site}: {st.channels} ch, p(0) = {float(st.p_zero.mean()):.1%}")
        ax.set_xlabel("activation value")
        ax.set_ylabel("count")
    axes[0].legend(loc="upper right")
    fig.suptitle("Activation histograms per site")
    return fig


@register("zero-fraction", "probe", "Fraction of exact zeros at every site (mean over channels, min-max whiskers).",
          "probe statistics", is_kind("probe"), options=("layer",))
@styled
def zero_fraction(probe: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """Bars of the mean p_zero per site with whiskers from the least to the most sparse channel."""
    sites = _sites(probe, layer)
    pz = [_stats(probe, s).p_zero for s in sites]
    mean = np.array([p.mean() for p in pz])
    lo = np.array([p.min() for p in pz])
    hi = np.array([p.max() for p in pz])
    fig = figure(max(4.5, 1.0 + 0.5 * len(sites)), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(sites))
    ax.bar(x, mean, color=[PALETTE[0] if s.endswith(".in") else PALETTE[1] for s in sites])
    ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="none", ecolor="black", capsize=3, lw=1)
    ax.set_xticks(x, sites, rotation=45 if len(sites) > 5 else 0, ha="right" if len(sites) > 5 else "center")
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("site (blue = layer input, orange = layer output)")
    ax.set_ylabel("fraction of exact zeros")
    ax.set_title("mean over channels\nwhiskers: least and most sparse channel", fontsize=9)
    fig.suptitle("Activation sparsity")
    return fig


@register("act-range", "probe", "Activation range of every site: min-max, 99.9th percentile and mean.",
          "probe statistics", is_kind("probe"), options=("layer",))
@styled
def act_range(probe: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """Per site a vertical line from the smallest to the largest value seen (over channels), a diamond at
    the mean and bars at the highest stored percentile."""
    sites = _sites(probe, layer)
    fig = figure(max(4.5, 1.0 + 0.5 * len(sites)), 3.8)
    ax = fig.add_subplot()
    x = np.arange(len(sites))
    lo = np.array([_stats(probe, s).min.min() for s in sites])
    hi = np.array([_stats(probe, s).max.max() for s in sites])
    mean = np.array([float(np.average(_stats(probe, s).mean)) for s in sites])
    ax.vlines(x, lo, hi, color=PALETTE[0], lw=6, alpha=0.55, label="min - max")
    ax.scatter(x, mean, marker="D", color=PALETTE[3], zorder=3, label="mean")
    pct_label = None
    for i, s in enumerate(sites):
        st = _stats(probe, s)
        if st.percentiles:
            p = max(st.percentiles)
            ax.hlines(float(st.percentiles[p].max()), i - 0.3, i + 0.3, color="black", lw=1.5,
                      label=None if pct_label else f"{p:g}th percentile (max over channels)")
            pct_label = p
    ax.set_xticks(x, sites, rotation=45 if len(sites) > 5 else 0, ha="right" if len(sites) > 5 else "center")
    ax.set_xlabel("site")
    ax.set_ylabel("activation value")
    ax.axhline(0, color=GREY, lw=0.8)
    h, lab = ax.get_legend_handles_labels()
    fig.legend(h, lab, loc="outside lower center", ncols=len(lab))
    fig.suptitle("Activation ranges per site")
    return fig
