"""ADC-read mathematics: Gaussian quantizer moments, skewed tails, lattices, against brute force."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

from cimnoise.adcmodel import _interval, lattice_unit
from cimnoise.gauss import gauss_quant_moments, quant_moments_reference
from cimnoise.quant import UniformQuantizer


@given(st.floats(-3, 3), st.floats(1e-3, 3), st.floats(0.02, 1.0), st.integers(1, 20), st.booleans())
def test_gauss_quant_moments_match_integration(mu, sigma, delta, k, anchored):
    q = UniformQuantizer(-0.7 if anchored else 0.0, delta, 0 if anchored else -k, 2 * k if anchored else k)
    fast = gauss_quant_moments(mu, sigma, q)
    ref = quant_moments_reference(mu, sigma, q, n=60_001)
    scale = max(delta, sigma) ** 2
    assert float(fast[1]) == pytest.approx(ref[1], abs=2e-3 * scale + 1e-9, rel=2e-3)
    assert float(fast[0]) == pytest.approx(ref[0], abs=5e-3 * max(delta, sigma))
    assert float(fast[2]) == pytest.approx(ref[2], abs=1e-2)


@pytest.mark.parametrize("skew", [0.0, 0.8, -1.5, 3.0])
def test_skewed_tail_integrals(skew):
    mu, sd = 1.0, 0.5
    a, b, c0 = 0.3, 1.9, 0.2
    m0, m1, m2 = (float(v) for v in _interval(mu, sd, skew, a, b, c0))
    if abs(skew) < 1e-9:
        dist = stats.norm(mu, sd)
    else:
        k = 4 / skew ** 2
        th = sd * abs(skew) / 2
        g = stats.gamma(k, scale=th)
        dist = g if skew > 0 else None
        if skew > 0:
            dist = stats.gamma(k, loc=mu - k * th, scale=th)
    if dist is None:  # negative skew: mirror
        k = 4 / skew ** 2
        th = sd * abs(skew) / 2
        mir = stats.gamma(k, loc=-mu - k * th, scale=th)
        pdf = lambda v: mir.pdf(-v)  # noqa: E731
    else:
        pdf = dist.pdf
    ref = [integrate.quad(lambda v, p=p: (v - c0) ** p * pdf(v), a, b)[0] for p in range(3)]
    assert m0 == pytest.approx(ref[0], rel=1e-6, abs=1e-10)
    assert m1 == pytest.approx(ref[1], rel=1e-6, abs=1e-10)
    assert m2 == pytest.approx(ref[2], rel=1e-6, abs=1e-10)


def test_lattice_units():
    assert lattice_unit(1 / 255, 0.9 / 7, 0.0) == pytest.approx(0.9 / 7 / 255)
    # offset: Gmin = 0.1 and Gr/D = 0.9/15 share the unit 0.02
    assert lattice_unit(1.0, 0.9 / 15, 0.1) == pytest.approx(0.02)
    assert lattice_unit(1.0, 0.9 / 15, np.pi / 30) is None     # incommensurate: no lattice
    assert lattice_unit(1.0, None, 0.0) is None
