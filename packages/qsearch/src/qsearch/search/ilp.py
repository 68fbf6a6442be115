"""The optimal precision assignment under budgets, as a small integer program (HAWQ-V3 style).

Minimise the summed sensitivity ``sum_l s[l, p_l]`` subject to

* latency, weight bytes, flash, bit-ops: sums over layers of per-option costs
  (:meth:`~qsearch.cost.model.CostModel.tables`) below their budgets;
* peak RAM, exactly, as linear constraints: one continuous variable ``y_b``
  per buffer with ``y_b >= bytes_b(option of l)`` for every layer ``l`` that
  decides its precision (the widest reader wins) and, per step,
  ``sum_{b live} y_b + scratch <= RAM``.

Solved with ``scipy.optimize.milp`` (HiGHS). :func:`solve_bruteforce` is the
obvious reference (enumerate everything with the exact cost model) the tests
compare against.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

from ..cost.model import CostModel
from ..cost.size import ADD_REQUANT_BYTES

LINEAR_BUDGETS = ("latency_ms", "weight_bytes", "flash", "bitops")


@dataclass
class IlpResult:
    assignment: Optional[dict[str, str]]
    objective: float
    status: str
    feasible: bool


def solve_ilp(cm: CostModel, sens: np.ndarray, budgets: Mapping[str, Optional[float]],
              allowed: Optional[Mapping[str, list[str]]] = None, tie_break: str = "bitops",
              time_limit: float = 60.0) -> IlpResult:
    """Optimal assignment for sensitivities ``sens`` (layers x options) under ``budgets``.

    ``budgets`` keys: ``latency_ms``, ``weight_bytes``, ``flash``, ``bitops``,
    ``peak_ram`` (None = unconstrained). Among equally sensitive solutions the
    one with the smallest ``tie_break`` cost wins.
    """
    L, P = len(cm.layers), len(cm.space)
    sens = np.asarray(sens, dtype=np.float64)
    if sens.shape != (L, P):
        raise ValueError(f"sensitivity must be {(L, P)}, got {sens.shape}")
    t = cm.tables()
    m = cm.memory_structure()
    B = len(m["elems"])
    use_ram = budgets.get("peak_ram") is not None
    nx = L * P
    adds = [li for li in cm.net.layers if li.kind == "add"] if budgets.get("flash") is not None else []
    nz = nx + (B if use_ram else 0)       # first add indicator
    nvar = nz + len(adds)

    def xi(l: int, p: int) -> int:
        return l * P + p

    # Objective: sensitivity, plus a tie-break far below the smallest sensitivity gap.
    c = np.zeros(nvar)
    c[:nx] = sens.reshape(-1)
    if tie_break in t:
        tb = t[tie_break].reshape(-1)
        span = np.ptp(sens) if np.ptp(sens) > 0 else 1.0
        gaps = np.diff(np.unique(sens.reshape(-1)))
        gap = gaps[gaps > 0].min() if np.any(gaps > 0) else span
        c[:nx] += tb / max(tb.max() * L, 1e-300) * gap * 1e-3
    lb = np.zeros(nvar)
    ub = np.ones(nvar)
    if use_ram:
        ub[nx:nz] = np.inf
    names = cm.space.names
    for li, n in enumerate(cm.layers):
        for p in range(P):
            if allowed is not None and n in allowed and names[p] not in allowed[n]:
                ub[xi(li, p)] = 0
    integrality = np.zeros(nvar)
    integrality[:nx] = 1

    rows, lo, hi = [], [], []
    A = lil_matrix((0, nvar))

    def add_row(coefs: dict[int, float], l_: float, h_: float) -> None:
        rows.append(coefs)
        lo.append(l_)
        hi.append(h_)

    for li in range(L):
        add_row({xi(li, p): 1.0 for p in range(P)}, 1.0, 1.0)
    for key in LINEAR_BUDGETS:
        b = budgets.get(key)
        if b is None:
            continue
        const = float(t["latency_const"]) if key == "latency_ms" else 0.0
        coefs = {xi(li, p): float(t[key][li, p]) for li in range(L) for p in range(P)}
        if key == "flash":
            # An integer residual add stores its requantization parameters: z_a = 1 unless a float layer
            # decides its output precision (z_a + sum of those layers' float indicators >= 1).
            for a_i, add in enumerate(adds):
                za = nz + a_i
                coefs[za] = float(ADD_REQUANT_BYTES)
                zrow = {za: 1.0}
                for l, _ in m["sources"][cm.net.buffer_of[add.name]]:
                    for p in range(P):
                        if m["is_float"][p]:
                            zrow[xi(l, p)] = zrow.get(xi(l, p), 0.0) + 1.0
                add_row(zrow, 1.0, np.inf)
        add_row(coefs, -np.inf, float(b) - const)
    if use_ram:
        ram = float(budgets["peak_ram"])
        fixed = np.zeros(B)
        for bid in range(B):
            srcs = m["sources"][bid]
            yb = nx + bid
            if not srcs:
                fixed[bid] = (m["elems"][bid] * 32 + 7) // 8
                add_row({yb: 1.0}, float(fixed[bid]), np.inf)
            for l, what in srcs:
                bits = m["abits"] if what == "act" else m["obits"]
                coefs = {yb: 1.0}
                for p in range(P):
                    coefs[xi(l, p)] = -float((m["elems"][bid] * bits[p] + 7) // 8)
                add_row(coefs, 0.0, np.inf)
        live, sl, scratch = m["live"], m["scratch_layer"], m["scratch"]
        for s in range(live.shape[0]):
            coefs = {nx + bid: 1.0 for bid in np.nonzero(live[s])[0]}
            if sl[s] >= 0:
                for p in range(P):
                    if scratch[s, p]:
                        coefs[xi(int(sl[s]), p)] = float(scratch[s, p])
            add_row(coefs, -np.inf, ram)

    A = lil_matrix((len(rows), nvar))
    for r, coefs in enumerate(rows):
        for j, v in coefs.items():
            A[r, j] = v
    res = milp(c, constraints=LinearConstraint(A.tocsr(), np.array(lo), np.array(hi)), integrality=integrality,
               bounds=Bounds(lb, ub), options={"time_limit": time_limit})
    if res.x is None or res.status not in (0,):
        return IlpResult(None, float("inf"), str(res.message), False)
    x = np.round(res.x[:nx]).reshape(L, P)
    choice = x.argmax(axis=1)
    assign = {n: names[int(j)] for n, j in zip(cm.layers, choice)}
    return IlpResult(assign, float(sens[np.arange(L), choice].sum()), "optimal", True)


def feasible_mask(cm: CostModel, idx: np.ndarray, budgets: Mapping[str, Optional[float]]) -> np.ndarray:
    """Which assignments (rows of option indices) meet every budget, by the exact cost model."""
    met = cm.batch(idx)
    ok = np.ones(len(idx), dtype=bool)
    for k, b in budgets.items():
        if b is not None:
            ok &= met[k] <= float(b) + 1e-9 * max(1.0, abs(float(b)))
    return ok


def solve_bruteforce(cm: CostModel, sens: np.ndarray, budgets: Mapping[str, Optional[float]],
                     allowed: Optional[Mapping[str, list[str]]] = None) -> IlpResult:
    """Reference: enumerate every assignment, keep the feasible ones, take the least sensitive."""
    from itertools import product

    L, P = len(cm.layers), len(cm.space)
    names = cm.space.names
    choices = [[p for p in range(P) if allowed is None or n not in allowed or names[p] in allowed[n]]
               for n in cm.layers]
    idx = np.array(list(product(*choices)), dtype=np.int64).reshape(-1, L)
    ok = feasible_mask(cm, idx, budgets)
    if not ok.any():
        return IlpResult(None, float("inf"), "infeasible", False)
    obj = np.asarray(sens)[np.arange(L)[None, :], idx].sum(axis=1)
    obj[~ok] = np.inf
    best = int(np.argmin(obj))
    return IlpResult(cm.assignment(idx[best]), float(obj[best]), "optimal", True)
