"""accelsim sweep tables as arrays: cycles cubes over (neuron, S, C), layer totals, ranges.

Fast paths are vectorised numpy; each has a slow, obvious ``*_reference`` twin
(plain Python loops over rows) that the tests compare it with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from .columns import Columns, natural_key, unique_in_order
from .errors import CannotPlot


@dataclass
class Cube:
    """Cycles of one layer, one order, one semantics: ``cycles[neuron, S, C]`` (NaN = infeasible or not run)."""

    layer: str
    order: str
    semantics: str
    neurons: np.ndarray      # (n,) neuron indices
    S: np.ndarray            # (nS,) segment counts, ascending
    C: np.ndarray            # (nC,) container counts, ascending
    cycles: np.ndarray       # (n, nS, nC) float64

    def total(self) -> np.ndarray:
        """Layer cycles per (S, C): the sum over neurons, NaN where any neuron is infeasible."""
        return self.cycles.sum(axis=0) if len(self.neurons) else np.full((len(self.S), len(self.C)), np.nan)

    def neuron(self, n: int) -> np.ndarray:
        """Cycles over (S, C) of neuron ``n`` (its index, not its position)."""
        pos = np.flatnonzero(self.neurons == n)
        if not len(pos):
            raise CannotPlot("table accelsim.sweep", f"layer {self.layer}",
                             f"no neuron {n} (neurons {int(self.neurons.min())}..{int(self.neurons.max())})")
        return self.cycles[pos[0]]


@dataclass
class SweepRows:
    """The columns of a sweep table, decoded once."""

    layer: np.ndarray
    neuron: np.ndarray
    S: np.ndarray
    C: np.ndarray
    order: np.ndarray
    semantics: np.ndarray
    cycles: np.ndarray

    @classmethod
    def from_table(cls, table: Any, plot: str) -> SweepRows:
        cols = Columns(table, plot)
        cols.require("layer", "neuron", "S", "C", "cycles")
        n = table.num_rows
        layer = cols.strings("layer")
        order = cols.strings("order") if cols.has("order") else np.full(n, "sequential", dtype=object)
        sem = cols.strings("semantics") if cols.has("semantics") else np.full(n, "", dtype=object)
        return cls(layer, cols.floats("neuron").astype(np.int64), cols.floats("S").astype(np.int64),
                   cols.floats("C").astype(np.int64), order, sem, cols.floats("cycles"))

    def layers(self) -> list[str]:
        return sorted(unique_in_order(self.layer), key=natural_key)

    def orders(self) -> list[str]:
        return unique_in_order(self.order)

    def semantics_values(self) -> list[str]:
        return unique_in_order(self.semantics)


def _select(rows: SweepRows, layer: str, order: str, semantics: str) -> np.ndarray:
    return (rows.layer == layer) & (rows.order == order) & (rows.semantics == semantics)


def build_cube(rows: SweepRows, layer: str, order: str, semantics: str) -> Cube:
    """Scatter the selected rows into a dense ``(neuron, S, C)`` array (vectorised)."""
    sel = _select(rows, layer, order, semantics)
    if not sel.any():
        raise CannotPlot("table accelsim.sweep", "", f"no rows for layer {layer!r}, order {order!r}, semantics {semantics!r}")
    nn, ss, cc, cy = rows.neuron[sel], rows.S[sel], rows.C[sel], rows.cycles[sel]
    neurons, ni = np.unique(nn, return_inverse=True)
    S, si = np.unique(ss, return_inverse=True)
    C, ci = np.unique(cc, return_inverse=True)
    flat = (ni * len(S) + si) * len(C) + ci
    if len(np.unique(flat)) != len(flat):
        raise CannotPlot("table accelsim.sweep", f"layer {layer}",
                         "duplicate rows for the same (neuron, S, C, order, semantics)")
    cube = np.full(len(neurons) * len(S) * len(C), np.nan)
    cube[flat] = cy
    return Cube(layer, order, semantics, neurons, S, C, cube.reshape(len(neurons), len(S), len(C)))


def build_cube_reference(rows: SweepRows, layer: str, order: str, semantics: str) -> Cube:
    """Slow twin of :func:`build_cube`: a dict of rows, then nested loops."""
    cells: dict = {}
    for i in range(len(rows.layer)):
        if rows.layer[i] == layer and rows.order[i] == order and rows.semantics[i] == semantics:
            key = (int(rows.neuron[i]), int(rows.S[i]), int(rows.C[i]))
            if key in cells:
                raise CannotPlot("table accelsim.sweep", f"layer {layer}",
                                 "duplicate rows for the same (neuron, S, C, order, semantics)")
            cells[key] = float(rows.cycles[i])
    if not cells:
        raise CannotPlot("table accelsim.sweep", "", f"no rows for layer {layer!r}, order {order!r}, semantics {semantics!r}")
    neurons = sorted({k[0] for k in cells})
    S = sorted({k[1] for k in cells})
    C = sorted({k[2] for k in cells})
    cube = np.full((len(neurons), len(S), len(C)), np.nan)
    for a, n in enumerate(neurons):
        for b, s in enumerate(S):
            for c, cval in enumerate(C):
                cube[a, b, c] = cells.get((n, s, cval), np.nan)
    return Cube(layer, order, semantics, np.array(neurons), np.array(S), np.array(C), cube)


def ranges(cube: Cube) -> dict[str, np.ndarray]:
    """Per (S, C): min/mean/max over feasible neurons, infeasible count, layer total (vectorised)."""
    c = cube.cycles
    feasible = np.isfinite(c)
    count = feasible.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(count > 0, np.nanmin(np.where(feasible, c, np.inf), axis=0), np.nan)
        hi = np.where(count > 0, np.nanmax(np.where(feasible, c, -np.inf), axis=0), np.nan)
        mean = np.where(count > 0, np.where(feasible, c, 0).sum(axis=0) / np.maximum(count, 1), np.nan)
    return {"min": lo, "mean": mean, "max": hi, "infeasible": len(cube.neurons) - count, "total": cube.total()}


def ranges_reference(cube: Cube) -> dict[str, np.ndarray]:
    """Slow twin of :func:`ranges`: loops over configurations and neurons."""
    nS, nC = len(cube.S), len(cube.C)
    out = {k: np.full((nS, nC), np.nan) for k in ("min", "mean", "max", "total")}
    out["infeasible"] = np.zeros((nS, nC), dtype=np.int64)
    for i in range(nS):
        for j in range(nC):
            vals = [float(v) for v in cube.cycles[:, i, j]]
            ok = [v for v in vals if v == v]
            out["infeasible"][i, j] = len(vals) - len(ok)
            if ok:
                out["min"][i, j] = min(ok)
                out["max"][i, j] = max(ok)
                out["mean"][i, j] = sum(ok) / len(ok)
            if vals and len(ok) == len(vals):
                out["total"][i, j] = sum(ok)
    return out


def argmin_cell(grid: np.ndarray) -> Optional[tuple[int, int]]:
    """(row, col) of the smallest finite value (first in row-major order), or None if all NaN."""
    if not np.isfinite(grid).any():
        return None
    flat = np.where(np.isfinite(grid), grid, np.inf)
    return tuple(int(v) for v in np.unravel_index(int(np.argmin(flat)), grid.shape))


def pick(rows: SweepRows, order: Optional[str], semantics: Optional[str], layer: Optional[str]):
    """Resolve the user's order / semantics / layer choices against what the table holds."""
    orders = rows.orders()
    sems = rows.semantics_values()
    layers = rows.layers()
    if order is not None and order not in orders:
        raise CannotPlot("table accelsim.sweep", "order", f"no rows with order {order!r} (present: {', '.join(orders)})")
    if semantics is not None and semantics not in sems:
        raise CannotPlot("table accelsim.sweep", "semantics",
                         f"no rows with semantics {semantics!r} (present: {', '.join(sems)})")
    if layer is not None and layer not in layers:
        raise CannotPlot("table accelsim.sweep", "layer", f"no layer {layer!r} (present: {', '.join(layers)})")
    return ([order] if order else orders), (semantics if semantics is not None else sems[0]), ([layer] if layer else layers)
