"""Design-space exploration: exhaustive enumeration and binary search over cost-sorted candidates.

Candidates are sorted by one hardware objective (latency by default); those
violating a hardware budget are dropped before any training. Then:

* :func:`pick_exhaustive` - every candidate is evaluated; the Pareto staircase
  (ascending cost, keep a point iff it is more accurate than every cheaper
  kept point) is formed and the cheapest point with ``acc >= ref - max_drop``
  is chosen.
* :func:`binary_search` - the reference's binary search, generalised to
  ``width`` evaluations per round (``width=1`` is exactly the reference loop;
  ``width=W`` uses W workers per round). It assumes accuracy grows with cost;
  when that holds it returns the same candidate as the exhaustive pick
  (tested), with ~log2(N) evaluations.

Neither ever fails for lack of a qualifying candidate: the most accurate
candidate evaluated is returned with ``qualifies=False``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np


@dataclass
class Pick:
    """The chosen candidate (an index into the cost-sorted list) and whether it meets the accuracy target."""

    index: Optional[int]
    qualifies: bool
    reason: str


def staircase(costs: Sequence[float], accs: Sequence[float]) -> list[int]:
    """Indices on the accuracy-vs-cost staircase: ascending cost, strictly increasing accuracy.

    Ties in cost are visited in index order.
    """
    order = sorted(range(len(costs)), key=lambda i: (costs[i], i))
    kept, best = [], -np.inf
    for i in order:
        if accs[i] > best:
            kept.append(i)
            best = accs[i]
    return kept


def pick_exhaustive(costs: Sequence[float], accs: Sequence[float], ref_acc: float, max_drop: float) -> Pick:
    """The cheapest candidate with ``ref_acc - acc <= max_drop`` (on the staircase); else the most accurate."""
    if len(accs) == 0:
        return Pick(None, False, "no candidate was evaluated")
    for i in staircase(costs, accs):
        if ref_acc - accs[i] <= max_drop + 1e-12:
            return Pick(i, True, f"cheapest candidate within {max_drop:g} of the reference accuracy")
    best = int(np.argmax(accs))
    return Pick(best, False, f"no candidate within {max_drop:g} of the reference accuracy {ref_acc:.4f}; "
                             f"returning the most accurate ({accs[best]:.4f})")


def binary_search(n: int, evaluate: Callable[[list[int]], Mapping[int, float]], ref_acc: float, max_drop: float,
                  width: int = 1) -> tuple[Pick, dict[int, float]]:
    """Binary search over candidates ``0..n-1`` sorted by ascending cost.

    ``evaluate(indices)`` returns the accuracy of each index (called with up
    to ``width`` new indices per round, so they can run in parallel).
    Returns the pick and every accuracy evaluated.
    """
    evaluated: dict[int, float] = {}
    lo, hi = 0, n - 1
    best: Optional[int] = None
    width = max(1, int(width))
    while lo <= hi:
        size = hi - lo + 1
        if width == 1:
            pts = [(lo + hi) // 2]
        else:
            pts = sorted({min(hi, lo + size * (j + 1) // (width + 1)) for j in range(width)})
        new = [p for p in pts if p not in evaluated]
        if new:
            evaluated.update({int(k): float(v) for k, v in evaluate(new).items()})
        passing = [p for p in pts if ref_acc - evaluated[p] <= max_drop + 1e-12]
        if passing:
            first = min(passing)
            best = first
            hi = first - 1
            below = [p for p in pts if p < first]
            lo = (max(below) + 1) if below else lo
        else:
            lo = max(pts) + 1
    if best is not None:
        return Pick(best, True, f"binary search: cheapest candidate found within {max_drop:g}"), evaluated
    if not evaluated:
        return Pick(None, False, "no candidate"), evaluated
    top = max(evaluated, key=lambda k: (evaluated[k], -k))
    return Pick(top, False, f"binary search found no candidate within {max_drop:g} of {ref_acc:.4f}; "
                            f"returning the most accurate evaluated ({evaluated[top]:.4f})"), evaluated


def budget_violation(metrics: Mapping[str, np.ndarray], budgets: Mapping[str, Optional[float]]) -> np.ndarray:
    """Sum over budgets of the relative excess ``max(0, value / budget - 1)`` (0 = within every budget)."""
    n = len(next(iter(metrics.values())))
    v = np.zeros(n)
    for k, b in budgets.items():
        if b is None:
            continue
        v += np.maximum(0.0, np.asarray(metrics[k], dtype=np.float64) / float(b) - 1.0)
    return v


def sort_candidates(metrics: Mapping[str, np.ndarray], budgets: Mapping[str, Optional[float]], objective: str
                    ) -> tuple[np.ndarray, bool]:
    """Indices of the candidates to search, cheapest first, and whether they meet every budget.

    Candidates over a budget are dropped. If none is left, the single
    least-violating candidate is returned (flagged infeasible) so the search
    still reports something.
    """
    if objective not in metrics:
        raise KeyError(f"unknown objective {objective!r} (choose from {', '.join(sorted(metrics))})")
    viol = budget_violation(metrics, budgets)
    cost = np.asarray(metrics[objective], dtype=np.float64)
    ok = np.nonzero(viol <= 1e-12)[0]
    if len(ok):
        return ok[np.lexsort((ok, cost[ok]))], True
    i = int(np.lexsort((np.arange(len(cost)), cost, viol))[0])
    return np.array([i]), False
