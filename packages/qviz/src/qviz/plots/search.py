"""Search plots: Pareto fronts, DNAS alpha/temperature history, design-space scatter."""

from __future__ import annotations

import re
from typing import Any, Optional

import numpy as np
from matplotlib.ticker import PercentFormatter

from ..columns import Columns, natural_key, unique_in_order
from ..errors import CannotPlot
from ..pareto import pareto_mask
from ..registry import is_table, register
from ..style import GREY, HIGHLIGHT, PALETTE, SEQUENTIAL, color, figure, grid, styled

TRIAL_KINDS = ("qsearch.trials", "qsearch.pareto", "qsearch.dse", "ibexgen.dse")
COSTS = ("latency", "peak_ram", "flash", "bitops")


def _budgets(table: Any) -> dict:
    prov = getattr(table, "provenance", {}) or {}
    b = prov.get("budgets") or prov.get("budget") or {}
    return b if isinstance(b, dict) else {}


def _budget_for(budgets: dict, cols: Columns, role: str) -> Optional[float]:
    name = cols.find(role)
    for key in (name, role):
        if key in budgets:
            try:
                return float(budgets[key])
            except (TypeError, ValueError):
                return None
    return None


def _cost_roles(cols: Columns, x: Optional[str]) -> list[str]:
    if x is not None:
        role = x if x in COSTS else next((r for r in COSTS if cols.find(r) == x), x)
        if role not in COSTS and cols.find(role) is None:
            raise CannotPlot("--x", "", f"unknown cost {x!r} (use {', '.join(COSTS)})")
        cols.require("accuracy", role)
        return [role]
    present = [r for r in COSTS if cols.has(r)]
    if not present:
        cols.require("accuracy", "latency")       # names what is missing
    cols.require("accuracy")
    return present


def _percent_axis(ax, values: np.ndarray, axis: str = "y") -> None:
    v = values[np.isfinite(values)]
    if len(v) and v.min() >= 0 and v.max() <= 1:
        (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0))


@register("pareto", "search", "Accuracy vs latency / RAM / flash / bit-ops for every candidate, Pareto front and chosen point.",
          "a qsearch.trials or qsearch.pareto table (accuracy and at least one of latency, peak_ram, flash, bitops)",
          is_table(*TRIAL_KINDS), options=("x",))
@styled
def pareto(table: Any, bundle: Any = None, x: Optional[str] = None, **_: Any):
    """One panel per cost (or the one given by ``x``): every trial in grey, the non-dominated staircase
    in blue, the chosen candidate as a star; budgets from provenance as dashed lines."""
    cols = Columns(table, "pareto")
    roles = _cost_roles(cols, x)
    acc = cols.floats("accuracy")
    chosen = cols.bools("chosen") if cols.has("chosen") else np.zeros(len(acc), dtype=bool)
    budgets = _budgets(table)
    fig, axes = grid(len(roles), max_cols=2, panel=(4.6, 3.6), sharey=True)
    for ax, role in zip(axes, roles):
        cost = cols.floats(role)
        front = pareto_mask(cost, acc)
        ax.scatter(cost[~front], acc[~front], s=14, color=GREY, alpha=0.8, label=f"candidates ({len(acc)})")
        order = np.argsort(cost[front], kind="stable")
        ax.step(cost[front][order], acc[front][order], where="post", color=PALETTE[0], lw=1.5)
        ax.scatter(cost[front], acc[front], s=22, color=PALETTE[0], zorder=3, label=f"Pareto front ({int(front.sum())})")
        if chosen.any():
            ax.scatter(cost[chosen], acc[chosen], s=180, marker="*", color=HIGHLIGHT, edgecolors="black",
                       linewidths=0.6, zorder=4, label="chosen")
            for c, a in zip(cost[chosen], acc[chosen]):
                ax.annotate(f"{a:.2%}" if 0 <= a <= 1 else f"{a:g}", (c, a), xytext=(6, -10),
                            textcoords="offset points", fontsize=7)
        b = _budget_for(budgets, cols, role)
        if b is not None:
            ax.axvline(b, color=HIGHLIGHT, ls="--", lw=1, label="budget")
        ax.set_xlabel(cols.label(role))
        ax.set_ylabel("accuracy")
        _percent_axis(ax, acc)
        ax.set_title(f"accuracy vs {cols.label(role).split(' (')[0]}")
    axes[0].legend(loc="lower right")
    fig.suptitle(f"Pareto front ({table.table_kind})")
    return fig


