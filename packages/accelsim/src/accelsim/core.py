"""The accelerator model shared by both engines: value ids, container shares, lane layout.

Everything here is vectorised numpy and exact (integers, or the same float64
operations as the original where the original used floats).

Terminology (see README):

* a *neuron* is one row of weights (an output channel's flattened filter for conv);
* its *values* are its distinct non-zero weights; value ids are their ranks in
  ascending value order (0 .. U-1); zero weights and padding lanes get id ``-1``;
* ``S`` lanes (segments) read one *group* of inputs per step; ``G = ceil(N/S)``;
* ``C`` containers (accumulators) are split among the U values (``q_w`` each).
"""

from __future__ import annotations

import numpy as np

ORDERS = ("sequential", "interleaved")
SEMANTICS = ("v0624", "v0618", "improved")
#: the original's semantics (v0623 shares v0624's core)
ORIGINAL_SEMANTICS = ("v0624", "v0618")


def check_order(order: str) -> str:
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r} (use {' or '.join(ORDERS)})")
    return order


def check_semantics(sem: str) -> str:
    if sem not in SEMANTICS:
        raise ValueError(f"unknown semantics {sem!r} (use {', '.join(SEMANTICS)})")
    return sem


def value_ids(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per-neuron value ids of a weight matrix (rows = neurons).

    Returns ``(ids, values, counts, U)``:

    * ``ids`` ``(O, N)`` int32: rank of each weight among its row's distinct non-zero
      values (ascending, negatives first), ``-1`` for zero (``0.0`` and ``-0.0`` alike);
    * ``values`` ``(O, Umax)`` float64: the distinct non-zero values, NaN-padded;
    * ``counts`` ``(O, Umax)`` int64: how many weights carry each id (0-padded);
    * ``U`` ``(O,)`` int64: number of distinct non-zero values.
    """
    w = np.asarray(weights)
    if w.ndim != 2:
        raise ValueError(f"weights must be 2-D (neurons, fan-in), got shape {w.shape}")
    if w.dtype.kind == "f" and not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or inf")
    O, N = w.shape
    order = np.argsort(w, axis=1, kind="stable")
    ws = np.take_along_axis(w, order, axis=1)
    nz = ws != 0
    new = np.ones_like(nz)
    if N > 1:
        new[:, 1:] = ws[:, 1:] != ws[:, :-1]
    start = new & nz
    sid = np.cumsum(start, axis=1) - 1
    sid = np.where(nz, sid, -1).astype(np.int32)
    ids = np.empty_like(sid)
    np.put_along_axis(ids, order, sid, axis=1)
    U = start.sum(axis=1).astype(np.int64)
    umax = int(U.max()) if O else 0
    values = np.full((O, max(umax, 1)), np.nan)
    rows, cols = np.nonzero(start)
    values[rows, sid[rows, cols]] = ws[rows, cols]
    counts = np.zeros((O, max(umax, 1)), dtype=np.int64)
    valid = ids >= 0
    r = np.broadcast_to(np.arange(O)[:, None], ids.shape)[valid]
    np.add.at(counts, (r, ids[valid]), 1)
    return ids, values[:, :umax] if umax else values[:, :0], counts[:, :umax] if umax else counts[:, :0], U


def container_shares(counts: np.ndarray, U: np.ndarray, C) -> np.ndarray:
    """Containers per value id, exactly as the original (largest remainder, float64).

    ``counts`` ``(O, Umax)``, ``U`` ``(O,)``, ``C`` an int or array of ints ``(nC,)``.
    Returns ``q`` ``(nC, O, Umax)`` (or ``(O, Umax)`` for a scalar ``C``) with
    ``q[w] >= 1`` for every existing id, 0 for padding ids, ``sum(q) == C``.
    Rows with ``U > C`` (infeasible) are returned as all-zero.

    The original computes ``raw = freq/sum(freq)*rem`` in Python floats and hands
    the leftover containers, one at a time, to the largest fractional part (ties
    to the lowest id). That equals a stable descending sort of the float64
    fractions; we reproduce the float64 arithmetic (in that order) so exact-rational
    ties that floats break are broken the same way. Only this order reproduces the
    reference value layer 2, S16C16 = 252 (``rem*freq/sum`` gives 250, exact
    fractions 251).
    """
    counts = np.asarray(counts, dtype=np.int64)
    U = np.asarray(U, dtype=np.int64)
    scalar = np.ndim(C) == 0
    Cs = np.atleast_1d(np.asarray(C, dtype=np.int64))
    umax = counts.shape[1]
    exists = np.arange(umax)[None, :] < U[:, None]                      # (O, Umax)
    total = np.maximum(counts.sum(axis=1), 1)                           # (O,)
    rem = Cs[:, None] - U[None, :]                                      # (nC, O)
    share = counts / total[:, None]                                     # float64, as Python's int/int
    raw = share[None, :, :] * np.maximum(rem, 0)[:, :, None]            # (nC, O, Umax): (freq/total)*rem
    base = np.floor(raw)
    frac = np.where(exists[None], raw - base, -np.inf)
    base = base.astype(np.int64)
    picks = np.maximum(rem, 0) - base.sum(axis=2)                       # (nC, O)
    order = np.argsort(-frac, axis=2, kind="stable")                    # ties -> lowest id
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.broadcast_to(np.arange(umax), order.shape), axis=2)
    q = base + 1 + (rank < picks[:, :, None])
    q = np.where(exists[None] & (rem >= 0)[:, :, None], q, 0)
    return q[0] if scalar else q


def n_groups(N: int, S: int) -> int:
    """G = ceil(N / S)."""
    return -(-int(N) // int(S))


def lane_positions(N: int, S: int, order: str) -> np.ndarray:
    """``(G, S)`` input position read by lane ``s`` of group ``g`` (``>= N`` is padding).

    Sequential: ``g*S + s``. Interleaved: ``S`` contiguous segments of length G
    read in lock-step, ``s*G + g``.
    """
    check_order(order)
    G = n_groups(N, S)
    g = np.arange(G)[:, None]
    s = np.arange(S)[None, :]
    return (g * S + s) if order == "sequential" else (s * G + g)


def lane_ids(ids: np.ndarray, S: int, order: str) -> np.ndarray:
    """``(O, G, S)`` value id of every lane (``-1`` for zero weights and padding)."""
    O, N = ids.shape
    pos = lane_positions(N, S, order)
    G = pos.shape[0]
    padded = np.full((O, G * S), -1, dtype=ids.dtype)
    padded[:, :N] = ids
    return padded[:, pos]


def group_counts(lanes: np.ndarray, umax: int) -> np.ndarray:
    """``n[..., g, w]``: lanes of group ``g`` carrying id ``w`` (``lanes`` ``(..., G, S)``)."""
    lead = lanes.shape[:-1]
    flat = lanes.reshape(-1, lanes.shape[-1])
    k = max(int(umax), 1)
    key = np.arange(flat.shape[0])[:, None] * k + flat
    key = key[flat >= 0]
    n = np.bincount(key, minlength=flat.shape[0] * k)
    return n.reshape(*lead, k)[..., : int(umax)] if umax else n.reshape(*lead, k)[..., :0]


def container_map(q: np.ndarray) -> np.ndarray:
    """First container index of each value id (contiguous ranges in id order)."""
    q = np.asarray(q)
    return np.cumsum(q, axis=-1) - q


def lane_en(lanes: np.ndarray, q: np.ndarray, semantics: str = "v0624") -> tuple[np.ndarray, np.ndarray]:
    """en_acc and container of every lane.

    ``lanes`` ``(..., G, S)`` ids, ``q`` ``(..., Umax)`` shares (same leading dims).
    Returns ``(en, container)``, both shaped like ``lanes``; zero lanes get en 0 and
    container -1. ``k`` is the 1-based running count of the lane's id inside its
    group: original semantics ``en = 1`` if ``k <= q`` else ``k - q + 1``; improved
    ``en = ceil(k / q)``. The container is ``start[w] + (k-1) mod q[w]`` (round
    robin over the value's contiguous container range) in both.
    """
    lanes = np.asarray(lanes)
    q = np.asarray(q, dtype=np.int64)
    umax = q.shape[-1]
    en = np.zeros(lanes.shape, dtype=np.int64)
    cont = np.full(lanes.shape, -1, dtype=np.int64)
    if umax == 0:
        return en, cont
    start = container_map(q)
    onehot = lanes[..., None] == np.arange(umax)
    k = np.cumsum(onehot, axis=-2)                       # running count per id along the lanes
    active = lanes >= 0
    w = np.where(active, lanes, 0)
    kk = np.take_along_axis(k, w[..., None], axis=-1)[..., 0]
    qq = np.broadcast_to(q[..., None, :], lanes.shape[:-1] + (umax,))
    st = np.broadcast_to(start[..., None, :], lanes.shape[:-1] + (umax,))
    qw = np.maximum(np.take_along_axis(qq, w, axis=-1), 1)
    sw = np.take_along_axis(st, w, axis=-1)
    if semantics == "improved":
        e = -(-kk // qw)
    else:
        e = np.where(kk <= qw, 1, kk - qw + 1)
    en = np.where(active, e, 0)
    cont = np.where(active, sw + (kk - 1) % qw, -1)
    return en, cont
