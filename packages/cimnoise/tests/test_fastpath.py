"""The batched estimator (all ADC reads of a weight slice in one ADC-model call, the log-series
characteristic function as one matrix product) against the per-read reference it replaced."""

from __future__ import annotations

from contextlib import contextmanager
from types import SimpleNamespace

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import cimnoise.estimator as est_mod
from cimnoise.calibrate import resolve_ranges
from cimnoise.config import CrossbarConfig
from cimnoise.crossbar import LayerMapping
from cimnoise.dist import ChannelDist
from cimnoise.estimator import _CF, estimate_mapping
from cimnoise.layers import AnalogLayer


@contextmanager
def _reference_estimator():
    """Swap in the per-read reference paths for the duration of the block."""
    saved = est_mod.estimate_crossbar, _CF._series_cf
    est_mod.estimate_crossbar, _CF._series_cf = est_mod.estimate_crossbar_reference, _CF._series_cf_reference
    try:
        yield
    finally:
        est_mod.estimate_crossbar, _CF._series_cf = saved


def _out_stats(y: np.ndarray):
    """A probe output site (histogram + exact zeros + moments) from samples."""
    d = ChannelDist.from_samples(y, 32)
    return SimpleNamespace(pdf=lambda: d.probs, edges=d.edges, p_zero=d.p_zero, mean=y.mean(axis=0), var=y.var(axis=0))


configs = st.fixed_dictionaries({
    "encoding": st.sampled_from(["differential", "offset"]),
    "input_bits": st.sampled_from([3, 4, 6, 8]),
    "weight_bits": st.sampled_from([4, 6, 8]),
    "weight_slices": st.sampled_from([1, 2, 4]),
    "input_slice_bits": st.sampled_from([None, 1, 2]),
    "adc_bits": st.sampled_from([None, 3, 4, 6, 8]),
    "adc_noise": st.sampled_from([0.0, 0.5]),
    "read_noise": st.sampled_from([0.0, 0.03]),
    "programming_error": st.sampled_from([0.0, 0.02]),
    "rows": st.sampled_from([7, 16, 1152]),
})


@given(cfg_kw=configs, seed=st.integers(0, 2 ** 16), conv=st.booleans(), use_shape=st.booleans(),
       use_rho=st.booleans(), batch=st.sampled_from([None, 5, 40]))
def test_fast_estimator_equals_the_per_read_reference(cfg_kw, seed, conv, use_shape, use_rho, batch):
    """Random small layers and configurations (tiles, weight and input slices, both encodings, ideal and
    coarse ADCs, noise, measured output shape, correlation gain, small batches): identical numbers."""
    rng = np.random.default_rng(seed)
    sparse = rng.uniform(0.0, 0.9)
    if conv:
        c = int(rng.integers(1, 4))
        layer = AnalogLayer("c", "conv2d", rng.normal(0, 0.4, (int(rng.integers(2, 7)), c, 3, 3)), None, (c, 5, 5),
                            (1, 1), (1, 1))
        x = rng.normal(0.2, 1.0, (6, c, 5, 5))
        x = np.where(rng.random(x.shape) < sparse, 0.0, np.maximum(x, 0))
        from cimnoise.probe import channel_samples
        samples = channel_samples(x)
        vec = layer.unroll(x)[0]
    else:
        n, m = int(rng.integers(3, 30)), int(rng.integers(1, 9))
        layer = AnalogLayer("l", "linear", rng.normal(0, 0.4, (m, n)))
        samples = np.where(rng.random((300, n)) < sparse, 0.0, np.maximum(rng.normal(0.2, 1.0, (300, n)), 0))
        vec = samples
    dist = ChannelDist.from_samples(samples, 16)
    if cfg_kw["adc_bits"] is None:
        cfg_kw = {**cfg_kw, "adc_noise": 0.0}          # thermal noise is given in LSB of a real ADC
    mag = cfg_kw["weight_bits"] - (cfg_kw["encoding"] == "differential")
    cfg_kw = {**cfg_kw, "weight_slices": min(cfg_kw["weight_slices"], mag)}   # no more slices than bits
    cfg = CrossbarConfig(**cfg_kw)
    mp = LayerMapping.build(layer, cfg, resolve_ranges(layer, cfg, dist, vectors=[vec]))
    y = vec @ layer.matrices()[0].T
    out_stats = _out_stats(y) if use_shape and layer.matrices()[0].shape[0] == layer.out_channels else None
    rho = rng.uniform(0.5, 2.0, layer.out_channels) if use_rho else None
    saved = est_mod.BATCH_COLUMNS
    try:
        if batch is not None:
            est_mod.BATCH_COLUMNS = batch
        fast = estimate_mapping(mp, dist, rho=rho, out_stats=out_stats)
    finally:
        est_mod.BATCH_COLUMNS = saved
    with _reference_estimator():
        ref = estimate_mapping(mp, dist, rho=rho, out_stats=out_stats)
    scale = max(float(np.max(np.abs(ref.mse))), 1e-300)
    np.testing.assert_allclose(fast.mse, ref.mse, rtol=1e-9, atol=1e-12 * scale)
    np.testing.assert_allclose(fast.mean_err, ref.mean_err, rtol=1e-9, atol=1e-12 * np.sqrt(scale))
    for k in ref.components:
        np.testing.assert_allclose(fast.components[k], ref.components[k], rtol=1e-9, atol=1e-12 * scale, err_msg=k)


@given(seed=st.integers(0, 2 ** 16), n_levels=st.integers(1, 7), n_cols=st.integers(1, 20), n_om=st.integers(1, 10))
def test_series_characteristic_function_equals_the_pair_by_pair_sum(seed, n_levels, n_cols, n_om):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    g = rng.integers(-n_levels, n_levels + 1, (n, n_cols)) * rng.uniform(0.05, 1.0)
    p = rng.uniform(0, 0.24, n)
    valid = np.where(rng.random(n) < 0.8, 1.0, rng.uniform(0.3, 1.0))
    p[0] = max(p[0], 0.01)
    unit = rng.uniform(0.1, 2.0)
    cf = _CF(np.array([0.0, unit]), unit, np.stack([1 - p, p], axis=1), valid, g, rng.uniform(0, 0.5))
    assert cf.series is not None
    om = rng.uniform(0, 30, n_om)
    cols = rng.integers(0, n_cols, 3 * n_om * n_cols)
    omegas = om[rng.integers(0, n_om, cols.size)]
    np.testing.assert_allclose(cf._series_cf(cols, omegas), cf._series_cf_reference(cols, omegas), rtol=1e-10, atol=1e-12)
