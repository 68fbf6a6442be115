"""Fast engine: closed-form cycle counts for all neurons x configurations at once.

Per neuron the value ids and counts are computed once; per ``(S, order)`` the
per-group per-value lane counts ``n[o, g, w]`` come from one ``bincount``; per C the
container shares ``q[c, o, w]`` are computed once per layer. Then, vectorised:

* ``v0624``:   ``T = G + sum_g max(0, max_w(n - q))``
* ``v0618``:   ``T = 2G - Z + sum_g max(0, max_w(n - q))`` (Z = all-zero groups)
* ``improved``: ``c_g = max_w ceil(n / q)``; ``T = sum_g c_g + ceil(U / multipliers)``
  (all-zero groups cost nothing), reported with the saving of each step.

With activations (codes per sample), the improved schedule is also evaluated with
lanes whose activation is zero made idle (activation sparsity).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .core import (
    ORDERS,
    SEMANTICS,
    check_order,
    check_semantics,
    container_shares,
    group_counts,
    lane_ids,
    n_groups,
    value_ids,
)

#: elements of the largest temporary array (chunks over neurons keep memory bounded)
CHUNK_ELEMS = 1 << 22


@dataclass
class LayerData:
    """What the engines need from one layer: ids per neuron (rows = neurons)."""

    name: str
    ids: np.ndarray          # (O, N) int32, -1 = zero
    values: np.ndarray       # (O, Umax) distinct non-zero values, NaN-padded
    counts: np.ndarray       # (O, Umax) lanes per id
    U: np.ndarray            # (O,) distinct non-zero values
    positions: int = 1       # dot products per neuron per input (Ho*Wo for conv)
    index: np.ndarray | None = None   # original neuron numbers (after :meth:`subset`)

    @classmethod
    def from_weights(cls, name: str, weights: np.ndarray, positions: int = 1) -> LayerData:
        """Build from a ``(neurons, fan_in)`` weight matrix (floats or integer codes)."""
        ids, values, counts, U = value_ids(np.asarray(weights))
        return cls(name, ids, values, counts, U, positions)

    def subset(self, rows) -> LayerData:
        """The same layer restricted to neurons ``rows`` (their numbers kept in ``index``)."""
        rows = np.asarray(rows, dtype=np.int64)
        umax = int(self.U[rows].max()) if rows.size else 0
        return LayerData(self.name, self.ids[rows], self.values[rows][:, :umax], self.counts[rows][:, :umax],
                         self.U[rows], self.positions, self.neuron_numbers[rows])

    @property
    def neuron_numbers(self) -> np.ndarray:
        """Neuron numbers in the original layer (``arange(O)`` unless a subset)."""
        return self.index if self.index is not None else np.arange(self.O)

    @property
    def O(self) -> int:
        return self.ids.shape[0]

    @property
    def N(self) -> int:
        return self.ids.shape[1]

    @property
    def nnz(self) -> np.ndarray:
        return (self.ids >= 0).sum(axis=1)


@dataclass
class LayerGrid:
    """Cycle counts of one layer over a grid. Arrays are indexed ``[S, order, C, neuron]``;
    ``-1`` marks an infeasible configuration (U > C)."""

    layer: LayerData
    S: np.ndarray
    C: np.ndarray
    orders: tuple
    semantics: tuple
    cycles: dict                       # semantics -> int64 (nS, nO, nC, O)
    groups: np.ndarray                 # (nS,)
    empty_groups: np.ndarray           # (nS, nO, O)
    feasible: np.ndarray               # (nC, O) bool
    improved: dict = field(default_factory=dict)   # base, saved_sched, saved_skip, mult: (nS, nO, nC, O)
    act: dict = field(default_factory=dict)        # samples, mean, max, min: (nS, nO, nC, O)


def _chunks(total: int, per_item: int):
    step = max(1, CHUNK_ELEMS // max(1, per_item))
    for a in range(0, total, step):
        yield slice(a, min(total, a + step))


def _group_extra(n: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``sum_g max(0, max_w(n - q))`` for ``n`` (O, G, W) and ``q`` (nC, O, W) -> (nC, O)."""
    O, G, W = n.shape
    nC = q.shape[0]
    out = np.empty((nC, O), dtype=np.int64)
    if W == 0:
        out[:] = 0
        return out
    n16 = n.astype(np.int16)
    q16 = q.astype(np.int16)
    for sl in _chunks(O, nC * G * W):
        d = n16[None, sl] - q16[:, sl, None, :]          # (nC, o, G, W)
        m = d.max(axis=3)
        np.maximum(m, 0, out=m)
        out[:, sl] = m.sum(axis=2, dtype=np.int64)
    return out