# ---- DNAS -------------------------------------------------------------------------------------

_WIDE = re.compile(r"^(?:alpha|alphas|prob|probs|p)[/:|.](?P<layer>.+)[/:|.](?P<option>[^/:|.]+)$")


def dnas_frames(table: Any) -> tuple[np.ndarray, Optional[np.ndarray], dict[str, dict[str, np.ndarray]]]:
    """``(epochs, temperature or None, {layer: {option: probability per epoch}})`` from

    * qsearch's form: a ``probs`` column (per epoch a list over layers of lists over options) with the
      layer and option names in ``provenance.layers`` / ``provenance.options``;
    * a long table (epoch, layer, option, probability);
    * a wide one (``alpha/<layer>/<option>`` columns).
    """
    cols = Columns(table, "dnas")
    cols.require("epoch")
    if "probs" in cols.names:
        return _dnas_nested(table, cols)
    if cols.has("layer", "option", "probability"):
        ep = cols.floats("epoch")
        epochs = np.unique(ep)
        pos = np.searchsorted(epochs, ep)
        lay, opt, p = cols.strings("layer"), cols.strings("option"), cols.floats("probability")
        out: dict[str, dict[str, np.ndarray]] = {}
        for L in sorted(unique_in_order(lay), key=natural_key):
            out[L] = {}
            for o in unique_in_order(opt[lay == L]):
                sel = (lay == L) & (opt == o)
                arr = np.full(len(epochs), np.nan)
                arr[pos[sel]] = p[sel]
                out[L][o] = arr
        temp = None
        if cols.has("temperature"):
            t = cols.floats("temperature")
            temp = np.full(len(epochs), np.nan)
            temp[pos] = t
        return epochs, temp, out
    wide = [(n, _WIDE.match(n)) for n in cols.names]
    wide = [(n, m) for n, m in wide if m]
    if not wide:
        raise CannotPlot(f"table {table.table_kind}", "",
                         "missing column(s) layer, option, probability (long form) or alpha/<layer>/<option> columns "
                         f"(wide form) needed by the 'dnas' plot (columns present: {', '.join(cols.names[:14])})")
    ep = cols.floats("epoch")
    order = np.argsort(ep, kind="stable")
    out = {}
    for n, m in wide:
        out.setdefault(m.group("layer"), {})[m.group("option")] = cols.raw(n).astype(np.float64)[order]
    out = {k: out[k] for k in sorted(out, key=natural_key)}
    temp = cols.floats("temperature")[order] if cols.has("temperature") else None
    return ep[order], temp, out


def _dnas_nested(table: Any, cols: Columns):
    prov = getattr(table, "provenance", {}) or {}
    ep = cols.floats("epoch")
    order = np.argsort(ep, kind="stable")
    probs = table.column("probs").to_pylist()
    probs = [probs[i] for i in order]
    first = next((p for p in probs if p), None)
    if first is None:
        raise CannotPlot(f"table {table.table_kind}", "probs", "every row is empty")
    layers = prov.get("layers")
    options = prov.get("options")
    if isinstance(options, dict):
        options = options.get("options")
    layers = [str(v) for v in layers] if isinstance(layers, list) and len(layers) == len(first) else \
        [f"layer {i}" for i in range(len(first))]
    n_opt = max(len(p) for p in first)
    options = [str(v) for v in options] if isinstance(options, list) and len(options) == n_opt else \
        [f"option {j}" for j in range(n_opt)]
    out: dict[str, dict[str, np.ndarray]] = {L: {o: np.full(len(probs), np.nan) for o in options} for L in layers}
    for e, p in enumerate(probs):
        for i, row in enumerate(p or []):
            for j, v in enumerate(row or []):
                if i < len(layers) and j < len(options) and v is not None:
                    out[layers[i]][options[j]][e] = v
    temp = cols.floats("temperature")[order] if cols.has("temperature") else None
    return ep[order], temp, out


@register("dnas", "search", "DNAS: probability of every precision option per layer over epochs, and the temperature.",
          "a qsearch.dnas_history table (epoch, temperature, per-layer alpha probabilities)",
          is_table("qsearch.dnas_history"), options=("layer",))
