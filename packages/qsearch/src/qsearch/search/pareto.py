"""Pareto fronts over evaluated candidates.

``pareto`` (joint): a candidate is on the front when no other candidate is at
least as accurate *and* no worse on every cost (latency, peak RAM, flash,
bit-ops) while strictly better somewhere. ``pareto_<metric>``: the
two-dimensional front of accuracy versus that one cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

COSTS = ("latency", "peak_ram", "flash", "bitops")


def non_dominated(acc: Sequence[float], costs: Sequence[Sequence[float]]) -> np.ndarray:
    """Boolean mask of points not dominated (maximise ``acc``, minimise every row of ``costs``).

    Points with a missing (NaN) accuracy are never on the front. O(n^2), obvious.
    """
    a = np.asarray(acc, dtype=np.float64)
    c = np.asarray(costs, dtype=np.float64).reshape(-1, len(a)) if len(a) else np.zeros((0, 0))
    n = len(a)
    mask = np.zeros(n, dtype=bool)
    valid = ~np.isnan(a)
    for i in range(n):
        if not valid[i]:
            continue
        ge = valid & (a >= a[i]) & np.all(c <= c[:, [i]], axis=0)
        strict = (a > a[i]) | np.any(c < c[:, [i]], axis=0)
        mask[i] = not np.any(ge & strict)
    return mask


def pareto_flags(rows: Sequence[Mapping], acc_key: str = "accuracy", costs: Sequence[str] = COSTS) -> dict[str, np.ndarray]:
    """``{"pareto": joint mask, "pareto_<cost>": 2-D masks}`` for trial rows (dicts)."""
    acc = [r.get(acc_key) if r.get(acc_key) is not None else np.nan for r in rows]
    out = {"pareto": non_dominated(acc, [[float(r[k]) for r in rows] for k in costs])}
    for k in costs:
        out[f"pareto_{k}"] = non_dominated(acc, [[float(r[k]) for r in rows]])
    return out