def _group_ceil(n: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``c[c, o, g] = max_w ceil(n / q)`` (0 for an empty group) -> (nC, O, G) int16."""
    O, G, W = n.shape
    nC = q.shape[0]
    out = np.zeros((nC, O, G), dtype=np.int16)
    if W == 0:
        return out
    n16 = n.astype(np.int16)
    qs = np.maximum(q, 1).astype(np.int16)
    for sl in _chunks(O, nC * G * W):
        qq = qs[:, sl, None, :]
        c = (n16[None, sl] + qq - 1) // qq
        out[:, sl] = c.max(axis=3)
    return out


def _ranges(values: Sequence[int], what: str) -> np.ndarray:
    arr = np.asarray(sorted({int(v) for v in values}), dtype=np.int64)
    if arr.size == 0 or arr.min() < 1:
        raise ValueError(f"{what} values must be positive integers, got {list(values)}")
    return arr


def simulate_layer(layer: LayerData, S: Sequence[int], C: Sequence[int],
                   orders: Sequence[str] = ("sequential",), semantics: Sequence[str] = ("v0624",),
                   acts: np.ndarray | None = None, multipliers: int = 1) -> LayerGrid:
    """Cycles of every neuron of ``layer`` for every ``S x C x order x semantics``.

    ``acts`` (optional) are input activation codes ``(samples, N)`` where a value
    of 0 means a zero activation (subtract any zero point first); they only affect
    the improved semantics (activation sparsity).
    """
    Ss = _ranges(S, "S")
    Cs = _ranges(C, "C")
    orders = tuple(check_order(o) for o in orders)
    semantics = tuple(check_semantics(s) for s in semantics)
    if multipliers < 1:
        raise ValueError("multipliers must be >= 1")
    O, N = layer.O, layer.N
    U = layer.U
    feasible = U[None, :] <= Cs[:, None]                       # (nC, O)
    # Neurons infeasible for every C take no further work.
    live = np.nonzero(U <= Cs.max())[0]
    umax = int(U[live].max()) if live.size else 0
    ids = layer.ids[live]
    counts = layer.counts[live][:, :umax]
    q = container_shares(counts, U[live], Cs)                   # (nC, L, umax)
    nS, nO, nC = len(Ss), len(orders), len(Cs)
    shape = (nS, nO, nC, O)
    cyc = {s: np.full(shape, -1, dtype=np.int64) for s in semantics}
    groups = np.array([n_groups(N, s) for s in Ss], dtype=np.int64)
    empty = np.zeros((nS, nO, O), dtype=np.int64)
    imp: dict = {}
    act: dict = {}
    if "improved" in semantics:
        imp = {k: np.full(shape, -1, dtype=np.int64) for k in ("base", "saved_sched", "saved_skip", "mult")}
        mult = -(-U[live] // multipliers)
        if acts is not None:
            acts = np.asarray(acts)
            if acts.ndim != 2 or acts.shape[1] != N:
                raise ValueError(f"activations for layer {layer.name!r} must be (samples, {N}), got {acts.shape}")
            act = {"samples": acts.shape[0],
                   "mean": np.full(shape, np.nan), "sum": np.full(shape, -1, dtype=np.int64),
                   "max": np.full(shape, -1, dtype=np.int64),
                   "min": np.full(shape, -1, dtype=np.int64)}
    feas_live = feasible[:, live]
    for i, S_ in enumerate(Ss):
        G = int(groups[i])
        for j, order in enumerate(orders):
            lanes = lane_ids(ids, int(S_), order)               # (L, G, S)
            n = group_counts(lanes, umax)                        # (L, G, umax)
            Z = (n.sum(axis=2) == 0).sum(axis=1)                 # (L,)
            zall = np.full(O, G, dtype=np.int64)
            zall[live] = Z
            empty[i, j] = zall
            need_extra = any(s in semantics for s in ("v0624", "v0618", "improved"))
            extra = _group_extra(n, q) if need_extra else None  # (nC, L)
            for s in semantics:
                if s == "v0624":
                    t = G + extra
                elif s == "v0618":
                    t = 2 * G - Z[None, :] + extra
                else:
                    c = _group_ceil(n, q)                        # (nC, L, G)
                    t1 = G + np.maximum(c.astype(np.int64) - 1, 0).sum(axis=2)
                    t2 = c.sum(axis=2, dtype=np.int64)
                    t = t2 + mult[None, :]
                    t0 = G + extra
                    for k, v in (("base", t0), ("saved_sched", t0 - t1), ("saved_skip", t1 - t2),
                                 ("mult", np.broadcast_to(mult[None, :], t.shape))):
                        imp[k][i, j][:, live] = np.where(feas_live, v, -1)
                    if acts is not None:
                        _act_cycles(act, i, j, ids, acts, int(S_), order, umax, q, mult, live, feas_live)
                cyc[s][i, j][:, live] = np.where(feas_live, t, -1)
    return LayerGrid(layer, Ss, Cs, orders, semantics, cyc, groups, empty, feasible, imp, act)


def _act_cycles(act, i, j, ids, acts, S, order, umax, q, mult, live, feas_live) -> None:
    """Improved cycles with zero activations skipped, per sample: sum/min/max over samples."""
    B, N = acts.shape
    L = ids.shape[0]
    nC = q.shape[0]
    G = n_groups(N, S)
    tot = np.zeros((nC, L), dtype=np.int64)
    mx = np.zeros((nC, L), dtype=np.int64)
    mn = np.full((nC, L), np.iinfo(np.int64).max, dtype=np.int64)
    for sl in _chunks(B, L * G * max(S, max(umax, 1) * nC)):
        xb = acts[sl] != 0                                       # (b, N)
        b = xb.shape[0]
        masked = np.where(xb[:, None, :], ids[None, :, :], -1)   # (b, L, N)
        lanes = lane_ids(masked.reshape(-1, N), S, order)        # (b*L, G, S)
        n = group_counts(lanes, umax)                            # (b*L, G, umax)
        c = _group_ceil(n, np.tile(q, (1, b, 1)))                # (nC, b*L, G)
        t3 = c.sum(axis=2, dtype=np.int64).reshape(nC, b, L) + mult[None, None, :]
        tot += t3.sum(axis=1)
        np.maximum(mx, t3.max(axis=1), out=mx)
        np.minimum(mn, t3.min(axis=1), out=mn)
    act["sum"][i, j][:, live] = np.where(feas_live, tot, -1)
    act["mean"][i, j][:, live] = np.where(feas_live, tot / B, np.nan)
    act["max"][i, j][:, live] = np.where(feas_live, mx, -1)
    act["min"][i, j][:, live] = np.where(feas_live, mn, -1)


def concat_grids(layer: LayerData, parts: Sequence[LayerGrid]) -> LayerGrid:
    """Join grids of disjoint neuron subsets (in order) into one grid of ``layer``."""
    p0 = parts[0]
    cat = lambda key: {k: np.concatenate([getattr(p, key)[k] for p in parts], axis=-1)
                       for k in getattr(p0, key) if k != "samples"}
    act = cat("act")
    if p0.act:
        act["samples"] = p0.act["samples"]
    return LayerGrid(layer, p0.S, p0.C, p0.orders, p0.semantics, cat("cycles"), p0.groups,
                     np.concatenate([p.empty_groups for p in parts], axis=-1),
                     np.concatenate([p.feasible for p in parts], axis=-1), cat("improved"), act)


def simulate(layers: Sequence[LayerData], S, C, orders=("sequential",), semantics=("v0624",),
             acts: dict | None = None, multipliers: int = 1) -> list[LayerGrid]:
    """:func:`simulate_layer` for several layers (``acts``: layer name -> codes)."""
    return [simulate_layer(ld, S, C, orders, semantics, (acts or {}).get(ld.name), multipliers) for ld in layers]


__all__ = ["ORDERS", "SEMANTICS", "LayerData", "LayerGrid", "concat_grids", "simulate", "simulate_layer"]
