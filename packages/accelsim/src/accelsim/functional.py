"""Functional model: each neuron's output computed the accelerator's way.

Every lane's activation is added into the container its en/container memories
name; after the last group each container sum is multiplied by the (integer)
code of its value and the products are added. This must equal the plain integer
dot product bit for bit; :func:`check` says whether it does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .core import container_map, container_shares, lane_en, lane_ids, lane_positions
from .fast import LayerData


def id_codes(ids: np.ndarray, codes: np.ndarray, umax: int) -> np.ndarray:
    """``(O, umax)`` integer code of each value id; raises if an id maps to two codes."""
    O = ids.shape[0]
    out = np.zeros((O, max(umax, 1)), dtype=np.int64)
    seen = np.zeros((O, max(umax, 1)), dtype=bool)
    m = ids >= 0
    r = np.broadcast_to(np.arange(O)[:, None], ids.shape)[m]
    w = ids[m]
    c = codes[m]
    out[r, w] = c
    seen[r, w] = True
    if np.any(out[r, w] != c):
        raise ValueError("weight codes are not constant per shared value")
    return out[:, :umax]


def container_values(q: np.ndarray, idc: np.ndarray, C: int) -> np.ndarray:
    """``(O, C)`` code held by each container (0 for an unused one)."""
    O, umax = q.shape
    start = container_map(q)
    cv = np.zeros((O, C), dtype=np.int64)
    for w in range(umax):
        for r in range(int(q[:, w].max()) if O else 0):
            has = q[:, w] > r
            cv[np.nonzero(has)[0], start[has, w] + r] = idc[has, w]
    return cv


def lane_containers(ld: LayerData, S: int, C: int, order: str):
    """Per input position the container it is accumulated into: ``(O, N)`` (-1 idle), plus ``q`` and feasibility."""
    O, N = ld.ids.shape
    U = ld.U
    umax = ld.counts.shape[1]
    q = container_shares(ld.counts, U, C) if umax else np.zeros((O, 0), dtype=np.int64)
    feasible = U <= C
    lanes = lane_ids(ld.ids, S, order)
    _, cont = lane_en(lanes, q)
    pos = lane_positions(N, S, order)
    G = pos.shape[0]
    flat = np.full((O, G * S), -1, dtype=np.int64)
    flat[:, pos.reshape(-1)] = cont.reshape(O, -1)
    return flat[:, :N], q, feasible


@dataclass
class FunctionalResult:
    """Outputs of a layer's neurons on a batch: the accelerator's and the dot product's."""

    accel: np.ndarray      # (B, O) int64 (0 where infeasible)
    dot: np.ndarray        # (B, O) int64
    feasible: np.ndarray   # (O,) bool

    @property
    def ok(self) -> np.ndarray:
        """Per neuron: bit-exact on every sample (False never for infeasible; see ``feasible``)."""
        return np.all((self.accel == self.dot) | ~self.feasible[None, :], axis=0)


def accelerator_outputs(ld: LayerData, codes: np.ndarray, acts: np.ndarray, S: int, C: int,
                        order: str = "sequential") -> FunctionalResult:
    """Outputs of every neuron for ``acts`` ``(B, N)`` (integer, zero point removed).

    Per-container sums are formed from the lane -> container map (what the
    ``channel_idx`` memory holds), multiplied by the container's value code, and
    compared with ``acts @ codes.T``.
    """
    acts = np.asarray(acts, dtype=np.int64)
    codes = np.asarray(codes, dtype=np.int64)
    N = ld.ids.shape[1]
    if acts.ndim != 2 or acts.shape[1] != N:
        raise ValueError(f"activations must be (samples, {N}), got {acts.shape}")
    cpos, q, feasible = lane_containers(ld, S, C, order)
    umax = ld.counts.shape[1]
    idc = id_codes(ld.ids, codes, umax)
    cv = container_values(np.where(feasible[:, None], q, 0), idc, C)
    onehot = (cpos[:, :, None] == np.arange(C)[None, None, :]) & feasible[:, None, None]   # (O, N, C)
    sums = np.einsum("bn,onc->boc", acts, onehot.astype(np.int64))
    accel = np.einsum("boc,oc->bo", sums, cv)
    dot = acts @ codes.T
    return FunctionalResult(accel, dot, feasible)
