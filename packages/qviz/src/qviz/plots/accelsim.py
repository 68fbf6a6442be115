"""accelsim plots: cycles over segments x containers (heat-map, 3-D surface, every neuron at once),
cycle ranges, container utilization, per-cycle en_acc traces, per-neuron run cycles."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from .. import sweep as sw
from ..columns import Columns, natural_key, select_rows, unique_in_order
from ..errors import CannotPlot
from ..modelstats import mosaic
from ..registry import is_table, register
from ..style import GREY, HIGHLIGHT, MISSING, PALETTE, SEQUENTIAL, color, figure, grid, missing_cmap, styled

_INFEASIBLE = Patch(facecolor=MISSING, edgecolor="#888888", label="grey: infeasible (U > C) or not run")


def _neuron_arg(neuron: Any) -> Optional[int]:
    if neuron is None:
        return None
    try:
        return int(neuron)
    except (TypeError, ValueError):
        raise CannotPlot("--neuron", "", f"expected one neuron index here, got {neuron!r} "
                                         "(use the sweep-neurons plot, or -o DIR for one file per neuron)") from None


def draw_sc_heatmap(ax, grid_: np.ndarray, S: np.ndarray, C: np.ndarray, annotate: bool = False, colorbar: bool = True):
    """Cycles over (S rows, C columns) on ``ax``: NaN cells grey, the minimum starred. Returns the image."""
    im = ax.imshow(grid_, origin="lower", cmap=missing_cmap(SEQUENTIAL), aspect="auto", interpolation="nearest")
    ax.set_xticks(np.arange(len(C)), [str(int(c)) for c in C])
    ax.set_yticks(np.arange(len(S)), [str(int(s)) for s in S])
    ax.set_xlabel("containers C")
    ax.set_ylabel("segments S")
    best = sw.argmin_cell(grid_)
    ax.scatter([best[1]] if best else [], [best[0]] if best else [], marker="*", s=160, color="white",
               edgecolors="black", linewidths=0.8, zorder=3)
    if annotate:
        fin = grid_[np.isfinite(grid_)]
        mid = (fin.min() + fin.max()) / 2 if len(fin) else 0
        for (r, c), v in np.ndenumerate(grid_):
            if np.isfinite(v):
                ax.text(c, r, f"{v:.0f}", ha="center", va="center", fontsize=5,
                        color="white" if v < mid else "black")
    if colorbar:
        ax.figure.colorbar(im, ax=ax, label="cycles", shrink=0.9)
    return im


def best_text(grid_: np.ndarray, S: np.ndarray, C: np.ndarray) -> str:
    """``min 66 cycles at S=16, C=16`` (or a note that nothing is feasible)."""
    best = sw.argmin_cell(grid_)
    if best is None:
        return "every configuration infeasible"
    r, c = best
    return f"min {grid_[r, c]:.0f} cycles at S={int(S[r])}, C={int(C[c])} (star)"


@register("sweep-heatmap", "accelsim", "Cycles over segments S x containers C, per layer (total) or per neuron; minimum starred.",
          "an accelsim.sweep table (layer, neuron, S, C, order, cycles)", is_table("accelsim.sweep"),
          options=("layer", "neuron", "order", "semantics"))
@styled
def sweep_heatmap(table: Any, bundle: Any = None, layer: Optional[str] = None, neuron: Any = None,
                  order: Optional[str] = None, semantics: Optional[str] = None, **_: Any):
    """One heat-map per (layer, order): the layer's total cycles (NaN if any neuron is infeasible) or one
    neuron's cycles (``neuron``, in the first or given layer). Cells carry their values when alone."""
    rows = sw.SweepRows.from_table(table, "sweep-heatmap")
    n = _neuron_arg(neuron)
    orders, sem, layers = sw.pick(rows, order, semantics, layer)
    if n is not None:
        layers = layers[:1]
    panels = [(L, o) for o in orders for L in layers]
    fig, axes = grid(len(panels), max_cols=min(len(layers), 3) if len(orders) > 1 else 3, panel=(4.4, 3.6))
    for ax, (L, o) in zip(axes, panels):
        cube = sw.build_cube(rows, L, o, sem)
        g = cube.total() if n is None else cube.neuron(n)
        draw_sc_heatmap(ax, g, cube.S, cube.C, annotate=len(panels) == 1 and g.size <= 400)
        what = f"total of {len(cube.neurons)} neurons" if n is None else f"neuron {n}"
        ax.set_title(f"{L}, {o}: {what}\n{best_text(g, cube.S, cube.C)}", fontsize=9)
        if np.isnan(g).any():
            ax.legend(handles=[_INFEASIBLE], loc="upper center", bbox_to_anchor=(0.5, -0.16), fontsize=7)
    fig.suptitle(f"Cycles over segments x containers ({sem})" if sem else "Cycles over segments x containers")
    return fig


