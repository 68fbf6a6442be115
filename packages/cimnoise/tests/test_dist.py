"""Input distributions: DAC moments are exact integrals; sampling and quantiles are consistent."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cimnoise.dist import ChannelDist, dac_moments, histogram_edges, slice_stats
from cimnoise.quant import InputDAC


def _dist(seed=0, signed=False):
    rng = np.random.default_rng(seed)
    z = rng.normal(0.3, 1.0, (20000, 3))
    x = z if signed else np.maximum(z, 0)
    return ChannelDist.from_samples(x, 32)


@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("bits", [3, 6])
def test_dac_moments_match_sampling(signed, bits):
    d = _dist(1, signed)
    dac = InputDAC(bits, signed, 2.0)
    mom = dac_moments(d, dac)
    xs = d.sample(np.random.default_rng(2), 400_000)
    q = dac.quantizer()(xs)
    delta = q - xs
    np.testing.assert_allclose(mom.ex, xs.mean(0), atol=4e-3)
    np.testing.assert_allclose(mom.eq2, (q * q).mean(0), rtol=1e-2, atol=1e-3)
    np.testing.assert_allclose(mom.ed2, (delta ** 2).mean(0), rtol=2e-2, atol=1e-5)
    np.testing.assert_allclose(mom.edq, (delta * q).mean(0), atol=2e-3)
    np.testing.assert_allclose(mom.P.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_allclose(mom.p_zero, (q == 0).mean(0), atol=3e-3)


def test_point_masses_are_exact():
    # values exactly 0 (p_zero), 0.25 and 1.0 (zero-width bins) and a uniform bin
    edges = np.array([0.25, 0.25, 0.5, 1.0, 1.0])
    probs = np.array([[0.2, 0.0, 0.3, 0.1]])   # 0.25 w.p. .2, U(0.5, 1) w.p. .3, 1.0 w.p. .1
    d = ChannelDist(edges, probs, np.array([0.4]))
    mom = dac_moments(d, InputDAC(2, False, 1.0))          # levels 0, 1/3, 2/3, 1
    assert mom.ex[0] == pytest.approx(0.2 * 0.25 + 0.3 * 0.75 + 0.1)
    # U(0.5, 1): [0.5, 5/6) -> 2/3, [5/6, 1) -> 1
    expect_q = 0.2 * (1 / 3) + 0.3 * ((1 / 3) / 0.5 * (2 / 3) + (1 / 6) / 0.5 * 1.0) + 0.1 * 1.0
    assert mom.eq[0] == pytest.approx(expect_q)
    assert mom.p_zero[0] == pytest.approx(0.4)


def test_ideal_dac_keeps_the_distribution():
    d = _dist(3)
    mom = dac_moments(d, InputDAC(None, False, 3.0))
    ex, ex2 = d.moments()
    np.testing.assert_allclose(mom.eq, ex)
    assert np.all(mom.ed2 == 0)


@given(st.integers(2, 9), st.booleans(), st.sampled_from([None, 1, 2, 3]))
def test_slice_stats_are_consistent(bits, signed, k):
    d = _dist(4, signed)
    dac = InputDAC(bits, signed, 2.5, k)
    mom = dac_moments(d, dac)
    ss = slice_stats(mom, dac, d)
    f = dac.slice_factors()
    # E[code] = Σ_i F_i E[x̂_i] and E[code²] = Σ_ij F_i F_j E[x̂_i x̂_j]
    np.testing.assert_allclose(f @ ss.m1, mom.eq / dac.step, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(np.einsum("i,j,ijc->c", f, f, ss.m2), mom.eq2 / dac.step ** 2, rtol=1e-9, atol=1e-9)
    for vals, probs in ss.pmf:
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        np.testing.assert_allclose(np.rint(vals / ss.unit), vals / ss.unit, atol=1e-9)
    assert np.all(ss.lo <= ss.m1 + 1e-12) and np.all(ss.m1 <= ss.hi + 1e-12)


def test_sampling_and_quantiles():
    d = _dist(5, signed=True)
    xs = d.sample(np.random.default_rng(0), 200_000)
    d2 = ChannelDist.from_samples(xs, edges=d.edges)
    np.testing.assert_allclose(d2.probs, d.probs, atol=4e-3)
    np.testing.assert_allclose(d2.p_zero, d.p_zero, atol=3e-3)
    for q in (0.5, 0.9, 0.999):
        assert d.pooled_quantile(q) == pytest.approx(np.quantile(xs, q), abs=0.02)
        assert d.pooled_quantile(q, absolute=True) == pytest.approx(np.quantile(np.abs(xs), q), abs=0.02)
    assert d.signed and not _dist(5).signed


def test_histogram_edges_put_zero_on_an_edge():
    e = histogram_edges(np.array([-1.0, 0.5, 3.0]), 8)
    assert 0.0 in e and e[0] == -1.0 and e[-1] == 3.0
