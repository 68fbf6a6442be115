"""Pareto fronts: the vectorised front equals the pairwise reference."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from qviz.pareto import pareto_mask, pareto_mask_reference

vals = st.one_of(st.integers(0, 6).map(float), st.just(float("nan")), st.just(float("inf")))


@given(st.lists(st.tuples(vals, vals), max_size=30))
def test_fast_front_equals_reference(points):
    cost = np.array([p[0] for p in points], dtype=float)
    acc = np.array([p[1] for p in points], dtype=float)
    np.testing.assert_array_equal(pareto_mask(cost, acc), pareto_mask_reference(cost, acc))


def test_known_front():
    cost = np.array([1, 2, 2, 3, 4, 4, 5])
    acc = np.array([0.5, 0.7, 0.6, 0.7, 0.9, 0.9, 0.8])
    # (2, .7) beats (2, .6) and (3, .7); both (4, .9) stay (duplicates); (5, .8) is dominated
    assert pareto_mask(cost, acc).tolist() == [True, True, False, False, True, True, False]