@register("sweep-surface", "accelsim", "Cycles as a 3-D surface over S x C (with a floor projection), minimum marked.",
          "an accelsim.sweep table (layer, neuron, S, C, order, cycles)", is_table("accelsim.sweep"),
          options=("layer", "neuron", "order", "semantics"))
@styled
def sweep_surface(table: Any, bundle: Any = None, layer: Optional[str] = None, neuron: Any = None,
                  order: Optional[str] = None, semantics: Optional[str] = None, **_: Any):
    """One 3-D panel per order for one layer (default: the first), total cycles or one neuron's."""
    rows = sw.SweepRows.from_table(table, "sweep-surface")
    n = _neuron_arg(neuron)
    orders, sem, layers = sw.pick(rows, order, semantics, layer)
    L = layers[0]
    fig, axes = grid(len(orders), max_cols=2, panel=(5.0, 4.4), projection="3d")
    for ax, o in zip(axes, orders):
        cube = sw.build_cube(rows, L, o, sem)
        g = cube.total() if n is None else cube.neuron(n)
        Cg, Sg = np.meshgrid(cube.C.astype(float), cube.S.astype(float))
        fin = g[np.isfinite(g)]
        if not len(fin):
            ax.text2D(0.5, 0.5, "every configuration infeasible", transform=ax.transAxes, ha="center")
            continue
        floor = fin.min() - 0.15 * (fin.max() - fin.min() + 1)
        ax.plot_surface(Cg, Sg, g, cmap=SEQUENTIAL, edgecolor="none", alpha=0.9, rstride=1, cstride=1)
        if len(cube.S) > 1 and len(cube.C) > 1:
            ax.contourf(Cg, Sg, np.where(np.isfinite(g), g, np.nan), zdir="z", offset=floor, cmap=SEQUENTIAL, alpha=0.6)
        r, c = sw.argmin_cell(g)
        ax.scatter([cube.C[c]], [cube.S[r]], [g[r, c]], marker="*", s=140, color=HIGHLIGHT, edgecolors="black",
                   depthshade=False, zorder=5)
        ax.set_zlim(floor, fin.max())
        ax.set_xlabel("containers C")
        ax.set_ylabel("segments S")
        ax.set_zlabel("cycles")
        ax.view_init(elev=28, azim=-128)
        what = f"total of {len(cube.neurons)} neurons" if n is None else f"neuron {n}"
        ax.set_title(f"{L}, {o}: {what}\nmin {g[r, c]:.0f} at S={int(cube.S[r])}, C={int(cube.C[c])}", fontsize=9)
    fig.suptitle("Cycles over segments x containers")
    return fig


