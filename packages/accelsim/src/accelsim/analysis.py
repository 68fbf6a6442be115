"""Utilization (en_acc classes and container use) and cycle ranges over neurons."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import container_map, container_shares, group_counts, lane_ids, n_groups
from .fast import LayerData


@dataclass
class Utilization:
    """Container and en_acc use of one layer at one ``(S, C, order)``.

    Lanes are classified by their en value as the original's ``ana_channel_util``:
    0 idle (zero weight or padding), 1 immediate, >1 delayed by a container
    conflict. The counts are the same for every semantics (improved mode only
    changes how late a delayed lane is, ``ceil(k/q)`` instead of ``k-q+1``).
    """

    feasible: np.ndarray        # (O,)
    lanes: np.ndarray           # (O,) G*S
    idle: np.ndarray            # (O,)
    immediate: np.ndarray       # (O,)
    delayed: np.ndarray         # (O,)
    accumulations: np.ndarray   # (O, C) lanes accumulated by each container
    container_id: np.ndarray    # (O, C) value id owning each container (-1 unused)
    q: np.ndarray               # (O, Umax)


def utilization(ld: LayerData, S: int, C: int, order: str = "sequential") -> Utilization:
    """Closed-form utilization of every neuron of a layer for one configuration."""
    O, N = ld.ids.shape
    umax = ld.counts.shape[1]
    G = n_groups(N, S)
    feasible = ld.U <= C
    q = container_shares(ld.counts, ld.U, C) if umax else np.zeros((O, 0), dtype=np.int64)
    n = group_counts(lane_ids(ld.ids, S, order), umax)            # (O, G, umax)
    nnz = n.sum(axis=(1, 2))
    immediate = np.minimum(n, q[:, None, :]).sum(axis=(1, 2))
    acc = np.zeros((O, C), dtype=np.int64)
    cid = np.full((O, C), -1, dtype=np.int64)
    start = container_map(q)
    qs = np.maximum(q, 1)
    for r in range(int(q.max()) if q.size else 0):
        has = q > r                                                  # (O, umax)
        cnt = np.maximum(-(-(n - r) // qs[:, None, :]), 0).sum(axis=1)   # (O, umax)
        o, w = np.nonzero(has)
        acc[o, start[o, w] + r] = cnt[o, w]
        cid[o, start[o, w] + r] = w
    lanes = np.full(O, G * S, dtype=np.int64)
    return Utilization(feasible, lanes, lanes - nnz, immediate, nnz - immediate, acc, cid, q)


def cycle_range(cycles: np.ndarray) -> dict:
    """Null-aware statistics over neurons of an array ``(..., O)`` with ``-1`` = infeasible.

    Returns arrays over the leading axes: ``neurons``, ``feasible``, ``skipped``,
    ``min``/``max``/``mean``/``std`` (sample, ddof=1) over feasible neurons (NaN when
    none, std NaN below two; nulls in tables), ``total`` (sum; NaN when any neuron is infeasible, since then the layer
    cannot run that configuration) and ``total_feasible`` (sum over feasible ones).
    The original's analysis counted NaN skips as numbers; we do not.
    """
    c = np.asarray(cycles)
    ok = c >= 0
    nf = ok.sum(axis=-1)
    O = c.shape[-1]
    cf = np.where(ok, c, 0).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = cf.sum(axis=-1) / nf
        var = np.where(ok, (cf - mean[..., None]) ** 2, 0).sum(axis=-1) / (nf - 1)   # sample std, as pandas
    big = np.where(ok, c, np.iinfo(np.int64).max).min(axis=-1).astype(np.float64)
    small = np.where(ok, c, -1).max(axis=-1).astype(np.float64)
    none = nf == 0
    tf = cf.sum(axis=-1)
    return {
        "neurons": np.full(nf.shape, O), "feasible": nf, "skipped": O - nf,
        "min": np.where(none, np.nan, big), "max": np.where(none, np.nan, small),
        "mean": np.where(none, np.nan, mean), "std": np.where(nf < 2, np.nan, np.sqrt(var)),
        "total": np.where(nf == O, tf, np.nan), "total_feasible": np.where(none, np.nan, tf),
    }
