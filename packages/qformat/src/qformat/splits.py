"""The dataset split convention every tool shares, so they all hold out the same test set.

A dataset without an official test split (the embedded digits set, an ``.npz``) has its
test set carved with :func:`stratified_split` at ``DEFAULT_TEST_FRACTION`` and the fixed
``TEST_SPLIT_SEED``: the run's ``--seed`` never moves it, and qtrain (which trains),
qsearch (which selects on validation only) and cimnoise (which measures accuracy without
torch) all agree on which samples are the untouched test set.
"""

from __future__ import annotations

import numpy as np

TEST_SPLIT_SEED = 20240601
DEFAULT_TEST_FRACTION = 0.2


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, held_out)`` sorted index arrays with ``fraction`` of every class held out.

    Per class (in sorted label order) the indices are shuffled by a PCG64 generator
    seeded with ``seed`` and the first ``round(fraction * n)`` are held out (at least
    one when ``fraction > 0`` and the class has two or more samples).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"split fraction must be in [0, 1), got {fraction}")
    y = np.asarray(y)
    rng = np.random.Generator(np.random.PCG64(seed))
    held = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(idx.size)]
        k = int(round(fraction * idx.size))
        if fraction > 0 and k == 0 and idx.size > 1:
            k = 1
        held.append(idx[:k])
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    mask = np.ones(y.shape[0], bool)
    mask[held_idx] = False
    return np.flatnonzero(mask), held_idx
