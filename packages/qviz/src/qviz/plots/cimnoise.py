"""cimnoise plots: SNR per layer, SNR against every swept parameter, estimate vs Monte Carlo."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ..columns import Columns, natural_key, unique_in_order
from ..errors import CannotPlot
from ..registry import is_table, register
from ..style import GREY, HIGHLIGHT, PALETTE, color, figure, grid, styled

SNR_KINDS = ("cimnoise.estimate", "cimnoise.simulate")


def _first_snr_table(a: Any, b: Any) -> bool:
    tabs = [t for t in b.of_kind("table") if t.table_kind in SNR_KINDS]
    return bool(tabs) and tabs[0] is a


@register("snr-layer", "cimnoise", "SNR of every layer (estimate and Monte Carlo simulation overlaid when both are there).",
          "a cimnoise.estimate or cimnoise.simulate table (layer, snr_db)", is_table(*SNR_KINDS),
          auto=_first_snr_table)
@styled
def snr_layer(table: Any, bundle: Any = None, **_: Any):
    """Lines with markers of SNR (dB) per layer in network order, one per estimate/simulate table."""
    tables = [table]
    if bundle is not None:
        tables += [t for t in bundle.of_kind("table") if t.table_kind in SNR_KINDS and t is not table]
    fig = figure(6.4, 3.8)
    ax = fig.add_subplot()
    layers: list = []
    for t in tables:
        c = Columns(t, "snr-layer")
        c.require("layer", "snr_db")
        for L in c.strings("layer"):
            if L not in layers:
                layers.append(L)
    pos = {L: i for i, L in enumerate(layers)}
    for i, t in enumerate(tables):
        c = Columns(t, "snr-layer")
        lay, snr = c.strings("layer"), c.floats("snr_db")
        label = t.table_kind.split(".", 1)[1]
        ax.plot([pos[L] for L in lay], snr, marker="os^D"[i % 4], color=color(i), lw=1.4, label=label)
    ax.set_xticks(np.arange(len(layers)), layers, rotation=45 if len(layers) > 6 else 0,
                  ha="right" if len(layers) > 6 else "center")
    ax.set_xlabel("layer (network order)")
    ax.set_ylabel("SNR (dB)")
    ax.legend(loc="best")
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle("Signal-to-noise ratio per layer")
    return fig


_NOT_PARAMS = {"layer", "snr_db", "snr", "noise_var", "status", "seed", "trial", "index"}


def sweep_params(cols: Columns, snr_name: str) -> list[str]:
    """Swept parameters: numeric (or text) columns other than SNR/noise/layer that take several values."""
    out = []
    for n in cols.names:
        low = n.lower()
        if n == snr_name or low in _NOT_PARAMS or "snr" in low or low.startswith("noise") or low.endswith("_db"):
            continue
        vals = cols.raw(n)
        if len(unique_in_order(vals.tolist())) > 1:
            out.append(n)
    return out


@register("snr-sweep", "cimnoise", "SNR against each swept parameter (mean over the others, min-max band; one line per layer).",
          "a cimnoise.sweep table (one or more parameter columns and snr_db)", is_table("cimnoise.sweep"),
          options=("layer",))
@styled
def snr_sweep(table: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """One panel per swept parameter; x = its values, y = SNR (dB) averaged over every other parameter
    with a min-max band, one line per layer (up to 8, else one line over all)."""
    cols = Columns(table, "snr-sweep")
    cols.require("snr_db")
    snr_name = cols.find("snr_db")
    params = sweep_params(cols, snr_name)
    if not params:
        raise CannotPlot(f"table {table.table_kind}", "", "no swept parameter: every column other than SNR and "
                                                          "layer holds a single value")
    snr = cols.floats("snr_db")
    lay = cols.strings("layer") if cols.has("layer") else np.full(len(snr), "", dtype=object)
    layers = sorted(unique_in_order(lay), key=natural_key)
    if layer is not None:
        if layer not in layers:
            raise CannotPlot(f"table {table.table_kind}", "layer", f"no layer {layer!r} (present: {', '.join(layers)})")
        layers = [layer]
    groups = layers if len(layers) <= 8 else [None]
    fig, axes = grid(len(params), max_cols=3, panel=(3.8, 3.0), sharey=True)
    for ax, p in zip(axes, params):
        raw = cols.raw(p)
        numeric = raw.dtype.kind in "iuf"
        xs = sorted(unique_in_order(raw.tolist()), key=lambda v: (v is None, v))
        xpos = np.array(xs, dtype=float) if numeric else np.arange(len(xs))
        for gi, L in enumerate(groups):
            sel_l = np.ones(len(snr), dtype=bool) if L is None else (lay == L)
            mean, lo, hi = [], [], []
            for v in xs:
                s = snr[sel_l & (raw == v)]
                s = s[np.isfinite(s)]
                mean.append(s.mean() if len(s) else np.nan)
                lo.append(s.min() if len(s) else np.nan)
                hi.append(s.max() if len(s) else np.nan)
            c = color(gi)
            ax.plot(xpos, mean, marker="o", ms=3, color=c, lw=1.4, label=L if L else "all layers")
            ax.fill_between(xpos, lo, hi, color=c, alpha=0.15, lw=0)
        if not numeric:
            ax.set_xticks(xpos, [str(v) for v in xs])
        ax.set_xlabel(p)
        ax.set_ylabel("SNR (dB)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize=7)
    fig.suptitle("SNR vs swept parameters (mean over the other parameters, band = min-max)")
    return fig


@register("snr-validate", "cimnoise", "Estimated vs Monte Carlo SNR per layer with the y = x line and the +-1 dB band.",
          "a cimnoise.validate table (estimate and Monte Carlo SNR in dB)", is_table("cimnoise.validate"),
          options=("band",))
@styled
def snr_validate(table: Any, bundle: Any = None, band: float = 1.0, **_: Any):
    """Scatter of estimate (x) against Monte Carlo (y) in dB; points outside the band are highlighted and
    named; the title counts how many agree within ``band`` dB."""
    cols = Columns(table, "snr-validate")
    cols.require("estimate_db", "mc_db")
    est, mc = cols.floats("estimate_db"), cols.floats("mc_db")
    lay = cols.strings("layer") if cols.has("layer") else np.array([str(i) for i in range(len(est))], dtype=object)
    ok = np.isfinite(est) & np.isfinite(mc)
    fig = figure(5.2, 4.8)
    ax = fig.add_subplot()
    if ok.any():
        lo = float(min(est[ok].min(), mc[ok].min())) - band - 1
        hi = float(max(est[ok].max(), mc[ok].max())) + band + 1
    else:
        lo, hi = 0.0, 1.0
    line = np.array([lo, hi])
    ax.fill_between(line, line - band, line + band, color=PALETTE[5], alpha=0.25, lw=0, label=f"+-{band:g} dB")
    ax.plot(line, line, color="black", lw=0.8, label="estimate = Monte Carlo")
    inside = ok & (np.abs(est - mc) <= band)
    outside = ok & ~inside
    ax.scatter(est[inside], mc[inside], color=PALETTE[0], s=30, zorder=3, label="within band")
    ax.scatter(est[outside], mc[outside], color=HIGHLIGHT, marker="D", s=34, zorder=3, label="outside band")
    if len(est) <= 30:
        for e, m, L in zip(est[ok], mc[ok], lay[ok]):
            ax.annotate(L, (e, m), xytext=(4, 2), textcoords="offset points", fontsize=6, color=GREY)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("estimated SNR (dB)")
    ax.set_ylabel("Monte Carlo SNR (dB)")
    ax.set_title(f"{int(inside.sum())} of {int(ok.sum())} layers within {band:g} dB")
    ax.legend(loc="upper left", fontsize=7)
    fig.suptitle("SNR estimate vs Monte Carlo")
    return fig