def neuron_tiles(cube: sw.Cube) -> tuple[np.ndarray, np.ndarray]:
    """Every neuron's (S, C) grid divided by its own minimum, S flipped to grow upwards: ``(tiles, best)``
    with ``best[i] = (row, col)`` of each neuron's minimum inside its tile (-1 when all infeasible)."""
    c = cube.cycles
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a neuron infeasible everywhere has no minimum: NaN
        mins = np.nanmin(np.where(np.isfinite(c), c, np.nan).reshape(len(c), -1), axis=1) if c.size else np.zeros(0)
    rel = c / mins[:, None, None]
    tiles = rel[:, ::-1, :]
    flat = np.where(np.isfinite(tiles), tiles, np.inf).reshape(len(c), -1)
    arg = np.argmin(flat, axis=1)
    best = np.stack(np.unravel_index(arg, tiles.shape[1:]), axis=1)
    best[~np.isfinite(mins)] = -1
    return tiles, best


@register("sweep-neurons", "accelsim", "Every neuron's cycles over S x C in one picture (cycles / the neuron's best).",
          "an accelsim.sweep table (layer, neuron, S, C, order, cycles)", is_table("accelsim.sweep"),
          options=("layer", "order", "semantics"))
@styled
def sweep_neurons(table: Any, bundle: Any = None, layer: Optional[str] = None, order: Optional[str] = None,
                  semantics: Optional[str] = None, vmax: float = 3.0, **_: Any):
    """A mosaic per (layer, order): one small S x C tile per neuron, coloured by cycles relative to the
    neuron's own minimum (1 = its sweet spot, white dot), infeasible cells grey. One image per panel, so
    hundreds of neurons draw in well under a second."""
    rows = sw.SweepRows.from_table(table, "sweep-neurons")
    orders, sem, layers = sw.pick(rows, order, semantics, layer)
    cubes = [[sw.build_cube(rows, L, o, sem) for o in orders] for L in layers]
    shapes = []
    for per in cubes:
        cube = per[0]
        n, h, w = len(cube.neurons), len(cube.S), len(cube.C)
        cols = max(1, min(n, math.ceil(math.sqrt(n * h / w * 2.0))))
        shapes.append((cols, -(-n // cols) * (h + 1)))
    heights = [max(1, r) for _, r in shapes]
    total_w = max(c for c, _ in shapes) * (len(cubes[0][0].C) + 1) * len(orders)
    scale = 9.0 / max(total_w, 1)
    fig = figure(max(6.0, min(16.0, 10.0)), max(3.0, min(30.0, 1.4 + sum(heights) * scale * 1.05 + 0.5 * len(layers))))
    gs = fig.add_gridspec(len(layers), len(orders), height_ratios=heights)
    # gaps between tiles: background (NaN); infeasible cells: grey (drawn as 0 < vmin)
    cmap = missing_cmap(SEQUENTIAL, bad=(1, 1, 1, 0), under=MISSING)
    im = None
    axes = []
    for i, per in enumerate(cubes):
        cols = shapes[i][0]
        for j, cube in enumerate(per):
            ax = fig.add_subplot(gs[i, j])
            axes.append(ax)
            tiles, best = neuron_tiles(cube)
            n, h, w = tiles.shape
            pic = mosaic(np.where(np.isfinite(tiles), tiles, 0.0), cols)     # NaN left = gaps only
            im = ax.imshow(pic, cmap=cmap, vmin=1.0, vmax=vmax, interpolation="nearest", aspect="equal")
            ok = best[:, 0] >= 0
            k = np.arange(n)
            r0 = (k // cols) * (h + 1)
            c0 = (k % cols) * (w + 1)
            ax.scatter((c0 + best[:, 1])[ok], (r0 + best[:, 0])[ok], s=4, color="white", edgecolors="none")
            if n <= 256:
                for t in range(n):
                    ax.text(c0[t] - 0.45, r0[t] - 0.5, str(int(cube.neurons[t])), fontsize=4, va="bottom", ha="left",
                            color="#333333")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"{cube.layer}, {cube.order}: {n} neurons", fontsize=9)
            for side in ("top", "right", "left", "bottom"):
                ax.spines[side].set_visible(False)
    if im is not None:
        fig.colorbar(im, ax=axes, label="cycles / the neuron's minimum", shrink=0.6, extend="max")
    S, C = cubes[0][0].S, cubes[0][0].C
    fig.suptitle(f"Cycles of every neuron over S x C\n(each tile: C {int(C[0])}..{int(C[-1])} left to right, "
                 f"S {int(S[0])}..{int(S[-1])} bottom to top; white dot = the neuron's best; grey = infeasible)",
                 fontsize=10)
    return fig


def iter_neuron_grids(table: Any, layer: Optional[str] = None, order: Optional[str] = None,
                      semantics: Optional[str] = None, neurons: Optional[list[int]] = None) -> Iterator:
    """Yield ``(layer, order, neuron, grid, S, C)`` for every selected neuron of a sweep table."""
    rows = sw.SweepRows.from_table(table, "sweep-heatmap")
    orders, sem, layers = sw.pick(rows, order, semantics, layer)
    for L in layers:
        for o in orders:
            cube = sw.build_cube(rows, L, o, sem)
            for k, n in enumerate(cube.neurons):
                if neurons is None or int(n) in neurons:
                    yield L, o, int(n), cube.cycles[k], cube.S, cube.C


@styled
def write_each_neuron(table: Any, out_dir: Path, fmt: str = "png", dpi: int = 100, layer: Optional[str] = None,
                      order: Optional[str] = None, semantics: Optional[str] = None,
                      neurons: Optional[list[int]] = None) -> list[Path]:
    """One heat-map file per neuron (the original's per-neuron pictures), ``out_dir/<layer>/<order>/neuron_<n>.<fmt>``.

    One figure is drawn once and only its data, colour limits, marker and title change between
    files, so each file costs little more than its encoding.
    """
    fig = figure(4.6, 3.8)
    ax = fig.add_subplot()
    im = marker = cbar = None
    paths = []
    for L, o, n, g, S, C in iter_neuron_grids(table, layer, order, semantics, neurons):
        fin = g[np.isfinite(g)]
        lo, hi = (float(fin.min()), float(fin.max())) if len(fin) else (0.0, 1.0)
        reuse = not (im is None or im.get_array().shape != g.shape)
        if not reuse:
            ax.clear()
            im = draw_sc_heatmap(ax, g, S, C, colorbar=False)
            marker = ax.collections[-1] if ax.collections else None
            if cbar is None:
                cbar = fig.colorbar(im, ax=ax, label="cycles", shrink=0.9)
            else:
                cbar.update_normal(im)
        else:
            im.set_data(g)
        im.set_clim(lo, hi if hi > lo else lo + 1)
        best = sw.argmin_cell(g)
        if marker is not None:
            marker.set_offsets([[best[1], best[0]]] if best else np.empty((0, 2)))
        ax.set_title(f"{L}, neuron {n}, {o}\n{best_text(g, S, C)}", fontsize=9)
        dest = Path(out_dir) / re.sub(r"[^\w.-]", "_", L) / o / f"neuron_{n}.{fmt}"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if paths and reuse:
            fig.set_layout_engine("none")          # same grid as the file before: keep its layout
        elif not reuse:
            fig.set_layout_engine("constrained")
        fig.savefig(dest, format=fmt, dpi=dpi)
        paths.append(dest)
    return paths


def _config_axis(ax, S: np.ndarray, C: np.ndarray) -> None:
    """x axis of configurations sorted by (S, C): a tick and a faint line where S changes."""
    starts = np.flatnonzero(np.r_[True, S[1:] != S[:-1]])
    ax.set_xticks(starts, [f"S={int(S[i])}" for i in starts], rotation=90 if len(starts) > 8 else 0, fontsize=7)
    for s in starts[1:]:
        ax.axvline(s - 0.5, color="#dddddd", lw=0.6, zorder=0)
    ax.set_xlabel("configuration (S, then C ascending within each S)")
    ax.set_xlim(-0.7, len(S) - 0.3)


def _range_frames(table: Any, layer: Optional[str], order: Optional[str], semantics: Optional[str] = None) -> list[dict]:
    """Per (layer, order) arrays S, C, min, mean, max (from a range table, or computed from a sweep).
    Network rows (layer ``*``, no per-neuron statistics) are left out."""
    frames = []
    if table.table_kind == "accelsim.sweep":
        rows = sw.SweepRows.from_table(table, "cycle-range")
        orders, sem, layers = sw.pick(rows, order, semantics, layer)
        for L in layers:
            for o in orders:
                cube = sw.build_cube(rows, L, o, sem)
                r = sw.ranges(cube)
                Sg, Cg = np.meshgrid(cube.S, cube.C, indexing="ij")
                frames.append({"layer": L, "order": o, "S": Sg.ravel(), "C": Cg.ravel(), "min": r["min"].ravel(),
                               "mean": r["mean"].ravel(), "max": r["max"].ravel(),
                               "infeasible": r["infeasible"].ravel()})
        return frames
    cols = Columns(table, "cycle-range")
    cols.require("S", "C", "min", "mean", "max")
    n = table.num_rows
    keep, _ = select_rows(cols, n, {"semantics": semantics})
    lay = cols.strings("layer") if cols.has("layer") else np.full(n, "", dtype=object)
    odr = cols.strings("order") if cols.has("order") else np.full(n, "", dtype=object)
    S, C = cols.floats("S"), cols.floats("C")
    vals = {k: cols.floats(k) for k in ("min", "mean", "max")}
    inf = cols.floats("infeasible") if cols.has("infeasible") else np.zeros(n)
    keep &= np.isfinite(vals["mean"]) | np.isfinite(vals["min"])
    lay = np.where(keep, lay, None)
    layers = sorted((v for v in unique_in_order(lay) if v is not None), key=natural_key)
    if layer is not None:
        if layer not in layers:
            raise CannotPlot(f"table {table.table_kind}", "layer", f"no layer {layer!r} (present: {', '.join(layers)})")
        layers = [layer]
    orders = unique_in_order(odr) if order is None else [order]
    for L in layers:
        for o in orders:
            sel = (lay == L) & (odr == o)
            if not sel.any():
                continue
            idx = np.flatnonzero(sel)
            idx = idx[np.lexsort((C[idx], S[idx]))]
            frames.append({"layer": L, "order": o, "S": S[idx], "C": C[idx], "infeasible": inf[idx],
                           **{k: v[idx] for k, v in vals.items()}})
    if not frames:
        raise CannotPlot(f"table {table.table_kind}", "order", f"no rows with order {order!r}")
    return frames


@register("cycle-range", "accelsim", "Per configuration: cycles of the fastest, mean and slowest neuron of a layer.",
          "an accelsim.range table (S, C, min, mean, max) or an accelsim.sweep table",
          is_table("accelsim.range", "accelsim.sweep"), auto=lambda a, b: a.table_kind == "accelsim.range",
          options=("layer", "order", "semantics"))
@styled
def cycle_range(table: Any, bundle: Any = None, layer: Optional[str] = None, order: Optional[str] = None,
                semantics: Optional[str] = None, **_: Any):
    """One panel per (layer, order): a min-max bar and a mean dot per (S, C); configurations where some
    neuron is infeasible are marked with a grey tick at the bottom."""
    frames = _range_frames(table, layer, order, semantics)
    fig, axes = grid(len(frames), max_cols=2, panel=(6.0, 3.2))
    for ax, f in zip(axes, frames):
        x = np.arange(len(f["S"]))
        ok = np.isfinite(f["mean"])
        ax.vlines(x[ok], f["min"][ok], f["max"][ok], color=PALETTE[0], lw=2.2, alpha=0.55,
                  label="min - max over neurons")
        ax.scatter(x[ok], f["mean"][ok], s=8, color="black", zorder=3, label="mean")
        bad = np.asarray(f["infeasible"]) > 0
        if bad.any():
            y0 = np.nanmin(f["min"]) if ok.any() else 0
            ax.scatter(x[bad], np.full(bad.sum(), y0), marker="|", color=GREY, s=30, label="some neuron infeasible")
        _config_axis(ax, np.asarray(f["S"]), np.asarray(f["C"]))
        ax.set_ylabel("cycles per neuron")
        ax.set_title(f"{f['layer'] or 'all layers'}{', ' + f['order'] if f['order'] else ''}")
    axes[0].legend(loc="upper right", fontsize=7)
    fig.suptitle("Cycle range per configuration")
    return fig


@register("util", "accelsim", "Container utilization: share of lane slots idle, accumulated at once, or delayed.",
          "an accelsim.util table (S, C and idle/immediate/delayed, or utilization)", is_table("accelsim.util"),
          options=("layer", "order", "semantics"))
@styled
def util(table: Any, bundle: Any = None, layer: Optional[str] = None, order: Optional[str] = None,
         semantics: Optional[str] = None, **_: Any):
    """Stacked shares per (S, C) configuration and layer (idle / immediate / delayed, en_acc 0 / 1 / > 1)
    with the container utilization as a line when the table has it; or a heat-map of ``utilization``
    over S x C."""
    cols = Columns(table, "util")
    cols.require("S", "C")
    stacked = cols.has("idle", "immediate", "delayed")
    if not stacked and not cols.has("utilization"):
        cols.require("idle", "immediate", "delayed")
    n = table.num_rows
    keep, chosen = select_rows(cols, n, {"order": order, "semantics": semantics})
    if cols.has("level"):                     # accelsim writes container, neuron and layer rows: draw the layer ones
        keep &= cols.strings("level") == "layer"
    lay = cols.strings("layer") if cols.has("layer") else np.full(n, "", dtype=object)
    lay = np.where(keep, lay, None)
    layers = sorted((v for v in unique_in_order(lay) if v is not None), key=natural_key)
    if layer is not None:
        if layer not in layers:
            raise CannotPlot(f"table {table.table_kind}", "layer", f"no layer {layer!r} (present: {', '.join(layers)})")
        layers = [layer]
    S, C = cols.floats("S"), cols.floats("C")
    fig, axes = grid(len(layers), max_cols=2, panel=(5.5, 3.4))
    for ax, L in zip(axes, layers):
        idx = np.flatnonzero(lay == L)
        idx = idx[np.lexsort((C[idx], S[idx]))]
        if stacked:
            parts = {k: cols.floats(k)[idx] for k in ("idle", "immediate", "delayed")}
            tot = np.maximum(sum(parts.values()), 1e-300)
            x = np.arange(len(idx))
            bottom = np.zeros(len(idx))
            for (k, v), c in zip(parts.items(), (MISSING, PALETTE[0], PALETTE[3])):
                ax.bar(x, v / tot, bottom=bottom, color=c, width=0.85, label=k)
                bottom += v / tot
            if cols.has("utilization"):
                ax.plot(x, cols.floats("utilization")[idx], color="black", marker="o", ms=3, lw=1,
                        label="container utilization")
            ax.set_ylim(0, 1)
            ax.set_ylabel("share of lane slots")
            _config_axis(ax, S[idx], C[idx])
            for i in range(len(idx)):
                if len(idx) <= 24:
                    ax.text(i, 1.0, f"C{int(C[idx][i])}", ha="center", va="bottom", fontsize=5)
        else:
            u = cols.floats("utilization")[idx]
            Sv, Cv = np.unique(S[idx]), np.unique(C[idx])
            g = np.full((len(Sv), len(Cv)), np.nan)
            g[np.searchsorted(Sv, S[idx]), np.searchsorted(Cv, C[idx])] = u
            im = ax.imshow(g, origin="lower", cmap=missing_cmap(SEQUENTIAL), aspect="auto")
            ax.set_xticks(np.arange(len(Cv)), [str(int(c)) for c in Cv])
            ax.set_yticks(np.arange(len(Sv)), [str(int(s)) for s in Sv])
            ax.set_xlabel("containers C")
            ax.set_ylabel("segments S")
            fig.colorbar(im, ax=ax, label="utilization")
        ax.set_title(L or "all layers")
    if stacked:
        h, lab = axes[0].get_legend_handles_labels()
        fig.legend(h, lab, loc="outside lower center", ncols=len(lab))
    fig.suptitle("Container utilization" + (f" ({', '.join(chosen)})" if chosen else ""))
    return fig


_LANE = re.compile(r"^en_acc_(\d+)$")
_CONT = re.compile(r"^container_(\d+)$")


@register("trace", "accelsim", "Per-cycle en_acc of every lane (a lane x cycle raster) and the container each lane feeds.",
          "an accelsim.trace table (cycle, group, en_acc_<lane>..., container_<lane>...)", is_table("accelsim.trace"),
          options=("layer", "neuron"))
@styled
def trace(table: Any, bundle: Any = None, layer: Optional[str] = None, neuron: Any = None, **_: Any):
    """Rasters with cycles on x and lanes on y; vertical lines where a new group is loaded."""
    cols = Columns(table, "trace")
    lanes = sorted((int(m.group(1)), n) for n in cols.names if (m := _LANE.match(n)))
    conts = sorted((int(m.group(1)), n) for n in cols.names if (m := _CONT.match(n)))
    missing = [r for r in ("cycle",) if not cols.has(r)] + (["en_acc_<lane>"] if not lanes else [])
    if missing:
        from ..errors import MissingColumns

        raise MissingColumns(f"table {table.table_kind}", "trace", missing, cols.names)
    sel, _ = select_rows(cols, table.num_rows, {"layer": layer, "neuron": neuron, "S": None, "C": None,
                                                "order": None, "semantics": None})
    title = [f"{r}={cols.strings(r)[sel][0]}" for r in ("layer", "neuron", "S", "C", "order") if cols.has(r) and sel.any()]
    if not sel.any():
        raise CannotPlot(f"table {table.table_kind}", "", "no trace rows for the selected layer / neuron")
    cyc = cols.floats("cycle")[sel]
    order = np.argsort(cyc, kind="stable")
    cyc = cyc[order]
    en = np.stack([cols.floats(n)[sel][order] for _, n in lanes])          # (lanes, cycles)
    groups = cols.floats("group")[sel][order] if cols.has("group") else None
    nplots = 2 if conts else 1
    fig = figure(max(6.0, min(16.0, 2.5 + 0.06 * len(cyc))), 1.3 + nplots * (0.8 + 0.18 * len(lanes)))
    axes = fig.subplots(nplots, 1, sharex=True, squeeze=False)[:, 0]
    emax = int(np.nanmax(en)) if np.isfinite(en).any() else 1
    levels = np.arange(-0.5, max(emax, 1) + 1.5)
    base = [MISSING] + [matplotlib_color(i, max(emax, 1)) for i in range(1, max(emax, 1) + 1)]
    cm = ListedColormap(base)
    ext = (cyc[0] - 0.5, cyc[-1] + 0.5, len(lanes) - 0.5, -0.5)
    im = axes[0].imshow(en, aspect="auto", interpolation="nearest", cmap=cm, norm=BoundaryNorm(levels, cm.N), extent=ext)
    fig.colorbar(im, ax=axes[0], label="en_acc (cycles left)", ticks=np.arange(0, max(emax, 1) + 1))
    axes[0].set_ylabel("lane (segment)")
    axes[0].set_title("en_acc per lane (grey = idle)")
    if conts:
        cv = np.stack([cols.floats(n)[sel][order] for _, n in conts])
        cmax = int(np.nanmax(cv)) if np.isfinite(cv).any() else 0
        cm2 = missing_cmap(SEQUENTIAL)
        im2 = axes[1].imshow(np.where(cv < 0, np.nan, cv), aspect="auto", interpolation="nearest", cmap=cm2,
                             vmin=0, vmax=max(cmax, 1), extent=ext)
        fig.colorbar(im2, ax=axes[1], label="container index").ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1].set_ylabel("lane (segment)")
        axes[1].set_title("container fed by each lane (grey = none)")
    if groups is not None:
        g = groups.copy()
        for i in range(1, len(g)):                # null group (drain cycles): keep the previous one
            if not np.isfinite(g[i]):
                g[i] = g[i - 1]
        change = cyc[1:][np.diff(g) != 0]
        for ax in axes:
            for c in change:
                ax.axvline(c - 0.5, color="black", lw=0.5, alpha=0.35)
    axes[-1].set_xlabel("cycle")
    axes[-1].xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if not title:
        prov = getattr(table, "provenance", {}) or {}
        title = [f"{k}={prov[k]}" for k in ("S", "C", "order") if k in prov and not isinstance(prov[k], (list, dict))]
    fig.suptitle("Per-cycle en_acc trace" + (f" ({', '.join(title)})" if title else "") + f": {len(cyc)} cycles")
    return fig


def matplotlib_color(i: int, n: int) -> str:
    """The ``i``-th of ``n`` steps of the sequential colormap (as hex)."""
    import matplotlib
    from matplotlib.colors import to_hex

    return to_hex(matplotlib.colormaps[SEQUENTIAL](0.15 + 0.8 * (i - 1) / max(n - 1, 1)))


@register("run-cycles", "accelsim", "Cycles of every neuron for one configuration, per layer.",
          "an accelsim.run table (layer, neuron, cycles)", is_table("accelsim.run"), options=("layer",))
@styled
def run_cycles(table: Any, bundle: Any = None, layer: Optional[str] = None, **_: Any):
    """Bars of cycles per neuron, one panel per layer; the layer total in the title."""
    cols = Columns(table, "run-cycles")
    cols.require("layer", "neuron", "cycles")
    keep, _ = select_rows(cols, table.num_rows, {"S": None, "C": None, "order": None, "semantics": None})
    lay = np.where(keep, cols.strings("layer"), None)
    layers = sorted((v for v in unique_in_order(lay) if v is not None), key=natural_key)
    if layer is not None:
        if layer not in layers:
            raise CannotPlot(f"table {table.table_kind}", "layer", f"no layer {layer!r} (present: {', '.join(layers)})")
        layers = [layer]
    neu, cyc = cols.floats("neuron"), cols.floats("cycles")
    cfg = [f"{r}={cols.strings(r)[keep][0]}" for r in ("S", "C", "order", "semantics") if cols.has(r) and keep.any()]
    fig, axes = grid(len(layers), max_cols=3, panel=(4.2, 3.0))
    for i, (ax, L) in enumerate(zip(axes, layers)):
        sel = lay == L
        ax.bar(neu[sel], np.nan_to_num(cyc[sel]), color=color(i), width=0.85)
        bad = sel & ~np.isfinite(cyc)
        if bad.any():
            ax.scatter(neu[bad], np.zeros(bad.sum()), marker="x", color=HIGHLIGHT, label="infeasible")
            ax.legend(loc="upper right")
        ax.set_xlabel("neuron")
        ax.set_ylabel("cycles")
        ax.set_title(f"{L}: total {np.nansum(cyc[sel]):,.0f} cycles")
    fig.suptitle("Cycles per neuron" + (f" ({', '.join(cfg)})" if cfg else ""))
    return fig