@styled
def dnas(table: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """Temperature (log axis) on top; below, one panel per layer with a line per option (<= 16 layers),
    or one layer x epoch heat-map per option for bigger networks."""
    epochs, temp, probs = dnas_frames(table)
    if layer is not None:
        if layer not in probs:
            raise CannotPlot(f"table {table.table_kind}", "layer", f"no layer {layer!r} (layers: {', '.join(probs)})")
        probs = {layer: probs[layer]}
    options = unique_in_order(o for d in probs.values() for o in d)
    ocolor = {o: color(i) for i, o in enumerate(options)}
    many = len(probs) > 16
    n_panels = (len(options) if many else len(probs)) + 1
    fig, axes = grid(n_panels, max_cols=4 if not many else 3, panel=(3.4, 2.6))
    tax = axes[0]
    if temp is not None and np.isfinite(temp).any():
        tax.plot(epochs, temp, color="black", marker=".", lw=1.2)
        if np.nanmin(temp) > 0:
            tax.set_yscale("log")
        tax.set_title("temperature")
        tax.set_ylabel("temperature T")
    else:
        tax.text(0.5, 0.5, "no temperature column", ha="center", va="center", transform=tax.transAxes)
        tax.set_title("temperature")
    tax.set_xlabel("epoch")
    if not many:
        for ax, (L, d) in zip(axes[1:], probs.items()):
            for o, v in d.items():
                ax.plot(epochs, v, color=ocolor[o], lw=1.5, label=o)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(L)
            ax.set_xlabel("epoch")
            ax.set_ylabel("probability")
        axes[1].legend(loc="best", ncols=2)
    else:
        names = list(probs)
        for ax, o in zip(axes[1:], options):
            img = np.stack([probs[L].get(o, np.full(len(epochs), np.nan)) for L in names])
            im = ax.imshow(img, aspect="auto", cmap=SEQUENTIAL, vmin=0, vmax=1, interpolation="nearest",
                           extent=(epochs[0] - 0.5, epochs[-1] + 0.5, len(names) - 0.5, -0.5))
            ax.set_title(f"P({o})")
            ax.set_xlabel("epoch")
            ax.set_ylabel("layer index")
            fig.colorbar(im, ax=ax, label="probability", shrink=0.8)
    fig.suptitle("DNAS: precision probabilities and temperature over epochs")
    return fig


@register("dse", "search", "Design-space scatter: every candidate by two costs, coloured by accuracy, chosen marked.",
          "a qsearch.trials table with accuracy and two of latency, peak_ram, flash, bitops",
          is_table(*TRIAL_KINDS), auto=lambda a, b: sum(Columns(a, "dse").has(r) for r in COSTS) >= 2,
          options=("x", "y"))
@styled
def dse(table: Any, bundle: Any = None, x: Optional[str] = None, y: Optional[str] = None, **_: Any):
    """Scatter of cost ``x`` (default latency) vs cost ``y`` (default peak RAM, else flash) coloured by
    accuracy, with the chosen point and budget lines from provenance."""
    cols = Columns(table, "dse")
    present = [r for r in COSTS if cols.has(r)]
    xr = x or (present[0] if present else "latency")
    rest = [r for r in present if r != xr]
    yr = y or (rest[0] if rest else "peak_ram")
    cols.require("accuracy", xr, yr)
    acc, xv, yv = cols.floats("accuracy"), cols.floats(xr), cols.floats(yr)
    fig = figure(6.0, 4.4)
    ax = fig.add_subplot()
    sc = ax.scatter(xv, yv, c=acc, cmap=SEQUENTIAL, s=28, edgecolors="none")
    cb = fig.colorbar(sc, ax=ax, label="accuracy")
    v = acc[np.isfinite(acc)]
    if len(v) and v.min() >= 0 and v.max() <= 1:
        cb.ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    if cols.has("chosen"):
        ch = cols.bools("chosen")
        if ch.any():
            ax.scatter(xv[ch], yv[ch], s=200, marker="*", color=HIGHLIGHT, edgecolors="black", linewidths=0.6,
                       zorder=4, label="chosen")
    budgets = _budgets(table)
    bx, by = _budget_for(budgets, cols, xr), _budget_for(budgets, cols, yr)
    if bx is not None:
        ax.axvline(bx, color=HIGHLIGHT, ls="--", lw=1, label=f"{xr} budget")
    if by is not None:
        ax.axhline(by, color=HIGHLIGHT, ls=":", lw=1, label=f"{yr} budget")
    ax.set_xlabel(cols.label(xr))
    ax.set_ylabel(cols.label(yr))
    ax.set_title(f"{len(acc)} candidates")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper left")
    fig.suptitle("Design space")
    return fig
