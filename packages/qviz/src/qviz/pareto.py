"""Pareto fronts of (cost to minimise, accuracy to maximise) point sets."""

from __future__ import annotations

import numpy as np


def pareto_mask(cost: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Boolean mask of the non-dominated points (vectorised, O(n log n)).

    A point is dominated when another has cost <= and accuracy >=, one of them
    strictly. Exact duplicates do not dominate each other. Points with a NaN are
    never on the front.
    """
    cost = np.asarray(cost, dtype=np.float64)
    acc = np.asarray(acc, dtype=np.float64)
    n = len(cost)
    mask = np.zeros(n, dtype=bool)
    ok = np.flatnonzero(np.isfinite(cost) & np.isfinite(acc))
    if not len(ok):
        return mask
    c, a = cost[ok], acc[ok]
    order = np.lexsort((-a, c))                     # cost ascending, accuracy descending
    c, a = c[order], a[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    group_best = a[starts]                          # best accuracy at each distinct cost
    prev_best = np.r_[-np.inf, np.maximum.accumulate(group_best)[:-1]]   # best over strictly cheaper costs
    gid = np.cumsum(np.r_[True, c[1:] != c[:-1]]) - 1
    keep = (a == group_best[gid]) & (a > prev_best[gid])
    mask[ok[order[keep]]] = True
    return mask


def pareto_mask_reference(cost, acc) -> np.ndarray:
    """Slow twin of :func:`pareto_mask`: compare every pair."""
    import math

    cost = [float(v) for v in cost]
    acc = [float(v) for v in acc]
    valid = [math.isfinite(c) and math.isfinite(a) for c, a in zip(cost, acc)]
    out = []
    for i in range(len(cost)):
        if not valid[i]:
            out.append(False)
            continue
        dominated = False
        for j in range(len(cost)):
            if j == i or not valid[j]:
                continue
            if cost[j] <= cost[i] and acc[j] >= acc[i] and (cost[j] < cost[i] or acc[j] > acc[i]):
                dominated = True
                break
        out.append(not dominated)
    return np.array(out, dtype=bool)
