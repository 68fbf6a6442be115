"""The estimator against exact answers: enumeration of small layers, and the closed forms in their limits."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from cimnoise.config import CrossbarConfig
from cimnoise.crossbar import Crossbar, LayerMapping, LayerRanges
from cimnoise.dist import ChannelDist
from cimnoise.estimator import estimate_mapping
from cimnoise.layers import AnalogLayer


def _discrete_dist(values, probs, p_zero):
    """Channels taking a few exact values (point-mass bins)."""
    vals = sorted(set(v for vs in values for v in vs))
    edges = np.repeat(np.array(vals), 2)
    pm = np.zeros((len(values), edges.size - 1))
    for c, (vs, ps) in enumerate(zip(values, probs)):
        for v, p in zip(vs, ps):
            pm[c, 2 * vals.index(v)] += p
    return ChannelDist(edges, pm, np.array(p_zero))


def _enumerate_mse(cb, w, values, probs, p_zero, seed=0):
    """Exact E[(y_cim - y)²] per column by enumerating every input combination (rows independent)."""
    opts = [list(zip([0.0] + list(vs), [pz] + list(ps))) for vs, ps, pz in zip(values, probs, p_zero)]
    xs, wt = [], []
    for combo in itertools.product(*opts):
        xs.append([c[0] for c in combo])
        wt.append(np.prod([c[1] for c in combo]))
    x, wt = np.array(xs), np.array(wt)
    y = cb.run(x, np.random.default_rng(seed))
    return wt @ (y - x @ w.T) ** 2


CASES = [
    dict(encoding="differential", input_bits=3, weight_bits=4, adc_bits=4),
    dict(encoding="differential", input_bits=3, weight_bits=6, weight_slices=2, adc_bits=3),
    dict(encoding="offset", input_bits=3, weight_bits=4, adc_bits=5),
    dict(encoding="offset", input_bits=3, weight_bits=4, weight_slices=2, adc_bits=4),
    dict(encoding="differential", input_bits=3, weight_bits=5, adc_bits=6, on_off_ratio=None),
    dict(encoding="differential", input_bits=3, weight_bits=4, adc_bits=3, adc_noise=0.4, read_noise=0.05),
]


@pytest.mark.parametrize("kw", CASES)
def test_adc_reads_are_exact_on_enumerable_layers(kw):
    """Few rows, inputs and weights exactly on their grids (so only the analog part errs), every input
    combination enumerated: the estimator's read model (atom + Fourier series of the exact lattice
    characteristic function + Gaussian noise) must match. ADC ranges at full scale: no saturation."""
    rng = np.random.default_rng(1)
    lw = 2 ** (kw["weight_bits"] - 1) - 1
    w_int = rng.integers(-lw, lw + 1, (3, 4)).astype(float)
    w_int[0, 0] = lw
    w = w_int / lw * 0.8                                       # exactly on the weight grid (w_max = 0.8)
    lx = 2 ** kw["input_bits"] - 1
    values = [[1 / lx, 4 / lx, 1.0], [2 / lx, 5 / lx], [3 / lx, 1.0], [6 / lx]]   # exactly on DAC levels
    probs = [[0.2, 0.3, 0.2], [0.4, 0.3], [0.5, 0.3], [0.6]]
    p_zero = [0.3, 0.3, 0.2, 0.4]
    dist = _discrete_dist(values, probs, p_zero)
    cfg = CrossbarConfig(rows=2, **kw)
    base = Crossbar.build(w, cfg.model_copy(update={"adc_bits": None, "adc_noise": 0.0, "read_noise": 0.0}),
                          LayerRanges(1.0, False))
    # just above full scale (no saturation) and off the current lattice: no read lands exactly on a threshold,
    # where round-half-even would pick a side that a Fourier series (the mid-point) cannot know
    ranges = LayerRanges(1.0, False, base.full_scale_adc() * 1.0137)
    mp = LayerMapping.build(AnalogLayer("l", "linear", w), cfg, ranges)
    est = estimate_mapping(mp, dist)
    if kw.get("read_noise", 0) or kw.get("adc_noise", 0):
        exact = np.mean([_enumerate_mse(mp.crossbars[0], w, values, probs, p_zero, seed) for seed in range(400)], axis=0)
        rtol = 0.05
    else:
        exact = _enumerate_mse(mp.crossbars[0], w, values, probs, p_zero)
        rtol = 0.02
    if kw.get("weight_slices", 1) > 1:
        # slices of one tile read the same inputs; their quantization errors are taken as uncorrelated,
        # which a two-row toy violates most (real layers are checked against Monte Carlo elsewhere)
        rtol = 0.15
    assert np.all(est.components["weight_quant"] < 1e-20) and np.all(est.components["input_quant"] < 1e-20)
    np.testing.assert_allclose(est.mse, exact, rtol=rtol)


def _gauss_layer(seed=0, n=40, m=8):
    rng = np.random.default_rng(seed)
    w = rng.normal(0, 0.2, (m, n))
    x = np.maximum(rng.normal(0.2, 1, (20000, n)), 0)
    return AnalogLayer("l", "linear", w), x, ChannelDist.from_samples(x, 64)


def test_weight_quantization_limit_is_the_classic_formula():
    layer, x, dist = _gauss_layer()
    cfg = CrossbarConfig(input_bits=None, weight_bits=4)
    mp = LayerMapping.build(layer, cfg, LayerRanges(float(x.max()), False))
    est = estimate_mapping(mp, dist)
    e = mp.crossbars[0].grid.quantized - layer.weight
    ex, ex2 = dist.moments()
    classic = (e * e) @ (ex2 - ex * ex) + (e @ ex) ** 2       # Σe²Var(x) + (ΣeE[x])²
    np.testing.assert_allclose(est.mse, classic, rtol=1e-9)
    np.testing.assert_allclose(est.components["weight_quant"], classic, rtol=1e-9)


def test_read_noise_limit_is_the_classic_formula():
    layer, x, dist = _gauss_layer()
    a = 0.05
    cfg = CrossbarConfig(input_bits=None, weight_bits=None, read_noise=a, on_off_ratio=None)
    xmax = float(x.max())
    est = estimate_mapping(LayerMapping.build(layer, cfg, LayerRanges(xmax, False)), dist)
    _, ex2 = dist.moments()
    classic = a * a * (layer.weight ** 2) @ ex2            # α² Σ w² E[x²]
    np.testing.assert_allclose(est.mse, classic, rtol=1e-3)
    np.testing.assert_allclose(est.components["read_noise"], classic, rtol=1e-3)


def test_dac_limit_is_close_to_delta_squared_over_twelve():
    layer, x, dist = _gauss_layer()
    cfg = CrossbarConfig(input_bits=8, weight_bits=None)
    xmax = float(x.max())
    est = estimate_mapping(LayerMapping.build(layer, cfg, LayerRanges(xmax, False)), dist)
    dx = xmax / 255
    nonzero = 1 - dist.p_zero                               # exact zeros are exact
    classic = (layer.weight ** 2) @ nonzero * dx * dx / 12
    np.testing.assert_allclose(est.mse, classic, rtol=0.05)


def test_components_and_snr():
    layer, x, dist = _gauss_layer()
    cfg = CrossbarConfig(input_bits=6, weight_bits=6, read_noise=0.05, programming_error=0.02, adc_bits=7, adc_noise=0.5)
    base = Crossbar.build(layer.weight, cfg.model_copy(update={"adc_bits": None, "adc_noise": 0.0}), LayerRanges(3.0, False))
    est = estimate_mapping(LayerMapping.build(layer, cfg, LayerRanges(3.0, False, base.full_scale_adc() * 0.5)), dist)
    assert set(est.components) == {"weight_quant", "input_quant", "read_noise", "programming", "adc_thermal", "adc"}
    for k in ("weight_quant", "input_quant", "read_noise", "programming", "adc_thermal"):
        assert np.all(est.components[k] > 0)
    assert np.isfinite(est.snr_db) and est.snr_db > 0


def test_binary_series_characteristic_function_matches_the_exact_product():
    """Sparse bit planes use a log-series over conductance levels; it must equal the row-by-row product."""
    from cimnoise.estimator import _CF

    rng = np.random.default_rng(0)
    g = rng.integers(-3, 4, (200, 16)) * 0.3
    p = rng.uniform(0, 0.2, 200)
    valid = np.where(rng.random(200) < 0.9, 1.0, 0.7)
    cf = _CF(np.array([0.0, 1.0]), 1.0, np.stack([1 - p, p], axis=1), valid, g, 0.05)
    assert cf.series is not None
    cols = np.repeat(np.arange(16), 6)
    omegas = np.tile(rng.uniform(0, 20, 6), 16)
    fast = cf(cols, omegas)
    cf.series = None
    np.testing.assert_allclose(fast, cf(cols, omegas), atol=1e-6)
    dense = _CF(np.array([0.0, 1.0]), 1.0, np.stack([1 - p, p + 0.3], axis=1) / np.stack([1 - p, p + 0.3], axis=1).sum(1,
                keepdims=True), valid, g, 0.0)
    assert dense.series is None            # p >= 1/4: the series would not converge fast; exact product used
