"""The Monte-Carlo crossbar: exact reconstruction, fast paths vs the slow reference, Cross-Sim figures."""

from __future__ import annotations

import numpy as np
import pytest

from cimnoise.config import CrossbarConfig
from cimnoise.crossbar import Crossbar, LayerMapping, LayerRanges, factor_moments, sample_factor
from cimnoise.layers import AnalogLayer


def _setup(seed=0, m=6, n=20, b=8):
    rng = np.random.default_rng(seed)
    return rng.normal(0, 0.2, (m, n)), rng.normal(0.2, 1, (b, n)), rng


@pytest.mark.parametrize("enc", ["differential", "offset"])
@pytest.mark.parametrize("ws,xs", [(1, None), (2, 1), (3, 2)])
def test_noise_free_is_the_quantized_product(enc, ws, xs):
    w, x, rng = _setup()
    x = np.abs(x)
    cfg = CrossbarConfig(input_bits=6, weight_bits=7, weight_slices=ws, input_slice_bits=xs, encoding=enc, rows=7)
    cb = Crossbar.build(w, cfg, LayerRanges(float(x.max()), False))
    xq = cb.dac.dequantize(cb.dac.codes(x))
    np.testing.assert_allclose(cb.run(x, rng), xq @ cb.grid.quantized.T, atol=1e-10)


@pytest.mark.parametrize("enc", ["differential", "offset"])
def test_fast_path_equals_reference_without_noise(enc):
    """With an ADC but no noise both are deterministic: identical outputs."""
    w, x, rng = _setup()
    cfg = CrossbarConfig(input_bits=5, weight_bits=6, weight_slices=2, input_slice_bits=2, encoding=enc, rows=8, adc_bits=5)
    full = Crossbar.build(w, cfg.model_copy(update={"adc_bits": None}), LayerRanges(2.5, True)).full_scale_adc()
    # a range off the current lattice, so no read lands exactly on a threshold (summation order would decide ties)
    cb = Crossbar.build(w, cfg, LayerRanges(2.5, True, full * 0.41371))
    np.testing.assert_allclose(cb.run(x, rng), cb.run_reference(x, rng), atol=1e-10)


def _mse(cb, x, mode, seed, reps):
    rng = np.random.default_rng(seed)
    ideal = Crossbar.build(cb.grid.quantized, cb.cfg.model_copy(update={"read_noise": 0.0, "programming_error": 0.0,
                                                                          "adc_bits": None, "adc_noise": 0.0}),
                           LayerRanges(cb.dac.range, cb.dac.signed)).run(x, rng)
    out = []
    for _ in range(reps):
        y = cb.run_reference(x, rng) if mode == "reference" else cb.run(x, rng, mode=mode)
        out.append(np.mean((y - ideal) ** 2))
    return float(np.mean(out))


@pytest.mark.parametrize("model", ["normal", "lognormal"])
def test_aggregate_and_device_modes_agree_with_reference(model):
    """Read noise: per-device reference loop, vectorised per-device draws and the aggregate Gaussian agree in power."""
    w, x, _ = _setup(1, m=4, n=12, b=6)
    cfg = CrossbarConfig(input_bits=6, weight_bits=6, read_noise=0.1, noise_model=model, rows=5, adc_bits=6, adc_noise=0.3)
    full = Crossbar.build(w, cfg.model_copy(update={"adc_bits": None, "adc_noise": 0.0}), LayerRanges(3.0, True)).full_scale_adc()
    cb = Crossbar.build(w, cfg, LayerRanges(3.0, True, full * 0.5))
    ref = _mse(cb, x, "reference", 0, 60)
    dev = _mse(cb, x, "device", 1, 600)
    agg = _mse(cb, x, "aggregate", 2, 600)
    assert dev == pytest.approx(ref, rel=0.15)
    assert agg == pytest.approx(dev, rel=0.08)


def test_programming_error_is_drawn_once_per_programming():
    w, x, rng = _setup()
    cfg = CrossbarConfig(input_bits=8, weight_bits=8, programming_error=0.1)
    cb = Crossbar.build(w, cfg, LayerRanges(4.0, True))
    xx = np.repeat(x[:1], 5, axis=0)
    y = cb.run(xx, rng, n_programs=1)
    assert np.allclose(y, y[0])                # same chip, same input -> same output
    y2 = cb.run(xx, rng, n_programs=5)
    assert not np.allclose(y2, y2[0])          # five chips differ


def test_device_factors():
    rng = np.random.default_rng(0)
    for kind in ("normal", "lognormal"):
        f = sample_factor(rng, 400_000, 0.3, kind)
        m1, m2 = factor_moments(0.3, kind)
        assert np.all(f >= 0)
        assert f.mean() == pytest.approx(m1, abs=3e-3) and np.mean(f * f) == pytest.approx(m2, abs=5e-3)
    assert factor_moments(0.0, "normal") == (1.0, 1.0)


