"""Requantization arithmetic: multiplier quantization and the rounding rule."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qformat.requant import effective_scale, quantize_multiplier, requantize, rshift_round


@given(st.floats(1e-6, 1e3, allow_nan=False), st.integers(4, 31))
def test_quantize_multiplier_is_close(real, bits):
    if real >= 2 ** bits - 0.5:
        with pytest.raises(ValueError, match="does not fit"):
            quantize_multiplier(real, bits)
        return
    m, s = quantize_multiplier(real, bits)
    assert 0 < int(m) < 2**bits and 0 <= int(s) <= 62
    if s > 0:
        assert int(m) >= 2 ** (bits - 1) or s == 62
        assert abs(effective_scale(m, s) - real) <= real * 2.0 ** (1 - bits) + 1e-300
    else:
        assert int(m) == round(real)


@given(st.integers(-(2**31), 2**31 - 1), st.integers(1, 2**15), st.integers(0, 40))
def test_rounding_rule_is_round_half_up(acc, mult, shift):
    exact = Fraction(acc * mult, 2**shift)
    want = math.floor(exact + Fraction(1, 2)) if shift else acc * mult
    assert int(requantize(acc, mult, shift)) == want


@given(st.lists(st.integers(-(2**40), 2**40), min_size=1, max_size=20), st.integers(0, 20))
def test_rshift_round_vectorised_matches_python(xs, s):
    got = rshift_round(np.array(xs), s)
    want = [(x + (1 << (s - 1))) >> s if s else x for x in xs]
    assert got.tolist() == want


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_scales_refused(bad):
    with pytest.raises(ValueError):
        quantize_multiplier(bad, 8)