def test_conv_mapping_matches_float_conv(digits_images):
    import qformat as qf

    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.3, (6, 1, 3, 3))
    layer = AnalogLayer("c", "conv2d", w, np.arange(6.0), (1, 8, 8), (2, 2), (1, 1))
    x = digits_images[:5]
    model = qf.Model([qf.Layer("input", "input", attrs={"shape": [1, 8, 8]}),
                      qf.Layer("c", "conv2d", ["input"], {"in_channels": 1, "out_channels": 6, "kernel_size": [3, 3],
                                                          "stride": [2, 2], "padding": [1, 1], "groups": 1})],
                     tensors={"c": {"weight": w.astype(np.float32), "bias": np.arange(6.0, dtype=np.float32)}})
    np.testing.assert_allclose(layer.ideal(x), qf.run(model, x, mode="float"), atol=1e-5)
    cfg = CrossbarConfig(input_bits=None, weight_bits=None, on_off_ratio=None)
    y = LayerMapping.build(layer, cfg, LayerRanges(1.0, False)).run(x, rng)
    np.testing.assert_allclose(y, layer.ideal(x), atol=1e-9)
    # padding: corner taps of the first output row/column read outside the image
    valid = layer.row_valid(0).reshape(3, 3)
    assert valid[1, 1] == 1.0 and valid[0, 0] < 1.0


def test_grouped_conv_uses_one_crossbar_per_group():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 1, 3, 3))
    layer = AnalogLayer("dw", "conv2d", w, None, (4, 6, 6), (1, 1), (1, 1), groups=4)
    x = rng.normal(size=(2, 4, 6, 6))
    mp = LayerMapping.build(layer, CrossbarConfig(input_bits=None, weight_bits=None), LayerRanges(1.0, True))
    assert len(mp.crossbars) == 4
    np.testing.assert_allclose(mp.run(x, rng), layer.ideal(x), atol=1e-9)


@pytest.fixture(scope="module")
def crosssim_setup():
    """Cross-Sim's measured setup (reference cim.md §6): W 64x256 ~ N(0, 0.1), X = |N(0, 1)|, BALANCED."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.1, (64, 256))
    x = np.abs(rng.normal(size=(3000, 256)))
    return w, x


@pytest.mark.parametrize("alpha,snr_ref", [(0.0, 39.82), (0.01, 36.87), (0.04, 27.58), (0.16, 15.81)])
def test_single_mvm_snr_matches_crosssim(crosssim_setup, alpha, snr_ref):
    w, x = crosssim_setup
    cfg = CrossbarConfig(input_bits=8, weight_bits=8, read_noise=alpha, on_off_ratio=None)
    y = Crossbar.build(w, cfg, LayerRanges(float(x.max()), False)).run(x, np.random.default_rng(1))
    yi = x @ w.T
    snr = 10 * np.log10(np.sum(yi ** 2) / np.sum((y - yi) ** 2))
    assert snr == pytest.approx(snr_ref, abs=0.25)


@pytest.mark.parametrize("ns,ref", [(1, 4.04e-3), (2, 3.074e-3), (4, 2.886e-3)])
def test_sliced_read_noise_matches_crosssim(crosssim_setup, ns, ref):
    w, x = crosssim_setup
    cfg = CrossbarConfig(input_bits=None, weight_bits=8, weight_slices=ns, read_noise=0.04, on_off_ratio=None)
    cb = Crossbar.build(w, cfg, LayerRanges(float(x.max()), False))
    err = cb.run(x, np.random.default_rng(2)) - x @ cb.grid.quantized.T
    assert np.mean(err ** 2) == pytest.approx(ref, rel=0.04)


@pytest.mark.parametrize("bits", [4, 8])
def test_dac_and_weight_errors_match_closed_forms(crosssim_setup, bits):
    """Cross-Sim agrees with Σw²Δx²/12 and Σe²Var(x) + (ΣeE[x])² to ~1 %; so must we."""
    w, x = crosssim_setup
    xmax = float(x.max())
    cfg = CrossbarConfig(input_bits=bits, weight_bits=None, on_off_ratio=None)
    y = Crossbar.build(w, cfg, LayerRanges(xmax, False)).run(x, np.random.default_rng(3))
    dx = xmax / (2 ** bits - 1)
    closed = np.mean((w * w).sum(axis=1)) * dx * dx / 12
    assert np.mean((y - x @ w.T) ** 2) == pytest.approx(closed, rel=0.03)
    cfg = CrossbarConfig(input_bits=None, weight_bits=bits, on_off_ratio=None)
    cb = Crossbar.build(w, cfg, LayerRanges(xmax, False))
    e = cb.grid.quantized - w
    closed = np.mean((e * e) @ x.var(axis=0) + (e @ x.mean(axis=0)) ** 2)
    assert np.mean((cb.run(x, np.random.default_rng(4)) - x @ w.T) ** 2) == pytest.approx(closed, rel=0.03)
